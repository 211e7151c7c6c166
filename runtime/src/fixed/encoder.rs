//! The fixed-point backbone: normalisation, patch embedding, and every block (attention, dense or MoE
//! FFN), each kernel's output traced. Mirrors the encoder part of `hls/src/m3rt_accel.cpp`.

use super::attention::{attention, AttentionCfg};
use super::consts::Consts;
use super::gelu::gelu_inplace;
use super::int::to_act;
use super::layernorm::{layer_norm, LayerNormCfg};
use super::layout::FixedLayout;
use super::linear::{linear, Layout, LinearCfg};
use super::moe::{moe, Experts, MoeCfg, MoeWork};
use super::patch_embed::{normalise, patch_embed, PatchCfg};
use super::tables::Tables;
use super::trace::{Kind, Point, Trace};
use super::weights::{expert_bytes, matrix, vector};
use super::Profile;
use crate::bundle::Bundle;
use crate::engine::Counters;
use crate::model::{TensorKey, TensorKind as K};
use crate::{Error, Result};

/// What every fixed-point kernel of one model shares.
pub struct Ctx<'c, 'b> {
    /// The quantized bundle.
    pub bundle: &'c Bundle<'b>,
    /// Its profile.
    pub profile: &'c Profile,
    /// The non-linear units' tables.
    pub tables: &'c Tables,
    /// The constants derived from the hyperparameters.
    pub consts: &'c Consts,
    /// The scratch layout.
    pub layout: &'c FixedLayout,
}

/// Splits the first `n` words off `rest`.
pub fn take<'s>(rest: &mut &'s mut [i32], n: usize) -> Result<&'s mut [i32]> {
    let all = core::mem::take(rest);
    let have = all.len();
    let (head, tail) = all.split_at_mut_checked(n).ok_or(Error::ScratchTooSmall { needed: n * 4, have: have * 4 })?;
    *rest = tail;
    Ok(head)
}

