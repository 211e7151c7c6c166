//! The task heads: SETR-PUP and its light variant, on the tokens of the last block.
//!
//! The last 3×3 convolution feeds the final 1×1 directly (no resize between them), so where its output
//! map is large (m3vit-t's conv3: 256 × 64 × 128, 8.4 MB) it is computed a strip of rows at a time, each
//! strip passed through ReLU and the 1×1 at once: that map is never whole ([`fused_strip_rows`]).

use super::weights::{widen_all, WeightBufs};
use crate::bundle::Bundle;
use crate::kernels::conv::{self, ConvShape};
use crate::kernels::{activation, gemm, norm, resize};
use crate::model::{head_conv_channels, Hyper, TensorKey, TensorKind as K};
use crate::Result;

/// Floats of one strip of the last 3×3 convolution's output (2 MiB).
const STRIP_BUDGET: usize = 1 << 19;

/// Scratch regions of the head.
pub struct HeadWork<'s> {
    /// Feature map buffer A: the input of every convolution.
    pub ping: &'s mut [f32],
    /// Feature map buffer B: the output of every convolution but a fused one.
    pub pong: &'s mut [f32],
    /// One strip of the fused convolution's output (empty when nothing is fused).
    pub strip: &'s mut [f32],
    /// Convolution scratch.
    pub conv: &'s mut [f32],
}

/// Output rows per strip when convolution `j` (`cout` channels out, on an `fh × fw` map) is computed strip
/// by strip and fused with the final 1×1: only for the last 3×3 convolution, when it is not followed by a
/// resize and its output is larger than one strip. A multiple of 4 rows (whole Winograd tiles).
pub fn fused_strip_rows(h: &Hyper, j: u32, cout: usize, fh: usize, fw: usize) -> Option<usize> {
    let kind = h.head_kind;
    if j + 2 != kind.conv_count() || kind.upsamples_after(j) {
        return None;
    }
    let rows = (STRIP_BUDGET / cout.saturating_mul(fw).max(1) / 4 * 4).max(4);
    (rows < fh).then_some(rows)
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
    let mut j = 0;
    while j < convs {
        let (cin, cout) = head_conv_channels(&h, j, channels);
        let (cin, cout) = (u(cin), u(cout));
        let s = ConvShape::same(cin, fh, fw, cout, u(h.head_kind.conv_kernel(j)));
        let weight = widen_all(bundle.tensor(TensorKey::head(K::HeadConvW, task, j))?, wb.w)?;
        let bias = widen_all(bundle.tensor(TensorKey::head(K::HeadConvB, task, j))?, wb.va)?;
        if let Some(rows) = fused_strip_rows(&h, j, cout, fh, fw) {
            fused_tail(bundle, task, channels, &s, rows, (weight, bias), w, wb.vb)?;
            j += 2;
            continue;
        }
        let src = &w.ping[..cin * fh * fw];
        let dst = &mut w.pong[..cout * fh * fw];
        conv::conv2d(&s, src, weight, Some(bias), dst, w.conv)?;
        if j + 1 < convs {
            activation::relu_inplace(dst);
        }
        if h.head_kind.upsamples_after(j) {
            resize::resize_bilinear(dst, cout, fh, fw, &mut w.ping[..cout * 4 * fh * fw], 2 * fh, 2 * fw)?;
            fh *= 2;
            fw *= 2;
        } else {
            core::mem::swap(&mut w.ping, &mut w.pong);
        }
        j += 1;
    }
    let c = u(channels);
    resize::resize_bilinear(&w.ping[..c * fh * fw], c, fh, fw, out, u(h.image_h), u(h.image_w))
}

/// The last 3×3 convolution `s` (on the map in `w.ping`, with `weight` and `bias`), ReLU and the final
/// 1×1, `rows` output rows at a time through `w.strip`; the final map ends in `w.ping` (`vb` widens the
/// 1×1's tensors).
#[allow(clippy::too_many_arguments)]
fn fused_tail(
    bundle: &Bundle<'_>,
    task: u32,
    channels: u32,
    s: &ConvShape,
    rows: usize,
    (weight, bias): (&[f32], &[f32]),
    w: &mut HeadWork<'_>,
    vb: &mut [f32],
) -> Result<()> {
    let HeadWork { ping, pong, strip, conv } = w;
    let last = bundle.hyper().head_kind.conv_count() - 1;
    let (c, plane) = (channels as usize, s.h * s.w);
    let src = &ping[..s.cin * plane];
    let map = &mut pong[..c * plane];
    // The final map starts as the 1×1's bias; each strip then adds its products.
    let b1 = widen_all(bundle.tensor(TensorKey::head(K::HeadConvB, task, last))?, vb)?;
    for (row, &b) in map.chunks_exact_mut(plane.max(1)).zip(b1) {
        row.fill(b);
    }
    let w1 = widen_all(bundle.tensor(TensorKey::head(K::HeadConvW, task, last))?, vb)?;
    for r0 in (0..s.h).step_by(rows.max(1)) {
        let band = r0..(r0 + rows).min(s.h);
        let n = band.len() * s.w;
        let strip = &mut strip[..s.cout * n];
        conv::conv2d_rows(s, band, src, weight, Some(bias), strip, conv)?;
        activation::relu_inplace(strip);
        gemm::matmul(c, s.cout, n, w1, s.cout, strip, n, &mut map[r0 * s.w..], plane, true)?;
    }
    core::mem::swap(ping, pong);
    Ok(())
}
