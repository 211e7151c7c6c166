//! The MoE FFN in its dense-equivalent ONNX form: a task's gate (MatMul, Softmax, TopK, ScatterElements
//! or the comparison with the k-th largest probability, Transpose) mixing every expert's output (stacked
//! MatMuls, GELU, Mul, ReduceSum).

use anyhow::Result;
use m3rt::model::{TensorKey, TensorKind, MAX_EXPERTS};

use super::block::put_linear;
use super::gate_topk::top_k_weights;
use super::graph::{attr_i, attr_ints};
use super::ops::{gelu, linear, linear_at, reshape, residual, transpose};
use super::walk::Walk;

/// The MoE FFN of block `b` reading `m` (two readers: the gate and the experts); returns the block output.
pub fn moe_ffn<'g>(w: &mut Walk<'g>, b: u32, x: &'g str, m: &'g str, readers: [usize; 2]) -> Result<&'g str> {
    let rank = |w: &Walk<'g>, n: usize| -> usize {
        let name = w.input(n, 1).unwrap_or_default();
        w.g.constant(name).map_or(0, |c| c.dims.len())
    };
    let (gate, experts) = match (rank(w, readers[0]), rank(w, readers[1])) {
        (2, 3) => (readers[0], readers[1]),
        (3, 2) => (readers[1], readers[0]),
        _ => {
            return Err(w.err(
                readers[0],
                "expected the MoE gate MatMul (weight [D, E]) and the experts MatMul (weight [E, D, Dh]) \
                 to read the second LayerNorm",
            ))
        }
    };
    let (wt, e, k) = gate_path(w, b, m, gate)?;
    batched_experts(w, b, x, m, experts, wt, (e, k))
}

/// The experts of block `b` as one batched MatMul from node `experts` reading the tokens `m` (`[1, T, D]`
/// or `[T, D]`): `MatMul(m, W1[E, D, Dh]) + b1[E, 1, Dh]`, GELU, `MatMul(·, W2[E, Dh, D]) + b2[E, 1, D]`,
/// `Mul(·, wt)` with the expert-major gate weights `wt [E, T, 1]`, `ReduceSum(axes=[0])`, the optional
/// `Reshape(·, [1, T, D])` and the residual Add to `x`. `(e, k)`: experts and top-k of the gate.
pub fn batched_experts<'g>(
    w: &mut Walk<'g>,
    b: u32,
    x: &'g str,
    m: &'g str,
    experts: usize,
    wt: &str,
    (e, k): (u32, u32),
) -> Result<&'g str> {
    let d = w.found.dim;
    let t = u64::from(w.found.grid.0 * w.found.grid.1 + 1);

    let ex1 = linear_at(w, experts, m, "the experts' first linear")?;
    let dh = match ex1.w_dims.as_slice() {
        &[_, _, h] => u32::try_from(h).unwrap_or(0),
        _ => 0,
    };
    use TensorKind::*;
    let keys = (TensorKey::block(ExpW1, b), TensorKey::block(ExpB1, b));
    put_linear(w, &ex1, keys, &[e, d, dh], &[e, 1, dh], &[e, dh])?;
    let h = gelu(w, ex1.out)?;
    let ex2 = linear(w, h, "the experts' second linear")?;
    let keys = (TensorKey::block(ExpW2, b), TensorKey::block(ExpB2, b));
    put_linear(w, &ex2, keys, &[e, dh, d], &[e, 1, d], &[e, d])?;

    let mul = w.next_op(ex2.out, &["Mul"], "the Mul of the expert outputs by the gate weights")?;
    if w.other(mul, ex2.out)? != wt {
        return Err(w.err(mul, "expected the expert outputs to be multiplied by the transposed gate weights"));
    }
    let rs = w.next_op(w.out(mul, 0)?, &["ReduceSum"], "the ReduceSum over experts")?;
    let axes = match (attr_ints(w.node(rs), "axes"), w.input(rs, 1)) {
        (Some(a), _) => a.to_vec(),
        (None, Some(name)) => w.const_i64(rs, name, "the ReduceSum axes")?.to_vec(),
        (None, None) => Vec::new(),
    };
    if axes != [0] {
        return Err(w.err(rs, format!("expected a sum over the experts (axes [0]), found {axes:?}")));
    }
    let mut y = w.out(rs, 0)?;
    let keep = attr_i(w.node(rs), "keepdims", 1);
    if keep == 0 || w.consumers(y).iter().any(|&i| w.node(i).op_type == "Reshape") {
        y = reshape(w, y, &[1, t, u64::from(d)], "the MoE output Reshape [1, T, D]")?;
    }
    let mut slot = w.found.moe;
    w.agree(&mut slot, (e, k, dh), ex1.node, "(experts, top-k, expert hidden width)")?;
    w.found.moe = slot;
    w.found.moe_blocks |= 1u64 << b;
    residual(w, x, y)
}

/// The gate of block `b` starting at MatMul node `n`; returns the transposed weights `[E, T, 1]`, E and k.
fn gate_path<'g>(w: &mut Walk<'g>, b: u32, m: &str, n: usize) -> Result<(&'g str, u32, u32)> {
    w.expect_op(n, &["MatMul"], "the MoE gate MatMul")?;
    let d = w.found.dim;
    if w.input(n, 0) != Some(m) {
        return Err(w.err(n, "expected the gate MatMul to read the second LayerNorm's output"));
    }
    let (gd, gv) = w.const_f32(n, w.input(n, 1).unwrap_or_default(), "the gate weight")?;
    let e = match gd {
        &[dd, e] if dd == i64::from(d) && (1..=i64::from(MAX_EXPERTS)).contains(&e) => e as u32,
        _ => return Err(w.err(n, format!("expected a gate weight [{d}, E] with E ≤ {MAX_EXPERTS}, found {gd:?}"))),
    };
    w.put(TensorKey::gate(0, b), &[d, e], gv);
    let sm = w.next_op(w.out(n, 0)?, &["Softmax"], "the gate Softmax")?;
    let axis = attr_i(w.node(sm), "axis", -1);
    if axis != -1 && axis != 2 {
        return Err(w.err(sm, format!("expected the gate Softmax over experts (axis -1), found axis {axis}")));
    }
    let p = w.out(sm, 0)?;
    let (weights, k) = top_k_weights(w, p, e, 3)?;
    let wt = transpose(w, weights, &[2, 1, 0], "the gate weights Transpose [E, T, 1]")?;
    Ok((wt, e, k))
}
