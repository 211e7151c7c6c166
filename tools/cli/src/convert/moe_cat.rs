//! The MoE FFN in the token-major, concatenated-experts form an exporter of a PyTorch dense-equivalent
//! module writes (tokens flattened to `[T, D]`, every expert's weights concatenated into one matrix):
//!
//! - gate: `p = Softmax(MatMul(m, Wg[D, E]))` over the experts, then the top-k weights `w [T, E]` as
//!   `p · Cast(p ≥ kth)` with `kth = Slice(TopK(p, k).values, k-1, k)` (see `gate_topk.rs`), or as
//!   `ScatterElements(zeros, TopK indices, TopK values)`;
//! - experts: `h = GELU(MatMul(m, W1cat[D, E·Dh]) + b1cat[E·Dh])`, `Reshape(h, [T, E, Dh])`,
//!   `Mul(·, Unsqueeze(w, -1))`, `Reshape(·, [T, E·Dh])`, `MatMul(·, W2cat[E·Dh, D])`,
//!   `Add(·, MatMul(w, b2[E, D]))`, `Reshape(·, [1, T, D])`, then the residual Add.
//!
//! That is `y = Σ_e w_e (GELU(m·W1_e + b1_e)·W2_e + b2_e)`, the runtime's MoE with expert `e`'s weights
//! `W1_e = W1cat[:, e·Dh..(e+1)·Dh]`, `b1_e`, `W2_e = W2cat[e·Dh..(e+1)·Dh, :]` and `b2_e = b2[e]`.
//! A loop over the experts instead of the concatenated matrices is `moe_loop.rs`; experts as one batched
//! MatMul (weights `[E, D, Dh]`) on the flattened tokens go to `moe.rs`'s [`super::moe::batched_experts`].

use std::rc::Rc;

use anyhow::Result;
use m3rt::model::{TensorKey, TensorKind, MAX_EXPERTS};

use super::gate_topk::top_k_weights;
use super::graph::{attr_i, attr_ints};
use super::ops::{gelu, linear_at, reshape, residual, transpose};
use super::walk::{dims_are, resolve_reshape, Walk};

/// Whether node `r` (the one reader of the second LayerNorm's output) flattens the tokens to `[T, D]`
/// for this form.
pub fn is_flatten(w: &Walk<'_>, r: usize) -> bool {
    let t = u64::from(w.found.grid.0 * w.found.grid.1 + 1);
    let d = u64::from(w.found.dim);
    w.node(r).op_type == "Reshape"
        && w.input(r, 1).and_then(|s| w.const_i64(r, s, "").ok()).and_then(|s| resolve_reshape(s, t * d))
            == Some(vec![t, d])
}

