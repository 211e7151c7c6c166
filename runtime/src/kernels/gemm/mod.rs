//! Matrix multiplication: the naive reference and the fast, allocation-free blocked path.

#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx512;
mod blocked;
mod packed;
pub mod source;

pub use packed::{matmul_packed, packed_len, PackedLayout, MAX_INTERLEAVE};

use super::need;
use crate::Result;

/// Checks that a row-major `rows × cols` matrix with row stride `ld` fits in `len` elements.
fn fits(what: &'static str, len: usize, rows: usize, cols: usize, ld: usize) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    if ld < cols {
        return Err(crate::Error::ShapeMismatch { what, expected: cols, found: ld });
    }
    need(what, len, (rows - 1) * ld + cols)
}

/// `c[m×n] = a[m×k] · b[k×n] (+ c when accumulating)`, row-major with row strides `lda`, `ldb`, `ldc`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> Result<()> {
    matmul_fetching(m, k, n, a, lda, b, ldb, c, ldc, accumulate, &[])
}

/// [`matmul`] that meanwhile fetches `next` into the cache (the weights the caller reads next, so they
/// stream in from memory while this product computes instead of stalling the next one). Only the AVX2
/// and AVX-512 builds fetch; the result is the same either way.
#[allow(clippy::too_many_arguments)]
pub fn matmul_fetching(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    next: &[u8],
) -> Result<()> {
    fits("matmul a", a.len(), m, k, lda)?;
    fits("matmul b", b.len(), k, n, ldb)?;
    fits("matmul c", c.len(), m, n, ldc)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for row in c.chunks_mut(ldc).take(m) {
                row[..n].fill(0.0);
            }
        }
        return Ok(());
    }
    let beta = if accumulate { 1.0 } else { 0.0 };
    let va = View::row_major(m, k, lda);
    let vb = View::row_major(k, n, ldb);
    let vc = View::row_major(m, n, ldc);
    dispatch(1.0, a, va, b, vb, beta, c, vc, next);
    Ok(())
}

/// A matrix view: element `(i, j)` of a `rows × cols` matrix is at `i·rs + j·cs`.
#[derive(Clone, Copy, Debug)]
pub struct View {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl View {
    /// A row-major `rows × cols` view with row stride `rs` (consecutive columns adjacent).
    pub const fn row_major(rows: usize, cols: usize, rs: usize) -> View {
        View { rows, cols, rs, cs: 1 }
    }

