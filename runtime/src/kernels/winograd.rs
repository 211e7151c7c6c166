//! 3×3 convolution, stride 1, padding 1 (one image, NCHW), by Winograd's minimal filtering F(4×4, 3×3)
//! (Lavin & Gray 2016): 36 multiplies per 4×4 output tile and channel pair instead of 144, so the GEMM work
//! is a quarter of im2col's.
//!
//! Algorithm. The output is cut into 4×4 tiles; tile `t` reads the 6×6 input patch `d` starting one row
//! and one column above-left of it (zeros outside the image: the padding). Each filter becomes
//! `U = G g Gᵀ` and each patch `V = Bᵀ d B` (6×6 each); for each of the 36 positions `ξ` one GEMM
//! `M[ξ] = U[ξ] · V[ξ]` (`cout × cin` by `cin × tiles`) sums over the input channels, and the output tile
//! is `Y = Aᵀ M A` plus the bias, clipped at the right and bottom edges. The GEMMs go through [`matmul`],
//! so the AVX2 kernels run on hosts and the portable ones on boards.
//!
//! Points. Lavin & Gray's 0, ±1, ±2, ∞ ([`Lavin`]) give
//!
//! ```text
//!      ⎡4  0 −5  0  1  0⎤        ⎡ 1/4    0     0 ⎤        ⎡1  1  1  1  1  0⎤
//!      ⎢0 −4 −4  1  1  0⎥        ⎢−1/6 −1/6  −1/6 ⎥   Aᵀ = ⎢0  1 −1  2 −2  0⎥
//! Bᵀ = ⎢0  4 −4 −1  1  0⎥    G = ⎢−1/6  1/6  −1/6 ⎥        ⎢0  1  1  4  4  0⎥
//!      ⎢0 −2 −1  2  1  0⎥        ⎢1/24 1/12   1/6 ⎥        ⎣0  1 −1  8 −8  1⎦
//!      ⎢0  2 −1 −2  1  0⎥        ⎢1/24 −1/12  1/6 ⎥
//!      ⎣0  4  0 −5  0  1⎦        ⎣  0     0     1 ⎦
//! ```
//!
//! but `Aᵀ ⊗ Aᵀ` reaches 64 and `Bᵀ ⊗ Bᵀ` 25, so rounding in `M` is amplified. [`conv3x3_rows`] uses
//! 0, ±1, 1/2, −2, ∞ instead ([`Mixed`], matrices in its documentation; derived by Toom–Cook and checked
//! exactly in rationals): one large point and one small one balance the growth of `Aᵀ` (now up to 8·1 and
//! 1/8) against `G`'s, for about the same operation count. ±1/2 for both was no better than ±2.
//!
//! Error. Measured against the f64 reference on uniform ±1 data with 256 input channels (the head's
//! layers), as max `|err| / max(1, |ref|)`: im2col + GEMM 1.7e-5, [`Lavin`] 3.9e-4, [`Mixed`] 1.3e-4
//! (`error_at_256_channels` prints them). The kernel tests allow 1e-3 on that data. On the real model
//! (m3vit-t, conv2 and conv3 by Winograd) the end-to-end error against onnxruntime goes from 2.2e-6 to
//! 2.7e-6, far inside the 1e-4 parity bound: trained-like weights are small and the outputs average
//! many tiles.
//!
//! Memory. The filters are transformed once per call into `36·cout'·cin` floats (`cout'` is `cout`
//! rounded up to whole GEMM micro-panels), or once for many calls ([`transform_filters`], then
//! [`conv3x3_rows_from_filters`]: a layer computed strip by strip). They are written straight into the
//! layout the GEMM build reads without repacking ([`gemm::PackedLayout`]): repacking them for every band
//! and position was 13% of conv3's time. The image is processed in bands of
//! `nb` consecutive tiles (row-major tile order, `nb` a multiple of 8): the band's transformed input
//! (`36·cin·nb`) and GEMM outputs (`36·cout·nb`) are the rest of the scratch, bounded by `BAND_BUDGET`
//! (4.5 MiB) whatever the map size. [`scratch_len`] gives the total: 3.5 M floats (14.2 MB) for
//! m3vit-t's conv3. Transforming the filters in blocks of output channels inside every band instead
//! would need a third of that, but was measured 1.5× slower on that layer: the 36 scattered streams of
//! transformed filters, written again for every band, cost more than the GEMM saves.
//!
//! The transforms work on eight tiles (or channels, for the filters) at once in fixed-size arrays, which
//! the compiler vectorises; on x86-64 with `std` the same code is also compiled for AVX2 and chosen at run
//! time. It never fuses a multiply and an add, so both builds give the same bits.

