//! The MoE FFN as a loop over the experts, token-major (what exporting a Python `for` loop over expert
//! modules writes): the flattened tokens `m [T, D]` feed the gate (as in `moe_cat.rs`) and E expert paths
//!
//! `y_e = GELU(MatMul(m, W1_e[D, Dh]) + b1_e) · W2_e[Dh, D] + b2_e`, `z_e = Mul(y_e, w_e)` with
//! `w_e = Slice(w, starts=[e], ends=[e+1], axes=[-1])` (or `Gather(w, [e], axis=-1)`) the expert's column of
//! the top-k weights,
//!
//! summed by `Add`s (any tree) or one `Sum`, then `Reshape(·, [1, T, D])` and the residual Add. Each expert
//! path's weights go to the expert its column of `w` names; every expert must appear exactly once.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use anyhow::Result;
use m3rt::model::{TensorKey, TensorKind};

use super::graph::attr_i;
use super::moe_cat::gate_path;
use super::ops::{gelu, linear, linear_at, reshape, residual, Linear};
use super::walk::{dims_are, Walk};

/// One expert's path.
struct ExpertPath<'g> {
    fc1: Linear<'g>,
    fc2: Linear<'g>,
    /// The weighted output `z_e`.
    out: &'g str,
}

/// The MoE FFN of block `b` whose flattened LayerNorm output `m` (from Reshape node `r`) has `readers`
/// (the gate and one MatMul per expert); `x` is the residual input. Returns the block output.
pub fn moe_ffn<'g>(w: &mut Walk<'g>, b: u32, x: &'g str, r: usize, m: &'g str, readers: &[usize]) -> Result<&'g str> {
    let (d, t) = (w.found.dim, w.found.grid.0 * w.found.grid.1 + 1);
    let softmax_next = |n: usize| {
        w.node(n).output.first().is_some_and(|o| w.consumers(o).iter().any(|&c| w.node(c).op_type == "Softmax"))
    };
    let Some(&gate) = readers.iter().find(|&&n| softmax_next(n)) else {
        return Err(w.err(r, "expected one reader of the flattened tokens to be the MoE gate (MatMul, Softmax)"));
    };
    let (wts, e, k) = gate_path(w, b, m, gate)?;
    let experts: Vec<usize> = readers.iter().copied().filter(|&n| n != gate).collect();
    if experts.len() != e as usize {
        return Err(w.err(r, format!("expected {e} expert MatMuls (one per gate column), found {}", experts.len())));
    }
    let mut paths: Vec<Option<ExpertPath<'g>>> = (0..e).map(|_| None).collect();
    for &n in &experts {
        let fc1 = linear_at(w, n, m, "an expert's first linear")?;
        let h = gelu(w, fc1.out)?;
        let fc2 = linear(w, h, "an expert's second linear")?;
        let mul = w.next_op(fc2.out, &["Mul"], "the Mul of an expert's output by its gate weight")?;
        let column = w.other(mul, fc2.out)?;
        let j = expert_column(w, mul, column, wts, e)?;
        if paths[j].is_some() {
            return Err(w.err(mul, format!("expert {j}'s gate weight is used by two expert paths")));
        }
        paths[j] = Some(ExpertPath { fc1, fc2, out: w.out(mul, 0)? });
    }
    let paths: Vec<ExpertPath<'g>> = paths.into_iter().flatten().collect();
    let sum = expert_sum(w, &paths)?;
    let y = reshape(w, sum, &[1, u64::from(t), u64::from(d)], "the MoE output Reshape [1, T, D]")?;

    let dh = match paths[0].fc1.w_dims.as_slice() {
        &[_, h] => u32::try_from(h).unwrap_or(0),
        _ => 0,
    };
    let mut tensors: [Vec<f32>; 4] = Default::default();
    for p in &paths {
        let shapes = [(&p.fc1, [d, dh], dh), (&p.fc2, [dh, d], d)];
        for (l, wd, bd) in shapes {
            let flat_bias = l.b.len() == bd as usize && l.b_dims.iter().rev().skip(1).all(|&k| k == 1);
            if !dims_are(&l.w_dims, &wd) || !flat_bias {
                let why = format!(
                    "expected an expert weight {wd:?} and bias [{bd}], found {:?} and {:?}",
                    l.w_dims, l.b_dims
                );
                return Err(w.err(l.node, why));
            }
        }
        tensors[0].extend_from_slice(&p.fc1.w);
        tensors[1].extend_from_slice(&p.fc1.b);
        tensors[2].extend_from_slice(&p.fc2.w);
        tensors[3].extend_from_slice(&p.fc2.b);
    }
    use TensorKind::*;
    let [w1, b1, w2, b2] = tensors.map(Rc::<[f32]>::from);
    w.put(TensorKey::block(ExpW1, b), &[e, d, dh], w1);
    w.put(TensorKey::block(ExpB1, b), &[e, dh], b1);
    w.put(TensorKey::block(ExpW2, b), &[e, dh, d], w2);
    w.put(TensorKey::block(ExpB2, b), &[e, d], b2);
    let mut slot = w.found.moe;
    w.agree(&mut slot, (e, k, dh), paths[0].fc1.node, "(experts, top-k, expert hidden width)")?;
    w.found.moe = slot;
    w.found.moe_blocks |= 1u64 << b;
    residual(w, x, y)
}

