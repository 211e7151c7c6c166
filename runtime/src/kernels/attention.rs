//! Multi-head self-attention over one sequence.

use super::activation::{softmax_rows_inplace, softmax_rows_ref};
use super::gemm::{gemm_strided, View};
use super::need;
use crate::Result;

/// Scratch floats [`attention`] needs: one head's `t × t` score matrix.
pub const fn attention_scratch_len(t: usize, _d: usize, _heads: usize) -> usize {
    t * t
}

fn check(qkv: &[f32], t: usize, d: usize, heads: usize, out: &[f32]) -> Result<()> {
    if heads == 0 || !d.is_multiple_of(heads) {
        return Err(crate::Error::ShapeMismatch { what: "attention heads", expected: d, found: heads });
    }
    need("attention qkv", qkv.len(), t * 3 * d)?;
    need("attention out", out.len(), t * d)
}

/// `out[t × d] = concat_h softmax(q_h k_hᵀ / √hd) v_h`, with `qkv [t × 3d]` holding q | k | v column
/// blocks, each split into `heads` slices of `hd = d / heads` columns.
pub fn attention(qkv: &[f32], t: usize, d: usize, heads: usize, out: &mut [f32], scratch: &mut [f32]) -> Result<()> {
    check(qkv, t, d, heads, out)?;
    need("attention scratch", scratch.len(), t * t)?;
    let hd = d / heads;
    let scale = 1.0 / libm::sqrtf(hd as f32);
    let scores = &mut scratch[..t * t];
    for h in 0..heads {
        let (q, k, v) = (&qkv[h * hd..], &qkv[d + h * hd..], &qkv[2 * d + h * hd..]);
        // scores = scale · q kᵀ: kᵀ is k read with swapped strides.
        let vq = View { rows: t, cols: hd, rs: 3 * d, cs: 1 };
        let vkt = View { rows: hd, cols: t, rs: 1, cs: 3 * d };
        let vs = View { rows: t, cols: t, rs: t, cs: 1 };
        gemm_strided(scale, q, vq, k, vkt, 0.0, scores, vs)?;
        softmax_rows_inplace(scores, t, t)?;
        let vv = View { rows: t, cols: hd, rs: 3 * d, cs: 1 };
        let vo = View { rows: t, cols: hd, rs: d, cs: 1 };
        gemm_strided(1.0, scores, vs, v, vv, 0.0, &mut out[h * hd..], vo)?;
    }
    Ok(())
}

/// The reference of [`attention`]: explicit loops per head and query, f64 accumulation.
pub fn attention_ref(qkv: &[f32], t: usize, d: usize, heads: usize, out: &mut [f32]) -> Result<()> {
    check(qkv, t, d, heads, out)?;
    let hd = d / heads;
    let mut row = [0f32; 1024];
    if t > row.len() {
        return Err(crate::Error::ShapeMismatch { what: "attention_ref tokens", expected: 1024, found: t });
    }
    for h in 0..heads {
        for i in 0..t {
            for j in 0..t {
                let mut s = 0f64;
                for c in 0..hd {
                    s += f64::from(qkv[i * 3 * d + h * hd + c]) * f64::from(qkv[j * 3 * d + d + h * hd + c]);
                }
                row[j] = (s / libm::sqrt(hd as f64)) as f32;
            }
            softmax_rows_ref(&mut row[..t], 1, t)?;
            for c in 0..hd {
                let s: f64 = (0..t).map(|j| f64::from(row[j]) * f64::from(qkv[j * 3 * d + 2 * d + h * hd + c])).sum();
                out[i * d + h * hd + c] = s as f32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_close, random_vec, Rng};

    #[test]
    fn one_token_returns_its_value() {
        // With one token the softmax is 1, so the output is v.
        let qkv = [0.3, -0.2, 0.5, 0.1, 7.0, -8.0];
        let mut out = [0.0; 2];
        attention(&qkv, 1, 2, 2, &mut out, &mut [0.0; 1]).unwrap();
        assert_eq!(out, [7.0, -8.0]);
    }

    #[test]
    fn fast_matches_reference_on_random_shapes() {
        let mut rng = Rng::new(4);
        for _ in 0..20 {
            let heads = rng.dim(1, 4);
            let (t, d) = (rng.dim(1, 40), heads * rng.dim(1, 12));
            let qkv: Vec<f32> = random_vec(&mut rng, t * 3 * d).iter().map(|v| v * 3.0).collect();
            let (mut fast, mut slow) = (vec![0.0; t * d], vec![0.0; t * d]);
            let mut scratch = vec![0.0; attention_scratch_len(t, d, heads)];
            attention(&qkv, t, d, heads, &mut fast, &mut scratch).unwrap();
            attention_ref(&qkv, t, d, heads, &mut slow).unwrap();
            assert_close(&fast, &slow, 1e-5);
        }
    }
}
