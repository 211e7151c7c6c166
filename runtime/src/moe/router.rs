//! Top-k selection and per-expert token queues.

use crate::model::MAX_TOP_K;
use crate::{Error, Result};

/// Per-expert token queues in one flat, counting-sorted layout: the queue of expert `e` is
/// `tokens[offsets[e]..offsets[e + 1]]` with the matching gate probabilities in `probs`. Within a queue,
/// tokens are in increasing order.
pub struct Queues<'s> {
    /// Token indices, `T·k` entries.
    pub tokens: &'s mut [u32],
    /// Gate probabilities matching `tokens`.
    pub probs: &'s mut [f32],
    /// `E + 1` queue boundaries.
    pub offsets: &'s mut [u32],
}

impl Queues<'_> {
    /// The queue of expert `e`: (token indices, probabilities). Empty for an unknown expert.
    pub fn queue(&self, e: usize) -> (&[u32], &[f32]) {
        let start = self.offsets.get(e).copied().unwrap_or(0) as usize;
        let end = self.offsets.get(e + 1).copied().unwrap_or(0) as usize;
        match (self.tokens.get(start..end), self.probs.get(start..end)) {
            (Some(t), Some(p)) => (t, p),
            _ => (&[], &[]),
        }
    }
}

/// Writes the indices of the `k` largest values of `p` into `out[..k]`, largest first; equal values are
/// ordered by lower index first (ONNX `TopK`'s rule). NaNs are never preferred. `k ≤ min(MAX_TOP_K, p.len())`.
pub fn top_k(p: &[f32], k: usize, out: &mut [u32; MAX_TOP_K as usize]) -> Result<()> {
    if k == 0 || k > out.len() || k > p.len() {
        return Err(Error::Inconsistent { what: "top-k larger than the expert count" });
    }
    let mut chosen: u64 = 0;
    for slot in out.iter_mut().take(k) {
        let mut best: Option<(usize, f32)> = None;
        for (e, &v) in p.iter().enumerate() {
            if e < 64 && chosen & (1 << e) != 0 {
                continue;
            }
            // Strictly greater replaces, so ties keep the lower index and NaN never wins over a number.
            let better = match best {
                None => true,
                Some((_, bv)) => v > bv || (bv.is_nan() && !v.is_nan()),
            };
            if better {
                best = Some((e, v));
            }
        }
        let (e, _) = best.ok_or(Error::Inconsistent { what: "too few experts for top-k" })?;
        chosen |= 1 << e;
        *slot = e as u32;
    }
    Ok(())
}

/// Routes `t` tokens whose gate probabilities are the rows of `probs` (`[t, e]`): each token goes to the
/// queues of its top-`k` experts. Queue storage must hold `t·k` entries and `e + 1` offsets.
pub fn build_queues(probs: &[f32], t: usize, e: usize, k: usize, q: &mut Queues<'_>) -> Result<()> {
    let entries = t * k;
    if probs.len() < t * e || q.tokens.len() < entries || q.probs.len() < entries || q.offsets.len() <= e {
        return Err(Error::ShapeMismatch { what: "router queues", expected: entries, found: q.tokens.len() });
    }
    let offsets = &mut q.offsets[..=e];
    offsets.fill(0);
    let mut pick = [0u32; MAX_TOP_K as usize];
    // Pass 1: count each expert's tokens (offsets[e + 1] holds expert e's count).
    for row in probs.chunks_exact(e).take(t) {
        top_k(row, k, &mut pick)?;
        for &x in &pick[..k] {
            offsets[x as usize + 1] += 1;
        }
    }
    for i in 1..=e {
        offsets[i] += offsets[i - 1];
    }
    // Pass 2: fill, using offsets[x] as expert x's write cursor.
    for (tok, row) in probs.chunks_exact(e).take(t).enumerate() {
        top_k(row, k, &mut pick)?;
        for &x in &pick[..k] {
            let at = offsets[x as usize] as usize;
            q.tokens[at] = tok as u32;
            q.probs[at] = row[x as usize];
            offsets[x as usize] += 1;
        }
    }
    // The cursors now hold each queue's end; shift them back into starts.
    for i in (1..=e).rev() {
        offsets[i] = offsets[i - 1];
    }
    offsets[0] = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_breaks_ties_towards_the_lower_index() {
        let mut out = [0u32; MAX_TOP_K as usize];
        top_k(&[0.1, 0.4, 0.1, 0.4], 2, &mut out).unwrap();
        assert_eq!(&out[..2], &[1, 3]);
        top_k(&[0.25, 0.25, 0.25, 0.25], 3, &mut out).unwrap();
        assert_eq!(&out[..3], &[0, 1, 2]);
        top_k(&[f32::NAN, 0.2, 0.7], 2, &mut out).unwrap();
        assert_eq!(&out[..2], &[2, 1]);
    }

    #[test]
    fn queues_hold_every_pick_grouped_by_expert() {
        // Three tokens, four experts, top-2, worked by hand:
        // token 0 → experts 2, 0; token 1 → 1, 2; token 2 → 3, 2.
        let probs = [0.3, 0.1, 0.5, 0.1, 0.1, 0.6, 0.2, 0.1, 0.1, 0.1, 0.3, 0.5];
        let (mut tokens, mut qp, mut offsets) = ([0u32; 6], [0f32; 6], [0u32; 5]);
        let mut q = Queues { tokens: &mut tokens, probs: &mut qp, offsets: &mut offsets };
        build_queues(&probs, 3, 4, 2, &mut q).unwrap();
        assert_eq!(q.offsets, &[0, 1, 2, 5, 6]);
        assert_eq!(q.queue(2), (&[0u32, 1, 2][..], &[0.5f32, 0.2, 0.3][..]));
        assert_eq!(q.queue(0), (&[0u32][..], &[0.3f32][..]));
        assert_eq!(q.queue(3), (&[2u32][..], &[0.5f32][..]));
    }
}
