//! The task heads: SETR-PUP and its light variant, on the tokens of the last block.
//!
//! The last 3×3 convolution feeds the final 1×1 directly, so where its output map is large (m3vit-t's
//! conv3: 256 × 64 × 128, 8.4 MB) it is computed a strip of rows at a time, each strip passed through
//! ReLU and the 1×1 at once; when a ×2 resize comes before it (PUP), that resize too is done strip by
//! strip, from the map before the resize. Neither the resized map nor the convolution's output is ever
//! whole. [`stages`] is the plan, shared by [`decode`] and the scratch layout.

use core::ops::Range;

use super::weights::{widen_all, WeightBufs};
use crate::bundle::Bundle;
use crate::kernels::conv::{self, ConvShape};
use crate::kernels::{activation, gemm, norm, resize, winograd};
use crate::model::{head_conv_channels, Hyper, TensorKey, TensorKind as K};
use crate::Result;

/// Floats of one strip of the last 3×3 convolution's output (1 MiB).
const STRIP_BUDGET: usize = 1 << 18;
/// Rows above and below a strip that its resized input includes: whole Winograd tiles, so the strip's
/// output rows start on a tile row of the strip's own input.
const HALO: usize = 4;

/// Scratch regions of the head.
pub struct HeadWork<'s> {
    /// Feature map buffer A: the input of every convolution (the resized strip of a fused one).
    pub ping: &'s mut [f32],
    /// Feature map buffer B: the output of every convolution but a fused one.
    pub pong: &'s mut [f32],
    /// A fused convolution's output strip, then the final map (empty when nothing is fused).
    pub strip: &'s mut [f32],
    /// Convolution scratch.
    pub conv: &'s mut [f32],
}

/// What the head does around one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    /// `ping` → `pong`, ReLU, then ×2 resize back into `ping`.
    Resize,
    /// `ping` → `pong`, ReLU; the next (fused) stage resizes `pong` strip by strip.
    ResizeInNext,
    /// `ping` → `pong` (ReLU unless last), then the two swap.
    Swap,
    /// This 3×3 convolution and the final 1×1, `rows` output rows at a time; its input is `ping`, or, when
    /// `resized`, the previous stage's output in `pong` resized strip by strip into `ping`.
    Fused {
        /// Output rows per strip.
        rows: usize,
        /// Whether the input is resized strip by strip.
        resized: bool,
    },
}

/// One convolution of the head and what surrounds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Index of the convolution.
    pub j: u32,
    /// Its shape (on the full, resized map for a fused stage).
    pub shape: ConvShape,
    /// What is done around it.
    pub kind: StageKind,
}

/// The head's stages for a task with `channels` outputs: every convolution but the final 1×1 of a fused
/// tail, in order.
pub fn stages(h: &Hyper, channels: u32) -> impl Iterator<Item = Stage> + '_ {
    let kind = h.head_kind;
    let convs = kind.conv_count();
    let shape_at = move |j: u32, fh: usize, fw: usize| {
        let (cin, cout) = head_conv_channels(h, j, channels);
        ConvShape::same(cin as usize, fh, fw, cout as usize, kind.conv_kernel(j) as usize)
    };
    let (mut fh, mut fw) = (h.grid_h() as usize, h.grid_w() as usize);
    let (mut j, mut resized) = (0, false);
    core::iter::from_fn(move || {
        if j >= convs {
            return None;
        }
        let shape = shape_at(j, fh, fw);
        let stage = if let Some(rows) = fused_strip_rows(h, j, shape.cout, fh, fw) {
            let fused = j;
            j = convs;
            Stage { j: fused, shape, kind: StageKind::Fused { rows, resized } }
        } else if kind.upsamples_after(j) {
            (fh, fw) = (2 * fh, 2 * fw);
            let next = j + 1 < convs && fused_strip_rows(h, j + 1, shape_at(j + 1, fh, fw).cout, fh, fw).is_some();
            resized = next;
            j += 1;
            Stage { j: j - 1, shape, kind: if next { StageKind::ResizeInNext } else { StageKind::Resize } }
        } else {
            j += 1;
            Stage { j: j - 1, shape, kind: StageKind::Swap }
        };
        Some(stage)
    })
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

