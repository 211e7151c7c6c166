//! From the graph input to the first block's input: normalisation, patch Conv, flatten, cls token and
//! position embedding.

use anyhow::{bail, Result};
use m3rt::model::{TensorKey, TensorKind};

use super::graph::{attr_i, attr_ints, attr_s};
use super::ops::{reshape, transpose};
use super::walk::{dim_u32, Walk};

/// The largest image side accepted (the bundle format's limit).
const MAX_SIDE: i64 = m3rt::bundle::MAX_IMAGE_SIDE as i64;

/// Three per-channel values read by node `n` (shape `[1,3,1,1]`, `[3,1,1]` or `[3]`).
fn per_channel(w: &Walk<'_>, n: usize, what: &str) -> Result<[f32; 3]> {
    let name = w.input(n, 1).unwrap_or_default();
    let (dims, v) = w.const_f32(n, name, what)?;
    let ok = matches!(dims, [1, 3, 1, 1] | [3, 1, 1]);
    match (&*v, ok) {
        (&[a, b, c], true) => Ok([a, b, c]),
        _ => Err(w.err(n, format!("expected {what} of shape [1,3,1,1], found {dims:?}"))),
    }
}

/// Matches everything from the graph input to the tokens `[1, T, D]`; returns the token tensor.
pub fn embedding<'g>(w: &mut Walk<'g>) -> Result<&'g str> {
    let g = w.g;
    let (img_h, img_w) = match g.input_dims.as_slice() {
        [_, Some(3), Some(h), Some(wd)] if (1..=MAX_SIDE).contains(h) && (1..=MAX_SIDE).contains(wd) => (*h, *wd),
        dims => bail!(
            "the graph input '{}' must be an image [1, 3, H, W] with static H and W ≤ {MAX_SIDE}, found {:?}",
            g.input,
            dims
        ),
    };
    let mut cur: &'g str = &g.input;
    let (mut mean, mut std) = ([0.0f32; 3], [1.0f32; 3]);
    let mut n = w.next(cur, "the normalisation Sub or the patch embedding Conv")?;
    if w.node(n).op_type == "Sub" && w.input(n, 0) == Some(cur) {
        mean = per_channel(w, n, "the normalisation mean")?;
        cur = w.out(n, 0)?;
        n = w.next_op(cur, &["Div"], "the normalisation Div (by std)")?;
        if w.input(n, 0) != Some(cur) {
            return Err(w.err(n, "expected Div(image - mean, std)"));
        }
        std = per_channel(w, n, "the normalisation std")?;
        cur = w.out(n, 0)?;
        n = w.next(cur, "the patch embedding Conv")?;
    }
    w.expect_op(n, &["Conv"], "the patch embedding Conv")?;
    let node = w.node(n);
    if w.input(n, 0) != Some(cur) {
        return Err(w.err(n, "expected the patch Conv to read the image"));
    }
    let (wd, wv) = w.const_f32(n, w.input(n, 1).unwrap_or_default(), "the patch Conv weight")?;
    let (d, p) = match wd {
        &[d, 3, p, q] if p == q && p > 0 => (d, p),
        _ => return Err(w.err(n, format!("expected a patch Conv weight [D, 3, P, P], found {wd:?}"))),
    };
    let (Some(du), Some(pu)) = (dim_u32(d), dim_u32(p)) else {
        return Err(w.err(n, format!("patch Conv weight {wd:?} is too large")));
    };
    let kernel = attr_ints(node, "kernel_shape").map(<[i64]>::to_vec).unwrap_or(vec![p, p]);
    let strides = attr_ints(node, "strides").map(<[i64]>::to_vec).unwrap_or(vec![1, 1]);
    let pads_zero = attr_ints(node, "pads").is_none_or(|v| v.iter().all(|&x| x == 0));
    let dil_one = attr_ints(node, "dilations").is_none_or(|v| v.iter().all(|&x| x == 1));
    let auto_pad = attr_s(node, "auto_pad", "NOTSET");
    if kernel != [p, p] || strides != [p, p] {
        return Err(w.err(
            n,
            format!(
                "expected a patch Conv with stride = kernel = {p}x{p}, found kernel {kernel:?} strides {strides:?}"
            ),
        ));
    }
    if !pads_zero || !dil_one || attr_i(node, "group", 1) != 1 || !(auto_pad == "NOTSET" || auto_pad == "VALID") {
        return Err(w.err(n, "expected a patch Conv without padding, dilation or groups"));
    }
    if img_h % p != 0 || img_w % p != 0 {
        return Err(w.err(n, format!("the image {img_h}x{img_w} is not a multiple of the patch size {p}")));
    }
    let bias: std::rc::Rc<[f32]> = match w.input(n, 2) {
        Some(b) => {
            let (bd, bv) = w.const_f32(n, b, "the patch Conv bias")?;
            if bv.len() != du as usize {
                return Err(w.err(n, format!("expected a patch Conv bias [{d}], found {bd:?}")));
            }
            bv
        }
        None => vec![0.0; du as usize].into(),
    };
    let (gh, gw) = ((img_h / p) as u32, (img_w / p) as u32);
    let patches = u64::from(gh) * u64::from(gw);
    let tokens = patches + 1;
    w.put(TensorKey::global(TensorKind::PatchW), &[du, 3, pu, pu], wv);
    w.put(TensorKey::global(TensorKind::PatchB), &[du], bias);
    cur = reshape(w, w.out(n, 0)?, &[1, d as u64, patches], "the patch embedding Reshape [1, D, N]")?;
    cur = transpose(w, cur, &[0, 2, 1], "the patch embedding Transpose")?;

    let cat = w.next_op(cur, &["Concat"], "the cls token Concat")?;
    let axis = attr_i(w.node(cat), "axis", 0);
    let ins = &w.node(cat).input;
    if !(axis == 1 || axis == -2) || ins.len() != 2 || ins[1] != cur {
        return Err(w.err(cat, "expected Concat(cls, patches, axis=1)"));
    }
    let (cd, cv) = w.const_f32(cat, &ins[0], "the cls token")?;
    if cd != [1, 1, d] {
        return Err(w.err(cat, format!("expected a cls token [1, 1, {d}], found {cd:?}")));
    }
    w.put(TensorKey::global(TensorKind::ClsToken), &[du], cv);
    cur = w.out(cat, 0)?;

    let add = w.next_op(cur, &["Add"], "the position embedding Add")?;
    let (pd, pv) = w.const_f32(add, w.other(add, cur)?, "the position embedding")?;
    let t = tokens as i64;
    if pd != [1, t, d] && pd != [t, d] {
        return Err(w.err(add, format!("expected a position embedding [1, {t}, {d}], found {pd:?}")));
    }
    w.put(TensorKey::global(TensorKind::PosEmbed), &[tokens as u32, du], pv);
    let f = &mut w.found;
    f.image = (img_h as u32, img_w as u32);
    (f.patch, f.dim, f.grid, f.norm) = (pu, du, (gh, gw), (mean, std));
    w.out(add, 0)
}