/// The MoE FFN of block `b` whose LayerNorm output `m` is flattened by Reshape node `r`; `x` is the
/// block's residual input. Returns the block output.
pub fn moe_ffn<'g>(w: &mut Walk<'g>, b: u32, x: &'g str, r: usize) -> Result<&'g str> {
    let d = w.found.dim;
    let t = w.found.grid.0 * w.found.grid.1 + 1;
    let m = w.out(r, 0)?;
    let readers = w.consumers(m);
    if readers.len() > 2 {
        return super::moe_loop::moe_ffn(w, b, x, r, m, &readers);
    }
    let follows = |n: usize, op: &str| {
        w.node(n).output.first().is_some_and(|o| w.consumers(o).iter().any(|&c| w.node(c).op_type == op))
    };
    // The gate's MatMul feeds the Softmax; failing that (a gate with a bias), it is the narrower one (E
    // columns against the experts' E·Dh).
    let columns = |n: usize| {
        let name = w.input(n, 1).unwrap_or_default();
        w.g.constant(name).and_then(|c| c.dims.last().copied()).unwrap_or(0)
    };
    let (gate, experts) = match *readers.as_slice() {
        [p, q] if follows(p, "Softmax") => (p, q),
        [p, q] if follows(q, "Softmax") => (q, p),
        [p, q] if w.node(p).op_type == "MatMul" && w.node(q).op_type == "MatMul" && columns(p) != columns(q) => {
            if columns(p) < columns(q) {
                (p, q)
            } else {
                (q, p)
            }
        }
        _ => {
            return Err(w.err(
                r,
                "expected the flattened tokens to feed the MoE gate (MatMul, Softmax) and the experts' MatMul",
            ))
        }
    };
    let (wts, e, k) = gate_path(w, b, m, gate)?;
    let experts_rank = w.input(experts, 1).and_then(|n| w.g.constant(n)).map_or(0, |c| c.dims.len());
    if experts_rank == 3 {
        let wt = expert_major(w, wts)?;
        return super::moe::batched_experts(w, b, x, m, experts, wt, (e, k));
    }

    let ex1 = linear_at(w, experts, m, "the experts' concatenated first linear")?;
    let dh = match ex1.w_dims.as_slice() {
        &[dd, cat] if dd == i64::from(d) && cat > 0 && cat % i64::from(e) == 0 => (cat / i64::from(e)) as u32,
        dims => {
            return Err(w.err(ex1.node, format!("expected the experts' first weight [{d}, {e}·Dh], found {dims:?}")))
        }
    };
    if !dims_are(&ex1.b_dims, &[e * dh]) {
        return Err(w.err(ex1.node, format!("expected the experts' first bias [{}], found {:?}", e * dh, ex1.b_dims)));
    }
    let h = gelu(w, ex1.out)?;
    let per_expert = [u64::from(t), u64::from(e), u64::from(dh)];
    let h = reshape(w, h, &per_expert, "the Reshape of the expert activations to [T, E, Dh]")?;
    let mix = w.next_op(h, &["Mul"], "the Mul of the expert activations by the gate weights")?;
    let unsq = w.g.producer(w.other(mix, h)?);
    let unsq_ok = unsq.is_some_and(|u| {
        let axes = match (attr_ints(w.node(u), "axes"), w.input(u, 1)) {
            (Some(a), _) => Some(a.to_vec()),
            (None, Some(s)) => w.const_i64(u, s, "").ok().map(<[i64]>::to_vec),
            _ => None,
        };
        w.node(u).op_type == "Unsqueeze" && w.input(u, 0) == Some(wts) && matches!(axes.as_deref(), Some([-1] | [2]))
    });
    if !unsq_ok {
        return Err(w.err(mix, "expected the expert activations multiplied by Unsqueeze(gate weights, axes=[-1])"));
    }
    let flat = reshape(w, w.out(mix, 0)?, &[u64::from(t), u64::from(e * dh)], "the Reshape to [T, E·Dh]")?;
    let mm2 = w.next_op(flat, &["MatMul"], "the experts' concatenated second MatMul")?;
    let (w2d, w2) = w.const_f32(mm2, w.input(mm2, 1).unwrap_or_default(), "the experts' second weight")?;
    if w.input(mm2, 0) != Some(flat) || !dims_are(w2d, &[e * dh, d]) {
        return Err(w.err(mm2, format!("expected MatMul(·, W2cat [{}, {d}]), found a weight {w2d:?}", e * dh)));
    }
    let y2 = w.out(mm2, 0)?;
    let add = w.next_op(y2, &["Add"], "the Add of the gate-weighted expert biases")?;
    let bias_mm = w.g.producer(w.other(add, y2)?).filter(|&n| w.node(n).op_type == "MatMul");
    let Some(bias_mm) = bias_mm.filter(|&n| w.input(n, 0) == Some(wts)) else {
        return Err(w.err(add, "expected Add(·, MatMul(gate weights, b2 [E, D]))"));
    };
    let (b2d, b2) = w.const_f32(bias_mm, w.input(bias_mm, 1).unwrap_or_default(), "the experts' second bias")?;
    if !dims_are(b2d, &[e, d]) {
        return Err(w.err(bias_mm, format!("expected the experts' second bias [{e}, {d}], found {b2d:?}")));
    }
    let y = reshape(w, w.out(add, 0)?, &[1, u64::from(t), u64::from(d)], "the MoE output Reshape [1, T, D]")?;

    use TensorKind::*;
    w.put(TensorKey::block(ExpW1, b), &[e, d, dh], split_columns(&ex1.w, d, e, dh));
    w.put(TensorKey::block(ExpB1, b), &[e, dh], ex1.b.clone());
    w.put(TensorKey::block(ExpW2, b), &[e, dh, d], w2);
    w.put(TensorKey::block(ExpB2, b), &[e, d], b2);
    let mut slot = w.found.moe;
    w.agree(&mut slot, (e, k, dh), ex1.node, "(experts, top-k, expert hidden width)")?;
    w.found.moe = slot;
    w.found.moe_blocks |= 1u64 << b;
    residual(w, x, y)
}