/// The strips of a fused stage on an `fh`-row map: each strip's output rows and, when its input is resized
/// strip by strip, the rows of the resized map it reads (the strip and a [`HALO`] each side).
pub fn strips(fh: usize, rows: usize) -> impl Iterator<Item = (Range<usize>, Range<usize>)> {
    (0..fh).step_by(rows.max(1)).map(move |r0| {
        let band = r0..(r0 + rows).min(fh);
        let input = r0.saturating_sub(HALO)..(band.end + HALO).min(fh);
        (band, input)
    })
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
    let (c, last) = (u(channels), h.head_kind.conv_count() - 1);
    let (mut fh, mut fw) = (u(h.grid_h()), u(h.grid_w()));
    // Invariant: the current feature map is in `ping` (in `pong` after a `ResizeInNext`).
    for st in stages(&h, channels) {
        let s = st.shape;
        let weight = widen_all(bundle.tensor(TensorKey::head(K::HeadConvW, task, st.j))?, wb.w)?;
        let bias = widen_all(bundle.tensor(TensorKey::head(K::HeadConvB, task, st.j))?, wb.va)?;
        if let StageKind::Fused { rows, resized } = st.kind {
            fused_tail(bundle, task, &s, rows, resized, (weight, bias), w, wb.vb)?;
            let map = &w.strip[s.cout * rows * s.w..][..c * s.h * s.w];
            return resize::resize_bilinear(map, c, s.h, s.w, out, u(h.image_h), u(h.image_w));
        }
        let dst = &mut w.pong[..s.cout * s.h * s.w];
        conv::conv2d(&s, &w.ping[..s.cin * s.h * s.w], weight, Some(bias), dst, w.conv)?;
        if st.j < last {
            activation::relu_inplace(dst);
        }
        match st.kind {
            StageKind::Resize => {
                (fh, fw) = (2 * s.h, 2 * s.w);
                resize::resize_bilinear(dst, s.cout, s.h, s.w, &mut w.ping[..s.cout * fh * fw], fh, fw)?;
            }
            StageKind::ResizeInNext => (fh, fw) = (2 * s.h, 2 * s.w),
            _ => core::mem::swap(&mut w.ping, &mut w.pong),
        }
    }
    resize::resize_bilinear(&w.ping[..c * fh * fw], c, fh, fw, out, u(h.image_h), u(h.image_w))
}

