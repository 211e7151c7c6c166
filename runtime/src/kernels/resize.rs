//! Bilinear resizing with `align_corners = false` (ONNX `Resize`, mode `linear`, `half_pixel`; PyTorch's
//! `interpolate(..., align_corners=False)`): the source coordinate of output `i` is
//! `(i + 0.5)·(in/out) − 0.5`, clamped to `[0, in − 1]`, and the right/bottom neighbour is clamped to the
//! edge.

use super::need;
use crate::Result;

/// Output columns whose source coordinates are computed once and reused for every channel and row.
const CHUNK: usize = 128;

/// Source index pair and weight of the second one, for output coordinate `i` (`scale = in/out`).
#[inline]
fn source(i: usize, inp: usize, scale: f32) -> (usize, usize, f32) {
    let x = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (inp - 1) as f32);
    let x0 = x as usize;
    let x1 = (x0 + 1).min(inp - 1);
    (x0, x1, x - x0 as f32)
}

fn check(input: &[f32], c: usize, h: usize, w: usize, out: &[f32], h2: usize, w2: usize) -> Result<()> {
    need("resize input", input.len(), c * h * w)?;
    need("resize output", out.len(), c * h2 * w2)?;
    if (h == 0 || w == 0) && h2 * w2 > 0 {
        return Err(crate::Error::ShapeMismatch { what: "resize input size", expected: 1, found: 0 });
    }
    Ok(())
}

/// Resizes `input [c × h × w]` into `out [c × h2 × w2]` (f32 weights; column coordinates computed once
/// per chunk of `CHUNK` output columns).
pub fn resize_bilinear(
    input: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    h2: usize,
    w2: usize,
) -> Result<()> {
    resize_bilinear_rows(input, c, h, w, out, h2, w2, 0..h2)
}

/// Rows `rows` of [`resize_bilinear`]'s `c × h2 × w2` output into `out` (`[c][rows.len()][w2]`): the same
/// values as those rows of the whole output.
#[allow(clippy::too_many_arguments)]
pub fn resize_bilinear_rows(
    input: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    h2: usize,
    w2: usize,
    rows: core::ops::Range<usize>,
) -> Result<()> {
    if rows.start > rows.end || rows.end > h2 {
        return Err(crate::Error::ShapeMismatch { what: "resize output rows", expected: h2, found: rows.end });
    }
    check(input, c, h, w, out, rows.len(), w2)?;
    if c == 0 || rows.is_empty() || w2 == 0 {
        return Ok(());
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx512() {
        // Safety: the CPU has AVX-512F, AVX2 and FMA (checked just above).
        unsafe { rows_avx512(input, c, h, w, out, h2, w2, rows) };
        return Ok(());
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx2() {
        // Safety: the CPU has AVX2 and FMA (checked just above).
        unsafe { rows_avx2(input, c, h, w, out, h2, w2, rows) };
        return Ok(());
    }
    rows_all(input, c, h, w, out, h2, w2, rows);
    Ok(())
}

/// [`rows_all`] compiled for AVX2 (the same operations, no fused multiply-adds: the portable result bit
/// for bit).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_avx2(
    input: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    h2: usize,
    w2: usize,
    rows: core::ops::Range<usize>,
) {
    rows_all(input, c, h, w, out, h2, w2, rows);
}

/// [`rows_all`] compiled for AVX-512F (as [`rows_avx2`], sixteen lanes).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn rows_avx512(
    input: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    h2: usize,
    w2: usize,
    rows: core::ops::Range<usize>,
) {
    rows_all(input, c, h, w, out, h2, w2, rows);
}

