//! A task's head: Slice (drop cls), LayerNorm, Transpose, Reshape to a feature map, then the PUP or light
//! Conv/Relu/Resize chain ending at the task's graph output.

use std::rc::Rc;

use anyhow::Result;
use m3rt::model::{HeadKind, TensorKey, TensorKind};

use super::block::find_ln;
use super::graph::{attr_f, attr_i, attr_ints, attr_s};
use super::norm::layer_norm;
use super::ops::{has_attr, reshape, transpose};
use super::walk::{close, Walk};

/// Matches the head reading the last block's output `x`; records its weights and `(kind, width, C)`.
pub fn head<'g>(w: &mut Walk<'g>, x: &'g str) -> Result<()> {
    let d = w.found.dim;
    let (gh, gw) = w.found.grid;
    let t = i64::from(gh * gw + 1);
    let s = w.next_op(x, &["Slice"], "the head's Slice (dropping the cls token)")?;
    let ints = |k: usize| w.input(s, k).map(|n| w.const_i64(s, n, "the Slice bounds"));
    let starts = ints(1).transpose()?;
    let ends = ints(2).transpose()?;
    let axes = ints(3).transpose()?;
    let steps = ints(4).transpose()?;
    let ok = starts == Some(&[1][..])
        && ends.is_some_and(|e| e.len() == 1 && e[0] >= t)
        && matches!(axes, Some(&[1]) | Some(&[-2]))
        && matches!(steps, None | Some(&[1]));
    if !ok || w.input(s, 0) != Some(x) {
        return Err(w.err(s, format!("expected Slice(tokens, starts=[1], ends=[{t}], axes=[1])")));
    }
    let sl = w.out(s, 0)?;
    let ln = find_ln(w, sl, "the head's LayerNorm")?;
    let n = layer_norm(w, ln, sl, d, "the head's LayerNorm")?;
    w.put(TensorKey::head(TensorKind::HeadLnG, 0, 0), &[d], n.g);
    w.put(TensorKey::head(TensorKind::HeadLnB, 0, 0), &[d], n.b);
    let f = transpose(w, n.out, &[0, 2, 1], "the head's Transpose to [1, D, N]")?;
    let shape = [1, u64::from(d), u64::from(gh), u64::from(gw)];
    let f = reshape(w, f, &shape, "the head's Reshape to [1, D, h, w]")?;

    let (width, f) = conv(w, f, 0, d, 3, "the head's first conv (after the head's Reshape)")?;
    let f = relu(w, f)?;
    let next = w.next(f, "a Resize (PUP head) or a 1x1 Conv (light head)")?;
    let (kind, c, last) = if w.node(next).op_type == "Resize" {
        let mut f = resize(w, f, 2, [width, gh, gw])?;
        for j in 1..=3 {
            let (_, g) = conv_to(w, f, j, width, width, 3, "a PUP head conv")?;
            f = relu(w, g)?;
            if j < 3 {
                f = resize(w, f, 2, [width, gh << j, gw << j])?;
            }
        }
        let (c, g) = conv(w, f, 4, width, 1, "the PUP head's last conv (1x1)")?;
        (HeadKind::Pup, c, resize_node(w, g, 2, [c, gh << 3, gw << 3])?)
    } else {
        let (c, g) = conv(w, f, 1, width, 1, "the light head's 1x1 conv")?;
        (HeadKind::Light, c, resize_node(w, g, w.found.patch, [c, gh, gw])?)
    };
    if w.out(last, 0)? != w.task {
        return Err(w.err(last, format!("expected the head's last Resize to be graph output '{}'", w.task)));
    }
    w.found.head = Some((kind, width, c));
    Ok(())
}

