//! The MoE FFN in its dense-equivalent ONNX form: a task's gate (MatMul, Softmax, TopK, ScatterElements,
//! Transpose) mixing every expert's output (stacked MatMuls, GELU, Mul, ReduceSum).

use anyhow::Result;
use m3rt::model::{TensorKey, TensorKind, MAX_EXPERTS, MAX_TOP_K};

use super::block::put_linear;
use super::graph::{attr_i, attr_ints, attr_s, ConstData};
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
    let t = i64::from(w.found.grid.0 * w.found.grid.1 + 1);
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
    let tk = w.next_op(p, &["TopK"], "the gate TopK")?;
    let kv = w.const_i64(tk, w.input(tk, 1).unwrap_or_default(), "the TopK k")?;
    let node = w.node(tk);
    let (ax, largest) = (attr_i(node, "axis", -1), attr_i(node, "largest", 1));
    let k = match kv {
        &[k] if (1..=i64::from(MAX_TOP_K.min(e))).contains(&k) && (ax == -1 || ax == 2) && largest == 1 => k as u32,
        _ => {
            return Err(w.err(
                tk,
                format!("expected TopK(largest=1, axis=-1) with 1 ≤ k ≤ min({MAX_TOP_K}, E), found k {kv:?} axis {ax}"),
            ))
        }
    };
    let (vals, idx) = (w.out(tk, 0)?, w.out(tk, 1)?);
    let sc = w.next_op(vals, &["ScatterElements"], "the ScatterElements of the top-k probabilities")?;
    let node = w.node(sc);
    let zeros = w.input(sc, 0).and_then(|z| w.g.constant(z));
    let zeros_ok = zeros.is_some_and(|z| {
        z.dims == [1, t, i64::from(e)] && matches!(&z.data, ConstData::F32(v) if v.iter().all(|&x| x == 0.0))
    });
    let (ax, red) = (attr_i(node, "axis", 0), attr_s(node, "reduction", "none"));
    if !zeros_ok
        || w.input(sc, 1) != Some(idx)
        || w.input(sc, 2) != Some(vals)
        || !(ax == -1 || ax == 2)
        || red != "none"
    {
        return Err(
            w.err(sc, format!("expected ScatterElements(zeros [1, {t}, {e}], top-k indices, top-k values, axis=-1)"))
        );
    }
    let wt = transpose(w, w.out(sc, 0)?, &[2, 1, 0], "the gate weights Transpose [E, T, 1]")?;
    Ok((wt, e, k))
}
