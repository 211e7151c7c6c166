//! Matchers for the small recurring patterns: linear layers, exact GELU, Transpose, Reshape and the
//! residual Add.

use std::rc::Rc;

use anyhow::Result;

use super::graph::{attr, attr_f, attr_i, attr_ints, attr_s};
use super::walk::{close, resolve_reshape, Walk};

/// A linear layer `y = x · W + b` as found in the graph.
pub struct Linear<'g> {
    /// The MatMul (or Gemm) node, for errors about the weight.
    pub node: usize,
    /// Weight dims, in `[.., in, out]` layout (Gemm's `transB` undone).
    pub w_dims: Vec<i64>,
    /// Weight values in that layout.
    pub w: Rc<[f32]>,
    /// Bias dims (as stored).
    pub b_dims: Vec<i64>,
    /// Bias values.
    pub b: Rc<[f32]>,
    /// Output tensor.
    pub out: &'g str,
}

/// `MatMul(x, W) → Add(·, b)` or `Gemm(x, W, b)` reading `x`; `n` is the node reading `x`.
pub fn linear_at<'g>(w: &Walk<'g>, n: usize, x: &str, what: &str) -> Result<Linear<'g>> {
    w.expect_op(n, &["MatMul", "Gemm"], what)?;
    if w.input(n, 0) != Some(x) {
        return Err(w.err(n, format!("expected {what} to read the activations as its first input")));
    }
    let wname = w.input(n, 1).unwrap_or_default();
    let (dims, data) = w.const_f32(n, wname, &format!("the weight of {what}"))?;
    if w.node(n).op_type == "Gemm" {
        let node = w.node(n);
        if attr_i(node, "transA", 0) != 0 || attr_f(node, "alpha", 1.0) != 1.0 || attr_f(node, "beta", 1.0) != 1.0 {
            return Err(w.err(n, format!("{what}: only Gemm with transA=0, alpha=1, beta=1 is supported")));
        }
        let bname = w.input(n, 2).ok_or_else(|| w.err(n, format!("{what}: Gemm without a bias")))?;
        let (b_dims, b) = w.const_f32(n, bname, &format!("the bias of {what}"))?;
        let (w_dims, wdata) = match (attr_i(node, "transB", 0), dims) {
            (0, [_, _]) => (dims.to_vec(), data),
            (1, &[o, i]) => {
                let (o, i) = (o as usize, i as usize);
                let t: Vec<f32> = (0..i * o).map(|k| data[(k % o) * i + k / o]).collect();
                (vec![i as i64, o as i64], t.into())
            }
            _ => return Err(w.err(n, format!("{what}: expected a rank-2 Gemm weight"))),
        };
        return Ok(Linear { node: n, w_dims, w: wdata, b_dims: b_dims.to_vec(), b, out: w.out(n, 0)? });
    }
    let mm_out = w.out(n, 0)?;
    let a = w.next_op(mm_out, &["Add"], &format!("the bias Add of {what}"))?;
    let bname = w.other(a, mm_out)?;
    let (b_dims, b) = w.const_f32(a, bname, &format!("the bias of {what}"))?;
    Ok(Linear { node: n, w_dims: dims.to_vec(), w: data, b_dims: b_dims.to_vec(), b, out: w.out(a, 0)? })
}

/// The linear layer that is the one reader of `x`.
pub fn linear<'g>(w: &Walk<'g>, x: &str, what: &str) -> Result<Linear<'g>> {
    let n = w.next(x, what)?;
    linear_at(w, n, x, what)
}

/// `Transpose(x, perm)` as the one reader of `x`; returns its output.
pub fn transpose<'g>(w: &Walk<'g>, x: &str, perm: &[i64], what: &str) -> Result<&'g str> {
    let n = w.next_op(x, &["Transpose"], what)?;
    match attr_ints(w.node(n), "perm") {
        Some(p) if p == perm => w.out(n, 0),
        p => Err(w.err(n, format!("{what}: expected perm {perm:?}, found {p:?}"))),
    }
}

