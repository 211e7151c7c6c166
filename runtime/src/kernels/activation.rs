//! Element-wise activations and the row-wise softmax. The fast paths use a branch-free `exp` and `erfc`
//! that the compiler vectorizes; the references go through `libm` in f64.

use super::need;
use crate::Result;

/// Lanes of the explicit partial sums and maxima (lets the compiler vectorize the reductions).
const LANES: usize = 8;

/// `e^x` in f32 without branches: Cody–Waite reduction `x = n·ln2 + r`, a degree-7 Taylor polynomial on
/// `|r| ≤ ln2/2` (truncation < 6e-9), `2^n` built in the exponent bits. Relative error ≤ 2e-7 on
/// `[-87, 88]`; inputs are clamped to that range (so `exp_fast(-1000) ≈ 1.6e-38`, not 0); NaN gives NaN.
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer kept in the low bits.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let t = x * core::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n is in [-126, 127] after the clamp, so the biased exponent stays in [1, 254].
    let n_int = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    p * f32::from_bits(((n_int + 127) as u32) << 23)
}

/// GELU of one value via `Φ(−|x|) = ½·erfc(z)`, `z = |x|/√2`, with Abramowitz & Stegun's 7.1.26
/// `erfc(z) ≈ t·P(t)·exp(−z²)`, `t = 1/(1 + p·z)` (absolute error ≤ 1.5e-7; five terms, half the work of a
/// ten-term Chebyshev fit): GELU's error is then at most about `1e-7·|x|`.
#[inline(always)]
fn gelu_one(x: f32) -> f32 {
    let z = x.abs() * core::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let p = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    let tail = 0.5 * p * exp_fast(-z * z); // Φ(−|x|)
    let phi = if x >= 0.0 { 1.0 - tail } else { tail };
    x * phi
}

/// Exact-form GELU in place: `0.5·x·(1 + erf(x/√2))`, within 1e-6·max(1, |x|) of [`gelu_ref`].
pub fn gelu_inplace(x: &mut [f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx512() {
        // Safety: the CPU has AVX-512F, AVX2 and FMA (checked just above).
        unsafe { gelu_avx512(x) };
        return;
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx2() {
        // Safety: the CPU has AVX2 and FMA (checked just above).
        unsafe { gelu_avx2(x) };
        return;
    }
    gelu_all(x);
}

/// Values [`gelu_all`] works on at once: four vectors' worth of independent chains, so the long
/// division → polynomial → exp dependency of one value overlaps with three others.
const GELU_BLOCK: usize = 32;

/// The loop of [`gelu_inplace`], inlined into each CPU build.
#[inline(always)]
fn gelu_all(x: &mut [f32]) {
    let mut blocks = x.chunks_exact_mut(GELU_BLOCK);
    for block in &mut blocks {
        let y: [f32; GELU_BLOCK] = core::array::from_fn(|i| gelu_one(block[i]));
        block.copy_from_slice(&y);
    }
    for v in blocks.into_remainder() {
        *v = gelu_one(*v);
    }
}

/// [`gelu_all`] compiled for AVX2 (same operations, eight lanes; no fused multiply-adds are introduced).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_avx2(x: &mut [f32]) {
    gelu_all(x);
}

/// [`gelu_all`] compiled for AVX-512F (sixteen lanes, the same operations: results equal the AVX2
/// build's bit for bit).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gelu_avx512(x: &mut [f32]) {
    gelu_all(x);
}

/// The reference of [`gelu_inplace`]: `libm::erf` in f64.
pub fn gelu_ref(x: &mut [f32]) {
    for v in x {
        let f = f64::from(*v);
        *v = (0.5 * f * (1.0 + libm::erf(f / core::f64::consts::SQRT_2))) as f32;
    }
}