/// The loop of [`resize_bilinear_rows`] on checked arguments (`c`, `w2` and the rows not empty), inlined
/// into each CPU build.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_all(
    input: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    h2: usize,
    w2: usize,
    rows: core::ops::Range<usize>,
) {
    let oh = rows.len();
    let (sy, sx) = (h as f32 / h2 as f32, w as f32 / w2 as f32);
    let (mut xs0, mut xs1, mut lxs) = ([0usize; CHUNK], [0usize; CHUNK], [0f32; CHUNK]);
    for x_start in (0..w2).step_by(CHUNK) {
        let n = CHUNK.min(w2 - x_start);
        for i in 0..n {
            (xs0[i], xs1[i], lxs[i]) = source(x_start + i, w, sx);
        }
        let cols = Columns { x0: &xs0[..n], x1: &xs1[..n], weight: &lxs[..n] };
        for ch in 0..c {
            let plane = &input[ch * h * w..(ch + 1) * h * w];
            let mut lines = Lines::default();
            for (r, y) in rows.clone().enumerate() {
                let (y0, y1, ly) = source(y, h, sy);
                let (top, bottom) = lines.pair(plane, w, y0, y1, &cols);
                let dst = &mut out[(ch * oh + r) * w2 + x_start..][..n];
                for ((o, &t), &b) in dst.iter_mut().zip(&top[..n]).zip(&bottom[..n]) {
                    *o = t + (b - t) * ly;
                }
            }
        }
    }
}

/// Source columns and weights of one chunk of output columns.
struct Columns<'a> {
    x0: &'a [usize],
    x1: &'a [usize],
    weight: &'a [f32],
}

/// Two source rows of one channel, already interpolated along the chunk's columns: consecutive output
/// rows share their source rows (each is used by about four when doubling), so each is interpolated once.
struct Lines {
    rows: [Option<usize>; 2],
    values: [[f32; CHUNK]; 2],
}

impl Default for Lines {
    fn default() -> Self {
        Self { rows: [None; 2], values: [[0.0; CHUNK]; 2] }
    }
}

impl Lines {
    /// Source rows `y0` and `y1` interpolated along the columns (the same row twice when they are equal).
    fn pair(&mut self, plane: &[f32], w: usize, y0: usize, y1: usize, cols: &Columns<'_>) -> (&[f32], &[f32]) {
        // Row y1 may already be cached: keep it while y0 is fetched.
        let held = self.rows.iter().position(|&r| r == Some(y1));
        let a = self.slot(plane, w, y0, held, cols);
        let b = self.slot(plane, w, y1, Some(a), cols);
        (&self.values[a], &self.values[b])
    }

    /// The slot holding source row `y`, interpolating it into a slot other than `keep` if neither holds it.
    fn slot(&mut self, plane: &[f32], w: usize, y: usize, keep: Option<usize>, cols: &Columns<'_>) -> usize {
        if let Some(s) = self.rows.iter().position(|&r| r == Some(y)) {
            return s;
        }
        let s = if keep == Some(0) { 1 } else { 0 };
        let line = &plane[y * w..(y + 1) * w];
        let dst = &mut self.values[s][..cols.x0.len()];
        for (((o, &x0), &x1), &lx) in dst.iter_mut().zip(cols.x0).zip(cols.x1).zip(cols.weight) {
            *o = line[x0] + (line[x1] - line[x0]) * lx;
        }
        self.rows[s] = Some(y);
        s
    }
}

