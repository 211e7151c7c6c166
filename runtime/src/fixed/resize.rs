//! Bilinear resizing by a power-of-two factor (`align_corners = false`) in exact integer weights
//! (`docs/fixed-point.md`, "Bilinear resize"). Mirrors `hls/include/m3rt/resize.h`.

use crate::{Error, Result};

/// The source index pair and the weight numerator of the second, for output index `o` of an axis resized
/// `n_in → s·n_in`, with weights over `2s`.
#[inline]
pub fn source(o: usize, s: usize, n_in: usize) -> (usize, usize, i64) {
    let num = 2 * o as i64 + 1 - s as i64;
    let l = 2 * s as i64;
    let (i0, lam) = if num < 0 { (0, 0) } else { ((num / l) as usize, num % l) };
    let i0 = i0.min(n_in - 1);
    ((i0), (i0 + 1).min(n_in - 1), lam)
}

/// Resizes `input [c, h, w]` by `factor` (a power of two) on both axes into `out [c, factor·h, factor·w]`.
pub fn resize(input: &[i32], c: usize, h: usize, w: usize, factor: usize, out: &mut [i32]) -> Result<()> {
    if !factor.is_power_of_two() {
        return Err(Error::Inconsistent { what: "fixed-point resize factor is not a power of two" });
    }
    let (h2, w2) = (h * factor, w * factor);
    if h == 0 || w == 0 || input.len() < c * h * w || out.len() < c * h2 * w2 {
        return Err(Error::ShapeMismatch { what: "resize", expected: c * h2 * w2, found: out.len() });
    }
    let l = 2 * factor as i64;
    let shift = 2 * l.trailing_zeros();
    for ch in 0..c {
        let src = &input[ch * h * w..(ch + 1) * h * w];
        let dst = &mut out[ch * h2 * w2..(ch + 1) * h2 * w2];
        for oy in 0..h2 {
            let (y0, y1, ly) = source(oy, factor, h);
            for ox in 0..w2 {
                let (x0, x1, lx) = source(ox, factor, w);
                let v = |y: usize, x: usize| i64::from(src[y * w + x]);
                let sum = (l - ly) * (l - lx) * v(y0, x0)
                    + (l - ly) * lx * v(y0, x1)
                    + ly * (l - lx) * v(y1, x0)
                    + ly * lx * v(y1, x1);
                dst[oy * w2 + ox] = (sum >> shift) as i32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_doubled_by_hand() {
        // [[0, 4], [8, 12]] ×2: rows/cols weigh (3/4, 1/4) towards the nearer source, edges clamp.
        // Row 0: [0, 1, 3, 4]; row 1: 0.75·row0 + 0.25·row1' = [2, 3, 5, 6]; row 2 = [6, 7, 9, 10];
        // row 3 = [8, 9, 11, 12].
        let mut out = [0; 16];
        resize(&[0, 4, 8, 12], 1, 2, 2, 2, &mut out).unwrap();
        assert_eq!(out, [0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12]);
        assert!(resize(&[0; 4], 1, 2, 2, 3, &mut [0; 36]).is_err());
    }

    #[test]
    fn matches_the_float_resize_on_exact_values() {
        // Values that are multiples of 64 resize without truncation, so the float kernel must agree.
        let (c, h, w, s) = (2, 3, 5, 4);
        let input: Vec<i32> = (0..c * h * w).map(|i| ((i * 37 % 23) as i32 - 11) * 64).collect();
        let mut out = vec![0; c * h * w * s * s];
        resize(&input, c, h, w, s, &mut out).unwrap();
        let fin: Vec<f32> = input.iter().map(|&v| v as f32).collect();
        let mut fout = vec![0f32; out.len()];
        crate::kernels::resize::resize_bilinear(&fin, c, h, w, &mut fout, h * s, w * s).unwrap();
        for (a, b) in out.iter().zip(&fout) {
            assert_eq!(*a as f32, *b);
        }
    }
}
