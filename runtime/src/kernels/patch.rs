//! Patch embedding: a `P×P`, stride-`P` convolution whose output is token-major (row = patch in raster
//! order), as ONNX `Conv → Reshape → Transpose` produces it.

use super::gemm::{gemm_strided, View};
use super::need;
use crate::{Error, Result};

/// Scratch floats [`patch_embed`] needs: the image rearranged one patch per row.
pub const fn patch_embed_scratch_len(c: usize, h: usize, w: usize, p: usize, _d: usize) -> usize {
    match (h.checked_div(p), w.checked_div(p)) {
        (Some(gh), Some(gw)) => gh * gw * c * p * p,
        _ => 0,
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
    need("patch scratch", scratch.len(), n * kk)?;
    for i in 0..n {
        let (py, px) = (i / gw, i % gw);
        for ch in 0..c {
            for y in 0..p {
                let src = &image[(ch * h + py * p + y) * w + px * p..][..p];
                scratch[i * kk + (ch * p + y) * p..][..p].copy_from_slice(src);
            }
        }
    }
    for row in out.chunks_exact_mut(d.max(1)).take(n) {
        row.copy_from_slice(bias);
    }
    // out = patches · weightᵀ: the weight read with swapped strides.
    let va = View { rows: n, cols: kk, rs: kk, cs: 1 };
    let vb = View { rows: kk, cols: d, rs: 1, cs: kk };
    let vc = View { rows: n, cols: d, rs: d, cs: 1 };
    gemm_strided(1.0, &scratch[..n * kk], va, weight, vb, 1.0, out, vc)
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
    use crate::kernels::testing::{assert_close, random_vec, Rng};

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
    }

    #[test]
    fn fast_matches_reference_on_random_shapes() {
        let mut rng = Rng::new(7);
        for _ in 0..15 {
            let (c, p, d) = (rng.dim(1, 3), rng.dim(1, 5), rng.dim(1, 20));
            let (h, w) = (p * rng.dim(1, 4), p * rng.dim(1, 4));
            let n = (h / p) * (w / p);
            let image = random_vec(&mut rng, c * h * w);
            let (weight, bias) = (random_vec(&mut rng, d * c * p * p), random_vec(&mut rng, d));
            let (mut fast, mut slow) = (vec![0.0; n * d], vec![0.0; n * d]);
            let mut scratch = vec![0.0; patch_embed_scratch_len(c, h, w, p, d)];
            patch_embed(&image, c, h, w, p, &weight, &bias, &mut fast, &mut scratch).unwrap();
            patch_embed_ref(&image, c, h, w, p, &weight, &bias, &mut slow).unwrap();
            assert_close(&fast, &slow, 1e-5);
        }
    }
}
