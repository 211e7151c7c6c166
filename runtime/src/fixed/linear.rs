//! The linear unit: every matrix product of the model (qkv, proj, dense and expert FFNs, gates, the patch
//! embedding and the head's convolutions) is `y[t][n] = Σ_c a[t][c] · W[c][n] (+ bias[n])` on raw
//! activations, exactly as `docs/fixed-point.md` ("Linear unit") defines it. Mirrors
//! `hls/include/m3rt/linear.h`.

use super::int::to_act;
use crate::{Error, Result};

/// A weight matrix as stored, borrowed from the bundle.
#[derive(Clone, Copy, Debug)]
pub enum Weights<'a> {
    /// 16-bit raw values with `frac` fraction bits.
    Q16 {
        /// Raw values.
        values: &'a [i16],
        /// Fraction bits of their format.
        frac: u32,
    },
    /// int8 values with mantissa-and-shift scales (`fixed::quant::Int8Scale` words).
    Q8 {
        /// The values.
        values: &'a [i8],
        /// One scale word per output channel, or one for the whole matrix.
        scales: &'a [u32],
    },
}

/// A bias vector: 16-bit raw values with `frac` fraction bits.
#[derive(Clone, Copy, Debug)]
pub struct Bias<'a> {
    /// Raw values, one per output column.
    pub values: &'a [i16],
    /// Fraction bits of their format.
    pub frac: u32,
}

/// How a matrix's elements are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[in, out]`: element `(c, n)` at `c · out + n` (linear layers, experts, gates).
    InOut,
    /// `[out, in]`: element `(c, n)` at `n · in + c` (convolutions, the patch embedding).
    OutIn,
}

/// One invocation of the linear unit.
#[derive(Clone, Copy, Debug)]
pub struct LinearCfg {
    /// Input rows (tokens or pixels).
    pub rows: usize,
    /// Input columns `in`.
    pub cols_in: usize,
    /// Output columns `out`.
    pub cols_out: usize,
    /// Activation width `Wa`.
    pub wa: u32,
    /// Activation fraction bits `Fa`.
    pub fa: u32,
    /// The weights' layout.
    pub layout: Layout,
}

/// Output columns accumulated at once for `[in, out]` matrices.
const TILE: usize = 64;

impl LinearCfg {
    fn check(&self, a: &[i32], w: &Weights<'_>, bias: Option<&Bias<'_>>, y: &[i32]) -> Result<()> {
        let (r, i, o) = (self.rows, self.cols_in, self.cols_out);
        let short = |what, expected, found| Err(Error::ShapeMismatch { what, expected, found });
        if a.len() < r * i {
            return short("linear input", r * i, a.len());
        }
        if y.len() < r * o {
            return short("linear output", r * o, y.len());
        }
        let n = match w {
            Weights::Q16 { values, .. } => values.len(),
            Weights::Q8 { values, scales } => {
                if scales.len() != 1 && scales.len() < o {
                    return short("linear int8 scales", o, scales.len());
                }
                values.len()
            }
        };
        if n < i * o {
            return short("linear weights", i * o, n);
        }
        if let Some(b) = bias {
            if b.values.len() < o {
                return short("linear bias", o, b.values.len());
            }
        }
        Ok(())
    }
}

/// The bias of column `n` at `frac` fraction bits (0 without a bias).
#[inline(always)]
fn bias_at(bias: Option<&Bias<'_>>, n: usize, frac: u32) -> i64 {
    match bias {
        Some(b) => i64::from(b.values[n]) << (frac - b.frac),
        None => 0,
    }
}

/// The output of column `n` from its exact sum `acc`.
#[inline(always)]
fn finish(cfg: &LinearCfg, w: &Weights<'_>, bias: Option<&Bias<'_>>, n: usize, acc: i64) -> i32 {
    match *w {
        Weights::Q16 { frac, .. } => {
            let acc = acc.wrapping_add(bias_at(bias, n, cfg.fa + frac));
            to_act(acc >> frac, cfg.wa)
        }
        Weights::Q8 { scales, .. } => {
            let word = if scales.len() == 1 { scales[0] } else { scales[n] };
            let (m, s) = (i128::from(word & 0xffff), (word >> 16) & 0x3f);
            let u = ((i128::from(acc) * m) >> s) as i64;
            to_act(u.wrapping_add(bias_at(bias, n, cfg.fa)), cfg.wa)
        }
    }
}