use core::ops::Range;

use super::conv::ConvShape;
use super::gemm::{self, PackedLayout, MAX_INTERLEAVE};
use super::need;
use crate::Result;

/// Lanes of the transform arrays.
const L: usize = 8;
/// Largest transformed-input plus GEMM-output band, in floats (4.5 MiB: 64 tiles of a 256 → 256 layer),
/// unless one group of lanes needs more.
const BAND_BUDGET: usize = 36 * 512 * 64;

/// The point set [`conv3x3_rows`] uses.
type Chosen = Mixed;

/// Eight lanes: eight tiles (or input channels, for the filters) side by side, so every transform is
/// written once on vectors and runs as SIMD.
#[derive(Clone, Copy, Debug, Default)]
pub struct V(pub [f32; L]);

impl core::ops::Add for V {
    type Output = V;
    #[inline(always)]
    fn add(self, o: V) -> V {
        V(core::array::from_fn(|i| self.0[i] + o.0[i]))
    }
}

impl core::ops::Sub for V {
    type Output = V;
    #[inline(always)]
    fn sub(self, o: V) -> V {
        V(core::array::from_fn(|i| self.0[i] - o.0[i]))
    }
}

impl core::ops::Mul<f32> for V {
    type Output = V;
    #[inline(always)]
    fn mul(self, k: f32) -> V {
        V(self.0.map(|x| x * k))
    }
}

impl core::ops::Mul<V> for f32 {
    type Output = V;
    #[inline(always)]
    fn mul(self, v: V) -> V {
        V(v.0.map(|x| self * x))
    }
}

/// An all-zero tile of vectors.
const fn zeros<const N: usize>() -> [[V; N]; N] {
    [[V([0.0; L]); N]; N]
}

/// True when [`conv2d`](super::conv::conv2d) takes the Winograd path: 3×3, stride 1, padding 1, both
/// channel counts at least 64 and at least 64 tiles (32×32 outputs): below that the transforms and the
/// small GEMMs cost more than the multiplies they save (m3vit-t's head: conv2 and conv3, not conv0/conv1).
/// Used by both `conv2d` and `conv2d_scratch_len`, so the scratch always matches.
pub const fn pays(s: &ConvShape) -> bool {
    let tiles = s.h.div_ceil(4).saturating_mul(s.w.div_ceil(4));
    s.k == 3 && s.stride == 1 && s.pad == 1 && s.cin >= 64 && s.cout >= 64 && tiles >= 64
}

/// Tiles per band for `cin → cout` channels over `tiles` tiles: bands of equal size within the budget, a
/// multiple of the lane count (at least one group of lanes), so every transform loads and stores whole
/// lane vectors. Never more than `fit(cin, cout)` nor `tiles` rounded up.
fn band_tiles(cin: usize, cout: usize, tiles: usize) -> usize {
    let fit = fit(cin, cout);
    let bands = tiles.div_ceil(fit).max(1);
    tiles.div_ceil(bands).div_ceil(L).max(1) * L
}

/// The most tiles, a multiple of the lane count, whose transformed input and GEMM outputs fit the budget.
fn fit(cin: usize, cout: usize) -> usize {
    (BAND_BUDGET / ConvShape::prod(&[36, cin.saturating_add(cout)]).max(1) / L).max(1) * L
}

