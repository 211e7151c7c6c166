//! Patch embedding: a `P×P`, stride-`P` convolution whose output is token-major (row = patch in raster
//! order), as ONNX `Conv → Reshape → Transpose` produces it.

use super::gemm::{gemm_strided, View};
use super::{band_clamp, need};
use crate::{Error, Result};

/// Budget of the rearranged-patch band, in floats (1 MiB), unless one row of patches alone needs more.
const BAND_BUDGET: usize = 1 << 18;

/// Rows of patches rearranged at once.
const fn band_rows(c: usize, h: usize, w: usize, p: usize) -> usize {
    let (Some(gh), Some(gw)) = (h.checked_div(p), w.checked_div(p)) else { return 1 };
    match (BAND_BUDGET).checked_div(gw * c * p * p) {
        Some(fit) => band_clamp(fit, gh),
        None => band_clamp(gh, gh),
    }
}

/// Scratch floats [`patch_embed`] needs: `band` rows of patches, one patch per row:
/// `band · (w/p) · c·p·p` with `band = clamp(2^18 / ((w/p)·c·p·p), 1, h/p)`.
pub const fn patch_embed_scratch_len(c: usize, h: usize, w: usize, p: usize, _d: usize) -> usize {
    match w.checked_div(p) {
        Some(gw) => band_rows(c, h, w, p) * gw * c * p * p,
        None => 0,
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    image: &[f32],
    c: usize,
    h: usize,
    w: usize,
    p: usize,
    weight: &[f32],
    bias: &[f32],
    out: &[f32],
) -> Result<usize> {
    if p == 0 || !h.is_multiple_of(p) || !w.is_multiple_of(p) {
        return Err(Error::ShapeMismatch { what: "patch size", expected: p, found: h });
    }
    let d = bias.len();
    let n = (h / p) * (w / p);
    need("patch image", image.len(), c * h * w)?;
    need("patch weight", weight.len(), d * c * p * p)?;
    need("patch output", out.len(), n * d)?;
    Ok(n)
}

/// `out[n × d]`: row `i` is patch `i` (raster order) times `weight [d × c·p·p]`ᵀ plus `bias [d]`.
#[allow(clippy::too_many_arguments)]
pub fn patch_embed(
    image: &[f32],
    c: usize,
    h: usize,
    w: usize,
    p: usize,
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    let n = check(image, c, h, w, p, weight, bias, out)?;
    let (d, kk, gw) = (bias.len(), c * p * p, w / p);
    let band = band_rows(c, h, w, p);
    need("patch scratch", scratch.len(), band * gw * kk)?;
    if d > 0 {
        for row in out.chunks_exact_mut(d).take(n) {
            row.copy_from_slice(bias);
        }
    }
    let gh = h / p;
    let mut py0 = 0;
    while py0 < gh {
        let rows = band.min(gh - py0);
        // scratch[i][(ch·p + y)·p + x] = image[ch][py·p + y][px·p + x] for patch i = (py − py0)·gw + px.
        for (i, patch) in scratch.chunks_exact_mut(kk).take(rows * gw).enumerate() {
            let (py, px) = (py0 + i / gw, i % gw);
            for ch in 0..c {
                for y in 0..p {
                    let src = &image[(ch * h + py * p + y) * w + px * p..][..p];
                    patch[(ch * p + y) * p..][..p].copy_from_slice(src);
                }
            }
        }
        // out rows of this band += patches · weightᵀ: the weight read with swapped strides.
        let np = rows * gw;
        let va = View::row_major(np, kk, kk);
        let vb = View { rows: kk, cols: d, rs: 1, cs: kk };
        let vc = View::row_major(np, d, d);
        gemm_strided(1.0, &scratch[..np * kk], va, weight, vb, 1.0, &mut out[py0 * gw * d..], vc)?;
        py0 += rows;
    }
    Ok(())
}

/// The reference of [`patch_embed`], straight from the definition.
#[allow(clippy::too_many_arguments)]
pub fn patch_embed_ref(
    image: &[f32],
    c: usize,
    h: usize,
    w: usize,
    p: usize,
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
) -> Result<()> {
    let n = check(image, c, h, w, p, weight, bias, out)?;
    let (d, gw) = (bias.len(), w / p);
    for i in 0..n {
        let (py, px) = (i / gw, i % gw);
        for o in 0..d {
            let mut s = f64::from(bias[o]);
            for ch in 0..c {
                for y in 0..p {
                    for x in 0..p {
                        let wv = weight[((o * c + ch) * p + y) * p + x];
                        s += f64::from(wv) * f64::from(image[(ch * h + py * p + y) * w + px * p + x]);
                    }
                }
            }
            out[i * d + o] = s as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_close, fast_vs_ref, random_vec};

    #[test]
    fn one_patch_by_hand() {
        // One 2×2 single-channel patch [1,2,3,4]; two filters: all ones (sum 10) and [1,0,0,-1] (−3).
        let mut out = [0.0; 2];
        let mut scratch = [0.0; 4];
        patch_embed(
            &[1.0, 2.0, 3.0, 4.0],
            1,
            2,
            2,
            2,
            &[1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, -1.0],
            &[0.0, 1.0],
            &mut out,
            &mut scratch,
        )
        .unwrap();
        assert_eq!(out, [10.0, -2.0]);
        assert_eq!(patch_embed_scratch_len(3, 480, 640, 16, 384), 8 * 40 * 768);
        assert!(patch_embed(&[0.0; 6], 1, 2, 3, 2, &[0.0; 8], &[0.0; 2], &mut out, &mut scratch).is_err());
    }

    fast_vs_ref!(
        fast_matches_reference,
        cases = 32,
        (
            c in 1usize..=3,
            p in 1usize..=5,
            d in 1usize..=20,
            gh in 1usize..=4,
            gw in 1usize..=4
        ),
        |rng| {
            let (h, w, n) = (p * gh, p * gw, gh * gw);
            let image = random_vec(rng, c * h * w);
            let (weight, bias) = (random_vec(rng, d * c * p * p), random_vec(rng, d));
            let (mut fast, mut slow) = (vec![0.0; n * d], vec![0.0; n * d]);
            let mut scratch = vec![0.0; patch_embed_scratch_len(c, h, w, p, d)];
            patch_embed(&image, c, h, w, p, &weight, &bias, &mut fast, &mut scratch).unwrap();
            patch_embed_ref(&image, c, h, w, p, &weight, &bias, &mut slow).unwrap();
            assert_close(&fast, &slow, 1e-5);
            assert!(patch_embed(&image, c, h, w, p, &weight, &bias, &mut fast, &mut scratch[1..]).is_err());
        }
    );
}