/// `y = a · W (+ bias)` for `cfg.rows` rows (`a` is `[rows, in]`, `y` is `[rows, out]`).
pub fn linear(cfg: &LinearCfg, a: &[i32], w: &Weights<'_>, bias: Option<&Bias<'_>>, y: &mut [i32]) -> Result<()> {
    cfg.check(a, w, bias, y)?;
    if let Some(b) = bias {
        let top = match w {
            Weights::Q16 { frac, .. } => cfg.fa + frac,
            Weights::Q8 { .. } => cfg.fa,
        };
        if b.frac > top {
            return Err(Error::Inconsistent { what: "bias has more fraction bits than the accumulator" });
        }
    }
    let (i, o) = (cfg.cols_in, cfg.cols_out);
    for (row, out) in a.chunks_exact(i.max(1)).zip(y.chunks_exact_mut(o.max(1))).take(cfg.rows) {
        match cfg.layout {
            Layout::OutIn => {
                for (n, yn) in out.iter_mut().enumerate() {
                    let acc = match *w {
                        Weights::Q16 { values, .. } => dot16(row, &values[n * i..(n + 1) * i]),
                        Weights::Q8 { values, .. } => dot8(row, &values[n * i..(n + 1) * i]),
                    };
                    *yn = finish(cfg, w, bias, n, acc);
                }
            }
            Layout::InOut => {
                for n0 in (0..o).step_by(TILE) {
                    let cols = TILE.min(o - n0);
                    let mut acc = [0i64; TILE];
                    for (c, &x) in row.iter().enumerate() {
                        let x = i64::from(x);
                        match *w {
                            Weights::Q16 { values, .. } => {
                                let wr = &values[c * o + n0..][..cols];
                                for (s, &v) in acc.iter_mut().zip(wr) {
                                    *s = s.wrapping_add(x * i64::from(v));
                                }
                            }
                            Weights::Q8 { values, .. } => {
                                let wr = &values[c * o + n0..][..cols];
                                for (s, &v) in acc.iter_mut().zip(wr) {
                                    *s = s.wrapping_add(x * i64::from(v));
                                }
                            }
                        }
                    }
                    for (k, yn) in out[n0..n0 + cols].iter_mut().enumerate() {
                        *yn = finish(cfg, w, bias, n0 + k, acc[k]);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `Σ a·w` over 16-bit weights, wrapping.
#[inline]
pub fn dot16(a: &[i32], w: &[i16]) -> i64 {
    a.iter().zip(w).fold(0i64, |s, (&x, &v)| s.wrapping_add(i64::from(x) * i64::from(v)))
}

/// `Σ a·q` over int8 weights, wrapping.
#[inline]
pub fn dot8(a: &[i32], w: &[i8]) -> i64 {
    a.iter().zip(w).fold(0i64, |s, (&x, &v)| s.wrapping_add(i64::from(x) * i64::from(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::ap::{Format, Fx};

    const A: Format = Format::signed(32, 10);
    const W: Format = Format::signed(16, 2);
    const B: Format = Format::signed(16, 5);

    /// The same product through `Fx`: exact sum of exact products, plus the bias, cast to the activation.
    fn reference(a: &[i32], w: &[i16], b: &[i16], i: usize, o: usize) -> Vec<i32> {
        (0..o)
            .map(|n| {
                let mut acc = Fx::zero(Format::signed(64, 28));
                for c in 0..i {
                    let p = Fx::from_raw(a[c].into(), A).mul(Fx::from_raw(w[c * o + n].into(), W));
                    acc = acc.add(p).cast(Format::signed(64, 28));
                }
                let s = acc.add(Fx::from_raw(b[n].into(), B));
                s.cast(A).raw() as i32
            })
            .collect()
    }

    #[test]
    fn two_by_two_by_hand() {
        // a = [1.5, -0.25], W = [[0.5, 1], [2^-14, -1]], b = [0.125, 0]: y = [0.875 - 2^-16, 1.75].
        let a = [(1.5 * 4194304.0) as i32, -(1 << 20)];
        let w = [8192i16, 16384, 1, -16384];
        let b = [256i16, 0];
        let mut y = [0i32; 2];
        let cfg = LinearCfg { rows: 1, cols_in: 2, cols_out: 2, wa: 32, fa: 22, layout: Layout::InOut };
        let bias = Bias { values: &b, frac: 11 };
        linear(&cfg, &a, &Weights::Q16 { values: &w, frac: 14 }, Some(&bias), &mut y).unwrap();
        // 0.75 + 0.125 - 2^-16 = 0.875 - 2^-16 → floor to 2^-22 units: 3670016 - 64 = 3669952.
        assert_eq!(y, [3_669_952, 7_340_032]);
        assert_eq!(y.to_vec(), reference(&a, &w, &b, 2, 2));
        // The same matrix transposed gives the same bits.
        let wt = [8192i16, 1, 16384, -16384];
        let mut yt = [0i32; 2];
        let cfg_t = LinearCfg { layout: Layout::OutIn, ..cfg };
        linear(&cfg_t, &a, &Weights::Q16 { values: &wt, frac: 14 }, Some(&bias), &mut yt).unwrap();
        assert_eq!(yt, y);
    }

    #[test]
    fn int8_scales_apply_after_the_sum() {
        // q = [[2], [-3]], scale m = 0x8000, s = 20 (2^-5): W = [1/16, -3/32]; a = [1, 1] → -1/32.
        let a = [1 << 22, 1 << 22];
        let q = [2i8, -3];
        let word = 0x8000 | 20 << 16;
        let mut y = [0i32; 1];
        let cfg = LinearCfg { rows: 1, cols_in: 2, cols_out: 1, wa: 32, fa: 22, layout: Layout::InOut };
        linear(&cfg, &a, &Weights::Q8 { values: &q, scales: &[word] }, None, &mut y).unwrap();
        assert_eq!(y, [-(1 << 17)]);
    }

    #[test]
    fn random_products_match_ap_fixed() {
        let mut s = 12345u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (i, o) = (70, 67);
        let a: Vec<i32> = (0..i).map(|_| next() as i32 >> 4).collect();
        let w: Vec<i16> = (0..i * o).map(|_| next() as i16).collect();
        let b: Vec<i16> = (0..o).map(|_| next() as i16).collect();
        let mut y = vec![0; o];
        let cfg = LinearCfg { rows: 1, cols_in: i, cols_out: o, wa: 32, fa: 22, layout: Layout::InOut };
        linear(&cfg, &a, &Weights::Q16 { values: &w, frac: 14 }, Some(&Bias { values: &b, frac: 11 }), &mut y).unwrap();
        assert_eq!(y, reference(&a, &w, &b, i, o));
    }
}