/// Floats of the transformed filters of shape `s` ([`transform_filters`]): 36 packed `cout × cin`
/// matrices.
pub fn filters_len(s: &ConvShape) -> usize {
    gemm::packed_len(s.cout, s.cin).saturating_mul(36)
}

/// Transformed filters ([`transform_filters`]): `U[ξ]` for the 36 positions, each a packed `cout × cin`
/// matrix, one after the other.
#[derive(Clone, Copy, Debug)]
pub struct Filters<'a> {
    u: &'a [f32],
    layout: PackedLayout,
}

/// Floats of one band's transformed input and GEMM outputs for shape `s`, on any of its rows.
pub fn band_len(s: &ConvShape) -> usize {
    let tiles = ConvShape::prod(&[s.h.div_ceil(4), s.w.div_ceil(4)]);
    let nb = fit(s.cin, s.cout).min(tiles.div_ceil(L).max(1) * L);
    ConvShape::prod(&[36, s.cin.saturating_add(s.cout), nb])
}

/// Scratch floats [`conv3x3_rows`] needs for shape `s` (its `k`, `stride` and `pad` are
/// taken as 3, 1, 1): the transformed filters and one band.
pub fn scratch_len(s: &ConvShape) -> usize {
    filters_len(s).saturating_add(band_len(s))
}

/// The input rows [`conv3x3_rows`] reads for output rows `rows` of an `h`-row map: the 6-row patches of
/// the 4-row tiles covering them (the rest of the input may hold anything).
pub fn input_rows(h: usize, rows: &Range<usize>) -> Range<usize> {
    if rows.is_empty() {
        return 0..0;
    }
    (rows.start / 4 * 4).saturating_sub(1)..(rows.end.div_ceil(4) * 4 + 1).min(h)
}

/// Output rows `rows` of `out[cout × h × w] = weight ⊛ input + bias` for a 3×3 kernel (`weight` is
/// `[cout][cin][3][3]`), stride 1, zero padding 1 (the shape's `k`, `stride` and `pad` are taken as such),
/// by F(4×4, 3×3) in `scratch` ([`scratch_len`] floats), into `out` (`[cout][rows.len()][w]`).
pub fn conv3x3_rows(
    s: &ConvShape,
    rows: Range<usize>,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    conv3x3_rows_with::<Chosen>(s, rows, input, weight, bias, out, scratch)
}

/// [`conv3x3_rows`] with the point set `P`.
fn conv3x3_rows_with<P: Points>(
    s: &ConvShape,
    rows: Range<usize>,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    need("winograd scratch", scratch.len(), scratch_len(s))?;
    let (u, band) = scratch.split_at_mut(filters_len(s));
    let filters = transform_filters_with::<P>(s, weight, u)?;
    rows_from_filters::<P>(s, rows, input, &filters, bias, out, band)
}

/// Transforms the filters of shape `s` once into `u` ([`filters_len`] floats), for several calls of
/// [`conv3x3_rows_from_filters`] on the same weights (a layer computed strip by strip).
pub fn transform_filters<'a>(s: &ConvShape, weight: &[f32], u: &'a mut [f32]) -> Result<Filters<'a>> {
    transform_filters_with::<Chosen>(s, weight, u)
}

/// [`conv3x3_rows`] with the filters already transformed by [`transform_filters`] into `u`, in `band` of
/// [`band_len`] floats.
pub fn conv3x3_rows_from_filters(
    s: &ConvShape,
    rows: Range<usize>,
    input: &[f32],
    filters: &Filters<'_>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    band: &mut [f32],
) -> Result<()> {
    rows_from_filters::<Chosen>(s, rows, input, filters, bias, out, band)
}