/// The reference of [`resize_bilinear`]: the four-neighbour weighted sum in f64.
pub fn resize_bilinear_ref(
    input: &[f32],
    c: usize,
    h: usize,
    w: usize,
    out: &mut [f32],
    h2: usize,
    w2: usize,
) -> Result<()> {
    check(input, c, h, w, out, h2, w2)?;
    let src = |i: usize, n: usize, m: usize| -> (usize, usize, f64) {
        let x = ((i as f64 + 0.5) * n as f64 / m as f64 - 0.5).clamp(0.0, (n - 1) as f64);
        let x0 = libm::floor(x) as usize;
        (x0, (x0 + 1).min(n - 1), x - x0 as f64)
    };
    for ch in 0..c {
        for y in 0..h2 {
            let (y0, y1, ly) = src(y, h, h2);
            for x in 0..w2 {
                let (x0, x1, lx) = src(x, w, w2);
                let at = |yy: usize, xx: usize| f64::from(input[(ch * h + yy) * w + xx]);
                let v = at(y0, x0) * (1.0 - ly) * (1.0 - lx)
                    + at(y0, x1) * (1.0 - ly) * lx
                    + at(y1, x0) * ly * (1.0 - lx)
                    + at(y1, x1) * ly * lx;
                out[(ch * h2 + y) * w2 + x] = v as f32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_close, fast_vs_ref, random_vec};

    #[test]
    fn two_by_two_doubled_by_hand() {
        // Sources for 2 → 4: −0.25→0 (clamped), 0.25, 0.75, 1.25→1 (neighbour clamped).
        let mut out = [0.0; 16];
        resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 1, 2, 2, &mut out, 4, 4).unwrap();
        assert_close(&out[..4], &[0.0, 0.25, 0.75, 1.0], 1e-7);
        assert_close(&out[4..8], &[0.5, 0.75, 1.25, 1.5], 1e-7);
        assert_close(&out[12..], &[2.0, 2.25, 2.75, 3.0], 1e-7);
    }

    #[test]
    fn identity_and_single_pixel() {
        // Same size: the identity. One output pixel from 2×2: source 0.5 → the mean.
        let input = [0.0, 1.0, 2.0, 3.0];
        let mut out = [0.0; 4];
        resize_bilinear(&input, 1, 2, 2, &mut out, 2, 2).unwrap();
        assert_eq!(out, input);
        resize_bilinear(&input, 1, 2, 2, &mut out[..1], 1, 1).unwrap();
        assert_eq!(out[0], 1.5);
        assert!(resize_bilinear(&input, 1, 2, 2, &mut out, 3, 3).is_err());
        assert!(resize_bilinear(&[], 1, 0, 2, &mut out, 1, 1).is_err());
        assert!(resize_bilinear_rows(&input, 1, 2, 2, &mut out, 2, 2, 1..3).is_err());
        assert!(resize_bilinear_rows(&input, 1, 2, 2, &mut out[..1], 2, 2, 1..2).is_err());
    }

    fast_vs_ref!(
        fast_matches_reference,
        cases = 48,
        (
            c in 1usize..=3,
            h in 1usize..=9,
            w in 1usize..=9,
            h2 in 1usize..=20,
            w2 in 1usize..=300,
            cut in 0usize..20,
            len in 0usize..=20
        ),
        |rng| {
            let input = random_vec(rng, c * h * w);
            let (mut fast, mut slow) = (vec![0.0; c * h2 * w2], vec![0.0; c * h2 * w2]);
            resize_bilinear(&input, c, h, w, &mut fast, h2, w2).unwrap();
            resize_bilinear_ref(&input, c, h, w, &mut slow, h2, w2).unwrap();
            assert_close(&fast, &slow, 1e-5);
            // Any band of rows on its own: exactly those rows of the whole output.
            let (a, b) = (cut % h2, (cut % h2 + len).min(h2));
            let mut part = vec![f32::NAN; c * (b - a) * w2];
            resize_bilinear_rows(&input, c, h, w, &mut part, h2, w2, a..b).unwrap();
            let whole: Vec<f32> =
                (0..c).flat_map(|ch| fast[(ch * h2 + a) * w2..(ch * h2 + b) * w2].to_vec()).collect();
            assert_eq!(part, whole);
            // Each build called directly: the portable result bit for bit (skipped where the CPU lacks it).
            let mut portable = vec![0.0; c * h2 * w2];
            rows_all(&input, c, h, w, &mut portable, h2, w2, 0..h2);
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let mut got = vec![0.0; c * h2 * w2];
                // Safety: AVX2 and FMA were detected just above.
                unsafe { rows_avx2(&input, c, h, w, &mut got, h2, w2, 0..h2) };
                assert_eq!(got, portable);
            }
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if crate::kernels::simd::avx512_detected() {
                let mut got = vec![0.0; c * h2 * w2];
                // Safety: AVX-512F, AVX2 and FMA were detected just above.
                unsafe { rows_avx512(&input, c, h, w, &mut got, h2, w2, 0..h2) };
                assert_eq!(got, portable);
            } else {
                std::eprintln!("resize fast_matches_reference: AVX-512 build skipped, this CPU has no AVX-512F");
            }
        }
    );
}
