//! Input normalisation and the patch embedding, with the cls token and the position embedding
//! (`docs/fixed-point.md`, "Patch embedding"). Mirrors `hls/include/m3rt/patch_embed.h`.

use super::int::to_act;
use super::linear::{linear, Bias, Layout, LinearCfg, Weights};
use crate::{Error, Result};

/// One patch-embedding invocation.
#[derive(Clone, Copy, Debug)]
pub struct PatchCfg {
    /// Image height.
    pub image_h: usize,
    /// Image width.
    pub image_w: usize,
    /// Patch side P.
    pub patch: usize,
    /// Width D.
    pub dim: usize,
    /// Activation width `Wa`.
    pub wa: u32,
    /// Activation fraction bits `Fa`.
    pub fa: u32,
    /// Pixel fraction bits `Fp`.
    pub fp: u32,
    /// `MEAN_c` (F = Fa).
    pub mean: [i64; 3],
    /// `INVSTD_c` (F = 16).
    pub inv_std: [i64; 3],
}

/// The normalised image `[3, H, W]` (activations) from the pixels `[3, H, W]`.
pub fn normalise(cfg: &PatchCfg, pixels: &[u8], image: &mut [i32]) -> Result<()> {
    let plane = cfg.image_h * cfg.image_w;
    if pixels.len() < 3 * plane || image.len() < 3 * plane {
        return Err(Error::ShapeMismatch { what: "patch embedding image", expected: 3 * plane, found: pixels.len() });
    }
    for c in 0..3 {
        let (m, s) = (cfg.mean[c], cfg.inv_std[c]);
        for (o, &p) in image[c * plane..(c + 1) * plane].iter_mut().zip(&pixels[c * plane..]) {
            let v = (i64::from(p) << (cfg.fa - cfg.fp)) - m;
            *o = to_act(v.wrapping_mul(s) >> 16, cfg.wa);
        }
    }
    Ok(())
}

/// `x[T, D]`: the cls token plus the position embedding, then every patch (raster order) through the
/// linear unit with the patch weights `[D, 3, P, P]` plus the position embedding. `row` holds one patch
/// (`3·P·P` values). `cls` and `pos` are format-B vectors with `fb` fraction bits.
#[allow(clippy::too_many_arguments)]
pub fn patch_embed(
    cfg: &PatchCfg,
    image: &[i32],
    weight: &Weights<'_>,
    bias: &Bias<'_>,
    cls: &[i16],
    pos: &[i16],
    fb: u32,
    x: &mut [i32],
    row: &mut [i32],
) -> Result<()> {
    let (p, d) = (cfg.patch, cfg.dim);
    let (gh, gw) = (cfg.image_h / p.max(1), cfg.image_w / p.max(1));
    let (n, k) = (gh * gw, 3 * p * p);
    if p == 0 || x.len() < (n + 1) * d || row.len() < k || cls.len() < d || pos.len() < (n + 1) * d {
        return Err(Error::ShapeMismatch { what: "patch embedding", expected: (n + 1) * d, found: x.len() });
    }
    let lin = LinearCfg { rows: 1, cols_in: k, cols_out: d, wa: cfg.wa, fa: cfg.fa, layout: Layout::OutIn };
    let up = cfg.fa - fb;
    for (c, o) in x[..d].iter_mut().enumerate() {
        *o = to_act((i64::from(cls[c]) << up) + (i64::from(pos[c]) << up), cfg.wa);
    }
    for i in 0..n {
        let (py, px) = (i / gw, i % gw);
        for ch in 0..3 {
            for y in 0..p {
                let src = &image[(ch * cfg.image_h + py * p + y) * cfg.image_w + px * p..][..p];
                row[(ch * p + y) * p..][..p].copy_from_slice(src);
            }
        }
        let out = &mut x[(i + 1) * d..(i + 2) * d];
        linear(&lin, &row[..k], weight, Some(bias), out)?;
        for (o, &q) in out.iter_mut().zip(&pos[(i + 1) * d..]) {
            *o = to_act(i64::from(*o) + (i64::from(q) << up), cfg.wa);
        }
    }
    Ok(())
}