/// [`transform_filters`] with the point set `P`.
fn transform_filters_with<'a, P: Points>(s: &ConvShape, weight: &[f32], u: &'a mut [f32]) -> Result<Filters<'a>> {
    need("winograd weight", weight.len(), ConvShape::prod(&[s.cout, s.cin, 9]))?;
    need("winograd filters", u.len(), filters_len(s))?;
    let u = &mut u[..filters_len(s)];
    let layout = PackedLayout::for_this_cpu(s.cout, s.cin);
    let g = Geom { cin: s.cin, cout: s.cout, h: s.h, w: s.w, tw: 0, nb: 0, rows: 0..0 };
    run::<P>(Step::Filters { weight, layout, u: &mut *u }, &g);
    Ok(Filters { u, layout })
}

/// [`conv3x3_rows_from_filters`] with the point set `P`.
fn rows_from_filters<P: Points>(
    s: &ConvShape,
    rows: Range<usize>,
    input: &[f32],
    filters: &Filters<'_>,
    bias: Option<&[f32]>,
    out: &mut [f32],
    band: &mut [f32],
) -> Result<()> {
    let s = ConvShape { k: 3, stride: 1, pad: 1, ..*s };
    s.check_io(input, bias, out, &rows)?;
    let (fcout, fcin) = filters.layout.shape();
    if (fcout, fcin) != (s.cout, s.cin) {
        let what = "winograd filters' channels";
        return Err(crate::Error::ShapeMismatch { what, expected: s.cout * s.cin, found: fcout * fcin });
    }
    need("winograd band", band.len(), band_len(&s))?;
    let ConvShape { cin, h, w, cout, .. } = s;
    if rows.is_empty() || w == 0 || cout == 0 {
        return Ok(());
    }
    let tw = w.div_ceil(4);
    // The tiles covering the rows: whole tile rows; the output step writes only the rows asked for.
    let tiles = (rows.start / 4 * tw)..(rows.end.div_ceil(4) * tw);
    let nb = band_tiles(cin, cout, tiles.len());
    let (v, rest) = band.split_at_mut(36 * cin * nb);
    let m = &mut rest[..36 * cout * nb];
    let g = Geom { cin, cout, h, w, tw, nb, rows };
    let mut t0 = tiles.start;
    while t0 < tiles.end {
        let n = nb.min(tiles.end - t0);
        run::<P>(Step::Input { input, t0, n, v: &mut *v }, &g);
        let plen = gemm::packed_len(cout, cin);
        for xi in 0..36 {
            let (a, b) = (&filters.u[xi * plen..][..plen], &v[xi * cin * nb..]);
            gemm::matmul_packed(filters.layout, a, n, b, nb, &mut m[xi * cout * nb..], nb, false)?;
        }
        run::<P>(Step::Output { m: &*m, t0, n, bias, out: &mut *out }, &g);
        t0 += n;
    }
    Ok(())
}

/// The shape of one call.
struct Geom {
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    /// Tiles per tile row.
    tw: usize,
    /// Tiles per band (the row stride of `V[ξ]` and `M[ξ]`).
    nb: usize,
    /// The output rows written (`out` holds these rows only).
    rows: Range<usize>,
}

/// One transform pass, on slices already checked by [`conv3x3_rows`].
enum Step<'a> {
    /// `U[ξ]` from `weight`, each packed in `layout`.
    Filters { weight: &'a [f32], layout: PackedLayout, u: &'a mut [f32] },
    /// `V[ξ][ci][t]` for tiles `t0 .. t0 + n`.
    Input { input: &'a [f32], t0: usize, n: usize, v: &'a mut [f32] },
    /// The output tiles `t0 .. t0 + n` from `M[ξ][co][t]`.
    Output { m: &'a [f32], t0: usize, n: usize, bias: Option<&'a [f32]>, out: &'a mut [f32] },
}

/// Runs a step with the best build of the transforms this CPU has.
fn run<P: Points>(step: Step<'_>, g: &Geom) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx512() {
        // Safety: AVX-512F, AVX2 and FMA were detected on this CPU just above.
        unsafe { run_avx512::<P>(step, g) };
        return;
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx2() {
        // Safety: AVX2 and FMA were detected on this CPU just above.
        unsafe { run_avx2::<P>(step, g) };
        return;
    }
    run_portable::<P>(step, g);
}