    /// Elements a slice must hold for every addressed element to be inside it.
    fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// General strided `c = alpha·a·b + beta·c` with `a: m×k`, `b: k×n`, `c: m×n` given as views. `c`'s view
/// must not address one element twice (it is checked that `rs ≥ cols·cs` or `cs ≥ rows·rs`).
#[allow(clippy::too_many_arguments)]
pub fn gemm_strided(
    alpha: f32,
    a: &[f32],
    va: View,
    b: &[f32],
    vb: View,
    beta: f32,
    c: &mut [f32],
    vc: View,
) -> Result<()> {
    let mismatch = |what| crate::Error::ShapeMismatch { what, expected: va.cols, found: vb.rows };
    if va.cols != vb.rows || va.rows != vc.rows || vb.cols != vc.cols {
        return Err(mismatch("gemm dimensions"));
    }
    need("gemm a", a.len(), va.extent())?;
    need("gemm b", b.len(), vb.extent())?;
    need("gemm c", c.len(), vc.extent())?;
    let distinct = vc.rows <= 1 || vc.cols <= 1 || vc.rs >= vc.cols * vc.cs || vc.cs >= vc.rows * vc.rs;
    if !distinct || (vc.cs == 0 && vc.cols > 1) || (vc.rs == 0 && vc.rows > 1) {
        return Err(mismatch("gemm output view overlaps itself"));
    }
    if vc.rows == 0 || vc.cols == 0 {
        return Ok(());
    }
    dispatch(alpha, a, va, b, vb, beta, c, vc, &[]);
    Ok(())
}

/// `out[cout × ho·wo] += weight[cout × cin·k·k] · im2col(src)`, reading the image in place (no im2col
/// buffer), when this CPU has a fast kernel for it. Returns `Ok(false)` and leaves `out` untouched otherwise,
/// so the caller falls back to an explicit im2col.
pub fn conv_implicit(weight: &[f32], cout: usize, src: &source::Im2colB<'_>, out: &mut [f32]) -> Result<bool> {
    let (kk, n) = source::PackB::shape(src);
    need("conv weight", weight.len(), cout * kk)?;
    need("conv input", src.input.len(), src.cin * src.h * src.w)?;
    need("conv output", out.len(), cout * n)?;
    if src.stride == 0 || cout == 0 || kk == 0 || n == 0 {
        return Ok(false);
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx512() {
        let va = View::row_major(cout, kk, kk);
        let vc = View::row_major(cout, n, n);
        // Safety: AVX-512F, AVX2 and FMA were detected on this CPU just above.
        unsafe { avx512::gemm(1.0, avx2::SourceA::Matrix(weight, va), src, 1.0, out, vc, &[]) };
        return Ok(true);
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx2() {
        let va = View::row_major(cout, kk, kk);
        let vc = View::row_major(cout, n, n);
        // Safety: AVX2 and FMA were detected on this CPU just above.
        unsafe { avx2::gemm(1.0, avx2::SourceA::Matrix(weight, va), src, 1.0, out, vc, &[]) };
        return Ok(true);
    }
    Ok(false)
}

/// Runs the best GEMM build this CPU supports on checked views (the SIMD ones fetching `next` meanwhile).
#[allow(clippy::too_many_arguments)]
fn dispatch(alpha: f32, a: &[f32], va: View, b: &[f32], vb: View, beta: f32, c: &mut [f32], vc: View, next: &[u8]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx512() {
        let b = source::MatrixB { data: b, view: vb };
        // Safety: AVX-512F, AVX2 and FMA were detected on this CPU just above.
        unsafe { avx512::gemm(alpha, avx2::SourceA::Matrix(a, va), &b, beta, c, vc, next) };
        return;
    }
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if super::simd::avx2() {
        let b = source::MatrixB { data: b, view: vb };
        // Safety: AVX2 and FMA were detected on this CPU just above.
        unsafe { avx2::gemm(alpha, avx2::SourceA::Matrix(a, va), &b, beta, c, vc, next) };
        return;
    }
    let _ = next;
    blocked::gemm::<blocked::Plain>(alpha, a, va, b, vb, beta, c, vc);
}

/// The reference of [`matmul`]: a plain triple loop, accumulating in f64.
#[allow(clippy::too_many_arguments)]
pub fn matmul_ref(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> Result<()> {
    fits("matmul a", a.len(), m, k, lda)?;
    fits("matmul b", b.len(), k, n, ldb)?;
    fits("matmul c", c.len(), m, n, ldc)?;
    for i in 0..m {
        for j in 0..n {
            let mut s = 0f64;
            for p in 0..k {
                s += f64::from(a[i * lda + p]) * f64::from(b[p * ldb + j]);
            }
            let dst = &mut c[i * ldc + j];
            *dst = if accumulate { (f64::from(*dst) + s) as f32 } else { s as f32 };
        }
    }
    Ok(())
}

/// `y[t×out] = x[t×in] · w[in×out] + bias`.
pub fn linear(
    x: &[f32],
    t: usize,
    w: &[f32],
    in_: usize,
    out: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<()> {
    linear_fetching(x, t, w, in_, out, bias, y, &[])
}

/// [`linear`] that meanwhile fetches `next` into the cache (see [`matmul_fetching`]).
#[allow(clippy::too_many_arguments)]
pub fn linear_fetching(
    x: &[f32],
    t: usize,
    w: &[f32],
    in_: usize,
    out: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
    next: &[u8],
) -> Result<()> {
    fits("linear x", x.len(), t, in_, in_)?;
    fits("linear w", w.len(), in_, out, out)?;
    need("linear y", y.len(), t * out)?;
    let accumulate = match bias {
        Some(b) => {
            need("linear bias", b.len(), out)?;
            if out > 0 {
                for row in y.chunks_exact_mut(out).take(t) {
                    row.copy_from_slice(&b[..out]);
                }
            }
            true
        }
        None => false,
    };
    matmul_fetching(t, in_, out, x, in_, w, out, y, out, accumulate, next)
}

/// The reference of [`linear`].
pub fn linear_ref(
    x: &[f32],
    t: usize,
    w: &[f32],
    in_: usize,
    out: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<()> {
    matmul_ref(t, in_, out, x, in_, w, out, y, out, false)?;
    if let Some(b) = bias {
        need("linear bias", b.len(), out)?;
        for row in y.chunks_exact_mut(out.max(1)).take(t) {
            for (v, bb) in row.iter_mut().zip(b) {
                *v += bb;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{
        abs_vec as abs, assert_close, assert_within, fast_vs_ref, random_vec, sum_error_bound, Rng,
    };

    #[test]
    fn two_by_two_by_hand() {
        let (a, b) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
        let mut c = [0.0; 4];
        matmul(2, 2, 2, &a, 2, &b, 2, &mut c, 2, false).unwrap();
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        matmul(2, 2, 2, &a, 2, &b, 2, &mut c, 2, true).unwrap();
        assert_eq!(c, [38.0, 44.0, 86.0, 100.0]);
    }

    fast_vs_ref!(linear_matches_reference, cases = 48, (t in 1usize..=40, i in 1usize..=300, o in 1usize..=50), |rng| {
        let x = random_vec(rng, t * i);
        let w = random_vec(rng, i * o);
        let b = random_vec(rng, o);
        let (mut fast, mut slow, mut bound) = (vec![0.0; t * o], vec![0.0; t * o], vec![0.0; t * o]);
        for bias in [Some(&b[..]), None] {
            // Each output sums i products and the bias: bounded by the sums of their absolute values.
            linear_ref(&abs(&x), t, &abs(&w), i, o, bias.map(abs).as_deref(), &mut bound).unwrap();
            bound.iter_mut().for_each(|e| *e = sum_error_bound(i + 1, *e));
            linear(&x, t, &w, i, o, bias, &mut fast).unwrap();
            linear_ref(&x, t, &w, i, o, bias, &mut slow).unwrap();
            assert_within(&fast, &slow, &bound);
        }
    });

    fast_vs_ref!(
        strided_matmul_matches_reference,
        cases = 48,
        (
            m in 1usize..=20,
            k in 1usize..=20,
            n in 1usize..=40,
            pad in 0usize..=3,
            acc in proptest::bool::ANY
        ),
        |rng| {
            // Row strides wider than the rows: sub-matrices of larger buffers.
            let (lda, ldb, ldc) = (k + pad, n + 2 * pad, n + pad);
            let a = random_vec(rng, m * lda);
            let b = random_vec(rng, k * ldb);
            let c0 = random_vec(rng, m * ldc);
            let (mut fast, mut slow) = (c0.clone(), c0);
            matmul(m, k, n, &a, lda, &b, ldb, &mut fast, ldc, acc).unwrap();
            matmul_ref(m, k, n, &a, lda, &b, ldb, &mut slow, ldc, acc).unwrap();
            assert_close(&fast, &slow, 1e-5);
        }
    );

    #[test]
    fn fetching_ahead_changes_nothing() {
        // The region fetched meanwhile (larger than the product, smaller, empty) never changes a bit.
        let (t, i, o) = (37, 70, 90);
        let x: Vec<f32> = (0..t * i).map(|v| ((v * 31 % 17) as f32 - 8.0) / 7.0).collect();
        let w: Vec<f32> = (0..i * o).map(|v| ((v * 13 % 23) as f32 - 11.0) / 9.0).collect();
        let bias: Vec<f32> = (0..o).map(|v| v as f32 / 10.0).collect();
        let mut plain = vec![0.0; t * o];
        linear(&x, t, &w, i, o, Some(&bias), &mut plain).unwrap();
        let big = vec![1u8; 1 << 20];
        for next in [&big[..], &big[..100], &[]] {
            let mut fetched = vec![f32::NAN; t * o];
            linear_fetching(&x, t, &w, i, o, Some(&bias), &mut fetched, next).unwrap();
            assert_eq!(plain, fetched);
        }
    }

    #[test]
    fn transposed_views_match_reference() {
        // A read column-major (packed path) and B transposed, alpha and beta not 0/1.
        let (m, k, n) = (7, 300, 19);
        let rng = &mut Rng::new(11);
        let (a, b, c0) = (random_vec(rng, m * k), random_vec(rng, k * n), random_vec(rng, m * n));
        let mut fast = c0.clone();
        let va = View { rows: m, cols: k, rs: 1, cs: m };
        let vb = View { rows: k, cols: n, rs: 1, cs: k };
        gemm_strided(0.5, &a, va, &b, vb, 2.0, &mut fast, View { rows: m, cols: n, rs: n, cs: 1 }).unwrap();
        let mut slow = c0;
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|p| f64::from(a[p * m + i]) * f64::from(b[j * k + p])).sum();
                slow[i * n + j] = (0.5 * s + 2.0 * f64::from(slow[i * n + j])) as f32;
            }
        }
        assert_close(&fast, &slow, 1e-5);
    }

    #[test]
    fn large_blocks_match_reference() {
        // Crosses every blocking boundary of the fast paths: M past one packed row block (144), K past one
        // packed slice (256), N not a multiple of the tile; accumulating into a padded C.
        let (m, k, n, ldc) = (151, 530, 37, 41);
        let rng = &mut Rng::new(5);
        let (a, b, c0) = (random_vec(rng, m * k), random_vec(rng, k * n), random_vec(rng, m * ldc));
        let (mut fast, mut slow) = (c0.clone(), c0);
        matmul(m, k, n, &a, k, &b, n, &mut fast, ldc, true).unwrap();
        matmul_ref(m, k, n, &a, k, &b, n, &mut slow, ldc, true).unwrap();
        assert_close(&fast, &slow, 1e-5);
    }

    fast_vs_ref!(
        portable_path_matches_reference,
        cases = 32,
        (m in 1usize..=30, k in 1usize..=300, n in 1usize..=40, beta in 0usize..=2),
        |rng| {
            // The no_std path, also on CPUs where `matmul` picks a SIMD build.
            let (a, b, c0) = (random_vec(rng, m * k), random_vec(rng, k * n), random_vec(rng, m * n));
            let beta = beta as f32 * 0.5;
            let (va, vb, vc) = (View { rows: m, cols: k, rs: k, cs: 1 }, View { rows: k, cols: n, rs: n, cs: 1 }, View {
                rows: m,
                cols: n,
                rs: n,
                cs: 1,
            });
            let mut fast = c0.clone();
            blocked::gemm::<blocked::Plain>(1.5, &a, va, &b, vb, beta, &mut fast, vc);
            let mut slow = vec![0.0; m * n];
            matmul_ref(m, k, n, &a, k, &b, n, &mut slow, n, false).unwrap();
            for (s, c) in slow.iter_mut().zip(&c0) {
                *s = 1.5 * *s + beta * c;
            }
            // k products, scaled, plus the scaled old value: bounded by the sums of their absolute values.
            let mut bound = vec![0.0; m * n];
            matmul_ref(m, k, n, &abs(&a), k, &abs(&b), n, &mut bound, n, false).unwrap();
            for (e, c) in bound.iter_mut().zip(&c0) {
                *e = sum_error_bound(k + 3, 1.5 * *e + beta * c.abs());
            }
            assert_within(&fast, &slow, &bound);
        }
    );

    #[test]
    fn short_buffers_are_errors() {
        let mut c = [0.0; 3];
        assert!(matmul(2, 2, 2, &[0.0; 4], 2, &[0.0; 4], 2, &mut c, 2, false).is_err());
        assert!(linear(&[0.0; 4], 2, &[0.0; 3], 2, 2, None, &mut [0.0; 4]).is_err());
        assert!(linear(&[0.0; 4], 2, &[0.0; 4], 2, 2, Some(&[0.0]), &mut [0.0; 4]).is_err());
        assert!(matmul(2, 2, 2, &[0.0; 4], 1, &[0.0; 4], 2, &mut [0.0; 4], 2, false).is_err());
        let v = View { rows: 2, cols: 2, rs: 1, cs: 1 };
        assert!(gemm_strided(1.0, &[0.0; 4], v, &[0.0; 4], v, 0.0, &mut [0.0; 4], v).is_err());
    }
}
