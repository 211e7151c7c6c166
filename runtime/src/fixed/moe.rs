//! The MoE layer as the IP computes it: the router (per token one pass of online softmax and top-k over
//! the gate's logits), per-expert token queues, and the expert loop over non-empty queues only, each
//! expert once over its whole queue with a score-weighted scatter-add (`docs/fixed-point.md`, "MoE
//! layer"). Mirrors `hls/include/m3rt/moe.h`.

use super::gelu::gelu_inplace;
use super::int::to_act;
use super::linear::{linear, Bias, Layout, LinearCfg, Weights};
use super::softmax::OnlineSoftmax;
use super::tables::Tables;
use super::trace::{Kind, Point, Trace};
use crate::engine::Counters;
use crate::model::MAX_TOP_K;
use crate::{Error, Result};

/// One MoE layer invocation.
#[derive(Clone, Copy, Debug)]
pub struct MoeCfg {
    /// Tokens T.
    pub tokens: usize,
    /// Width D.
    pub dim: usize,
    /// Experts E.
    pub experts: usize,
    /// Experts per token k.
    pub top_k: usize,
    /// Expert hidden width Dh.
    pub hidden: usize,
    /// Activation width `Wa`.
    pub wa: u32,
    /// Activation fraction bits `Fa`.
    pub fa: u32,
    /// The block (for counters and trace names).
    pub block: u32,
}

/// One MoE block's stacked expert tensors.
#[derive(Clone, Copy, Debug)]
pub struct Experts<'a> {
    /// fc1 `[E, D, Dh]`.
    pub w1: Weights<'a>,
    /// fc1 biases `[E, Dh]`.
    pub b1: Bias<'a>,
    /// fc2 `[E, Dh, D]`.
    pub w2: Weights<'a>,
    /// fc2 biases `[E, D]`.
    pub b2: Bias<'a>,
    /// Bytes of one expert's weights and biases as stored (for the counters).
    pub bytes: u64,
}

/// Working memory of the MoE layer (all i32 words).
pub struct MoeWork<'s> {
    /// Gate logits `[T, E]`.
    pub logits: &'s mut [i32],
    /// Per token its `k` kept experts then their `k` probabilities: `[T, 2k]`.
    pub route: &'s mut [i32],
    /// Queue tokens, `T·k`.
    pub q_tokens: &'s mut [i32],
    /// Queue probabilities, `T·k`.
    pub q_probs: &'s mut [i32],
    /// Queue boundaries, `E + 1`.
    pub q_offsets: &'s mut [i32],
    /// Gathered rows `[T, D]`.
    pub gathered: &'s mut [i32],
    /// Hidden rows `[T, Dh]`.
    pub hidden: &'s mut [i32],
    /// Expert output rows `[T, D]`.
    pub out: &'s mut [i32],
}

/// Expert `e`'s slab of a stacked matrix of `per` elements a slab and `channels` output channels a slab.
fn slab<'a>(w: &Weights<'a>, e: usize, per: usize, channels: usize) -> Option<Weights<'a>> {
    Some(match *w {
        Weights::Q16 { values, frac } => Weights::Q16 { values: values.get(e * per..(e + 1) * per)?, frac },
        Weights::Q8 { values, scales } => Weights::Q8 {
            values: values.get(e * per..(e + 1) * per)?,
            scales: if scales.len() == 1 { scales } else { scales.get(e * channels..(e + 1) * channels)? },
        },
    })
}

/// The router of one token: the `k` largest of `logits` (ties to the lower index) in decreasing order and
/// their softmax probabilities over all experts (F = Fa).
pub fn route_token(
    logits: &[i32],
    k: usize,
    fa: u32,
    t: &Tables,
) -> ([usize; MAX_TOP_K as usize], [i64; MAX_TOP_K as usize]) {
    let mut kept = [0usize; MAX_TOP_K as usize];
    let mut vals = [0i64; MAX_TOP_K as usize];
    let mut n = 0;
    let mut sm = OnlineSoftmax::start(logits.first().copied().map_or(0, i64::from));
    for (e, &l) in logits.iter().enumerate() {
        let l = i64::from(l);
        if e > 0 {
            sm.push(l, fa, t);
        }
        if n < k || l > vals[k - 1] {
            // Insert after every kept value >= l (earlier experts win ties).
            let mut at = n.min(k - 1);
            while at > 0 && vals[at - 1] < l {
                if at < k {
                    vals[at] = vals[at - 1];
                    kept[at] = kept[at - 1];
                }
                at -= 1;
            }
            vals[at] = l;
            kept[at] = e;
            n = (n + 1).min(k);
        }
    }
    let inv = sm.inverse();
    let mut probs = [0i64; MAX_TOP_K as usize];
    for j in 0..k {
        probs[j] = sm.prob(vals[j], inv, fa, t);
    }
    (kept, probs)
}

