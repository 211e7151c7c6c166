//! 2-D convolution (one image, NCHW): a banded im2col feeding the GEMM, so scratch stays bounded however
//! large the feature map is.

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

/// Output rows per im2col band.
fn band_rows(cin: usize, k: usize, ho: usize, wo: usize) -> usize {
    let row = cin * k * k * wo;
    if row == 0 {
        return 1;
    }
    (BAND_BUDGET / row).clamp(1, ho.max(1))
}

/// Scratch floats [`conv2d`] needs (zero for 1×1, stride 1, no padding: a plain GEMM; the Winograd
/// scratch where [`winograd::pays`]).
pub fn conv2d_scratch_len(cin: usize, h: usize, w: usize, cout: usize, k: usize, stride: usize, pad: usize) -> usize {
    if k == 1 && stride == 1 && pad == 0 {
        return 0;
    }
    if winograd::pays(cin, h, w, cout, k, stride, pad) {
        return winograd::scratch_len(cin, h, w, cout);
    }
    im2col_scratch_len(cin, h, w, cout, k, stride, pad)
}

/// Scratch floats [`conv2d_im2col`] needs.
pub fn im2col_scratch_len(cin: usize, h: usize, w: usize, _cout: usize, k: usize, stride: usize, pad: usize) -> usize {
    let (ho, wo) = (conv_out(h, k, stride, pad), conv_out(w, k, stride, pad));
    if k == 1 && stride == 1 && pad == 0 {
        return 0;
    }
    cin * k * k * wo * band_rows(cin, k, ho, wo)
}

#[allow(clippy::too_many_arguments)]
fn check(
    input: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    bias: Option<&[f32]>,
    out: &[f32],
) -> Result<(usize, usize)> {
    if stride == 0 || k == 0 {
        return Err(Error::ShapeMismatch { what: "conv stride/kernel", expected: 1, found: 0 });
    }
    let (ho, wo) = (conv_out(h, k, stride, pad), conv_out(w, k, stride, pad));
    need("conv input", input.len(), cin * h * w)?;
    need("conv weight", weight.len(), cout * cin * k * k)?;
    need("conv output", out.len(), cout * ho * wo)?;
    if let Some(b) = bias {
        need("conv bias", b.len(), cout)?;
    }
    Ok((ho, wo))
}

/// `out[cout × ho × wo] = weight ⊛ input + bias`, zero padding `pad`, stride `stride`. Wide 3×3 layers
/// (see [`winograd::pays`]) run Winograd F(4×4, 3×3); otherwise reads the image in place where the CPU has a
/// fast kernel for it, or builds im2col bands in `scratch` ([`conv2d_scratch_len`] floats).
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    input: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    conv2d_with(input, cin, h, w, weight, cout, k, stride, pad, bias, out, scratch, true, true)
}

/// [`conv2d`] without the Winograd path (im2col and GEMM always), in `scratch` of [`im2col_scratch_len`]
/// floats: the baseline the benches compare Winograd with.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_im2col(
    input: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    conv2d_with(input, cin, h, w, weight, cout, k, stride, pad, bias, out, scratch, false, true)
}

/// [`conv2d`], with the fast paths (Winograd, implicit im2col) allowed or not (tests and benches run both).
#[allow(clippy::too_many_arguments)]
fn conv2d_with(
    input: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
    wino: bool,
    implicit: bool,
) -> Result<()> {
    let (ho, wo) = check(input, cin, h, w, weight, cout, k, stride, pad, bias, out)?;
    if wino && winograd::pays(cin, h, w, cout, k, stride, pad) {
        return winograd::conv3x3(input, cin, h, w, weight, cout, bias, out, scratch);
    }
    let plane = ho * wo;
    for (c, row) in out.chunks_exact_mut(plane.max(1)).take(cout).enumerate() {
        row.fill(bias.map_or(0.0, |b| b[c]));
    }
    if plane == 0 {
        return Ok(());
    }
    if k == 1 && stride == 1 && pad == 0 {
        return matmul(cout, cin, plane, weight, cin, input, plane, out, plane, true);
    }
    // The scratch is checked on every CPU, so a caller's buffer that works here works everywhere.
    need("conv scratch", scratch.len(), im2col_scratch_len(cin, h, w, cout, k, stride, pad))?;
    let src = Im2colB { input, cin, h, w, k, stride, pad, ho, wo };
    if implicit && conv_implicit(weight, cout, &src, out)? {
        return Ok(());
    }
    banded(&src, weight, cout, out, scratch)
}

