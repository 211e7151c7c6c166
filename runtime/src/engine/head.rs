//! The task heads: SETR-PUP and its light variant, on the tokens of the last block.

use super::weights::{widen_all, WeightBufs};
use crate::bundle::Bundle;
use crate::kernels::{activation, conv, norm, resize};
use crate::model::{head_conv_channels, HeadKind, TensorKey, TensorKind as K};
use crate::Result;

/// Scratch regions of the head.
pub struct HeadWork<'s> {
    /// Feature map buffer A.
    pub ping: &'s mut [f32],
    /// Feature map buffer B.
    pub pong: &'s mut [f32],
    /// Convolution scratch.
    pub conv: &'s mut [f32],
}

/// Runs `task`'s head on the backbone output `x` (`[T, D]`, cls first) and writes `[C, H, W]` to `out`.
pub fn decode(
    bundle: &Bundle<'_>,
    task: u32,
    channels: u32,
    x: &[f32],
    w: &mut HeadWork<'_>,
    wb: &mut WeightBufs<'_>,
    out: &mut [f32],
) -> Result<()> {
    let h = *bundle.hyper();
    let u = |v: u32| v as usize;
    let (n, d) = (u(h.patches()), u(h.dim));
    let (gh, gw) = (u(h.grid_h()), u(h.grid_w()));
    // Drop the cls token, LayerNorm, then [N, D] → [D, h, w].
    let g = widen_all(bundle.tensor(TensorKey::head(K::HeadLnG, task, 0))?, wb.va)?;
    let beta = widen_all(bundle.tensor(TensorKey::head(K::HeadLnB, task, 0))?, wb.vb)?;
    let tokens = &mut w.pong[..n * d];
    norm::layer_norm(&x[d..(n + 1) * d], n, d, g, beta, h.ln_eps, tokens)?;
    for (p, row) in tokens.chunks_exact(d).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            w.ping[c * n + p] = v;
        }
    }
    let (mut fh, mut fw) = (gh, gw);
    let convs = h.head_kind.conv_count();
    // Invariant: the current feature map is in `ping`.
    for j in 0..convs {
        let (cin, cout) = head_conv_channels(&h, j, channels);
        let (cin, cout) = (u(cin), u(cout));
        let k = u(h.head_kind.conv_kernel(j));
        let weight = widen_all(bundle.tensor(TensorKey::head(K::HeadConvW, task, j))?, wb.w)?;
        let bias = widen_all(bundle.tensor(TensorKey::head(K::HeadConvB, task, j))?, wb.va)?;
        let src = &w.ping[..cin * fh * fw];
        let dst = &mut w.pong[..cout * fh * fw];
        conv::conv2d(src, cin, fh, fw, weight, cout, k, 1, k / 2, Some(bias), dst, w.conv)?;
        let last = j + 1 == convs;
        if !last {
            activation::relu_inplace(dst);
        }
        let upsample = h.head_kind == HeadKind::Pup && j < 3;
        if upsample {
            resize::resize_bilinear(dst, cout, fh, fw, &mut w.ping[..cout * 4 * fh * fw], 2 * fh, 2 * fw)?;
            fh *= 2;
            fw *= 2;
        } else {
            core::mem::swap(&mut w.ping, &mut w.pong);
        }
    }
    let c = u(channels);
    resize::resize_bilinear(&w.ping[..c * fh * fw], c, fh, fw, out, u(h.image_h), u(h.image_w))
}
