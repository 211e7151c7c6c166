//! Splitting the transposed qkv tensor `[3, 1, heads, T, hd]` into q, k and v: three `Gather`s with scalar
//! indices (the exporter's form), three `Slice`s of one along axis 0, or one `Split` along axis 0, the last
//! two followed by `Squeeze(axes=[0])`.

use anyhow::Result;

use super::graph::{attr_i, attr_ints};
use super::walk::Walk;

/// `Squeeze(x, axes=[0])` as the one reader of `x` (axes as attribute or input); returns its output.
fn squeeze<'g>(w: &Walk<'g>, x: &str) -> Result<&'g str> {
    let n = w.next_op(x, &["Squeeze"], "a Squeeze of axis 0 after the q/k/v split")?;
    let axes = match (attr_ints(w.node(n), "axes"), w.input(n, 1)) {
        (Some(a), _) => a.to_vec(),
        (None, Some(name)) => w.const_i64(n, name, "the Squeeze axes")?.to_vec(),
        (None, None) => Vec::new(),
    };
    if axes != [0] {
        return Err(w.err(n, format!("expected Squeeze(axes=[0]), found axes {axes:?}")));
    }
    w.out(n, 0)
}

/// Which third (0, 1 or 2) node `n` (a Gather or a Slice reading `split`) selects; its output after any
/// Squeeze.
fn one_of_three<'g>(w: &Walk<'g>, n: usize) -> Result<(usize, &'g str)> {
    w.expect_op(n, &["Gather", "Slice"], "the q/k/v Gather (or Slice)")?;
    let ints = |k: usize| w.input(n, k).map(|c| w.const_i64(n, c, "the q/k/v index")).transpose();
    if w.node(n).op_type == "Gather" {
        let name = w.input(n, 1).unwrap_or_default();
        let scalar = w.g.constant(name).is_some_and(|c| c.dims.is_empty());
        return match (ints(1)?, attr_i(w.node(n), "axis", 0)) {
            (Some(&[j @ 0..=2]), 0) if scalar => Ok((j as usize, w.out(n, 0)?)),
            (idx, _) => Err(w.err(n, format!("expected Gather(axis=0) with a scalar index 0, 1 or 2, found {idx:?}"))),
        };
    }
    match (ints(1)?, ints(2)?, ints(3)?, ints(4)?) {
        (Some(&[j @ 0..=2]), Some(&[e]), Some(&[0]), None | Some(&[1])) if e == j + 1 => {
            Ok((j as usize, squeeze(w, w.out(n, 0)?)?))
        }
        _ => Err(w.err(n, "expected Slice(starts=[j], ends=[j+1], axes=[0]) with j in 0..3")),
    }
}

/// q, k and v from `split` (the output of the qkv Transpose, node `r` being the head split Reshape).
pub fn split_qkv<'g>(w: &Walk<'g>, r: usize, split: &str) -> Result<[&'g str; 3]> {
    let readers = w.consumers(split);
    let mut out: [&str; 3] = [""; 3];
    if let [n] = readers.as_slice() {
        let n = *n;
        w.expect_op(n, &["Split", "Gather", "Slice"], "the q/k/v Split")?;
        if w.node(n).op_type == "Split" {
            let sizes = match (attr_ints(w.node(n), "split"), w.input(n, 1)) {
                (Some(s), _) => Some(s.to_vec()),
                (None, Some(name)) => Some(w.const_i64(n, name, "the Split sizes")?.to_vec()),
                (None, None) => None,
            };
            let parts = w.node(n).output.len();
            let num = attr_i(w.node(n), "num_outputs", 3);
            let sizes_ok = sizes.as_ref().is_none_or(|s| s == &[1, 1, 1]);
            if attr_i(w.node(n), "axis", 0) != 0 || parts != 3 || num != 3 || !sizes_ok {
                return Err(w.err(n, "expected Split(axis=0) into three equal parts (q, k, v)"));
            }
            for (j, slot) in out.iter_mut().enumerate() {
                *slot = squeeze(w, w.out(n, j)?)?;
            }
            return Ok(out);
        }
    }
    for &n in &readers {
        let (j, o) = one_of_three(w, n)?;
        if !out[j].is_empty() {
            return Err(w.err(n, format!("part {j} of the qkv split is taken twice")));
        }
        out[j] = o;
    }
    if out.iter().any(|o| o.is_empty()) {
        return Err(w.err(r, "expected q, k and v (three Gathers) after the qkv Transpose"));
    }
    Ok(out)
}