/// The portable path of [`conv2d`] after the bias: im2col one band of output rows at a time into `scratch`,
/// then a GEMM per band.
fn banded(src: &Im2colB<'_>, weight: &[f32], cout: usize, out: &mut [f32], scratch: &mut [f32]) -> Result<()> {
    let Im2colB { input, cin, h, w, k, stride, pad, ho, wo } = *src;
    let (plane, kk) = (ho * wo, cin * k * k);
    let band = band_rows(cin, k, ho, wo);
    need("conv scratch", scratch.len(), kk * wo * band)?;
    let mut y0 = 0;
    while y0 < ho {
        let rows = band.min(ho - y0);
        let n = rows * wo;
        let cols = &mut scratch[..kk * n];
        // cols[(ci·k + ky)·k + kx][r·wo + x] = input[ci][(y0 + r)·s + ky − pad][x·s + kx − pad] or 0.
        for ci in 0..cin {
            for ky in 0..k {
                for kx in 0..k {
                    let dst = &mut cols[((ci * k + ky) * k + kx) * n..][..n];
                    for r in 0..rows {
                        let iy = ((y0 + r) * stride + ky) as isize - pad as isize;
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
#[allow(clippy::too_many_arguments)]
pub fn conv2d_ref(
    input: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    weight: &[f32],
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<()> {
    let (ho, wo) = check(input, cin, h, w, weight, cout, k, stride, pad, bias, out)?;
    for co in 0..cout {
        for y in 0..ho {
            for x in 0..wo {
                let mut s = bias.map_or(0.0, |b| f64::from(b[co]));
                for ci in 0..cin {
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) =
                                ((y * stride + ky) as isize - pad as isize, (x * stride + kx) as isize - pad as isize);
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                let wv = weight[((co * cin + ci) * k + ky) * k + kx];
                                s += f64::from(wv) * f64::from(input[(ci * h + iy as usize) * w + ix as usize]);
                            }
                        }
                    }
                }
                out[(co * ho + y) * wo + x] = s as f32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{
        abs_vec, assert_close, assert_within, fast_vs_ref, random_vec, sum_error_bound, Rng,
    };

    #[test]
    fn three_by_three_by_hand() {
        // A 3×3 box filter over [[1,2],[3,4]] with padding 1: every output sees the whole image → 10,
        // plus bias 0.5.
        let input = [1.0, 2.0, 3.0, 4.0];
        let mut out = [0.0; 4];
        let mut scratch = vec![0.0; conv2d_scratch_len(1, 2, 2, 1, 3, 1, 1)];
        conv2d(&input, 1, 2, 2, &[1.0; 9], 1, 3, 1, 1, Some(&[0.5]), &mut out, &mut scratch).unwrap();
        assert_eq!(out, [10.5; 4]);
        // Only the middle-right tap set, padding 1: each output is its right neighbour (0 past the edge).
        let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let mut tap = [0.0; 9];
        tap[5] = 1.0;
        let mut out = [0.0; 9];
        let mut scratch = vec![0.0; conv2d_scratch_len(1, 3, 3, 1, 3, 1, 1)];
        conv2d(&image, 1, 3, 3, &tap, 1, 3, 1, 1, None, &mut out, &mut scratch).unwrap();
        assert_eq!(out, [2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 8.0, 9.0, 0.0]);
        // Corners +1 / −1, stride 2, no padding: one output, 1 − 9.
        let corners = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0];
        let mut scratch = vec![0.0; conv2d_scratch_len(1, 3, 3, 1, 3, 2, 0)];
        conv2d(&image, 1, 3, 3, &corners, 1, 3, 2, 0, None, &mut out[..1], &mut scratch).unwrap();
        assert_eq!(out[0], -8.0);
        // 1×1 over two channels [1, 2] and [3, 4] with weights [2, −1]: 2a − b, no scratch.
        assert_eq!(conv2d_scratch_len(2, 1, 2, 1, 1, 1, 0), 0);
        conv2d(&[1.0, 2.0, 3.0, 4.0], 2, 1, 2, &[2.0, -1.0], 1, 1, 1, 0, Some(&[0.5]), &mut out[..2], &mut []).unwrap();
        assert_eq!(out[..2], [-0.5, 0.5]);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let mut out = [0.0; 4];
        let img = [0.0; 4];
        assert!(conv2d(&img, 1, 2, 2, &[0.0; 9], 1, 3, 1, 1, None, &mut out, &mut []).is_err());
        assert!(conv2d(&img, 1, 2, 2, &[0.0; 8], 1, 3, 1, 1, None, &mut out, &mut [0.0; 36]).is_err());
        assert!(conv2d(&img[..3], 1, 2, 2, &[0.0; 9], 1, 3, 1, 1, None, &mut out, &mut [0.0; 36]).is_err());
        assert!(conv2d(&img, 1, 2, 2, &[0.0; 9], 1, 3, 1, 1, Some(&[]), &mut out, &mut [0.0; 36]).is_err());
        assert!(conv2d(&img, 1, 2, 2, &[0.0; 9], 1, 3, 0, 1, None, &mut out, &mut [0.0; 36]).is_err());
        assert!(conv2d_ref(&img, 1, 2, 2, &[0.0; 9], 1, 3, 1, 1, None, &mut out[..3]).is_err());
    }

    fast_vs_ref!(
        fast_matches_reference,
        cases = 48,
        (
            cin in 1usize..=9,
            cout in 1usize..=9,
            h in 1usize..=13,
            w in 1usize..=13,
            k in 1usize..=3,
            stride in 1usize..=2,
            pad in 0usize..=2
        ),
        |rng| {
            let (ho, wo) = (conv_out(h, k, stride, pad), conv_out(w, k, stride, pad));
            let input = random_vec(rng, cin * h * w);
            let weight = random_vec(rng, cout * cin * k * k);
            let bias = random_vec(rng, cout);
            let (mut fast, mut slow) = (vec![0.0; cout * ho * wo], vec![0.0; cout * ho * wo]);
            let mut scratch = vec![0.0; conv2d_scratch_len(cin, h, w, cout, k, stride, pad)];
            // Each output sums cin·k² products and the bias: bounded by the sums of their absolute values.
            let (abs_in, abs_wt, abs_b) = (abs_vec(&input), abs_vec(&weight), abs_vec(&bias));
            let mut bound = vec![0.0; cout * ho * wo];
            for bias_used in [true, false] {
                let b = bias_used.then_some(bias.as_slice());
                let ab = bias_used.then_some(abs_b.as_slice());
                conv2d_ref(&abs_in, cin, h, w, &abs_wt, cout, k, stride, pad, ab, &mut bound).unwrap();
                bound.iter_mut().for_each(|e| *e = sum_error_bound(cin * k * k + 1, *e));
                conv2d_ref(&input, cin, h, w, &weight, cout, k, stride, pad, b, &mut slow).unwrap();
                for implicit in [true, false] {
                    let (i, wt) = (&input, &weight);
                    conv2d_with(i, cin, h, w, wt, cout, k, stride, pad, b, &mut fast, &mut scratch, true, implicit)
                        .unwrap();
                    assert_within(&fast, &slow, &bound);
                }
            }
        }
    );

    #[test]
    fn bands_cover_large_maps() {
        // A map large enough that the band is smaller than the output height, and K and N span several
        // packed blocks of the implicit path.
        let (cin, h, w) = (64, 40, 256);
        assert!(band_rows(cin, 3, h, w) < h);
        let mut rng = Rng::new(6);
        let input = random_vec(&mut rng, cin * h * w);
        let weight = random_vec(&mut rng, 2 * cin * 9);
        let (mut fast, mut slow) = (vec![0.0; 2 * h * w], vec![0.0; 2 * h * w]);
        let mut scratch = vec![0.0; conv2d_scratch_len(cin, h, w, 2, 3, 1, 1)];
        conv2d_ref(&input, cin, h, w, &weight, 2, 3, 1, 1, None, &mut slow).unwrap();
        for implicit in [true, false] {
            conv2d_with(&input, cin, h, w, &weight, 2, 3, 1, 1, None, &mut fast, &mut scratch, true, implicit).unwrap();
            assert_close(&fast, &slow, 1e-4);
        }
    }
}