/// [`run_portable`] compiled for AVX2 (the same operations, wider registers).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<P: Points>(step: Step<'_>, g: &Geom) {
    run_portable::<P>(step, g);
}

/// [`run_portable`] compiled for AVX-512F (the same operations, sixteen lanes where the loops are wide
/// enough).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<P: Points>(step: Step<'_>, g: &Geom) {
    run_portable::<P>(step, g);
}

/// The transforms themselves.
#[inline(always)]
fn run_portable<P: Points>(step: Step<'_>, g: &Geom) {
    match step {
        Step::Filters { weight, layout, u } => filters::<P>(weight, g, layout, u),
        Step::Input { input, t0, n, v } => input_band::<P>(input, g, t0, n, v),
        Step::Output { m, t0, n, bias, out } => output_band::<P>(m, g, t0, n, bias, out),
    }
}

/// `U = G g Gᵀ` for every filter, eight input channels at a time, into 36 matrices packed in `layout`:
/// the layout's interleaved output channels are transformed together, so each of the 36 matrices gets one
/// contiguous run per group (scattered single stores into the panels cost 6% of a whole m3vit-t run).
#[inline(always)]
fn filters<P: Points>(weight: &[f32], g: &Geom, layout: PackedLayout, u: &mut [f32]) {
    let (cin, cout, plen) = (g.cin, g.cout, gemm::packed_len(g.cout, g.cin));
    let group = layout.interleave();
    let mut f = zeros::<3>();
    let mut done = [[V::default(); 36]; MAX_INTERLEAVE];
    for co0 in (0..cout).step_by(group) {
        let rows = group.min(cout - co0);
        for ci0 in (0..cin).step_by(L) {
            let lanes = L.min(cin - ci0);
            for (r, out) in done.iter_mut().enumerate().take(rows) {
                if lanes < L {
                    f = zeros();
                }
                for (l, taps) in weight[((co0 + r) * cin + ci0) * 9..][..9 * lanes].chunks_exact(9).enumerate() {
                    for (i, &t) in taps.iter().enumerate() {
                        f[i / 3][i % 3].0[l] = t;
                    }
                }
                for (slot, x) in out.iter_mut().zip(sandwich(P::g, &f).iter().flatten()) {
                    *slot = *x;
                }
            }
            let at = layout.index(co0, ci0);
            for xi in 0..36 {
                let run = &mut u[xi * plen + at..][..lanes * group];
                if let (Ok(run), L, MAX_INTERLEAVE) =
                    (<&mut [f32; L * MAX_INTERLEAVE]>::try_from(&mut *run), lanes, rows)
                {
                    // The common case, with constant shapes so it compiles to straight-line moves.
                    for (l, lane) in run.chunks_exact_mut(MAX_INTERLEAVE).enumerate() {
                        for (slot, out) in lane.iter_mut().zip(&done) {
                            *slot = out[xi].0[l];
                        }
                    }
                    continue;
                }
                for (l, lane) in run.chunks_exact_mut(group).enumerate() {
                    for (slot, out) in lane.iter_mut().zip(&done[..rows]) {
                        *slot = out[xi].0[l];
                    }
                }
            }
        }
    }
}

