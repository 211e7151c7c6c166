//! The task heads on the IP's dataflow: LayerNorm per token, the map transposed to `[D, h, w]`, every
//! convolution through the linear unit on the values around each output pixel, ReLU, bilinear ×2 (PUP)
//! or the light head's single resize (`docs/fixed-point.md`, "Head"). Mirrors `hls/include/m3rt/head.h`.

use super::encoder::{take, Ctx};
use super::layernorm::{layer_norm, LayerNormCfg};
use super::linear::{linear, Bias, Layout, LinearCfg, Weights};
use super::resize::resize;
use super::trace::{Kind, Point, Trace};
use super::weights::{matrix, vector};
use crate::model::{head_conv_channels, HeadKind, Hyper, TensorKey, TensorKind as K};
use crate::{Error, Result};

/// Refuses a model whose head the fixed-point dataflow cannot compute: every resize must be by a power
/// of two, so the light head's patch must be one and PUP's four doublings must give the image size.
pub fn check_supported(h: &Hyper) -> Result<()> {
    let ok = match h.head_kind {
        HeadKind::Light => h.patch.is_power_of_two(),
        HeadKind::Pup => h.patch == 16,
    };
    if !ok {
        return Err(Error::Inconsistent { what: "fixed-point head needs power-of-two resize factors" });
    }
    Ok(())
}

/// Runs `task`'s head on the backbone output `x` (`[T, D]`, cls first) into the raw `out [C, H, W]`.
pub fn run(
    ctx: &Ctx<'_, '_>,
    task: u32,
    x: &[i32],
    work: &mut [i32],
    out: &mut [i32],
    trace: &mut dyn Trace,
) -> Result<()> {
    let h = *ctx.bundle.hyper();
    let p = ctx.profile;
    let (wa, fa) = (u32::from(p.act.width), p.fa());
    let u = |v: u32| v as usize;
    let (n, d) = (u(h.patches()), u(h.dim));
    let l = ctx.layout;
    let mut r = work;
    let (mut ping, mut pong) = take(&mut r, l.map)?.split_at_mut(l.map / 2);
    let col = take(&mut r, l.col)?;
    let row = take(&mut r, l.conv_row)?;
    let channels = ctx.bundle.task(task)?.out_channels;
    let key = |kind, j| TensorKey::head(kind, task, j);
    let (g, s) = (vector(ctx.bundle, key(K::HeadLnG, 0))?, vector(ctx.bundle, key(K::HeadLnB, 0))?);
    let ln = LayerNormCfg { rows: n, cols: d, wa, fa, fb: p.bias.frac() as u32, eps: ctx.consts.eps };
    layer_norm(&ln, &x[d..(n + 1) * d], g.values, s.values, pong)?;
    for (q, tok) in pong[..n * d].chunks_exact(d).enumerate() {
        for (c, &v) in tok.iter().enumerate() {
            ping[c * n + q] = v;
        }
    }
    trace.record(Point::at(Kind::HeadLn, 0), &ping[..n * d]);
    let (mut fh, mut fw) = (u(h.grid_h()), u(h.grid_w()));
    let convs = h.head_kind.conv_count();
    for j in 0..convs {
        let (cin, cout) = head_conv_channels(&h, j, channels);
        let k = h.head_kind.conv_kernel(j) as usize;
        let cfg = ConvCfg { cin: u(cin), cout: u(cout), h: fh, w: fw, k, relu: j + 1 < convs, wa, fa };
        let (w, b) = (matrix(ctx.bundle, key(K::HeadConvW, j))?, vector(ctx.bundle, key(K::HeadConvB, j))?);
        let mut cw = ConvWork { col: &mut *col, row: &mut *row };
        conv(&cfg, ping, &w, &b, pong, &mut cw)?;
        let map = cfg.cout * fh * fw;
        trace.record(Point::at(Kind::HeadConv, j), &pong[..map]);
        if h.head_kind.upsamples_after(j) {
            resize(pong, cfg.cout, fh, fw, 2, ping)?;
            (fh, fw) = (2 * fh, 2 * fw);
            trace.record(Point::at(Kind::HeadUp, j), &ping[..4 * map]);
        } else {
            core::mem::swap(&mut ping, &mut pong);
        }
    }
    resize(ping, u(channels), fh, fw, u(h.image_h) / fh, out)?;
    trace.record(Point::at(Kind::HeadOut, 0), out);
    Ok(())
}

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
