//! `exp` of non-positive values and the one-pass online softmax (`docs/fixed-point.md`, "Scalar
//! functions"), shared by the attention and the router. Mirrors `hls/include/m3rt/softmax.h`.

use super::int::floor_div;
use super::tables::{Tables, LOG2E};

/// One in the F = 30 format of [`exp_neg`]'s results and the softmax sums.
pub const ONE: i64 = 1 << 30;

/// `exp(x)` for `x ≤ 0` with `fa` fraction bits, as an F = 30 value (`2^30` is 1), through `2^(x·log2 e)`:
/// the integer part shifts, the fraction interpolates the `2^(i/64)` table.
#[inline]
pub fn exp_neg(x: i64, fa: u32, t: &Tables) -> i64 {
    if x <= -(32i64 << fa) {
        return 0;
    }
    let x = x.min(0);
    let tt = x.wrapping_mul(LOG2E) >> 30;
    let ip = tt >> fa;
    let fp = tt - (ip << fa);
    let sh = fa - 6;
    let i = (fp >> sh) as usize;
    let r = fp & ((1i64 << sh) - 1);
    let (lo, hi) = (t.exp2[i], t.exp2[i + 1]);
    let m = lo + (((hi - lo) * r) >> sh);
    if -ip >= 63 {
        0
    } else {
        m >> (-ip)
    }
}

/// `floor(s · e / 2^30)` for `s ≥ 0` and `0 ≤ e ≤ 2^30`, without forming `s · e` (which passes 2^63 once
/// `s` exceeds about 8·2^30, i.e. from a few dozen summed values on).
#[inline]
pub fn rescale(s: i64, e: i64) -> i64 {
    (s >> 30).wrapping_mul(e).wrapping_add(((s & (ONE - 1)) * e) >> 30)
}

/// The state of an online softmax: the running maximum and the sum of `exp(v - max)` at F = 30.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnlineSoftmax {
    /// The largest value seen.
    pub max: i64,
    /// `Σ exp(v - max)`, F = 30.
    pub sum: i64,
}

impl OnlineSoftmax {
    /// The state after the first value.
    pub const fn start(v0: i64) -> Self {
        Self { max: v0, sum: ONE }
    }

    /// Takes the next value.
    #[inline]
    pub fn push(&mut self, v: i64, fa: u32, t: &Tables) {
        if v > self.max {
            self.sum = rescale(self.sum, exp_neg(self.max - v, fa, t)) + ONE;
            self.max = v;
        } else {
            self.sum = self.sum.wrapping_add(exp_neg(v - self.max, fa, t));
        }
    }

    /// `floor(2^60 / sum)`: the reciprocal every probability is scaled by.
    pub fn inverse(&self) -> i64 {
        floor_div(1i64 << 60, self.sum.max(1))
    }

    /// The probability of value `v` with `inv = self.inverse()`, at `fa` fraction bits.
    #[inline]
    pub fn prob(&self, v: i64, inv: i64, fa: u32, t: &Tables) -> i64 {
        exp_neg(v - self.max, fa, t).wrapping_mul(inv) >> (60 - fa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_by_hand_and_against_f64() {
        let t = Tables::new(22);
        assert_eq!(exp_neg(0, 22, &t), ONE);
        assert_eq!(exp_neg(-(32 << 22), 22, &t), 0);
        // Everywhere within 2^-22 relative (interpolation of 2^x in steps of 1/64) plus 2 units.
        for k in 0..4000i64 {
            let x = -k * 9_973;
            let want = libm::exp(x as f64 / 4194304.0) * ONE as f64;
            let got = exp_neg(x, 22, &t) as f64;
            assert!((got - want).abs() <= want * 4e-5 + 2.0, "exp({x}): {got} vs {want}");
        }
    }

    #[test]
    fn rescale_is_the_exact_quotient() {
        for (s, e) in [(0, ONE), (ONE, ONE), (3 * ONE + 12345, ONE / 3), (129 * ONE, 987_654_321), (i64::MAX >> 2, 7)] {
            let exact = ((i128::from(s) * i128::from(e)) >> 30) as i64;
            assert_eq!(rescale(s, e), exact, "{s} {e}");
        }
    }

    #[test]
    fn long_rows_rise_without_wrapping() {
        // 200 increasing scores: every new maximum rescales a sum that already holds many terms.
        let t = Tables::new(22);
        let mut s = OnlineSoftmax::start(0);
        for j in 1..200i64 {
            s.push(j << 12, 22, &t);
        }
        let inv = s.inverse();
        let total: i64 = (0..200i64).map(|j| s.prob(j << 12, inv, 22, &t)).sum();
        // Each of the 200 probabilities and 199 rescales truncates: within 0.1% of 1 (seen: 4192352).
        assert!((total - (1 << 22)).abs() < 4194, "probabilities sum to {total}");
    }

    #[test]
    fn three_values_by_hand() {
        // [0, ln 2, -ln 2]·2^22 → max ln 2, sum = 1 + 1/2 + 1/4 = 1.75: probabilities 4/7, 2/7, 1/7.
        let t = Tables::new(22);
        let ln2 = (core::f64::consts::LN_2 * 4194304.0) as i64;
        let mut s = OnlineSoftmax::start(0);
        s.push(ln2, 22, &t);
        s.push(-ln2, 22, &t);
        assert_eq!(s.max, ln2);
        let inv = s.inverse();
        let p: Vec<f64> = [0, ln2, -ln2].iter().map(|&v| s.prob(v, inv, 22, &t) as f64 / 4194304.0).collect();
        for (got, want) in p.iter().zip([2.0 / 7.0, 4.0 / 7.0, 1.0 / 7.0]) {
            assert!((got - want).abs() < 1e-4, "{p:?}");
        }
    }
}
