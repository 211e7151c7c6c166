//! 2-D convolution (one image, NCHW): Winograd F(4×4, 3×3) for the wide 3×3 layers, otherwise a banded
//! im2col feeding the GEMM, so scratch stays bounded however large the feature map is. Any band of output
//! rows can be computed on its own ([`conv2d_rows`]), so a caller can consume a large layer's output strip
//! by strip without ever holding all of it.

use core::ops::Range;

use super::gemm::source::Im2colB;
use super::gemm::{conv_implicit, matmul};
use super::{need, winograd};
use crate::{Error, Result};

/// Largest im2col band, in floats (2 MiB), unless one output row alone needs more.
const BAND_BUDGET: usize = 1 << 19;

/// Output size of a convolution along one axis.
pub const fn conv_out(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    if stride == 0 || size + 2 * pad < k {
        0
    } else {
        (size + 2 * pad - k) / stride + 1
    }
}

/// The shape of one convolution: a `cin × h × w` image, `cout` filters of `k × k` (weights
/// `[cout][cin][k][k]`), the same stride and zero padding on both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size.
    pub k: usize,
    /// Stride (at least 1).
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl ConvShape {
    /// A `k × k` convolution with stride 1 and "same" padding `k / 2`.
    pub const fn same(cin: usize, h: usize, w: usize, cout: usize, k: usize) -> Self {
        ConvShape { cin, h, w, cout, k, stride: 1, pad: k / 2 }
    }

    /// Output height.
    pub const fn ho(&self) -> usize {
        conv_out(self.h, self.k, self.stride, self.pad)
    }

    /// Output width.
    pub const fn wo(&self) -> usize {
        conv_out(self.w, self.k, self.stride, self.pad)
    }

    /// 1×1, stride 1, no padding: a plain GEMM over the image in place, no scratch.
    pub const fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }

    /// The product, saturating, so absurd shapes fail the length checks instead of wrapping.
    pub(crate) fn prod(factors: &[usize]) -> usize {
        factors.iter().fold(1, |p: usize, &f| p.saturating_mul(f))
    }

    /// Checks the slices of a run producing output rows `rows` (into `out`, `[cout][rows][wo]`).
    pub(crate) fn check(
        &self,
        input: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        out: &[f32],
        rows: &Range<usize>,
    ) -> Result<()> {
        need("conv weight", weight.len(), Self::prod(&[self.cout, self.cin, self.k, self.k]))?;
        self.check_io(input, bias, out, rows)
    }

    /// [`check`](Self::check) without the weights (a caller holding them in another form).
    pub(crate) fn check_io(&self, input: &[f32], bias: Option<&[f32]>, out: &[f32], rows: &Range<usize>) -> Result<()> {
        if self.stride == 0 || self.k == 0 {
            return Err(Error::ShapeMismatch { what: "conv stride/kernel", expected: 1, found: 0 });
        }
        if rows.start > rows.end || rows.end > self.ho() {
            return Err(Error::ShapeMismatch { what: "conv output rows", expected: self.ho(), found: rows.end });
        }
        let prod = Self::prod;
        need("conv input", input.len(), prod(&[self.cin, self.h, self.w]))?;
        need("conv output", out.len(), prod(&[self.cout, rows.len(), self.wo()]))?;
        if let Some(b) = bias {
            need("conv bias", b.len(), self.cout)?;
        }
        Ok(())
    }
}

/// Output rows per im2col band.
fn band_rows(s: &ConvShape) -> usize {
    let row = s.cin * s.k * s.k * s.wo();
    if row == 0 {
        return 1;
    }
    (BAND_BUDGET / row).clamp(1, s.ho().max(1))
}

/// Scratch floats [`conv2d`] and [`conv2d_rows`] need (zero for a pointwise convolution; the Winograd
/// scratch where [`winograd::pays`]).
pub fn conv2d_scratch_len(s: &ConvShape) -> usize {
    if s.is_pointwise() {
        return 0;
    }
    if winograd::pays(s) {
        return winograd::scratch_len(s);
    }
    im2col_scratch_len(s)
}

/// Scratch floats [`conv2d_im2col`] needs.
pub fn im2col_scratch_len(s: &ConvShape) -> usize {
    if s.is_pointwise() {
        return 0;
    }
    s.cin * s.k * s.k * s.wo() * band_rows(s)
}

/// `out[cout × ho × wo] = weight ⊛ input + bias`. Wide 3×3 layers (see [`winograd::pays`]) run Winograd
/// F(4×4, 3×3); otherwise reads the image in place where the CPU has a fast kernel for it, or builds
/// im2col bands in `scratch` ([`conv2d_scratch_len`] floats).
pub fn conv2d(
    s: &ConvShape,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    conv2d_rows(s, 0..s.ho(), input, weight, bias, out, scratch)
}