/// A convolution with `cin` inputs and a `k`×`k` kernel (plus an optional BatchNormalization, folded);
/// records head conv `j`; returns (output channels, output).
fn conv<'g>(w: &mut Walk<'g>, x: &str, j: u32, cin: u32, k: u32, what: &str) -> Result<(u32, &'g str)> {
    let n = w.next_op(x, &["Conv"], what)?;
    let node = w.node(n);
    let (wd, wv) = w.const_f32(n, w.input(n, 1).unwrap_or_default(), "the conv weight")?;
    let cout = match *wd {
        [o, i, kh, kw] if i == i64::from(cin) && kh == i64::from(k) && kw == i64::from(k) && o > 0 => o,
        [_, i, kh, kw] if i == i64::from(cin) => {
            return Err(w.err(n, format!("{what}: expected kernel {k}x{k}, found {kh}x{kw}")))
        }
        _ => return Err(w.err(n, format!("{what}: expected a weight [C, {cin}, {k}, {k}], found {wd:?}"))),
    };
    let p = i64::from(k / 2);
    let pads_ok = attr_ints(node, "pads").map_or(p == 0, |v| v.iter().all(|&x| x == p) && v.len() == 4);
    let strides_ok = attr_ints(node, "strides").is_none_or(|v| v.iter().all(|&x| x == 1));
    let dil_ok = attr_ints(node, "dilations").is_none_or(|v| v.iter().all(|&x| x == 1));
    let auto_ok = attr_s(node, "auto_pad", "NOTSET") == "NOTSET";
    if !pads_ok || !strides_ok || !dil_ok || !auto_ok || attr_i(node, "group", 1) != 1 || w.input(n, 0) != Some(x) {
        return Err(w.err(n, format!("{what}: expected stride 1, padding {p}, no dilation or groups")));
    }
    let cout = u32::try_from(cout).map_err(|_| w.err(n, "too many output channels"))?;
    let mut bias: Vec<f32> = match w.input(n, 2) {
        Some(b) => {
            let (_, bv) = w.const_f32(n, b, "the conv bias")?;
            if bv.len() != cout as usize {
                return Err(w.err(n, format!("{what}: expected a bias of {cout} values, found {}", bv.len())));
            }
            bv.to_vec()
        }
        None => vec![0.0; cout as usize],
    };
    let mut weight: Rc<[f32]> = wv;
    let mut out = w.out(n, 0)?;
    let readers = w.consumers(out);
    if let [bn] = readers.as_slice() {
        if w.node(*bn).op_type == "BatchNormalization" {
            let bn = *bn;
            let mut v = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
            for (slot, i) in v.iter_mut().zip(1..=4) {
                let (_, c) = w.const_f32(bn, w.input(bn, i).unwrap_or_default(), "a BatchNormalization parameter")?;
                if c.len() != cout as usize {
                    return Err(w.err(bn, format!("expected {cout} values per BatchNormalization parameter")));
                }
                *slot = c.to_vec();
            }
            if has_attr(w, bn, "training_mode") && attr_i(w.node(bn), "training_mode", 0) != 0 {
                return Err(w.err(bn, "BatchNormalization in training mode"));
            }
            let eps = attr_f(w.node(bn), "epsilon", 1e-5);
            let [gamma, beta, mean, var] = v;
            let per = weight.len() / cout as usize;
            let mut folded = weight.to_vec();
            for o in 0..cout as usize {
                let s = gamma[o] / (var[o] + eps).sqrt();
                folded[o * per..(o + 1) * per].iter_mut().for_each(|x| *x *= s);
                bias[o] = (bias[o] - mean[o]) * s + beta[o];
            }
            weight = folded.into();
            out = w.out(bn, 0)?;
        }
    }
    w.put(TensorKey::head(TensorKind::HeadConvW, 0, j), &[cout, cin, k, k], weight);
    w.put(TensorKey::head(TensorKind::HeadConvB, 0, j), &[cout], bias.into());
    Ok((cout, out))
}

/// [`conv`] whose output channel count must be `cout`.
fn conv_to<'g>(w: &mut Walk<'g>, x: &str, j: u32, cin: u32, cout: u32, k: u32, what: &str) -> Result<(u32, &'g str)> {
    let r = conv(w, x, j, cin, k, what)?;
    if r.0 != cout {
        let n = w.next(x, what)?;
        return Err(w.err(n, format!("{what}: expected {cout} output channels (the head width), found {}", r.0)));
    }
    Ok(r)
}

fn relu<'g>(w: &Walk<'g>, x: &str) -> Result<&'g str> {
    let n = w.next_op(x, &["Relu"], "the head's Relu")?;
    w.out(n, 0)
}

fn resize<'g>(w: &Walk<'g>, x: &str, scale: u32, from: [u32; 3]) -> Result<&'g str> {
    let n = resize_node(w, x, scale, from)?;
    w.out(n, 0)
}

/// A bilinear, half-pixel `Resize` by `scale` reading `x` (of `from` = channels, height, width), given by
/// its scales or by the output sizes `[1, C, scale·h, scale·w]` (PyTorch's `interpolate(size=...)`);
/// returns the node.
fn resize_node(w: &Walk<'_>, x: &str, scale: u32, from: [u32; 3]) -> Result<usize> {
    let what = format!("a bilinear Resize x{scale}");
    let n = w.next_op(x, &["Resize"], &what)?;
    let node = w.node(n);
    let scales = match w.input(n, 2) {
        Some(s) => w.const_f32(n, s, "the Resize scales")?.1.to_vec(),
        None => Vec::new(),
    };
    let s = scale as f32;
    let scales_ok = if scales.is_empty() {
        let Some(sizes) = w.input(n, 3) else {
            return Err(w.err(n, format!("expected {what} given by scales or sizes, found neither")));
        };
        let sizes = w.const_i64(n, sizes, "the Resize sizes")?;
        let [c, h, wd] = from.map(i64::from);
        let want = [1, c, h * i64::from(scale), wd * i64::from(scale)];
        if sizes != want {
            return Err(w.err(n, format!("expected {what}: sizes {want:?}, found {sizes:?}")));
        }
        true
    } else {
        let ok = scales.len() == 4 && close(scales[0], 1.0) && close(scales[1], 1.0);
        ok && close(scales[2], s) && close(scales[3], s) && w.input(n, 3).is_none()
    };
    let mode = attr_s(node, "mode", "nearest");
    let ctm = attr_s(node, "coordinate_transformation_mode", "half_pixel");
    let ctm_ok = ctm == "half_pixel" || ctm == "pytorch_half_pixel";
    if !scales_ok || mode != "linear" || !ctm_ok || w.input(n, 0) != Some(x) {
        return Err(w.err(
            n,
            format!("expected {what} (mode linear, half_pixel, scales [1,1,{s},{s}]), found mode {mode}, {ctm}, scales {scales:?}"),
        ));
    }
    if attr_i(node, "antialias", 0) != 0 || has_attr(w, n, "axes") {
        return Err(w.err(n, "Resize with antialias or axes is not supported"));
    }
    Ok(n)
}
