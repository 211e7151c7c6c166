//! Test support shared by the kernel tests: the [`fast_vs_ref`] property-test macro that every
//! fast-versus-reference test uses, the value generator, and the comparison.
//!
//! Tolerance rule: `|fast − ref| ≤ tol · max(1, |ref|)` element by element, with `tol = 1e-5` for kernels
//! that accumulate sums (GEMM, conv, attention, patch embedding, LayerNorm, resize) and `1e-6` for the
//! element-wise ones (GELU, softmax). References accumulate in f64.

/// A property test comparing a fast kernel with its reference: proptest draws the shape parameters from
/// the given strategies (ranges starting at 1, so 1-sized and odd dimensions come up and failures shrink
/// to small shapes) plus a seed for the values, which `$rng` (a `&mut Rng`) generates.
macro_rules! fast_vs_ref {
    ($name:ident, cases = $cases:expr, ($($arg:ident in $strat:expr),* $(,)?), |$rng:ident| $body:block) => {
        proptest::proptest! {
            #![proptest_config($crate::kernels::testing::config($cases))]
            #[test]
            fn $name($($arg in $strat,)* seed in proptest::prelude::any::<u64>()) {
                let $rng = &mut $crate::kernels::testing::Rng::new(seed);
                $body
            }
        }
    };
}
pub(crate) use fast_vs_ref;

/// The proptest configuration of [`fast_vs_ref`]: `cases` cases, no regression files in the tree.
pub fn config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config { cases, failure_persistence: None, ..Default::default() }
}

/// A xorshift generator for the values: deterministic from its seed, no dependencies.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [-1, 1).
    pub fn value(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// `n` values uniform in [-1, 1).
pub fn random_vec(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.value()).collect()
}

/// Asserts `|a[i] - b[i]| ≤ bound[i]` element by element (`b` is the reference).
pub fn assert_within(a: &[f32], b: &[f32], bound: &[f32]) {
    assert_eq!((a.len(), b.len()), (bound.len(), bound.len()));
    for (i, ((x, y), e)) in a.iter().zip(b).zip(bound).enumerate() {
        assert!((x - y).abs() <= *e, "element {i}: {x} against reference {y}, allowed error {e}");
    }
}

/// The absolute values of `v`: the inputs of a reference run that gives [`sum_error_bound`]'s `abs_sum`.
pub fn abs_vec(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

/// How far two f32 evaluations of one sum of `terms` rounded terms can lie apart, in any summation order:
/// each is within Higham's γ_n = n·u/(1 − n·u) of the exact sum times `abs_sum` (the sum of the terms'
/// absolute values), so the two are within twice that. Seed-independent, unlike a fixed tolerance.
pub fn sum_error_bound(terms: usize, abs_sum: f32) -> f32 {
    let nu = terms as f32 * f32::EPSILON / 2.0;
    2.0 * nu / (1.0 - nu) * abs_sum + f32::MIN_POSITIVE
}

/// Asserts `|a - b| ≤ tol · max(1, |b|)` element by element (`b` is the reference).
pub fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * y.abs().max(1.0), "element {i}: {x} against reference {y}");
    }
}
