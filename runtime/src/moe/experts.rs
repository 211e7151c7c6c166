//! The expert loop: every expert with a non-empty queue runs once over its whole queue.

use super::router::Queues;
use crate::bundle::TensorData;
use crate::engine::counters::Counters;
use crate::engine::weights::widen;
use crate::kernels::{activation, gemm};
use crate::Result;

/// One MoE block's stacked expert tensors, straight from the bundle.
#[derive(Clone, Copy)]
pub struct ExpertWeights<'b> {
    /// fc1 weights `[E, D, Dh]`.
    pub w1: TensorData<'b>,
    /// fc1 biases `[E, Dh]`.
    pub b1: TensorData<'b>,
    /// fc2 weights `[E, Dh, D]`.
    pub w2: TensorData<'b>,
    /// fc2 biases `[E, D]`.
    pub b2: TensorData<'b>,
    /// The weights read after the last expert (fetched while it computes).
    pub after: &'b [u8],
}

/// Scratch regions the expert loop works in.
pub struct ExpertBuffers<'s> {
    /// Gathered input rows, at least `T·D`.
    pub gathered: &'s mut [f32],
    /// Hidden activations, at least `T·Dh`.
    pub hidden: &'s mut [f32],
    /// One expert's output rows, at least `T·D`.
    pub out: &'s mut [f32],
    /// Widened weight matrix (bundles with tensors that are not f32), at least `D·Dh`.
    pub wbuf: &'s mut [f32],
    /// Widened bias (bundles with tensors that are not f32), at least `max(D, Dh)`.
    pub vbuf: &'s mut [f32],
}

/// Computes `y += Σ_e Σ_{token in queue(e)} p · expert_e(a[token])` for the MoE block `block`.
///
/// `a` is the block's LayerNorm output `[T, D]`; `y` must be `[T, D]`. Only experts with a non-empty queue
/// are read, each exactly once; `counters` records which and how many bytes.
#[allow(clippy::too_many_arguments)]
pub fn run_experts(
    a: &[f32],
    d: usize,
    dh: usize,
    experts: usize,
    weights: &ExpertWeights<'_>,
    queues: &Queues<'_>,
    bufs: &mut ExpertBuffers<'_>,
    y: &mut [f32],
    block: usize,
    counters: &mut Counters,
) -> Result<()> {
    for e in 0..experts {
        let (tokens, probs) = queues.queue(e);
        let n = tokens.len();
        if n == 0 {
            continue;
        }
        // Gather the queued rows into a compact [n, D] block.
        for (row, &tok) in bufs.gathered.chunks_exact_mut(d).zip(tokens) {
            let t = tok as usize;
            match a.get(t * d..(t + 1) * d) {
                Some(src) => row.copy_from_slice(src),
                None => return Err(crate::Error::Inconsistent { what: "queued token out of range" }),
            }
        }
        // While one matrix computes, the next one streams in: this expert's fc2, then the next picked
        // expert's fc1 (or what follows the experts).
        let fc2 = weights.w2.bytes_of(e * dh * d..(e + 1) * dh * d).unwrap_or(&[]);
        let next = (e + 1..experts).find(|&x| !queues.queue(x).0.is_empty());
        let after = match next {
            Some(x) => weights.w1.bytes_of(x * d * dh..(x + 1) * d * dh).unwrap_or(&[]),
            None => weights.after,
        };
        let w1 = widen(weights.w1, e * d * dh..(e + 1) * d * dh, bufs.wbuf)?;
        let b1 = widen(weights.b1, e * dh..(e + 1) * dh, bufs.vbuf)?;
        let hidden = &mut bufs.hidden[..n * dh];
        gemm::linear_fetching(&bufs.gathered[..n * d], n, w1, d, dh, Some(b1), hidden, fc2)?;
        activation::gelu_inplace(hidden);
        let w2 = widen(weights.w2, e * dh * d..(e + 1) * dh * d, bufs.wbuf)?;
        let b2 = widen(weights.b2, e * d..(e + 1) * d, bufs.vbuf)?;
        let out = &mut bufs.out[..n * d];
        gemm::linear_fetching(hidden, n, w2, dh, d, Some(b2), out, after)?;
        // Scatter-add, weighted by each token's gate probability.
        for ((row, &tok), &p) in out.chunks_exact(d).zip(tokens).zip(probs) {
            let t = tok as usize;
            if let Some(dst) = y.get_mut(t * d..(t + 1) * d) {
                for (o, v) in dst.iter_mut().zip(row) {
                    *o += p * v;
                }
            }
        }
        counters.record_expert(block, e, expert_bytes(weights, d, dh) as u64);
    }
    Ok(())
}

/// The bundle bytes one expert reads: its slabs of the four tensors and, for int8 matrices, their scale
/// words (its `Dh` and `D` output channels' per channel, the two tensors' single words per tensor).
fn expert_bytes(w: &ExpertWeights<'_>, d: usize, dh: usize) -> usize {
    let part = |t: TensorData<'_>, elements: usize, channels: usize| {
        let scales = match t {
            TensorData::Q8(q) if q.per_channel => channels,
            TensorData::Q8(_) => 1,
            _ => 0,
        };
        t.dtype().size() * elements + 4 * scales
    };
    part(w.w1, d * dh, dh) + part(w.b1, dh, 0) + part(w.w2, dh * d, d) + part(w.b2, d, 0)
}
