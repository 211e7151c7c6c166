//! The task heads on the IP's dataflow: LayerNorm per token, the map transposed to `[D, h, w]`, every
//! convolution through the linear unit on the values around each output pixel, ReLU, bilinear ×2 (PUP)
//! or the light head's single resize (`docs/fixed-point.md`, "Head"). Mirrors `hls/include/m3rt/head.h`.

use super::linear::{linear, Bias, Layout, LinearCfg, Weights};
use crate::{Error, Result};

/// One convolution of the head.
#[derive(Clone, Copy, Debug)]
pub struct ConvCfg {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Map height (input and output: padding keeps the size).
    pub h: usize,
    /// Map width.
    pub w: usize,
    /// Kernel side (3 or 1).
    pub k: usize,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Activation width `Wa`.
    pub wa: u32,
    /// Activation fraction bits `Fa`.
    pub fa: u32,
}

/// Scratch of one convolution: the gathered input values of one pixel and its output channels.
pub struct ConvWork<'s> {
    /// `k·k·cin` words.
    pub col: &'s mut [i32],
    /// `cout` words.
    pub row: &'s mut [i32],
}

/// `out [cout, h, w] = conv(input [cin, h, w])` with weights `[cout, cin, k, k]`, zero padding `k / 2`.
pub fn conv(
    cfg: &ConvCfg,
    input: &[i32],
    weight: &Weights<'_>,
    bias: &Bias<'_>,
    out: &mut [i32],
    work: &mut ConvWork<'_>,
) -> Result<()> {
    let (cin, cout, h, w, k) = (cfg.cin, cfg.cout, cfg.h, cfg.w, cfg.k);
    let plane = h * w;
    let kk = k * k * cin;
    if k % 2 == 0
        || input.len() < cin * plane
        || out.len() < cout * plane
        || work.col.len() < kk
        || work.row.len() < cout
    {
        return Err(Error::ShapeMismatch { what: "head convolution", expected: cout * plane, found: out.len() });
    }
    let lin = LinearCfg { rows: 1, cols_in: kk, cols_out: cout, wa: cfg.wa, fa: cfg.fa, layout: Layout::OutIn };
    let pad = (k / 2) as isize;
    for y in 0..h {
        for x in 0..w {
            for ci in 0..cin {
                for ky in 0..k {
                    for kx in 0..k {
                        let (sy, sx) = (y as isize + ky as isize - pad, x as isize + kx as isize - pad);
                        let inside = sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w;
                        work.col[(ci * k + ky) * k + kx] =
                            if inside { input[ci * plane + sy as usize * w + sx as usize] } else { 0 };
                    }
                }
            }
            linear(&lin, &work.col[..kk], weight, Some(bias), &mut work.row[..cout])?;
            for (co, &v) in work.row[..cout].iter().enumerate() {
                out[co * plane + y * w + x] = if cfg.relu { v.max(0) } else { v };
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_by_three_by_hand() {
        // One channel 2×2 map [[1, 2], [3, 4]] (F = 22), kernel of ones (2^14 at F = 14), bias -4 (F = 11):
        // every output sees the whole map (padding zero): 10 - 4 = 6; with ReLU and bias -12 → 0.
        let one = 1i32 << 22;
        let input = [one, 2 * one, 3 * one, 4 * one];
        let weight = [1i16 << 14; 9];
        let cfg = ConvCfg { cin: 1, cout: 1, h: 2, w: 2, k: 3, relu: true, wa: 32, fa: 22 };
        let (mut col, mut row) = ([0; 9], [0; 1]);
        let mut out = [0; 4];
        let w = Weights::Q16 { values: &weight, frac: 14 };
        let mut work = ConvWork { col: &mut col, row: &mut row };
        conv(&cfg, &input, &w, &Bias { values: &[-4 << 11], frac: 11 }, &mut out, &mut work).unwrap();
        assert_eq!(out, [6 * one; 4]);
        conv(&cfg, &input, &w, &Bias { values: &[-12 << 11], frac: 11 }, &mut out, &mut work).unwrap();
        assert_eq!(out, [0; 4]);
    }
}
