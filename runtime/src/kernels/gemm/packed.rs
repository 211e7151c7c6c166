//! Left-hand matrices packed once for many products: constant filters multiplied by many bands of data
//! (Winograd's transformed filters) are written straight into the layout the GEMM build that will read them
//! wants, so no product repacks them. The portable build reads A rows where they lie, so its layout is
//! row-major; the AVX2 build's is its micro-panels, which the AVX-512 build reads as they lie.

use crate::Result;

/// Rows of the widest micro-panel any build packs (the AVX2 build's 6).
const PANEL_ROWS: usize = 6;

/// The largest [`PackedLayout::interleave`] of any build.
pub const MAX_INTERLEAVE: usize = PANEL_ROWS;

/// Floats of an `m × k` matrix packed for any build: rows rounded up to whole micro-panels, so the size
/// (and a scratch layout built on it) does not depend on the CPU.
pub const fn packed_len(m: usize, k: usize) -> usize {
    m.div_ceil(PANEL_ROWS).saturating_mul(PANEL_ROWS).saturating_mul(k)
}

/// The layout of one packed `m × k` left-hand matrix, chosen for the CPU when it is packed and carried
/// with it, so a product reads it the way it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedLayout {
    m: usize,
    k: usize,
    /// AVX2 micro-panels (only ever set when the CPU has AVX2 and FMA; the AVX-512 build reads them too);
    /// row-major otherwise.
    panels: bool,
}

impl PackedLayout {
    /// The layout the GEMM build this CPU runs now reads without repacking.
    pub fn for_this_cpu(m: usize, k: usize) -> Self {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        let panels = super::super::simd::avx2();
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        let panels = false;
        Self { m, k, panels }
    }

    /// Rows and columns of the matrix.
    pub fn shape(&self) -> (usize, usize) {
        (self.m, self.k)
    }

    /// True when element `(i, p)` is at `i·k + p`, so a row's elements are contiguous.
    pub fn row_major(&self) -> bool {
        !self.panels
    }

    /// Rows whose elements of one column lie side by side: `index(i0 + r, p + l)` is
    /// `index(i0, p) + l·interleave + r` for `i0` a multiple of it, `r` below it, `p` a multiple of 8 and
    /// `l < 8` (6 for the AVX2 micro-panels, 1 for row-major). A writer that fills `interleave` rows at a
    /// time writes runs of contiguous floats.
    pub fn interleave(&self) -> usize {
        if self.panels {
            PANEL_ROWS
        } else {
            1
        }
    }

    /// Where element `(i, p)` (`i < m`, `p < k`) lies in the packed matrix.
    pub fn index(&self, i: usize, p: usize) -> usize {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if self.panels {
            return super::avx2::panel_index(self.m, self.k, i, p);
        }
        i * self.k + p
    }
}