/// The fused last 3×3 convolution `s` (with `weight` and `bias`), ReLU and the final 1×1, `rows` output
/// rows at a time through `w.strip`; the final map ends in `w.strip` after one strip's room. The input is
/// `w.ping`, or when `resized` the half-size map in `w.pong`, resized strip by strip into `w.ping`. `vb`
/// widens the 1×1's tensors.
#[allow(clippy::too_many_arguments)]
fn fused_tail(
    bundle: &Bundle<'_>,
    task: u32,
    s: &ConvShape,
    rows: usize,
    resized: bool,
    (weight, bias): (&[f32], &[f32]),
    w: &mut HeadWork<'_>,
    vb: &mut [f32],
) -> Result<()> {
    let HeadWork { ping, pong, strip, conv } = w;
    let last = bundle.hyper().head_kind.conv_count() - 1;
    let plane = s.h * s.w;
    let (out_strip, map) = strip.split_at_mut(s.cout * rows * s.w);
    // The final map starts as the 1×1's bias; each strip then adds its products.
    let b1 = widen_all(bundle.tensor(TensorKey::head(K::HeadConvB, task, last))?, vb)?;
    let c = b1.len();
    let map = &mut map[..c * plane];
    for (row, &b) in map.chunks_exact_mut(plane.max(1)).zip(b1) {
        row.fill(b);
    }
    let w1 = widen_all(bundle.tensor(TensorKey::head(K::HeadConvW, task, last))?, vb)?;
    // Winograd's transformed filters are made once for all the strips.
    let wino = winograd::pays(s);
    let (u, band_scratch) = conv.split_at_mut(if wino { winograd::filters_len(s) } else { 0 });
    let filters = if wino { Some(winograd::transform_filters(s, weight, u)?) } else { None };
    let (half_h, half_w) = (s.h / 2, s.w / 2);
    for (band, input) in strips(s.h, rows) {
        let n = band.len() * s.w;
        let dst = &mut out_strip[..s.cout * n];
        // The strip's own input map and its rows in it: resized rows of `pong`, or all of `ping`.
        let (local, local_rows, src) = if resized {
            let src = &mut ping[..s.cin * input.len() * s.w];
            let local_rows = (band.start - input.start)..(band.end - input.start);
            // Only the rows the convolution reads are resized (the halo's outer rows never are: 6 of a
            // 16-row strip); the others keep whatever the buffer held.
            let read = winograd::input_rows(input.len(), &local_rows);
            let global = (input.start + read.start)..(input.start + read.end);
            let (half_plane, plane) = (half_h * half_w, input.len() * s.w);
            for ch in 0..s.cin {
                let half = &pong[ch * half_plane..][..half_plane];
                let dst = &mut src[ch * plane + read.start * s.w..][..read.len() * s.w];
                resize::resize_bilinear_rows(half, 1, half_h, half_w, dst, s.h, s.w, global.clone())?;
            }
            (ConvShape { h: input.len(), ..*s }, local_rows, &*src)
        } else {
            (*s, band.clone(), &ping[..s.cin * plane])
        };
        match &filters {
            Some(f) => winograd::conv3x3_rows_from_filters(&local, local_rows, src, f, Some(bias), dst, band_scratch)?,
            None => conv::conv2d_rows(&local, local_rows, src, weight, Some(bias), dst, band_scratch)?,
        }
        activation::relu_inplace(dst);
        gemm::matmul(c, s.cout, n, w1, s.cout, dst, n, &mut map[band.start * s.w..], plane, true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scratch::Layout;
    use crate::model::HeadKind;

    /// m3vit-t's hyperparameters (models/configs/m3vit-t.toml) with head `kind` on a `ih × iw` image.
    fn hyper(kind: HeadKind, ih: u32, iw: u32) -> Hyper {
        Hyper {
            image_h: ih,
            image_w: iw,
            in_chans: 3,
            patch: 16,
            dim: 192,
            depth: 12,
            heads: 3,
            mlp_hidden: 768,
            experts: 16,
            top_k: 2,
            expert_hidden: 384,
            moe_blocks: 0b1010_1010_1010,
            head_kind: kind,
            head_width: 256,
            ln_eps: 1e-6,
            norm_mean: [0.0; 3],
            norm_std: [1.0; 3],
            tasks: 2,
        }
    }

    #[test]
    fn pup_resizes_and_fuses_its_tail_strip_by_strip() {
        let h = hyper(HeadKind::Pup, 128, 256);
        let plan: Vec<Stage> = stages(&h, 7).collect();
        let kinds: Vec<StageKind> = plan.iter().map(|s| s.kind).collect();
        use StageKind::*;
        assert_eq!(kinds, [Resize, Resize, ResizeInNext, Fused { rows: 8, resized: true }]);
        assert_eq!(plan[3].shape, ConvShape::same(256, 64, 128, 256, 3));
        // Eight strips of 8 rows; each reads its rows of the resized map and 4 more on each side.
        let s: Vec<_> = strips(64, 8).collect();
        assert_eq!(
            (s.len(), s[0].clone(), s[1].clone(), s[7].clone()),
            (8, (0..8, 0..12), (8..16, 4..20), (56..64, 52..64))
        );
        // By hand: ping holds conv2's input or one resized strip (256·32·64 = 256·16·128), pong conv2's
        // output, strip one 8-row strip of conv3 and the final 7 × 64 × 128 map; the Winograd scratch of
        // conv2/conv3 (every transformed filter, 36·258·256 with the rows rounded up to GEMM panels of 6,
        // and a band of 64 tiles, 36·512·64).
        let head = Layout::new(&h, 7, false).head;
        assert_eq!((head.ping, head.pong), (256 * 32 * 64, 256 * 32 * 64));
        assert_eq!((head.strip, head.conv), (256 * 8 * 128 + 7 * 64 * 128, 36 * 258 * 256 + 36 * 512 * 64));
    }

    #[test]
    fn small_heads_and_light_heads_keep_whole_maps() {
        // The light head on a large image fuses without a resize; on m3vit-t's image nothing is fused.
        use StageKind::*;
        let big = hyper(HeadKind::Light, 512, 1024);
        let kinds: Vec<StageKind> = stages(&big, 7).map(|s| s.kind).collect();
        assert_eq!(kinds, [Fused { rows: 16, resized: false }]);
        let head = Layout::new(&big, 7, false).head;
        assert_eq!((head.ping, head.strip), (192 * 32 * 64, 256 * 16 * 64 + 7 * 32 * 64));
        let small = hyper(HeadKind::Light, 128, 256);
        let kinds: Vec<StageKind> = stages(&small, 7).map(|s| s.kind).collect();
        assert_eq!(kinds, [Swap, Swap]);
        assert_eq!(Layout::new(&small, 7, false).head.strip, 0);
    }
}
