//! The top-k gate weights from the gate probabilities `p`, in the two dense-equivalent forms exporters write:
//! `ScatterElements(zeros, TopK indices, TopK values)`, or `p · Cast(p ≥ k-th largest p)` with the k-th
//! largest taken by a `Slice` of `TopK`'s values. The comparison form keeps every expert tied with the k-th;
//! the runtime keeps exactly k (lower index first): the same whenever the k-th and (k+1)-th differ.

use anyhow::Result;
use m3rt::model::MAX_TOP_K;

use super::graph::{attr_i, attr_s, ConstData};
use super::walk::Walk;

/// TopK node `tk` reading `p` (of rank `rank`): checks `largest=1` over the last axis and returns k.
fn top_k(w: &Walk<'_>, tk: usize, e: u32, rank: i64) -> Result<u32> {
    let kv = w.const_i64(tk, w.input(tk, 1).unwrap_or_default(), "the TopK k")?;
    let node = w.node(tk);
    let (ax, largest) = (attr_i(node, "axis", -1), attr_i(node, "largest", 1));
    match kv {
        &[k] if (1..=i64::from(MAX_TOP_K.min(e))).contains(&k) && (ax == -1 || ax == rank - 1) && largest == 1 => {
            Ok(k as u32)
        }
        _ => Err(w.err(
            tk,
            format!("expected TopK(largest=1, axis=-1) with 1 ≤ k ≤ min({MAX_TOP_K}, E), found k {kv:?} axis {ax}"),
        )),
    }
}

/// The top-k gate weights (p at the k largest, 0 elsewhere; the shape of `p`, `[T, E]` for `rank` 2 or
/// `[1, T, E]` for 3) computed from the probabilities `p`:
/// `Mul(p, Cast(GreaterOrEqual(p, Slice(TopK(p, k).values, starts=[k-1], ends=[k], axes=[-1]))))` (the
/// k-th largest probability as the threshold), or `ScatterElements(zeros, indices, values, axis=-1)`.
/// Returns the weights and k.
pub fn top_k_weights<'g>(w: &Walk<'g>, p: &'g str, e: u32, rank: i64) -> Result<(&'g str, u32)> {
    let readers = w.consumers(p);
    let Some(&tk) = readers.iter().find(|&&i| w.node(i).op_type == "TopK") else {
        let first = readers.first().copied().or_else(|| w.g.producer(p)).unwrap_or_default();
        return Err(w.err(first, "expected a TopK of the gate probabilities"));
    };
    let k = top_k(w, tk, e, rank)?;
    let (vals, idx) = (w.out(tk, 0)?, w.out(tk, 1).ok());
    let t = i64::from(w.found.grid.0 * w.found.grid.1 + 1);
    let last = |ax: i64| ax == -1 || ax == rank - 1;
    let scatter = w.consumers(vals).into_iter().find(|&i| w.node(i).op_type == "ScatterElements");
    if let Some(sc) = scatter {
        let node = w.node(sc);
        let want: &[i64] = if rank == 3 { &[1, t, i64::from(e)] } else { &[t, i64::from(e)] };
        let zeros = w.input(sc, 0).and_then(|z| w.g.constant(z));
        let zeros_ok = zeros
            .is_some_and(|z| z.dims == want && matches!(&z.data, ConstData::F32(v) if v.iter().all(|&x| x == 0.0)));
        let (ax, red) = (attr_i(node, "axis", 0), attr_s(node, "reduction", "none"));
        if !zeros_ok || w.input(sc, 1) != idx || w.input(sc, 2) != Some(vals) || !last(ax) || red != "none" {
            return Err(
                w.err(sc, format!("expected ScatterElements(zeros {want:?}, top-k indices, top-k values, axis=-1)"))
            );
        }
        return Ok((w.out(sc, 0)?, k));
    }
    let sl = w.next_op(vals, &["Slice"], "the Slice of the k-th largest probability")?;
    let ints = |j: usize| w.input(sl, j).map(|s| w.const_i64(sl, s, "the Slice bounds")).transpose();
    let k64 = i64::from(k);
    let slice_ok = match (ints(1)?, ints(2)?, ints(3)?, ints(4)?) {
        (Some(&[s]), Some(&[end]), Some(&[ax]), None | Some(&[1])) => s == k64 - 1 && end == k64 && last(ax),
        _ => false,
    };
    if !slice_ok || w.input(sl, 0) != Some(vals) {
        let why = format!("expected the k-th largest probability: Slice(starts=[{}], ends=[{k}], axes=[-1])", k - 1);
        return Err(w.err(sl, why));
    }
    let kth = w.out(sl, 0)?;
    let ge = w.next_op(kth, &["GreaterOrEqual"], "the comparison p ≥ k-th largest")?;
    if w.input(ge, 0) != Some(p) || w.input(ge, 1) != Some(kth) {
        return Err(w.err(ge, "expected GreaterOrEqual(p, k-th largest p)"));
    }
    let cast = w.next_op(w.out(ge, 0)?, &["Cast"], "the Cast of the top-k mask to float")?;
    if attr_i(w.node(cast), "to", 0) != 1 {
        return Err(w.err(cast, "expected a Cast of the top-k mask to float32"));
    }
    let mask = w.out(cast, 0)?;
    let mul = w.next_op(mask, &["Mul"], "the Mul of the probabilities by the top-k mask")?;
    if w.other(mul, mask)? != p {
        return Err(w.err(mul, "expected Mul(p, top-k mask)"));
    }
    Ok((w.out(mul, 0)?, k))
}