/// `max(x, 0)` in place.
pub fn relu_inplace(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// Softmax of one row in place: maximum subtracted, `exp_fast`, sum, scale (reductions over `LANES` lanes).
#[inline(always)]
pub(crate) fn softmax_row(row: &mut [f32]) {
    let mut max = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in max.iter_mut().zip(c) {
            *m = m.max(v);
        }
    }
    let max = chunks.remainder().iter().chain(&max).copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for (s, v) in sum.iter_mut().zip(c) {
            *v = exp_fast(*v - max);
            *s += *v;
        }
    }
    let mut total: f32 = sum.iter().sum();
    for v in chunks.into_remainder() {
        *v = exp_fast(*v - max);
        total += *v;
    }
    let inv = 1.0 / total;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Softmax over each row of `cols` values of `x[rows × cols]`, in place (the row maximum is subtracted
/// first), within 1e-6 of [`softmax_rows_ref`].
pub fn softmax_rows_inplace(x: &mut [f32], rows: usize, cols: usize) -> Result<()> {
    need("softmax", x.len(), rows * cols)?;
    if cols == 0 {
        return Ok(());
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx512() {
        // Safety: the CPU has AVX-512F, AVX2 and FMA (checked just above).
        unsafe { softmax_rows_avx512(x, rows, cols) };
        return Ok(());
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx2() {
        // Safety: the CPU has AVX2 and FMA (checked just above).
        unsafe { softmax_rows_avx2(x, rows, cols) };
        return Ok(());
    }
    softmax_rows_all(x, rows, cols);
    Ok(())
}

/// The loop of [`softmax_rows_inplace`], inlined into each CPU build.
#[inline(always)]
fn softmax_rows_all(x: &mut [f32], rows: usize, cols: usize) {
    for row in x.chunks_exact_mut(cols).take(rows) {
        softmax_row(row);
    }
}

/// [`softmax_rows_all`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_rows_avx2(x: &mut [f32], rows: usize, cols: usize) {
    softmax_rows_all(x, rows, cols);
}

/// [`softmax_rows_all`] compiled for AVX-512F (same operations and summation order as the other builds).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn softmax_rows_avx512(x: &mut [f32], rows: usize, cols: usize) {
    softmax_rows_all(x, rows, cols);
}

/// The reference of [`softmax_rows_inplace`], in f64 with `libm::exp`.
pub fn softmax_rows_ref(x: &mut [f32], rows: usize, cols: usize) -> Result<()> {
    need("softmax", x.len(), rows * cols)?;
    for r in 0..rows {
        let row = &mut x[r * cols..(r + 1) * cols];
        let max = row.iter().map(|&v| f64::from(v)).fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|&v| libm::exp(f64::from(v) - max)).sum();
        for v in row.iter_mut() {
            *v = (libm::exp(f64::from(*v) - max) / sum) as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_close, fast_vs_ref, random_vec};

    #[test]
    fn values_by_hand() {
        let mut g = [0.0, 1.0, -1.0, 6.0, -6.0];
        gelu_inplace(&mut g);
        // Φ(1) = 0.8413447, so gelu(1) = 0.8413447 and gelu(-1) = -(1 - 0.8413447); Φ(−6) = 9.8659e-10.
        assert_close(&g, &[0.0, 0.8413447, -0.1586553, 6.0, -5.9195e-9], 1e-6);
        assert_eq!(g[0], 0.0);
        let mut s = [1.0, 2.0, 3.0];
        softmax_rows_inplace(&mut s, 1, 3).unwrap();
        // e^-2, e^-1, 1 over their sum 1.5032147.
        assert_close(&s, &[0.09003057, 0.24472847, 0.66524096], 1e-6);
        let mut r = [-1.0, 0.5];
        relu_inplace(&mut r);
        assert_eq!(r, [0.0, 0.5]);
        assert!(softmax_rows_inplace(&mut [0.0; 5], 2, 3).is_err());
    }

    #[test]
    fn exp_fast_is_accurate() {
        for i in -869..=879 {
            let x = i as f32 * 0.1 + 0.013;
            let (fast, exact) = (f64::from(exp_fast(x)), libm::exp(f64::from(x)));
            assert!(((fast - exact) / exact).abs() < 3e-7, "exp({x}) = {fast}, expected {exact}");
        }
        assert!(exp_fast(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_is_accurate_everywhere() {
        // Every 1/1000 from −12 to 12 (both tails included): the worst is 2.2e-7.
        let x: Vec<f32> = (-12_000..=12_000).map(|i| i as f32 / 1000.0).collect();
        let (mut fast, mut exact) = (x.clone(), x);
        gelu_inplace(&mut fast);
        gelu_ref(&mut exact);
        let worst = fast.iter().zip(&exact).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0, f32::max);
        assert!(worst <= 1e-6, "worst error {worst}");
    }

    fast_vs_ref!(
        fast_matches_reference,
        cases = 64,
        (
            rows in 1usize..=12,
            cols in 1usize..=80,
            scale in 0.5f32..12.0
        ),
        |rng| {
            let x: Vec<f32> = random_vec(rng, rows * cols).iter().map(|v| v * scale).collect();
            let (mut a, mut b) = (x.clone(), x.clone());
            gelu_inplace(&mut a);
            gelu_ref(&mut b);
            assert_close(&a, &b, 1e-6);
            let (mut a, mut b) = (x.clone(), x);
            softmax_rows_inplace(&mut a, rows, cols).unwrap();
            softmax_rows_ref(&mut b, rows, cols).unwrap();
            assert_close(&a, &b, 1e-6);
        }
    );

    fast_vs_ref!(
        every_build_matches_reference,
        cases = 48,
        (
            rows in 1usize..=9,
            cols in 1usize..=140,
            scale in 0.5f32..12.0
        ),
        |rng| {
            // Each build called directly (`gelu_inplace` and `softmax_rows_inplace` run only the best one):
            // the portable loop and, when the CPU has them, the AVX2 and AVX-512 ones; lengths cross the
            // 32-value GELU block and the 16-lane vectors.
            let x: Vec<f32> = random_vec(rng, rows * cols).iter().map(|v| v * scale).collect();
            let (mut gelu, mut soft) = (x.clone(), x.clone());
            gelu_ref(&mut gelu);
            softmax_rows_ref(&mut soft, rows, cols).unwrap();
            let mut builds: Vec<(&str, Vec<f32>, Vec<f32>)> = Vec::new();
            let (mut g, mut s) = (x.clone(), x.clone());
            gelu_all(&mut g);
            softmax_rows_all(&mut s, rows, cols);
            builds.push(("portable", g, s));
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let (mut g, mut s) = (x.clone(), x.clone());
                // Safety: AVX2 and FMA were detected just above.
                unsafe { gelu_avx2(&mut g) };
                // Safety: as above.
                unsafe { softmax_rows_avx2(&mut s, rows, cols) };
                builds.push(("avx2", g, s));
            }
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if crate::kernels::simd::avx512_detected() {
                let (mut g, mut s) = (x.clone(), x.clone());
                // Safety: AVX-512F, AVX2 and FMA were detected just above.
                unsafe { gelu_avx512(&mut g) };
                // Safety: as above.
                unsafe { softmax_rows_avx512(&mut s, rows, cols) };
                builds.push(("avx512", g, s));
            } else {
                std::eprintln!("every_build_matches_reference: AVX-512 builds skipped, this CPU has no AVX-512F");
            }
            for (_, g, s) in &builds {
                assert_close(g, &gelu, 1e-6);
                assert_close(s, &soft, 1e-6);
            }
        }
    );
}