/// `y[T, D] = Σ_e Σ_{t in queue(e)} p · expert_e(a[t])` for the MoE layer `cfg.block` with the gate
/// `gate` `[D, E]`; `y` is overwritten. Only experts some token picked are read; `counters` records them.
#[allow(clippy::too_many_arguments)]
pub fn moe(
    cfg: &MoeCfg,
    a: &[i32],
    gate: &Weights<'_>,
    experts: &Experts<'_>,
    w: &mut MoeWork<'_>,
    y: &mut [i32],
    tables: &Tables,
    counters: &mut Counters,
    trace: &mut dyn Trace,
) -> Result<()> {
    let (t, d, e, k, dh) = (cfg.tokens, cfg.dim, cfg.experts, cfg.top_k, cfg.hidden);
    if k == 0
        || k > MAX_TOP_K as usize
        || k > e
        || y.len() < t * d
        || w.route.len() < t * 2 * k
        || w.q_offsets.len() <= e
    {
        return Err(Error::ShapeMismatch { what: "moe layer", expected: t * d, found: y.len() });
    }
    let lin =
        |rows, cols_in, cols_out| LinearCfg { rows, cols_in, cols_out, wa: cfg.wa, fa: cfg.fa, layout: Layout::InOut };
    linear(&lin(t, d, e), a, gate, None, w.logits)?;
    let offsets = &mut w.q_offsets[..=e];
    offsets.fill(0);
    for (tok, logits) in w.logits.chunks_exact(e).take(t).enumerate() {
        let (kept, probs) = route_token(logits, k, cfg.fa, tables);
        let r = &mut w.route[tok * 2 * k..(tok + 1) * 2 * k];
        for j in 0..k {
            r[j] = kept[j] as i32;
            r[k + j] = probs[j] as i32;
            offsets[kept[j] + 1] += 1;
        }
    }
    trace.record(Point::at(Kind::Route, cfg.block), &w.route[..t * 2 * k]);
    for i in 1..=e {
        offsets[i] += offsets[i - 1];
    }
    // Fill in token order with offsets[x] as expert x's cursor, then shift the cursors back into starts.
    for tok in 0..t {
        let r = &w.route[tok * 2 * k..(tok + 1) * 2 * k];
        for j in 0..k {
            let x = r[j] as usize;
            let at = offsets[x] as usize;
            w.q_tokens[at] = tok as i32;
            w.q_probs[at] = r[k + j];
            offsets[x] += 1;
        }
    }
    for i in (1..=e).rev() {
        offsets[i] = offsets[i - 1];
    }
    offsets[0] = 0;
    y[..t * d].fill(0);
    let missing = Error::Inconsistent { what: "expert weights shorter than the model" };
    for x in 0..e {
        let (start, end) = (w.q_offsets[x] as usize, w.q_offsets[x + 1] as usize);
        let n = end - start;
        if n == 0 {
            continue;
        }
        for (row, &tok) in w.gathered.chunks_exact_mut(d).zip(&w.q_tokens[start..end]) {
            let tok = tok as usize;
            row.copy_from_slice(&a[tok * d..(tok + 1) * d]);
        }
        let w1 = slab(&experts.w1, x, d * dh, dh).ok_or(missing)?;
        let b1 = Bias { values: experts.b1.values.get(x * dh..(x + 1) * dh).ok_or(missing)?, frac: experts.b1.frac };
        let hidden = &mut w.hidden[..n * dh];
        linear(&lin(n, d, dh), &w.gathered[..n * d], &w1, Some(&b1), hidden)?;
        gelu_inplace(hidden, cfg.fa, cfg.wa, tables);
        trace.record(Point { kind: Kind::ExpertHidden, index: cfg.block, expert: x as u32 }, hidden);
        let w2 = slab(&experts.w2, x, dh * d, d).ok_or(missing)?;
        let b2 = Bias { values: experts.b2.values.get(x * d..(x + 1) * d).ok_or(missing)?, frac: experts.b2.frac };
        let out = &mut w.out[..n * d];
        linear(&lin(n, dh, d), hidden, &w2, Some(&b2), out)?;
        trace.record(Point { kind: Kind::ExpertOut, index: cfg.block, expert: x as u32 }, out);
        for ((row, &tok), &p) in out.chunks_exact(d).zip(&w.q_tokens[start..end]).zip(&w.q_probs[start..end]) {
            let dst = &mut y[tok as usize * d..][..d];
            for (o, &v) in dst.iter_mut().zip(row) {
                *o = to_act(i64::from(*o) + ((i64::from(p) * i64::from(v)) >> cfg.fa), cfg.wa);
            }
        }
        counters.record_expert(cfg.block as usize, x, experts.bytes);
    }
    trace.record(Point::at(Kind::Moe, cfg.block), &y[..t * d]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_keeps_the_largest_with_ties_to_the_lower_index() {
        let t = Tables::new(22);
        let (kept, _) = route_token(&[5, 9, 9, 1], 2, 22, &t);
        assert_eq!(&kept[..2], &[1, 2]);
        let (kept, _) = route_token(&[3, 3, 3, 3], 3, 22, &t);
        assert_eq!(&kept[..3], &[0, 1, 2]);
        let (kept, _) = route_token(&[-4, 7, 2, 7, 8], 3, 22, &t);
        assert_eq!(&kept[..3], &[4, 1, 3]);
        // Equal logits: each of 4 experts has probability 1/4 = 2^20.
        let (_, probs) = route_token(&[0; 4], 2, 22, &t);
        assert_eq!(&probs[..2], &[1 << 20, 1 << 20]);
    }
}
