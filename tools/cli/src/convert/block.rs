//! Transformer blocks: LayerNorm, multi-head attention, residuals and the dense FFN (the MoE FFN is in
//! `moe.rs`).

use anyhow::{bail, Result};
use m3rt::model::{TensorKey, TensorKind, MAX_DEPTH};

use super::graph::attr_i;
use super::moe::moe_ffn;
use super::norm::layer_norm;
use super::ops::{gelu, linear, reshape, residual, transpose, Linear};
use super::qkv::split_qkv;
use super::walk::{close, dims_are, resolve_reshape, Walk};

const LN_START: [&str; 2] = ["LayerNormalization", "ReduceMean"];

/// Walks blocks from the token tensor `x` until the head's `Slice`; returns the last block's output.
pub fn blocks<'g>(w: &mut Walk<'g>, mut x: &'g str) -> Result<&'g str> {
    loop {
        if x == w.task && w.found.depth > 0 {
            let t = w.found.grid.0 * w.found.grid.1 + 1;
            bail!(
                "graph output '{x}' is the tokens [1, {t}, {}] after block {}: an encoder-only graph (no task \
                 head), which the bundle format cannot hold yet (every task has a head)",
                w.found.dim,
                w.found.depth - 1
            );
        }
        let readers = w.consumers(x);
        if readers.iter().any(|&i| w.node(i).op_type == "Slice") {
            return Ok(x);
        }
        let ln = find_ln(w, x, "a block's LayerNorm (or the head's Slice)")?;
        let b = w.found.depth;
        if b >= MAX_DEPTH {
            return Err(w.err(ln, format!("more than {MAX_DEPTH} blocks")));
        }
        x = block(w, b, x, ln)?;
        w.found.depth += 1;
    }
}

/// Checks a linear layer's weight `wd` and bias shapes (`bd` in the graph, `canon` in the bundle; a 1-D
/// bias may also be stored as `[1, n]`) and records them under `keys`.
pub fn put_linear(
    w: &mut Walk<'_>,
    l: &Linear<'_>,
    keys: (TensorKey, TensorKey),
    wd: &[u32],
    bd: &[u32],
    canon: &[u32],
) -> Result<()> {
    let flat_ok = canon.len() == 1 && l.b.len() == canon[0] as usize && l.b_dims.iter().rev().skip(1).all(|&k| k == 1);
    if !dims_are(&l.w_dims, wd) || !(dims_are(&l.b_dims, bd) || flat_ok) {
        return Err(
            w.err(l.node, format!("expected weight {wd:?} and bias {bd:?}, found {:?} and {:?}", l.w_dims, l.b_dims))
        );
    }
    w.put(keys.0, wd, l.w.clone());
    w.put(keys.1, canon, l.b.clone());
    Ok(())
}

/// The LayerNorm (fused, or the first node of the decomposed form) among the readers of `x`.
pub fn find_ln(w: &Walk<'_>, x: &str, what: &str) -> Result<usize> {
    let readers = w.consumers(x);
    if let Some(&ln) = readers.iter().find(|&&i| LN_START.contains(&w.node(i).op_type.as_str())) {
        return Ok(ln);
    }
    match readers.first() {
        Some(&r) => Err(w.err(r, format!("expected {what} to read the tokens"))),
        None => Err(w.next(x, what).err().unwrap_or_else(|| anyhow::anyhow!("expected {what}"))),
    }
}

fn block<'g>(w: &mut Walk<'g>, b: u32, x: &'g str, ln1: usize) -> Result<&'g str> {
    use TensorKind::*;
    let d = w.found.dim;
    let a = layer_norm(w, ln1, x, d, "the block's first LayerNorm")?;
    w.put(TensorKey::block(Ln1G, b), &[d], a.g);
    w.put(TensorKey::block(Ln1B, b), &[d], a.b);
    let y = attention(w, b, a.out)?;
    let x = residual(w, x, y)?;
    let ln2 = find_ln(w, x, "the block's second LayerNorm")?;
    let m = layer_norm(w, ln2, x, d, "the block's second LayerNorm")?;
    w.put(TensorKey::block(Ln2G, b), &[d], m.g);
    w.put(TensorKey::block(Ln2B, b), &[d], m.b);
    match w.consumers(m.out).as_slice() {
        [r] if super::moe_cat::is_flatten(w, *r) => super::moe_cat::moe_ffn(w, b, x, *r),
        [_] => dense_ffn(w, b, x, m.out),
        [p, q] => moe_ffn(w, b, x, m.out, [*p, *q]),
        _ => Err(w.err(ln2, "expected one reader (a dense FFN) or two (an MoE gate and experts)")),
    }
}