/// `V = Bᵀ d B` for the band's tiles, eight tiles at a time.
#[inline(always)]
fn input_band<P: Points>(input: &[f32], g: &Geom, t0: usize, n: usize, v: &mut [f32]) {
    let (h, w, plane) = (g.h, g.w, g.h * g.w);
    let mut d = zeros::<6>();
    for ci in 0..g.cin {
        let src = &input[ci * plane..][..plane];
        for t in (0..n).step_by(L) {
            let lanes = L.min(n - t);
            // Interior tiles overwrite their whole patch; others start from the zero padding.
            let inside = |l: usize| {
                let (ty, tx) = ((t0 + t + l) / g.tw, (t0 + t + l) % g.tw);
                ty >= 1 && tx >= 1 && 4 * ty + 5 <= h && 4 * tx + 5 <= w
            };
            if lanes < L || !(0..L).all(inside) {
                d = zeros();
            }
            for l in 0..lanes {
                let (ty, tx) = ((t0 + t + l) / g.tw, (t0 + t + l) % g.tw);
                let (y0, x0) = ((4 * ty) as isize - 1, (4 * tx) as isize - 1);
                for (r, row) in d.iter_mut().enumerate() {
                    let iy = y0 + r as isize;
                    if iy < 0 || iy as usize >= h {
                        continue;
                    }
                    let line = &src[iy as usize * w..][..w];
                    if x0 >= 0 && x0 as usize + 6 <= w {
                        for (c, &x) in line[x0 as usize..][..6].iter().enumerate() {
                            row[c].0[l] = x;
                        }
                    } else {
                        for (c, cell) in row.iter_mut().enumerate() {
                            let ix = x0 + c as isize;
                            if ix >= 0 && (ix as usize) < w {
                                cell.0[l] = line[ix as usize];
                            }
                        }
                    }
                }
            }
            for (xi, x) in sandwich(P::bt, &d).iter().flatten().enumerate() {
                v[(xi * g.cin + ci) * g.nb + t..][..L].copy_from_slice(&x.0);
            }
        }
    }
}

/// `Y = Aᵀ M A` plus the bias into the band's output tiles (clipped to the rows asked for and the right
/// edge), eight tiles at a time.
#[inline(always)]
fn output_band<P: Points>(m: &[f32], g: &Geom, t0: usize, n: usize, bias: Option<&[f32]>, out: &mut [f32]) {
    let (w, rows) = (g.w, g.rows.clone());
    let plane = rows.len() * w;
    let mut s = zeros::<6>();
    for co in 0..g.cout {
        let b = bias.map_or(0.0, |b| b[co]);
        let dst = &mut out[co * plane..][..plane];
        for t in (0..n).step_by(L) {
            let lanes = L.min(n - t);
            for (xi, x) in s.iter_mut().flatten().enumerate() {
                x.0.copy_from_slice(&m[(xi * g.cout + co) * g.nb + t..][..L]);
            }
            let y = sandwich(P::at, &s);
            for l in 0..lanes {
                let (ty, tx) = ((t0 + t + l) / g.tw, (t0 + t + l) % g.tw);
                let width = 4.min(w - 4 * tx);
                for (p, yp) in y.iter().enumerate() {
                    let row = 4 * ty + p;
                    if !rows.contains(&row) {
                        continue;
                    }
                    let line = &mut dst[(row - rows.start) * w + 4 * tx..][..width];
                    for (q, o) in line.iter_mut().enumerate() {
                        *o = yp[q].0[l] + b;
                    }
                }
            }
        }
    }
}

/// A point set of F(4×4, 3×3): its three transforms on one column of lane vectors, written out so that
/// only the real terms are computed.
pub trait Points {
    /// `Bᵀ · d`.
    fn bt(d: [V; 6]) -> [V; 6];
    /// `G · g`.
    fn g(g: [V; 3]) -> [V; 6];
    /// `Aᵀ · m`.
    fn at(m: [V; 6]) -> [V; 4];
}

/// Lavin & Gray's points 0, ±1, ±2, ∞ (the matrices in the module documentation).
pub struct Lavin;