/// The expert whose column of the top-k weights `wts` tensor `column` is (read by node `mul`).
fn expert_column(w: &Walk<'_>, mul: usize, column: &str, wts: &str, e: u32) -> Result<usize> {
    let bad = || w.err(mul, "expected the expert output multiplied by its column of the top-k gate weights");
    let n = w.g.producer(column).ok_or_else(bad)?;
    if w.input(n, 0) != Some(wts) {
        return Err(bad());
    }
    let ints = |k: usize| w.input(n, k).map(|s| w.const_i64(n, s, "the expert's column index")).transpose();
    let j = match w.node(n).op_type.as_str() {
        "Slice" => match (ints(1)?, ints(2)?, ints(3)?, ints(4)?) {
            (Some(&[s]), Some(&[end]), Some(&[1 | -1]), None | Some(&[1])) if end == s + 1 => s,
            _ => return Err(w.err(n, "expected an expert's column: Slice(w, starts=[e], ends=[e+1], axes=[-1])")),
        },
        "Gather" => match (ints(1)?, attr_i(w.node(n), "axis", 0)) {
            (Some(&[j]), 1 | -1) => j,
            _ => return Err(w.err(n, "expected an expert's column: Gather(w, [e], axis=-1)")),
        },
        _ => return Err(bad()),
    };
    usize::try_from(j).ok().filter(|&j| j < e as usize).ok_or_else(|| w.err(n, format!("expert {j} is not in 0..{e}")))
}

/// The node summing every weighted expert output (a tree of `Add`s or one `Sum`); returns its output.
fn expert_sum<'g>(w: &Walk<'g>, paths: &[ExpertPath<'g>]) -> Result<&'g str> {
    let leaves: HashMap<&str, usize> = paths.iter().enumerate().map(|(j, p)| (p.out, j)).collect();
    let mut cur = paths[0].out;
    loop {
        let n = w.next_op(cur, &["Add", "Sum"], "the sum of the weighted expert outputs")?;
        cur = w.out(n, 0)?;
        let (mut seen, mut visited) = (vec![false; paths.len()], HashSet::new());
        if covers(w, cur, &leaves, &mut seen, &mut visited)? && seen.iter().all(|&s| s) {
            return Ok(cur);
        }
    }
}

/// Marks the expert outputs summed into `t`; false when `t` also sums something else (then it is not the
/// expert sum yet, or not one at all), or reuses an Add (a sum tree never does; this also keeps a graph of
/// shared Adds from being walked exponentially often).
fn covers(
    w: &Walk<'_>,
    t: &str,
    leaves: &HashMap<&str, usize>,
    seen: &mut [bool],
    visited: &mut HashSet<usize>,
) -> Result<bool> {
    if let Some(&j) = leaves.get(t) {
        if seen[j] {
            let n = w.g.producer(t).unwrap_or_default();
            return Err(w.err(n, format!("expert {j}'s output is summed twice")));
        }
        seen[j] = true;
        return Ok(true);
    }
    let Some(n) = w.g.producer(t).filter(|&n| matches!(w.node(n).op_type.as_str(), "Add" | "Sum")) else {
        return Ok(false);
    };
    if !visited.insert(n) {
        return Ok(false);
    }
    for input in w.node(n).input.iter().filter(|i| !i.is_empty()) {
        if !covers(w, input, leaves, seen, visited)? {
            return Ok(false);
        }
    }
    Ok(true)
}
