//! The AVX-512 build (and, beside it, the AVX2 one, which `matmul` no longer picks on an AVX-512 CPU)
//! called directly against the f64 reference: random shapes across both tile remainders (12 rows, 32
//! columns), the K slice, the column block, B read in place and packed, strided and prepacked A, strided C,
//! alpha and beta. Skipped, saying so, on a CPU without AVX-512F.

use super::super::source::MatrixB;
use super::super::{avx2, matmul_ref, View};
use crate::kernels::simd::avx512_detected;
use crate::kernels::testing::{abs_vec, assert_within, fast_vs_ref, random_vec, sum_error_bound};
use std::vec::Vec;

/// Both SIMD builds' `c = alpha·a·b + beta·c0` for row-major `a` (`m × k`, row stride `lda`), `b`
/// (`k × n`) and `c` (`m × n`), read as given or, with `packed`, `a` prepacked at `panel_index`.
#[allow(clippy::too_many_arguments)]
fn both(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    alpha: f32,
    beta: f32,
    c0: &[f32],
    packed: bool,
) -> [Vec<f32>; 2] {
    let va = View::row_major(m, k, lda);
    let bm = MatrixB { data: b, view: View::row_major(k, n, n) };
    let vc = View::row_major(m, n, n);
    let mut panels = std::vec![f32::NAN; m.div_ceil(6) * 6 * k];
    for i in 0..m {
        for p in 0..k {
            panels[avx2::panel_index(m, k, i, p)] = a[i * lda + p];
        }
    }
    // Padding rows of the prepacked panels must be zero (as `PackedLayout` writers leave them).
    panels.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = 0.0);
    let src = if packed { avx2::SourceA::Panels(&panels, m, k) } else { avx2::SourceA::Matrix(a, va) };
    let (mut c512, mut c256) = (c0.to_vec(), c0.to_vec());
    // Safety: the CPU has AVX-512F, AVX2 and FMA (checked by the callers); the views lie inside the slices.
    unsafe {
        super::gemm(alpha, src, &bm, beta, &mut c512, vc, &[]);
        avx2::gemm(alpha, src, &bm, beta, &mut c256, vc, &[]);
    }
    [c512, c256]
}

/// The reference `alpha·a·b + beta·c0` and its error bound.
#[allow(clippy::too_many_arguments)]
fn reference(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    lda: usize,
    b: &[f32],
    alpha: f32,
    beta: f32,
    c0: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let mut want = std::vec![0.0; m * n];
    let mut bound = std::vec![0.0; m * n];
    matmul_ref(m, k, n, a, lda, b, n, &mut want, n, false).unwrap();
    matmul_ref(m, k, n, &abs_vec(a), lda, &abs_vec(b), n, &mut bound, n, false).unwrap();
    for ((w, e), c) in want.iter_mut().zip(&mut bound).zip(c0) {
        *w = alpha * *w + beta * c;
        *e = sum_error_bound(k + 3, alpha.abs() * *e + (beta * c).abs());
    }
    (want, bound)
}

fast_vs_ref!(
    simd_builds_match_reference,
    cases = 64,
    (
        m in 1usize..=80,
        k in 1usize..=300,
        n in 1usize..=200,
        pad in 0usize..=3,
        beta in 0usize..=2,
        packed in proptest::bool::ANY
    ),
    |rng| {
        if !avx512_detected() {
            std::eprintln!("simd_builds_match_reference skipped: this CPU has no AVX-512F");
        } else {
            let lda = k + pad;
            let (a, b, c0) = (random_vec(rng, m * lda), random_vec(rng, k * n), random_vec(rng, m * n));
            // NaN in C must never leak through when beta = 0 (the first K slice overwrites).
            let c0: Vec<f32> = if beta == 0 { std::vec![f32::NAN; m * n] } else { c0 };
            let beta = beta as f32 * 0.5;
            let (want, bound) = reference(m, k, n, &a, lda, &b, 1.5, beta, &c0.iter().map(|v| if v.is_nan() { 0.0 } else { *v }).collect::<Vec<_>>());
            for got in both(m, k, n, &a, lda, &b, 1.5, beta, &c0, packed) {
                assert_within(&got, &want, &bound);
            }
        }
    }
);

#[test]
fn edges_and_strided_c() {
    if !avx512_detected() {
        std::eprintln!("edges_and_strided_c skipped: this CPU has no AVX-512F");
        return;
    }
    let rng = &mut crate::kernels::testing::Rng::new(7);
    // k = 1, exact tiles, one past them, empty products.
    for (m, k, n) in [
        (1, 1, 1),
        (12, 1, 32),
        (13, 1, 33),
        (6, 256, 32),
        (7, 257, 31),
        (24, 2, 64),
        (0, 5, 7),
        (5, 0, 7),
        (5, 7, 0),
        (129, 192, 576),
    ] {
        let (a, b) = (random_vec(rng, m * k), random_vec(rng, k * n));
        let c0 = random_vec(rng, m * n);
        let (want, bound) = reference(m, k, n, &a, k, &b, 1.0, 1.0, &c0);
        for packed in [false, true] {
            for got in both(m, k, n, &a, k, &b, 1.0, 1.0, &c0, packed) {
                assert_within(&got, &want, &bound);
            }
        }
    }
    // C column-major (the tile path): c[i + j·m].
    let (m, k, n) = (29, 40, 45);
    let (a, b) = (random_vec(rng, m * k), random_vec(rng, k * n));
    let mut got = std::vec![f32::NAN; m * n];
    let vc = View { rows: m, cols: n, rs: 1, cs: m };
    let bm = MatrixB { data: &b, view: View::row_major(k, n, n) };
    // Safety: AVX-512F was detected above; the views lie inside the slices.
    unsafe { super::gemm(2.0, avx2::SourceA::Matrix(&a, View::row_major(m, k, k)), &bm, 0.0, &mut got, vc, &[]) };
    let (want, bound) = reference(m, k, n, &a, k, &b, 2.0, 0.0, &std::vec![0.0; m * n]);
    let transposed: Vec<f32> = (0..m * n).map(|at| got[(at / n) + (at % n) * m]).collect();
    assert_within(&transposed, &want, &bound);
}