/// `c[m×n] = a · b[k×n] (+ c when accumulating)` with `a` packed in `layout` ([`packed_len`] floats),
/// `b` and `c` row-major with row strides `ldb` and `ldc`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_packed(
    layout: PackedLayout,
    a: &[f32],
    n: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> Result<()> {
    let (m, k) = layout.shape();
    super::need("packed a", a.len(), packed_len(m, k))?;
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if layout.panels && m > 0 && n > 0 && k > 0 {
        super::fits("matmul b", b.len(), k, n, ldb)?;
        super::fits("matmul c", c.len(), m, n, ldc)?;
        let vb = super::View::row_major(k, n, ldb);
        let vc = super::View::row_major(m, n, ldc);
        let beta = if accumulate { 1.0 } else { 0.0 };
        let b = super::source::MatrixB { data: b, view: vb };
        let a = super::avx2::SourceA::Panels(a, m, k);
        if super::super::simd::avx512() {
            // Safety: AVX-512F, AVX2 and FMA were detected just above; the views were checked just above
            // and A holds `packed_len` ≥ the panels' floats, in the AVX2 layout this build reads too.
            unsafe { super::avx512::gemm(1.0, a, &b, beta, c, vc, &[]) };
        } else {
            // Safety: `panels` is only set by `for_this_cpu` after AVX2 and FMA were detected on this CPU;
            // the views were checked just above and A holds `packed_len` ≥ the panels' floats.
            unsafe { super::avx2::gemm(1.0, a, &b, beta, c, vc, &[]) };
        }
        return Ok(());
    }
    super::matmul(m, k, n, a, k, b, ldb, c, ldc, accumulate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{abs_vec, assert_within, sum_error_bound};

    /// Packs a row-major matrix by the layout's index.
    fn pack(layout: PackedLayout, a: &[f32]) -> std::vec::Vec<f32> {
        let (m, k) = layout.shape();
        let mut packed = std::vec![f32::NAN; packed_len(m, k)];
        for i in 0..m {
            for p in 0..k {
                packed[layout.index(i, p)] = a[i * k + p];
            }
        }
        packed
    }

    #[test]
    fn every_element_has_its_own_place() {
        for (m, k) in [(1, 1), (7, 300), (256, 256), (13, 513)] {
            let layout = PackedLayout::for_this_cpu(m, k);
            let mut seen = std::vec![false; packed_len(m, k)];
            for i in 0..m {
                for p in 0..k {
                    let at = layout.index(i, p);
                    assert!(!seen[at], "({i}, {p}) of {m}×{k} shares slot {at}");
                    seen[at] = true;
                }
            }
        }
    }

    #[test]
    fn interleaved_rows_form_runs() {
        for (m, k) in [(12, 264), (256, 256), (7, 40)] {
            let layout = PackedLayout::for_this_cpu(m, k);
            let r = layout.interleave();
            for i0 in (0..m - r + 1).step_by(r) {
                for p in (0..k - 7).step_by(8) {
                    for (dr, l) in (0..r).flat_map(|dr| (0..8).map(move |l| (dr, l))) {
                        assert_eq!(layout.index(i0 + dr, p + l), layout.index(i0, p) + l * r + dr);
                    }
                }
            }
        }
    }

    #[test]
    fn packed_products_match_the_reference() {
        // Padding rows hold NaN: they must never reach a stored result.
        products_match_the_reference(&[(5, 3, 17), (256, 256, 64), (13, 600, 40), (300, 20, 9)]);
    }

    #[test]
    fn small_packed_products_match_the_reference() {
        // Small enough for Miri (`cargo xtask miri`): a partial panel of rows and columns, with and without
        // accumulation.
        products_match_the_reference(&[(5, 3, 17), (13, 40, 9)]);
    }

    fn products_match_the_reference(shapes: &[(usize, usize, usize)]) {
        for &(m, k, n) in shapes {
            let a: std::vec::Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 211) as f32 - 105.0) / 64.0).collect();
            let b: std::vec::Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 97) as f32 - 48.0) / 32.0).collect();
            let layout = PackedLayout::for_this_cpu(m, k);
            let packed = pack(layout, &a);
            for accumulate in [false, true] {
                // Without accumulation C starts as NaN: the first K slice must overwrite it, never add to it.
                let start: std::vec::Vec<f32> =
                    (0..m * n).map(|i| if accumulate { (i % 5) as f32 } else { f32::NAN }).collect();
                let (mut got, mut want) = (start.clone(), start.clone());
                matmul_packed(layout, &packed, n, &b, n, &mut got, n, accumulate).unwrap();
                super::super::matmul_ref(m, k, n, &a, k, &b, n, &mut want, n, accumulate).unwrap();
                let mut bound = if accumulate { abs_vec(&start) } else { std::vec![0.0; m * n] };
                super::super::matmul_ref(m, k, n, &abs_vec(&a), k, &abs_vec(&b), n, &mut bound, n, true).unwrap();
                let bound: std::vec::Vec<f32> = bound.iter().map(|&s| sum_error_bound(k + 1, s)).collect();
                assert_within(&got, &want, &bound);
            }
        }
    }

    #[test]
    fn short_packed_matrices_are_errors() {
        let layout = PackedLayout::for_this_cpu(8, 4);
        let mut c = [0f32; 8];
        let short = [0f32; 31];
        assert!(matmul_packed(layout, &short, 1, &[0.0; 4], 1, &mut c, 1, false).is_err());
    }
}