/// The token-major top-k weights `wts [T, E]` made expert-major `[E, T, 1]` for batched experts:
/// `Unsqueeze(Transpose(wts, perm=[1, 0]), axes=[-1])` or `Transpose(Unsqueeze(wts, axes=[-1]), perm=[1, 0, 2])`.
fn expert_major<'g>(w: &Walk<'g>, wts: &str) -> Result<&'g str> {
    let last_axis = |n: usize| {
        let axes = match (attr_ints(w.node(n), "axes"), w.input(n, 1)) {
            (Some(a), _) => Some(a.to_vec()),
            (None, Some(s)) => w.const_i64(n, s, "").ok().map(<[i64]>::to_vec),
            _ => None,
        };
        matches!(axes.as_deref(), Some([-1] | [2]))
    };
    let what = "the gate weights made expert-major [E, T, 1] (Transpose and Unsqueeze)";
    let first = w.next_op(wts, &["Transpose", "Unsqueeze"], what)?;
    if w.node(first).op_type == "Transpose" {
        let tr = transpose(w, wts, &[1, 0], what)?;
        let un = w.next_op(tr, &["Unsqueeze"], what)?;
        return if last_axis(un) { w.out(un, 0) } else { Err(w.err(un, format!("{what}: expected axes [-1]"))) };
    }
    if !last_axis(first) {
        return Err(w.err(first, format!("{what}: expected axes [-1]")));
    }
    transpose(w, w.out(first, 0)?, &[1, 0, 2], what)
}

/// `[D, E·Dh]` (expert `e` in columns `e·Dh..`) to `[E, D, Dh]`.
fn split_columns(cat: &[f32], d: u32, e: u32, dh: u32) -> Rc<[f32]> {
    let (d, e, dh) = (d as usize, e as usize, dh as usize);
    let mut out = Vec::with_capacity(cat.len());
    for expert in 0..e {
        for row in 0..d {
            let start = row * e * dh + expert * dh;
            out.extend_from_slice(&cat[start..start + dh]);
        }
    }
    out.into()
}

/// The gate of block `b` from MatMul node `n` reading the flattened tokens `m`; returns the top-k weights
/// `[T, E]`, E and k.
pub fn gate_path<'g>(w: &mut Walk<'g>, b: u32, m: &str, n: usize) -> Result<(&'g str, u32, u32)> {
    w.expect_op(n, &["MatMul"], "the MoE gate MatMul")?;
    let d = w.found.dim;
    if w.input(n, 0) != Some(m) {
        return Err(w.err(n, "expected the gate MatMul to read the flattened second LayerNorm output"));
    }
    let (gd, gv) = w.const_f32(n, w.input(n, 1).unwrap_or_default(), "the gate weight")?;
    let e = match gd {
        &[dd, e] if dd == i64::from(d) && (1..=i64::from(MAX_EXPERTS)).contains(&e) => e as u32,
        _ => return Err(w.err(n, format!("expected a gate weight [{d}, E] with E ≤ {MAX_EXPERTS}, found {gd:?}"))),
    };
    w.put(TensorKey::gate(0, b), &[d, e], gv);
    let sm = w.next_op(w.out(n, 0)?, &["Softmax"], "the gate Softmax (the gate has no bias)")?;
    let axis = attr_i(w.node(sm), "axis", -1);
    if axis != -1 && axis != 1 {
        return Err(w.err(sm, format!("expected the gate Softmax over experts (axis -1), found axis {axis}")));
    }
    let p = w.out(sm, 0)?;
    let (wts, k) = top_k_weights(w, p, e, 2)?;
    Ok((wts, e, k))
}
