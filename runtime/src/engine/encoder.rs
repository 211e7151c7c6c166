//! The backbone: normalisation, patch embedding, and the attention + dense/MoE blocks.

use super::counters::Counters;
use super::weights::{widen_all, WeightBufs};
use crate::bundle::Bundle;
use crate::kernels::{activation, attention, gemm, norm, patch};
use crate::model::{TensorKey, TensorKind as K};
use crate::moe::{build_queues, run_experts, ExpertBuffers, ExpertWeights, Queues};
use crate::Result;

/// Scratch regions of the encoder.
pub struct EncoderWork<'s> {
    /// Normalised image `[3, H, W]`.
    pub image: &'s mut [f32],
    /// Patch-embedding scratch.
    pub patch: &'s mut [f32],
    /// LayerNorm output `[T, D]`.
    pub a: &'s mut [f32],
    /// QKV `[T, 3D]`.
    pub qkv: &'s mut [f32],
    /// Attention output, then FFN output `[T, D]`.
    pub att: &'s mut [f32],
    /// Attention kernel scratch.
    pub att_scratch: &'s mut [f32],
    /// FFN and expert temporaries.
    pub moe: MoeWork<'s>,
}

/// Scratch regions of the FFN sub-blocks (dense and MoE).
pub struct MoeWork<'s> {
    /// FFN hidden activations.
    pub hidden: &'s mut [f32],
    /// Gathered expert input rows.
    pub gathered: &'s mut [f32],
    /// One expert's output rows.
    pub expert_out: &'s mut [f32],
    /// Gate probabilities `[T, E]`.
    pub gate: &'s mut [f32],
    /// Queue token indices.
    pub q_tokens: &'s mut [u32],
    /// Queue probabilities.
    pub q_probs: &'s mut [f32],
    /// Queue offsets.
    pub q_offsets: &'s mut [u32],
}

/// The first block whose output depends on the task (the first MoE block), or `depth` when no block does:
/// everything before it is shared by every task.
pub fn first_task_block(h: &crate::model::Hyper) -> u32 {
    (0..h.depth).find(|&b| h.is_moe(b)).unwrap_or(h.depth)
}

/// Normalises `input` (`[3, H, W]`), embeds the patches and adds the cls token and position embedding,
/// leaving the token sequence in `x` (`[T, D]`).
pub fn embed(
    bundle: &Bundle<'_>,
    input: &[f32],
    x: &mut [f32],
    w: &mut EncoderWork<'_>,
    wb: &mut WeightBufs<'_>,
) -> Result<()> {
    let h = *bundle.hyper();
    let u = |v: u32| v as usize;
    let (d, hw) = (u(h.dim), u(h.image_h * h.image_w));
    for c in 0..3 {
        let (m, s) = (h.norm_mean[c], h.norm_std[c]);
        let src = &input[c * hw..(c + 1) * hw];
        for (o, &v) in w.image[c * hw..(c + 1) * hw].iter_mut().zip(src) {
            *o = (v - m) / s;
        }
    }
    let pw = widen_all(bundle.tensor(TensorKey::global(K::PatchW))?, wb.w)?;
    let pb = widen_all(bundle.tensor(TensorKey::global(K::PatchB))?, wb.va)?;
    let (cls_row, patches) = x.split_at_mut(d);
    patch::patch_embed(&w.image[..3 * hw], 3, u(h.image_h), u(h.image_w), u(h.patch), pw, pb, patches, w.patch)?;
    cls_row.copy_from_slice(widen_all(bundle.tensor(TensorKey::global(K::ClsToken))?, wb.va)?);
    let pos = widen_all(bundle.tensor(TensorKey::global(K::PosEmbed))?, wb.w)?;
    add_into(x, pos);
    Ok(())
}