/// Output rows `rows` of [`conv2d`] into `out` (`[cout][rows.len()][wo]`), with the same scratch: the
/// same values as those rows of the whole output.
pub fn conv2d_rows(
    s: &ConvShape,
    rows: Range<usize>,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    conv2d_with(s, rows, input, weight, bias, out, scratch, true, true)
}

/// [`conv2d`] without the Winograd path (im2col and GEMM always), in `scratch` of [`im2col_scratch_len`]
/// floats: the baseline the benches compare Winograd with.
pub fn conv2d_im2col(
    s: &ConvShape,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    conv2d_with(s, 0..s.ho(), input, weight, bias, out, scratch, false, true)
}

/// [`conv2d_rows`], with the fast paths (Winograd, implicit im2col) allowed or not (tests and benches run
/// both).
#[allow(clippy::too_many_arguments)]
fn conv2d_with(
    s: &ConvShape,
    rows: Range<usize>,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
    wino: bool,
    implicit: bool,
) -> Result<()> {
    s.check(input, weight, bias, out, &rows)?;
    if wino && winograd::pays(s) {
        return winograd::conv3x3_rows(s, rows, input, weight, bias, out, scratch);
    }
    let plane = rows.len() * s.wo();
    for (c, row) in out.chunks_exact_mut(plane.max(1)).take(s.cout).enumerate() {
        row.fill(bias.map_or(0.0, |b| b[c]));
    }
    if plane == 0 {
        return Ok(());
    }
    if s.is_pointwise() {
        let (cin, hw) = (s.cin, s.h * s.w);
        let first = &input[rows.start * s.w..];
        return matmul(s.cout, cin, plane, weight, cin, first, hw, out, plane, true);
    }
    // The scratch is checked on every CPU, so a caller's buffer that works here works everywhere.
    need("conv scratch", scratch.len(), im2col_scratch_len(s))?;
    let ConvShape { cin, h, w, k, stride, pad, .. } = *s;
    let src = Im2colB { input, cin, h, w, k, stride, pad, y0: rows.start, ho: rows.len(), wo: s.wo() };
    if implicit && conv_implicit(weight, s.cout, &src, out)? {
        return Ok(());
    }
    banded(&src, band_rows(s), weight, s.cout, out, scratch)
}

/// The portable path of [`conv2d`] after the bias: im2col `band` output rows at a time into `scratch`, then
/// a GEMM per band.
fn banded(
    src: &Im2colB<'_>,
    band: usize,
    weight: &[f32],
    cout: usize,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    let Im2colB { input, cin, h, w, k, stride, pad, y0: first, ho, wo } = *src;
    let (plane, kk) = (ho * wo, cin * k * k);
    need("conv scratch", scratch.len(), kk * wo * band)?;
    let mut y0 = 0;
    while y0 < ho {
        let rows = band.min(ho - y0);
        let n = rows * wo;
        let cols = &mut scratch[..kk * n];
        // cols[(ci·k + ky)·k + kx][r·wo + x] = input[ci][(first + y0 + r)·s + ky − pad][x·s + kx − pad] or 0.
        for ci in 0..cin {
            for ky in 0..k {
                for kx in 0..k {
                    let dst = &mut cols[((ci * k + ky) * k + kx) * n..][..n];
                    for r in 0..rows {
                        let iy = ((first + y0 + r) * stride + ky) as isize - pad as isize;
                        let out_row = &mut dst[r * wo..(r + 1) * wo];
                        if iy < 0 || iy as usize >= h {
                            out_row.fill(0.0);
                            continue;
                        }
                        let src = &input[ci * h * w + iy as usize * w..][..w];
                        for (x, o) in out_row.iter_mut().enumerate() {
                            let ix = (x * stride + kx) as isize - pad as isize;
                            *o = if ix >= 0 && (ix as usize) < w { src[ix as usize] } else { 0.0 };
                        }
                    }
                }
            }
        }
        matmul(cout, kk, n, weight, kk, cols, n, &mut out[y0 * wo..], plane, true)?;
        y0 += rows;
    }
    Ok(())
}

/// The reference of [`conv2d`]: the definition, one output element at a time, f64 accumulation.
pub fn conv2d_ref(s: &ConvShape, input: &[f32], weight: &[f32], bias: Option<&[f32]>, out: &mut [f32]) -> Result<()> {
    let (ho, wo) = (s.ho(), s.wo());
    s.check(input, weight, bias, out, &(0..ho))?;
    let ConvShape { cin, h, w, cout, k, stride, pad } = *s;
    for co in 0..cout {
        for y in 0..ho {
            for x in 0..wo {
                let mut acc = bias.map_or(0.0, |b| f64::from(b[co]));
                for ci in 0..cin {
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) =
                                ((y * stride + ky) as isize - pad as isize, (x * stride + kx) as isize - pad as isize);
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                let wv = weight[((co * cin + ci) * k + ky) * k + kx];
                                acc += f64::from(wv) * f64::from(input[(ci * h + iy as usize) * w + ix as usize]);
                            }
                        }
                    }
                }
                out[(co * ho + y) * wo + x] = acc as f32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
