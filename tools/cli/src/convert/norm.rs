//! LayerNorm over the last axis: the fused `LayerNormalization` op or its decomposed form.

use std::rc::Rc;

use anyhow::Result;

use super::graph::{attr_f, attr_i, attr_ints};
use super::walk::Walk;

/// A LayerNorm found in the graph.
pub struct Norm<'g> {
    /// Gain `[D]`.
    pub g: Rc<[f32]>,
    /// Bias `[D]`.
    pub b: Rc<[f32]>,
    /// Output tensor.
    pub out: &'g str,
}

/// Checks a reduction over the last axis of a rank-3 tensor (attribute or, from opset 18, input).
fn last_axis(w: &Walk<'_>, n: usize) -> Result<()> {
    let node = w.node(n);
    let axes = match (attr_ints(node, "axes"), w.input(n, 1)) {
        (Some(a), _) => a.to_vec(),
        (None, Some(name)) => w.const_i64(n, name, "the axes")?.to_vec(),
        (None, None) => Vec::new(),
    };
    if !(axes == [-1] || axes == [2]) || attr_i(node, "keepdims", 1) != 1 {
        return Err(w.err(n, format!("expected a mean over the last axis with keepdims, found axes {axes:?}")));
    }
    Ok(())
}

/// A LayerNorm over the last axis (width `d`) reading `x`; `n` is its first node (`LayerNormalization`
/// or the decomposed form's first `ReduceMean`). Records the epsilon.
pub fn layer_norm<'g>(w: &mut Walk<'g>, n: usize, x: &str, d: u32, what: &str) -> Result<Norm<'g>> {
    w.expect_op(n, &["LayerNormalization", "ReduceMean"], what)?;
    let vec_d = |w: &Walk<'g>, n: usize, name: &str, what: &str| -> Result<Rc<[f32]>> {
        let (dims, v) = w.const_f32(n, name, what)?;
        if v.len() != d as usize || dims.iter().filter(|&&k| k != 1).count() > 1 {
            return Err(w.err(n, format!("expected {what} of width {d}, found shape {dims:?}")));
        }
        Ok(v)
    };
    if w.node(n).op_type == "LayerNormalization" {
        let node = w.node(n);
        let axis = attr_i(node, "axis", -1);
        if (axis != -1 && axis != 2) || w.input(n, 0) != Some(x) {
            return Err(w.err(n, format!("{what}: expected a LayerNorm over the last axis, found axis {axis}")));
        }
        let g = vec_d(w, n, w.input(n, 1).unwrap_or_default(), "the LayerNorm gain")?;
        let b = match w.input(n, 2) {
            Some(name) => vec_d(w, n, name, "the LayerNorm bias")?,
            None => vec![0.0; d as usize].into(),
        };
        let mut eps = w.found.ln_eps;
        w.agree(&mut eps, attr_f(node, "epsilon", 1e-5), n, "the LayerNorm epsilon")?;
        w.found.ln_eps = eps;
        return Ok(Norm { g, b, out: w.out(n, 0)? });
    }
    // ReduceMean, Sub, Pow(2) | Mul(d, d), ReduceMean, Add(eps), Sqrt, Div, Mul(g), Add(b).
    last_axis(w, n)?;
    let mu = w.out(n, 0)?;
    let sub = w.next_op(mu, &["Sub"], "the LayerNorm's centring Sub")?;
    if w.input(sub, 0) != Some(x) || w.input(sub, 1) != Some(mu) {
        return Err(w.err(sub, "expected Sub(x, mean(x))"));
    }
    let centred = w.out(sub, 0)?;
    let readers = w.consumers(centred);
    let is_sq = |i: &usize| {
        let node = w.node(*i);
        (node.op_type == "Mul" && node.input.iter().all(|s| s == centred))
            || (node.op_type == "Pow" && w.input(*i, 1).and_then(|e| w.scalar(*i, e, "").ok()) == Some(2.0))
    };
    let (Some(&sq), Some(&div)) =
        (readers.iter().find(|i| is_sq(i)), readers.iter().find(|&&i| w.node(i).op_type == "Div"))
    else {
        return Err(w.err(sub, "expected the centred values to be squared (Pow 2 or Mul) and divided (Div)"));
    };
    let var = w.next_op(w.out(sq, 0)?, &["ReduceMean"], "the LayerNorm's variance ReduceMean")?;
    last_axis(w, var)?;
    let var_out = w.out(var, 0)?;
    let add = w.next_op(var_out, &["Add"], "the LayerNorm's epsilon Add")?;
    let eps = w.scalar(add, w.other(add, var_out)?, "the LayerNorm epsilon")?;
    let sqrt = w.next_op(w.out(add, 0)?, &["Sqrt"], "the LayerNorm's Sqrt")?;
    if w.input(div, 0) != Some(centred) || w.input(div, 1) != Some(w.out(sqrt, 0)?) {
        return Err(w.err(div, "expected Div(x - mean, sqrt(var + eps))"));
    }
    let normed = w.out(div, 0)?;
    let mul = w.next_op(normed, &["Mul"], "the LayerNorm gain Mul")?;
    let g = vec_d(w, mul, w.other(mul, normed)?, "the LayerNorm gain")?;
    let scaled = w.out(mul, 0)?;
    let badd = w.next_op(scaled, &["Add"], "the LayerNorm bias Add")?;
    let b = vec_d(w, badd, w.other(badd, scaled)?, "the LayerNorm bias")?;
    let mut slot = w.found.ln_eps;
    w.agree(&mut slot, eps, add, "the LayerNorm epsilon")?;
    w.found.ln_eps = slot;
    Ok(Norm { g, b, out: w.out(badd, 0)? })
}
