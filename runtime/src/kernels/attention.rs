//! Multi-head self-attention over one sequence.

use super::activation::softmax_rows_inplace;
use super::gemm::{gemm_strided, View};
use super::{band_clamp, need};
use crate::Result;

/// Budget of the score band, in floats (1 MiB).
const BAND_BUDGET: usize = 1 << 18;

/// Query rows scored at once: as many as fit `BAND_BUDGET` with `t` scores each, at least 1, at most `t`.
const fn band_rows(t: usize) -> usize {
    match BAND_BUDGET.checked_div(t) {
        Some(fit) => band_clamp(fit, t),
        None => 1,
    }
}

/// Scratch floats [`attention`] needs: a band of one head's score matrix, `band × t` floats with
/// `band = clamp(2^18 / t, 1, t)` query rows (the whole `t × t` matrix up to t = 512; 1 MiB beyond).
pub const fn attention_scratch_len(t: usize, _d: usize, _heads: usize) -> usize {
    band_rows(t) * t
}

fn check(qkv: &[f32], t: usize, d: usize, heads: usize, out: &[f32]) -> Result<()> {
    if heads == 0 || !d.is_multiple_of(heads) {
        return Err(crate::Error::ShapeMismatch { what: "attention heads", expected: d, found: heads });
    }
    need("attention qkv", qkv.len(), t * 3 * d)?;
    need("attention out", out.len(), t * d)
}

/// `out[t × d] = concat_h softmax(q_h k_hᵀ / √hd) v_h`, with `qkv [t × 3d]` holding q | k | v column
/// blocks, each split into `heads` slices of `hd = d / heads` columns. Per head and band of query rows:
/// GEMM for the scores (kᵀ read with swapped strides), softmax, GEMM with v into the output columns.
pub fn attention(qkv: &[f32], t: usize, d: usize, heads: usize, out: &mut [f32], scratch: &mut [f32]) -> Result<()> {
    check(qkv, t, d, heads, out)?;
    let band = band_rows(t);
    need("attention scratch", scratch.len(), band * t)?;
    let hd = d / heads;
    let scale = 1.0 / libm::sqrtf(hd as f32);
    for h in 0..heads {
        let (k, v) = (&qkv[d + h * hd..], &qkv[2 * d + h * hd..]);
        let mut i0 = 0;
        while i0 < t {
            let rows = band.min(t - i0);
            let scores = &mut scratch[..rows * t];
            let vq = View::row_major(rows, hd, 3 * d);
            let vkt = View { rows: hd, cols: t, rs: 1, cs: 3 * d };
            let vs = View::row_major(rows, t, t);
            gemm_strided(scale, &qkv[i0 * 3 * d + h * hd..], vq, k, vkt, 0.0, scores, vs)?;
            softmax_rows_inplace(scores, rows, t)?;
            let vv = View::row_major(t, hd, 3 * d);
            let vo = View::row_major(rows, hd, d);
            gemm_strided(1.0, scores, vs, v, vv, 0.0, &mut out[i0 * d + h * hd..], vo)?;
            i0 += rows;
        }
    }
    Ok(())
}

/// The reference of [`attention`]: explicit loops per head and query, f64 throughout, no scratch (the
/// scores are recomputed for the maximum, the sum and each chunk of 64 output columns).
pub fn attention_ref(qkv: &[f32], t: usize, d: usize, heads: usize, out: &mut [f32]) -> Result<()> {
    check(qkv, t, d, heads, out)?;
    let hd = d / heads;
    let at = |row: usize, col: usize| f64::from(qkv[row * 3 * d + col]);
    for h in 0..heads {
        for i in 0..t {
            let score = |j: usize| (0..hd).map(|c| at(i, h * hd + c) * at(j, d + h * hd + c)).sum::<f64>();
            let scaled = |j: usize| score(j) / libm::sqrt(hd as f64);
            let max = (0..t).map(scaled).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..t).map(|j| libm::exp(scaled(j) - max)).sum();
            // Output columns in chunks of a stack accumulator (one chunk for every real head size).
            let mut acc = [0f64; 64];
            for c0 in (0..hd).step_by(acc.len()) {
                let cols = acc.len().min(hd - c0);
                acc.fill(0.0);
                for j in 0..t {
                    let p = libm::exp(scaled(j) - max);
                    for (c, a) in acc[..cols].iter_mut().enumerate() {
                        *a += p * at(j, 2 * d + h * hd + c0 + c);
                    }
                }
                for (c, a) in acc[..cols].iter().enumerate() {
                    out[i * d + h * hd + c0 + c] = (a / sum) as f32;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_close, fast_vs_ref, random_vec, Rng};

    #[test]
    fn one_token_returns_its_value() {
        // With one token the softmax is 1, so the output is v.
        let qkv = [0.3, -0.2, 0.5, 0.1, 7.0, -8.0];
        let mut out = [0.0; 2];
        attention(&qkv, 1, 2, 2, &mut out, &mut [0.0; 1]).unwrap();
        assert_eq!(out, [7.0, -8.0]);
    }

    #[test]
    fn two_tokens_by_hand() {
        // One head, hd = 1: q = [1, 0], k = [0, ln 3], v = [2, 6]. Token 0 scores [0, ln 3] → weights
        // [1/4, 3/4] → 5; token 1 scores [0, 0] → 4.
        let k1 = 3f32.ln();
        let qkv = [1.0, 0.0, 2.0, 0.0, k1, 6.0];
        let mut out = [0.0; 2];
        attention(&qkv, 2, 1, 1, &mut out, &mut [0.0; 4]).unwrap();
        assert_close(&out, &[5.0, 4.0], 1e-6);
        assert!(attention(&qkv, 2, 1, 1, &mut out, &mut [0.0; 3]).is_err());
        assert!(attention(&qkv, 2, 2, 3, &mut out, &mut [0.0; 4]).is_err());
    }

    #[test]
    fn bands_cover_long_sequences() {
        // 600 tokens: the score band (436 rows) is shorter than the sequence.
        let (t, d, heads) = (600, 4, 2);
        assert!(attention_scratch_len(t, d, heads) < t * t);
        let qkv = random_vec(&mut Rng::new(9), t * 3 * d);
        let (mut fast, mut slow) = (vec![0.0; t * d], vec![0.0; t * d]);
        attention(&qkv, t, d, heads, &mut fast, &mut vec![0.0; attention_scratch_len(t, d, heads)]).unwrap();
        attention_ref(&qkv, t, d, heads, &mut slow).unwrap();
        assert_close(&fast, &slow, 1e-5);
    }

    fast_vs_ref!(fast_matches_reference, cases = 32, (heads in 1usize..=4, t in 1usize..=40, hd in 1usize..=12), |rng| {
        let d = heads * hd;
        let qkv: Vec<f32> = random_vec(rng, t * 3 * d).iter().map(|v| v * 3.0).collect();
        let (mut fast, mut slow) = (vec![0.0; t * d], vec![0.0; t * d]);
        let mut scratch = vec![0.0; attention_scratch_len(t, d, heads)];
        attention(&qkv, t, d, heads, &mut fast, &mut scratch).unwrap();
        attention_ref(&qkv, t, d, heads, &mut slow).unwrap();
        assert_close(&fast, &slow, 1e-5);
    });
}