fn attention<'g>(w: &mut Walk<'g>, b: u32, a: &'g str) -> Result<&'g str> {
    use TensorKind::*;
    let d = w.found.dim;
    let t = u64::from(w.found.grid.0 * w.found.grid.1 + 1);
    let qkv = linear(w, a, "the attention's qkv linear")?;
    put_linear(w, &qkv, (TensorKey::block(QkvW, b), TensorKey::block(QkvB, b)), &[d, 3 * d], &[3 * d], &[3 * d])?;
    let r = w.next_op(qkv.out, &["Reshape"], "the attention's head split Reshape")?;
    let shape = w.const_i64(r, w.input(r, 1).unwrap_or_default(), "the head split shape")?;
    let heads = match resolve_reshape(shape, t * 3 * u64::from(d)).as_deref() {
        Some(&[1, tt, 3, h, hd]) if tt == t && h * hd == u64::from(d) && h > 0 => h as u32,
        _ => {
            return Err(w.err(r, format!("expected the head split shape [1, {t}, 3, heads, D/heads], found {shape:?}")))
        }
    };
    let mut slot = w.found.heads;
    w.agree(&mut slot, heads, r, "the number of heads")?;
    w.found.heads = slot;
    let hd = d / heads;
    let split = transpose(w, w.out(r, 0)?, &[2, 0, 3, 1, 4], "the attention's qkv Transpose")?;
    let [q, k, v] = split_qkv(w, r, split)?;
    let kt = transpose(w, k, &[0, 1, 3, 2], "the Transpose of k")?;
    let s = w.next_op(kt, &["MatMul"], "the scores MatMul q·kᵀ")?;
    if w.input(s, 0) != Some(q) || w.input(s, 1) != Some(kt) {
        return Err(w.err(s, "expected MatMul(q, kᵀ)"));
    }
    let s_out = w.out(s, 0)?;
    let sc = w.next_op(s_out, &["Mul", "Div"], "the attention scale")?;
    let c = w.scalar(sc, w.other(sc, s_out)?, "the attention scale")?;
    let want = (hd as f32).powf(-0.5);
    let ok = if w.node(sc).op_type == "Mul" { close(c, want) } else { close(1.0 / c, want) };
    if !ok {
        return Err(w.err(sc, format!("expected scores scaled by head_dim^-0.5 = {want}, found {c}")));
    }
    let sm = w.next_op(w.out(sc, 0)?, &["Softmax"], "the attention Softmax")?;
    let axis = attr_i(w.node(sm), "axis", -1);
    if axis != -1 && axis != 3 {
        return Err(w.err(sm, format!("expected a Softmax over the keys (axis -1), found axis {axis}")));
    }
    let p = w.out(sm, 0)?;
    let av = w.next_op(p, &["MatMul"], "the MatMul of the probabilities with v")?;
    if w.input(av, 0) != Some(p) || w.input(av, 1) != Some(v) {
        return Err(w.err(av, "expected MatMul(softmax, v)"));
    }
    let o = transpose(w, w.out(av, 0)?, &[0, 2, 1, 3], "the heads merge Transpose")?;
    let o = reshape(w, o, &[1, t, u64::from(d)], "the heads merge Reshape [1, T, D]")?;
    let proj = linear(w, o, "the attention's output projection")?;
    put_linear(w, &proj, (TensorKey::block(ProjW, b), TensorKey::block(ProjB, b)), &[d, d], &[d], &[d])?;
    Ok(proj.out)
}

fn dense_ffn<'g>(w: &mut Walk<'g>, b: u32, x: &'g str, m: &'g str) -> Result<&'g str> {
    use TensorKind::*;
    let d = w.found.dim;
    let fc1 = linear(w, m, "the MLP's first linear")?;
    let hidden = match fc1.w_dims.as_slice() {
        &[_, h] => u32::try_from(h).unwrap_or(0),
        _ => 0,
    };
    put_linear(w, &fc1, (TensorKey::block(Fc1W, b), TensorKey::block(Fc1B, b)), &[d, hidden], &[hidden], &[hidden])?;
    let mut slot = w.found.mlp_hidden;
    w.agree(&mut slot, hidden, fc1.node, "the MLP hidden width")?;
    w.found.mlp_hidden = slot;
    let h = gelu(w, fc1.out)?;
    let fc2 = linear(w, h, "the MLP's second linear")?;
    put_linear(w, &fc2, (TensorKey::block(Fc2W, b), TensorKey::block(Fc2B, b)), &[hidden, d], &[d], &[d])?;
    residual(w, x, fc2.out)
}