/// Runs the backbone for `task` on `pixels`, leaving the last block's tokens `[T, D]` in `x`.
pub fn run(
    ctx: &Ctx<'_, '_>,
    task: u32,
    pixels: &[u8],
    x: &mut [i32],
    work: &mut [i32],
    counters: &mut Counters,
    trace: &mut dyn Trace,
) -> Result<()> {
    let h = *ctx.bundle.hyper();
    let p = ctx.profile;
    let (wa, fa, fb) = (u32::from(p.act.width), p.fa(), p.bias.frac() as u32);
    let u = |v: u32| v as usize;
    let (t, d) = (u(h.tokens()), u(h.dim));
    let l = ctx.layout;
    let mut r = work;
    let image = take(&mut r, l.image)?;
    let patch_row = take(&mut r, l.patch_row)?;
    let a = take(&mut r, l.a)?;
    let qkv = take(&mut r, l.qkv)?;
    let att = take(&mut r, l.att)?;
    let y = take(&mut r, l.y)?;
    let scores = take(&mut r, l.scores)?;
    let hidden = take(&mut r, l.hidden)?;
    let logits = take(&mut r, l.logits)?;
    let route = take(&mut r, l.route)?;
    let (q_tokens, q_probs) = take(&mut r, l.queue)?.split_at_mut(l.queue / 2);
    let q_offsets = take(&mut r, l.offsets)?;
    let (gathered, expert_out) = take(&mut r, l.rows)?.split_at_mut(l.rows / 2);

    let c = ctx.consts;
    let pc = PatchCfg {
        image_h: u(h.image_h),
        image_w: u(h.image_w),
        patch: u(h.patch),
        dim: d,
        wa,
        fa,
        fp: p.pixel.frac() as u32,
        mean: c.mean,
        inv_std: c.inv_std,
    };
    normalise(&pc, pixels, image)?;
    let global = TensorKey::global;
    let cls = vector(ctx.bundle, global(K::ClsToken))?.values;
    let pos = vector(ctx.bundle, global(K::PosEmbed))?.values;
    let (pw, pb) = (matrix(ctx.bundle, global(K::PatchW))?, vector(ctx.bundle, global(K::PatchB))?);
    patch_embed(&pc, image, &pw, &pb, cls, pos, fb, x, patch_row)?;
    trace.record(Point::at(Kind::Embed, 0), &x[..t * d]);

    let ln = LayerNormCfg { rows: t, cols: d, wa, fa, fb, eps: c.eps };
    let lin = |cols_in, cols_out| LinearCfg { rows: t, cols_in, cols_out, wa, fa, layout: Layout::InOut };
    let at = AttentionCfg { tokens: t, dim: d, heads: u(h.heads), wa, fa, scale: c.att_scale };
    for b in 0..h.depth {
        let key = |k| TensorKey::block(k, b);
        let pt = |k| Point::at(k, b);
        let (g, s) = (vector(ctx.bundle, key(K::Ln1G))?, vector(ctx.bundle, key(K::Ln1B))?);
        layer_norm(&ln, x, g.values, s.values, a)?;
        trace.record(pt(Kind::Ln1), &a[..t * d]);
        let (w, bias) = (matrix(ctx.bundle, key(K::QkvW))?, vector(ctx.bundle, key(K::QkvB))?);
        linear(&lin(d, 3 * d), a, &w, Some(&bias), qkv)?;
        trace.record(pt(Kind::Qkv), &qkv[..3 * t * d]);
        attention(&at, qkv, att, scores, ctx.tables)?;
        trace.record(pt(Kind::Attn), &att[..t * d]);
        let (w, bias) = (matrix(ctx.bundle, key(K::ProjW))?, vector(ctx.bundle, key(K::ProjB))?);
        linear(&lin(d, d), att, &w, Some(&bias), y)?;
        trace.record(pt(Kind::Proj), &y[..t * d]);
        add_into(&mut x[..t * d], y, wa);
        trace.record(pt(Kind::Res1), &x[..t * d]);
        let (g, s) = (vector(ctx.bundle, key(K::Ln2G))?, vector(ctx.bundle, key(K::Ln2B))?);
        layer_norm(&ln, x, g.values, s.values, a)?;
        trace.record(pt(Kind::Ln2), &a[..t * d]);
        if h.is_moe(b) {
            let (w1, w2) = (matrix(ctx.bundle, key(K::ExpW1))?, matrix(ctx.bundle, key(K::ExpW2))?);
            let (b1, b2) = (vector(ctx.bundle, key(K::ExpB1))?, vector(ctx.bundle, key(K::ExpB2))?);
            let e = u(h.experts);
            let bytes =
                expert_bytes(&w1, e) + expert_bytes(&w2, e) + 2 * (b1.values.len() + b2.values.len()) as u64 / e as u64;
            let experts = Experts { w1, b1, w2, b2, bytes };
            let cfg = MoeCfg {
                tokens: t,
                dim: d,
                experts: e,
                top_k: u(h.top_k),
                hidden: u(h.expert_hidden),
                wa,
                fa,
                block: b,
            };
            let gate = matrix(ctx.bundle, TensorKey::gate(task, b))?;
            let mut mw = MoeWork {
                logits: &mut *logits,
                route: &mut *route,
                q_tokens: &mut *q_tokens,
                q_probs: &mut *q_probs,
                q_offsets: &mut *q_offsets,
                gathered: &mut *gathered,
                hidden: &mut *hidden,
                out: &mut *expert_out,
            };
            moe(&cfg, a, &gate, &experts, &mut mw, y, ctx.tables, counters, trace)?;
        } else {
            let hm = u(h.mlp_hidden);
            let (w, bias) = (matrix(ctx.bundle, key(K::Fc1W))?, vector(ctx.bundle, key(K::Fc1B))?);
            let hid = &mut hidden[..t * hm];
            linear(&lin(d, hm), a, &w, Some(&bias), hid)?;
            gelu_inplace(hid, fa, wa, ctx.tables);
            trace.record(pt(Kind::Fc1), hid);
            let (w, bias) = (matrix(ctx.bundle, key(K::Fc2W))?, vector(ctx.bundle, key(K::Fc2B))?);
            linear(&lin(hm, d), hid, &w, Some(&bias), y)?;
            trace.record(pt(Kind::Fc2), &y[..t * d]);
        }
        add_into(&mut x[..t * d], y, wa);
        trace.record(pt(Kind::Res2), &x[..t * d]);
    }
    Ok(())
}

/// `x = wrap_Wa(x + y)`.
fn add_into(x: &mut [i32], y: &[i32], wa: u32) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a = to_act(i64::from(*a) + i64::from(b), wa);
    }
}