/// Runs blocks `blocks` of the backbone for `task` on the token sequence `x` (`[T, D]`), in place.
pub fn run_blocks(
    bundle: &Bundle<'_>,
    task: u32,
    blocks: core::ops::Range<u32>,
    x: &mut [f32],
    w: &mut EncoderWork<'_>,
    wb: &mut WeightBufs<'_>,
    counters: &mut Counters,
) -> Result<()> {
    let h = *bundle.hyper();
    let u = |v: u32| v as usize;
    let (t, d) = (u(h.tokens()), u(h.dim));
    for b in blocks.start..blocks.end.min(h.depth) {
        let key = |k| TensorKey::block(k, b);
        // The next block's first weights: what the FFN's last product fetches meanwhile.
        let next_qkv = TensorKey::block(K::QkvW, b + 1);
        let a = &mut w.a[..t * d];
        // Attention sub-block.
        let g = widen_all(bundle.tensor(key(K::Ln1G))?, wb.va)?;
        let beta = widen_all(bundle.tensor(key(K::Ln1B))?, wb.vb)?;
        norm::layer_norm(x, t, d, g, beta, h.ln_eps, a)?;
        let qkv_w = widen_all(bundle.tensor(key(K::QkvW))?, wb.w)?;
        let qkv_b = widen_all(bundle.tensor(key(K::QkvB))?, wb.va)?;
        let qkv = &mut w.qkv[..t * 3 * d];
        gemm::linear_fetching(a, t, qkv_w, d, 3 * d, Some(qkv_b), qkv, bytes(bundle, key(K::ProjW)))?;
        let att = &mut w.att[..t * d];
        attention::attention(qkv, t, d, u(h.heads), att, w.att_scratch)?;
        let proj_w = widen_all(bundle.tensor(key(K::ProjW))?, wb.w)?;
        let proj_b = widen_all(bundle.tensor(key(K::ProjB))?, wb.va)?;
        // The FFN's first weights stream in meanwhile (a MoE block's experts are known only once routed).
        let ffn = if h.is_moe(b) { TensorKey::gate(task, b) } else { key(K::Fc1W) };
        gemm::linear_fetching(att, t, proj_w, d, d, Some(proj_b), a, bytes(bundle, ffn))?;
        add_into(x, a);
        // FFN sub-block.
        let g = widen_all(bundle.tensor(key(K::Ln2G))?, wb.va)?;
        let beta = widen_all(bundle.tensor(key(K::Ln2B))?, wb.vb)?;
        norm::layer_norm(x, t, d, g, beta, h.ln_eps, a)?;
        if h.is_moe(b) {
            moe_ffn(bundle, task, b, a, att, &mut w.moe, wb, counters, bytes(bundle, next_qkv))?;
        } else {
            let hm = u(h.mlp_hidden);
            let hidden = &mut w.moe.hidden[..t * hm];
            let w1 = widen_all(bundle.tensor(key(K::Fc1W))?, wb.w)?;
            let b1 = widen_all(bundle.tensor(key(K::Fc1B))?, wb.va)?;
            gemm::linear_fetching(a, t, w1, d, hm, Some(b1), hidden, bytes(bundle, key(K::Fc2W)))?;
            activation::gelu_inplace(hidden);
            let w2 = widen_all(bundle.tensor(key(K::Fc2W))?, wb.w)?;
            let b2 = widen_all(bundle.tensor(key(K::Fc2B))?, wb.va)?;
            gemm::linear_fetching(hidden, t, w2, hm, d, Some(b2), att, bytes(bundle, next_qkv))?;
        }
        add_into(x, att);
    }
    Ok(())
}

/// The MoE FFN of block `b` for `task`: route, then run each picked expert once over its queue. The
/// result (not yet added to the residual) is written to `y`.
#[allow(clippy::too_many_arguments)]
fn moe_ffn(
    bundle: &Bundle<'_>,
    task: u32,
    b: u32,
    a: &[f32],
    y: &mut [f32],
    w: &mut MoeWork<'_>,
    wb: &mut WeightBufs<'_>,
    counters: &mut Counters,
    after: &[u8],
) -> Result<()> {
    let h = bundle.hyper();
    let u = |v: u32| v as usize;
    let (t, d, e, k) = (u(h.tokens()), u(h.dim), u(h.experts), u(h.top_k));
    let gate_w = widen_all(bundle.tensor(TensorKey::gate(task, b))?, wb.w)?;
    let probs = &mut w.gate[..t * e];
    gemm::linear(a, t, gate_w, d, e, None, probs)?;
    activation::softmax_rows_inplace(probs, t, e)?;
    let mut queues = Queues { tokens: &mut *w.q_tokens, probs: &mut *w.q_probs, offsets: &mut *w.q_offsets };
    build_queues(probs, t, e, k, &mut queues)?;
    let key = |kind| TensorKey::block(kind, b);
    let weights = ExpertWeights {
        w1: bundle.tensor(key(K::ExpW1))?,
        b1: bundle.tensor(key(K::ExpB1))?,
        w2: bundle.tensor(key(K::ExpW2))?,
        b2: bundle.tensor(key(K::ExpB2))?,
        after,
    };
    let mut bufs = ExpertBuffers {
        gathered: &mut *w.gathered,
        hidden: &mut *w.hidden,
        out: &mut *w.expert_out,
        wbuf: &mut *wb.w,
        vbuf: &mut *wb.va,
    };
    y.fill(0.0);
    run_experts(a, d, u(h.expert_hidden), e, &weights, &queues, &mut bufs, y, b as usize, counters)
}

/// The bytes of tensor `key`, for fetching them ahead (none when the model has no such tensor, such as
/// the block after the last).
fn bytes<'b>(bundle: &Bundle<'b>, key: TensorKey) -> &'b [u8] {
    bundle.tensor(key).ok().and_then(|t| t.bytes_of(0..t.len())).unwrap_or(&[])
}

/// `x += y`, element by element.
fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