impl Points for Lavin {
    #[inline(always)]
    fn bt([d0, d1, d2, d3, d4, d5]: [V; 6]) -> [V; 6] {
        let (a, b) = (d4 - d2, 2.0 * (d3 - d1));
        [
            4.0 * d0 - 5.0 * d2 + d4,
            (d3 + d4) - 4.0 * (d1 + d2),
            (d4 - d3) + 4.0 * (d1 - d2),
            a + b,
            a - b,
            4.0 * d1 - 5.0 * d3 + d5,
        ]
    }
    #[inline(always)]
    fn g([g0, g1, g2]: [V; 3]) -> [V; 6] {
        let (a, b) = (g0 + g2, g0 * (1.0 / 24.0) + g2 * (1.0 / 6.0));
        [g0 * 0.25, (a + g1) * (-1.0 / 6.0), (a - g1) * (-1.0 / 6.0), b + g1 * (1.0 / 12.0), b - g1 * (1.0 / 12.0), g2]
    }
    #[inline(always)]
    fn at([m0, m1, m2, m3, m4, m5]: [V; 6]) -> [V; 4] {
        let (a, b, c, e) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        [m0 + a + c, b + 2.0 * e, a + 4.0 * c, b + 8.0 * e + m5]
    }
}

/// The points 0, ±1, 1/2, −2, ∞: about the same cost, a third of [`Lavin`]'s worst-case error. Its
/// matrices: `Bᵀ` rows `[1 −3/2 −2 3/2 1 0]`, `[0 −1 1/2 5/2 1 0]`, `[0 1 −5/2 1/2 1 0]`, `[0 −2 −1 2 1 0]`,
/// `[0 1/2 −1 −1/2 1 0]`, `[0 1 −3/2 −2 3/2 1]`; `G` rows `[1 0 0]`, `[1 1 1]/3`, `[−1 1 −1]/3`,
/// `[−16 −8 −4]/15`, `[1 −2 4]/15`, `[0 0 1]`; `Aᵀ` rows `[1 1 1 1 1 0]`, `[0 1 −1 1/2 −2 0]`,
/// `[0 1 1 1/4 4 0]`, `[0 1 −1 1/8 −8 1]`.
pub struct Mixed;

impl Points for Mixed {
    #[inline(always)]
    fn bt([d0, d1, d2, d3, d4, d5]: [V; 6]) -> [V; 6] {
        [
            (d0 - 2.0 * d2 + d4) + 1.5 * (d3 - d1),
            (d4 - d1) + 0.5 * d2 + 2.5 * d3,
            (d4 + d1) - 2.5 * d2 + 0.5 * d3,
            (d4 - d2) + 2.0 * (d3 - d1),
            (d4 - d2) + 0.5 * (d1 - d3),
            (d1 + d5 - 2.0 * d3) + 1.5 * (d4 - d2),
        ]
    }
    #[inline(always)]
    fn g([g0, g1, g2]: [V; 3]) -> [V; 6] {
        let a = g0 + g2;
        [
            g0,
            (a + g1) * (1.0 / 3.0),
            (g1 - a) * (1.0 / 3.0),
            (4.0 * g0 + 2.0 * g1 + g2) * (-4.0 / 15.0),
            (g0 - 2.0 * g1 + 4.0 * g2) * (1.0 / 15.0),
            g2,
        ]
    }
    #[inline(always)]
    fn at([m0, m1, m2, m3, m4, m5]: [V; 6]) -> [V; 4] {
        let (a, b) = (m1 + m2, m1 - m2);
        [m0 + a + m3 + m4, b + 0.5 * m3 - 2.0 * m4, a + 0.25 * m3 + 4.0 * m4, b + 0.125 * m3 - 8.0 * m4 + m5]
    }
}

/// `f(x) · f(·)ᵀ` on a tile of lane vectors: `f` on every column of the `N × N` tile `x`, then on every
/// row of the result (`M × M`).
#[inline(always)]
fn sandwich<const N: usize, const M: usize>(f: fn([V; N]) -> [V; M], x: &[[V; N]; N]) -> [[V; M]; M] {
    let cols: [[V; M]; N] = core::array::from_fn(|c| f(core::array::from_fn(|r| x[r][c])));
    core::array::from_fn(|i| f(core::array::from_fn(|c| cols[c][i])))
}

#[cfg(test)]
mod tests;