/// `Reshape(x, shape)` as the one reader of `x`, whose (resolved) target must be `want`.
pub fn reshape<'g>(w: &Walk<'g>, x: &str, want: &[u64], what: &str) -> Result<&'g str> {
    let n = w.next_op(x, &["Reshape"], what)?;
    let shape = w.const_i64(n, w.input(n, 1).unwrap_or_default(), "the target shape")?;
    let total = want.iter().product();
    match resolve_reshape(shape, total) {
        Some(s) if s == want => w.out(n, 0),
        _ => Err(w.err(n, format!("{what}: expected target shape {want:?}, found {shape:?}"))),
    }
}

/// `x = Add(x, y)`: the one reader of `y` adds it to `x`; returns the sum.
pub fn residual<'g>(w: &Walk<'g>, x: &str, y: &str) -> Result<&'g str> {
    let n = w.next_op(y, &["Add"], "the residual Add")?;
    if w.other(n, y)? != x {
        return Err(w.err(n, "expected the residual Add to add the block's input"));
    }
    w.out(n, 0)
}

/// The exact GELU of `u`: `Gelu(approximate="none")`, or `0.5·u·(1 + erf(u/√2))` with the products in any
/// order and `u/√2` written as a Div by √2 or a Mul by 1/√2. Returns the output tensor.
pub fn gelu<'g>(w: &Walk<'g>, u: &str) -> Result<&'g str> {
    let readers = w.consumers(u);
    if let [n] = readers.as_slice() {
        if w.node(*n).op_type == "Gelu" {
            if attr_s(w.node(*n), "approximate", "none") != "none" {
                return Err(w.err(*n, "expected the exact (erf) GELU, found approximate='tanh'"));
            }
            return w.out(*n, 0);
        }
    }
    let half_of_u = |i: usize| {
        let node = w.node(i);
        node.op_type == "Mul" && w.other(i, u).ok().and_then(|c| w.scalar(i, c, "").ok()).is_some_and(|c| close(c, 0.5))
    };
    let erf_arg = readers.iter().copied().find(|&i| {
        let node = w.node(i);
        let c = w.input(i, 1).and_then(|c| w.scalar(i, c, "").ok());
        w.input(i, 0) == Some(u)
            && match (node.op_type.as_str(), c) {
                ("Div", Some(c)) => close(c, std::f32::consts::SQRT_2),
                ("Mul", Some(c)) => close(c, std::f32::consts::FRAC_1_SQRT_2),
                _ => false,
            }
    });
    let Some(arg) = erf_arg else {
        let first = readers.first().copied().or_else(|| w.g.producer(u)).unwrap_or_default();
        return Err(w.err(first, "expected the exact GELU (Div by sqrt(2) or Mul by 1/sqrt(2), then Erf)"));
    };
    let erf = w.next_op(w.out(arg, 0)?, &["Erf"], "the GELU's Erf")?;
    let erf_out = w.out(erf, 0)?;
    let one = w.next_op(erf_out, &["Add"], "the GELU's Add 1")?;
    if !close(w.scalar(one, w.other(one, erf_out)?, "the GELU's 1")?, 1.0) {
        return Err(w.err(one, "expected Add(erf, 1)"));
    }
    let (mut cur, mut have_u, mut have_half) = (w.out(one, 0)?, false, false);
    while !(have_u && have_half) {
        let m = w.next_op(cur, &["Mul"], "the GELU's products")?;
        let other = w.other(m, cur)?;
        if other == u && !have_u {
            have_u = true;
        } else if !have_half && w.scalar(m, other, "").is_ok_and(|c| close(c, 0.5)) {
            have_half = true;
        } else if !have_u && !have_half && w.g.producer(other).is_some_and(half_of_u) {
            (have_u, have_half) = (true, true);
        } else {
            return Err(w.err(m, "expected the GELU's product with u and 0.5"));
        }
        cur = w.out(m, 0)?;
    }
    Ok(cur)
}

/// Whether node `n` has attribute `name` (for rejecting unsupported options).
pub fn has_attr(w: &Walk<'_>, n: usize, name: &str) -> bool {
    attr(w.node(n), name).is_some()
}
