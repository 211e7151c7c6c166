//! Multi-head attention with the online softmax: per head and query, the scores and their running
//! maximum and sum in one pass, then softmax·V in a second (`docs/fixed-point.md`, "Attention").
//! Mirrors `hls/include/m3rt/attention.h`.

use super::int::to_act;
use super::softmax::OnlineSoftmax;
use super::tables::Tables;
use crate::{Error, Result};

/// One attention invocation.
#[derive(Clone, Copy, Debug)]
pub struct AttentionCfg {
    /// Tokens T.
    pub tokens: usize,
    /// Width D.
    pub dim: usize,
    /// Heads H (D / H per head).
    pub heads: usize,
    /// Activation width `Wa`.
    pub wa: u32,
    /// Activation fraction bits `Fa`.
    pub fa: u32,
    /// `ATT_SCALE = round(2^16 / sqrt(D / H))`.
    pub scale: i64,
}

/// `out[T, D]` from `qkv[T, 3D]` (q | k | v column blocks, each split into heads); `scores` holds one
/// query's row of `T` scores.
pub fn attention(cfg: &AttentionCfg, qkv: &[i32], out: &mut [i32], scores: &mut [i32], t: &Tables) -> Result<()> {
    let (n, d, h) = (cfg.tokens, cfg.dim, cfg.heads);
    if h == 0 || !d.is_multiple_of(h) || qkv.len() < n * 3 * d || out.len() < n * d || scores.len() < n || n == 0 {
        return Err(Error::ShapeMismatch { what: "attention", expected: n * 3 * d, found: qkv.len() });
    }
    let hd = d / h;
    let fa = cfg.fa;
    let row = |j: usize, part: usize, head: usize| &qkv[j * 3 * d + part * d + head * hd..][..hd];
    for head in 0..h {
        for i in 0..n {
            let q = row(i, 0, head);
            let mut sm = OnlineSoftmax::start(0);
            for (j, s) in scores[..n].iter_mut().enumerate() {
                let k = row(j, 1, head);
                let dot = q.iter().zip(k).fold(0i64, |a, (&x, &y)| a.wrapping_add(i64::from(x) * i64::from(y)));
                *s = to_act(((dot >> fa).wrapping_mul(cfg.scale)) >> 16, cfg.wa);
                if j == 0 {
                    sm = OnlineSoftmax::start(i64::from(*s));
                } else {
                    sm.push(i64::from(*s), fa, t);
                }
            }
            let inv = sm.inverse();
            let o = &mut out[i * d + head * hd..][..hd];
            let mut acc = [0i64; 64];
            for c0 in (0..hd).step_by(acc.len()) {
                let cols = acc.len().min(hd - c0);
                acc.fill(0);
                for (j, &s) in scores[..n].iter().enumerate() {
                    let p = sm.prob(i64::from(s), inv, fa, t);
                    let v = &row(j, 2, head)[c0..c0 + cols];
                    for (a, &x) in acc.iter_mut().zip(v) {
                        *a = a.wrapping_add(p.wrapping_mul(i64::from(x)));
                    }
                }
                for (dst, &a) in o[c0..c0 + cols].iter_mut().zip(&acc[..cols]) {
                    *dst = to_act(a >> fa, cfg.wa);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tokens_by_hand() {
        // One head, hd = 1 (ATT_SCALE 2^16): q = [1, 0], k = [0, ln 3], v = [2, 6]. Token 0 scores
        // [0, ln 3] → weights [1/4, 3/4] → 5; token 1 scores [0, 0] → 4.
        let one = 1i32 << 22;
        let ln3 = (3f64.ln() * 4194304.0) as i32;
        let qkv = [one, 0, 2 * one, 0, ln3, 6 * one];
        let cfg = AttentionCfg { tokens: 2, dim: 1, heads: 1, wa: 32, fa: 22, scale: 1 << 16 };
        let (mut out, mut scores) = ([0i32; 2], [0i32; 2]);
        attention(&cfg, &qkv, &mut out, &mut scores, &Tables::new(22)).unwrap();
        assert!((f64::from(out[0]) / 4194304.0 - 5.0).abs() < 1e-4, "{out:?}");
        // Equal scores: sum 2^31, inv 2^29, each probability exactly 2^21 (1/2): the output is exact.
        assert_eq!(out[1], 4 * one);
    }
}
