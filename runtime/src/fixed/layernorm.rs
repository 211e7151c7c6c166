//! Single-pass LayerNorm: the sum and the sum of squares together, then one normalising pass
//! (`docs/fixed-point.md`, "LayerNorm"). Mirrors `hls/include/m3rt/layernorm.h`.

use super::int::{floor_div, isqrt, to_act};
use crate::{Error, Result};

/// One LayerNorm invocation over `rows` rows of `cols` activations.
#[derive(Clone, Copy, Debug)]
pub struct LayerNormCfg {
    /// Rows (tokens).
    pub rows: usize,
    /// Values per row (D).
    pub cols: usize,
    /// Activation width `Wa`.
    pub wa: u32,
    /// Activation fraction bits `Fa` (16..=26).
    pub fa: u32,
    /// Fraction bits of the gain and shift (format B).
    pub fb: u32,
    /// `EPS`: `ln_eps` at F = 32.
    pub eps: i64,
}

/// `y = LayerNorm(x) · gain + shift`, row by row (`x`, `y` are `[rows, cols]`).
pub fn layer_norm(cfg: &LayerNormCfg, x: &[i32], gain: &[i16], shift: &[i16], y: &mut [i32]) -> Result<()> {
    let (r, c) = (cfg.rows, cfg.cols);
    if x.len() < r * c || y.len() < r * c || gain.len() < c || shift.len() < c || c == 0 {
        return Err(Error::ShapeMismatch { what: "layer norm", expected: r * c, found: x.len().min(y.len()) });
    }
    let s = cfg.fa - 16;
    let d = c as i64;
    for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)).take(r) {
        let (mut sum, mut sq) = (0i64, 0i64);
        for &v in xr {
            let v = i64::from(v);
            sum = sum.wrapping_add(v);
            let h = v >> s;
            sq = sq.wrapping_add(h.wrapping_mul(h));
        }
        let mean = floor_div(sum, d);
        let ex2 = floor_div(sq, d);
        let m16 = mean >> s;
        let var = ex2.wrapping_sub(m16.wrapping_mul(m16)).max(0);
        let sd = isqrt(var.wrapping_add(cfg.eps)).max(1);
        let inv = floor_div(1i64 << 36, sd);
        for (((o, &v), &g), &b) in yr.iter_mut().zip(xr).zip(gain).zip(shift) {
            let n = (i64::from(v) - mean).wrapping_mul(inv) >> 20;
            let t = (n.wrapping_mul(i64::from(g)) >> cfg.fb).wrapping_add(i64::from(b) << (cfg.fa - cfg.fb));
            *o = to_act(t, cfg.wa);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_two_three_by_hand() {
        // x = [1, 2, 3] (raw 2^22·x): x >> 6 = 2^16·[1, 2, 3], sq = 14·2^32, ex2 = floor(14·2^32 / 3) =
        // 20043110058, mean = 2^23, m16 = 2^17, var = ex2 - 2^34 = 2863240874; + EPS 4295 → isqrt = 53509
        // (0.816483 at F = 16); inv = floor(2^36 / 53509) = 1284260; n = ∓2^22·inv >> 20 = ∓5137040.
        let one = 1 << 22;
        let x = [one, 2 * one, 3 * one];
        let cfg = LayerNormCfg { rows: 1, cols: 3, wa: 32, fa: 22, fb: 11, eps: 4295 };
        let mut y = [0; 3];
        layer_norm(&cfg, &x, &[2048; 3], &[0; 3], &mut y).unwrap();
        assert_eq!(y, [-5_137_040, 0, 5_137_040]);
        // Gain 2, shift 1: 2n + 1.
        layer_norm(&cfg, &x, &[4096; 3], &[2048; 3], &mut y).unwrap();
        assert_eq!(y, [-2 * 5_137_040 + one, one, 2 * 5_137_040 + one]);
        assert!(layer_norm(&cfg, &x, &[2048; 2], &[0; 3], &mut y).is_err());
    }

    #[test]
    fn close_to_f64_on_random_rows() {
        let mut s = 99u64;
        for _ in 0..50 {
            let x: Vec<i32> = (0..192)
                .map(|_| {
                    s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((s >> 33) as i32 - (1 << 30)) >> 6
                })
                .collect();
            let cfg = LayerNormCfg { rows: 1, cols: 192, wa: 32, fa: 22, fb: 11, eps: 4295 };
            let mut y = vec![0; 192];
            layer_norm(&cfg, &x, &[2048; 192], &[0; 192], &mut y).unwrap();
            let xf: Vec<f64> = x.iter().map(|&v| f64::from(v) / 4194304.0).collect();
            let mean = xf.iter().sum::<f64>() / 192.0;
            let var = xf.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 192.0;
            for (&v, &o) in xf.iter().zip(&y) {
                let want = (v - mean) / libm::sqrt(var + 1e-6);
                assert!((f64::from(o) / 4194304.0 - want).abs() < 1e-4, "{want} vs {o}");
            }
        }
    }
}
