//! SGEMM for x86-64 CPUs with AVX-512F (chosen at run time, `std` only).
//!
//! The loop order, the packing of A, the K slices and the prefetching are the AVX2 build's (`avx2.rs`),
//! so A packed ahead of time for it ([`super::avx2::panel_index`]: 6-row micro-panels, 256-deep slices)
//! is read here as it lies. What changes is the register tile: `12 × 32`, two 6-row A micro-panels side
//! by side against a 32-column B strip, 24 zmm accumulators of the 32 registers; a last block of at most
//! 6 rows uses a `6 × 32` tile. B is packed (at run time, always) into 32-column strips, and a partial
//! strip stores through AVX-512 masks straight into C.

use core::arch::x86_64::{
    __m512, __mmask16, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps,
    _mm512_set1_ps, _mm512_setzero_ps, _mm_prefetch, _MM_HINT_T0,
};

use super::avx2::{pack_a, panel_index, Ahead, Lazy, Panels, SourceA, Store, KC, MC, MR};
use super::source::PackB;
use super::View;

/// Columns of the register tile (two zmm registers).
const NR: usize = 32;
/// Columns of B packed at once (`KC × NC` floats: 192 KiB, L2-resident); divides every m3vit width
/// (192, 384, 576, 768).
const NC: usize = 192;

/// `c = alpha·a·b + beta·c` on views already checked to lie inside their slices and to match in shape
/// (`b` is `k × vc.cols`), fetching `ahead` into the cache meanwhile.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn gemm<B: PackB>(alpha: f32, a: SourceA<'_>, b: &B, beta: f32, c: &mut [f32], vc: View, ahead: &[u8]) {
    let (m, k) = match a {
        SourceA::Matrix(_, va) => (va.rows, va.cols),
        SourceA::Panels(_, rows, cols) => (rows, cols),
    };
    let n = vc.cols;
    let overwrite = beta == 0.0 && k > 0;
    if !overwrite {
        super::blocked::scale_c(beta, c, vc);
    }
    let (mut ap, mut bp) = (Lazy::<{ MC * KC }>::new(), Lazy::<{ KC * NC }>::new());
    let mut ahead = Ahead::new(ahead, k.div_ceil(KC) * m.div_ceil(2 * MR) * n.div_ceil(NR));
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        let store = if overwrite && p0 == 0 { Store::Overwrite } else { Store::Add };
        for i0 in (0..m).step_by(MC) {
            let mc = MC.min(m - i0);
            let a_block = match a {
                SourceA::Matrix(data, va) => {
                    let ap = ap.get(mc.div_ceil(MR) * MR * kc);
                    pack_a(data, va, i0, mc, p0, kc, ap);
                    &*ap
                }
                // MC is a whole number of micro-panels, so block i0 starts at panel i0 / MR.
                SourceA::Panels(data, ..) => &data[panel_index(m, k, i0, p0)..][..mc.div_ceil(MR) * MR * kc],
            };
            for j0 in (0..n).step_by(NC) {
                let nc = NC.min(n - j0);
                let panels = match b.in_place().filter(|_| !b.worth_packing(m)) {
                    Some((data, rs)) => {
                        let full = nc / NR * NR;
                        let tail = bp.get(kc * NR);
                        if full < nc {
                            b.pack::<NR>(p0, kc, j0 + full, nc - full, tail);
                        }
                        Panels::InPlace { data, rs, p0, j0, tail }
                    }
                    None => {
                        let bp = bp.get(nc.div_ceil(NR) * NR * kc);
                        b.pack::<NR>(p0, kc, j0, nc, bp);
                        Panels::Packed(bp)
                    }
                };
                // Safety: forwarded from this function's contract.
                unsafe { macro_block(alpha, store, a_block, &panels, kc, c, vc, (i0, j0), (mc, nc), &mut ahead) };
            }
        }
    }
}

/// Every tile of the `mc × nc` block of C at `(i0, j0)`, from packed A micro-panels and B strips.
///
/// # Safety
/// The CPU must support AVX-512F; `vc` must lie inside `c`.
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn macro_block(
    alpha: f32,
    store: Store,
    ap: &[f32],
    panels: &Panels<'_>,
    kc: usize,
    c: &mut [f32],
    vc: View,
    (i0, j0): (usize, usize),
    (mc, nc): (usize, usize),
    ahead: &mut Ahead,
) {
    let mut tile = [0f32; 2 * MR * NR];
    for (strip, jr) in (0..nc).step_by(NR).enumerate() {
        let nr = NR.min(nc - jr);
        let (bpanel, bs) = panels.strip::<NR>(strip, jr, nr, kc);
        for ir in (0..mc).step_by(2 * MR) {
            let mr = (2 * MR).min(mc - ir);
            let apanels = &ap[ir * kc..(ir + mr.div_ceil(MR) * MR) * kc];
            let (row0, col0) = (i0 + ir, j0 + jr);
            if vc.cs == 1 {
                let at = row0 * vc.rs + col0;
                // Safety: the view lies inside `c` (checked by the public entry points); rows row0..row0+mr,
                // columns col0..col0+nr are inside it, contiguous along a row (cs == 1).
                unsafe { tile_any(apanels, bpanel, bs, alpha, store, c.as_mut_ptr().add(at), vc.rs, mr, nr, ahead) };
            } else {
                // Safety: `tile` holds 12 rows of 32 contiguous floats.
                unsafe { tile_any(apanels, bpanel, bs, 1.0, Store::Overwrite, tile.as_mut_ptr(), NR, mr, NR, ahead) };
                for (r, row) in tile.chunks_exact(NR).take(mr).enumerate() {
                    for (j, v) in row.iter().take(nr).enumerate() {
                        let dst = &mut c[(row0 + r) * vc.rs + (col0 + j) * vc.cs];
                        *dst = match store {
                            Store::Overwrite => alpha * v,
                            Store::Add => *dst + alpha * v,
                        };
                    }
                }
            }
        }
    }
}

/// The `12 × 32` tile when `a` holds two micro-panels (more than 6 rows), else the `6 × 32` one.
///
/// # Safety
/// As [`kernel`].
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_any(
    a: &[f32],
    b: &[f32],
    bs: usize,
    alpha: f32,
    store: Store,
    c: *mut f32,
    rs: usize,
    rows: usize,
    cols: usize,
    ahead: &mut Ahead,
) {
    // Safety: forwarded from this function's contract.
    unsafe {
        if rows > MR {
            kernel::<2>(a, b, bs, alpha, store, c, rs, rows, cols, ahead)
        } else {
            kernel::<1>(a, b, bs, alpha, store, c, rs, rows, cols, ahead)
        }
    }
}

/// Masks of the two 16-float halves of a row of `cols ≤ 32` columns.
fn masks(cols: usize) -> (__mmask16, __mmask16) {
    let lo = if cols >= 16 { 0xFFFF } else { (1u32 << cols) as u16 - 1 };
    let hi = if cols >= 32 { 0xFFFF } else { (1u32 << cols.saturating_sub(16)) as u16 - 1 };
    (lo, hi)
}

/// The register tile over `P` A micro-panels (`P·6` rows): `c[r·rs + j] (+)= alpha · Σ_p A(r, p) · b[p·bs + j]`
/// for `r < rows ≤ P·6`, `j < cols ≤ 32`, where row `r` of A is `a[(r / 6)·6·kc + p·6 + r % 6]`.
///
/// # Safety
/// The CPU must support AVX-512F; `a` must hold `P` micro-panels of `kc` columns and `b` `kc` rows of 32
/// floats `bs` apart; `c` must point to `rows` rows, `rs` floats apart, of `cols` writable floats.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const P: usize>(
    a: &[f32],
    b: &[f32],
    bs: usize,
    alpha: f32,
    store: Store,
    c: *mut f32,
    rs: usize,
    rows: usize,
    cols: usize,
    ahead: &mut Ahead,
) {
    let kc = a.len() / (P * MR);
    if kc == 0 {
        return;
    }
    let a = &a[..P * MR * kc];
    let b = &b[..(kc - 1) * bs + NR];
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    let rows = rows.min(P * MR);
    if store == Store::Add {
        for r in 0..rows {
            let row = c.wrapping_add(r * rs) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(row);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(124));
        }
    }
    let mut acc: [[__m512; 2]; 12] = [[_mm512_setzero_ps(); 2]; 12];
    let (mut line, every) = ahead.take(kc);
    let mut countdown = every;
    for p in 0..kc {
        countdown -= 1;
        if countdown == 0 {
            countdown = every;
            _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
            line += 64;
        }
        // Safety: p < kc, so the 32 floats at bp + p·bs and the 6 at ap + q·6·kc + 6p (q < P) are inside
        // `b` and `a`.
        unsafe {
            let b0 = _mm512_loadu_ps(bp.add(p * bs));
            let b1 = _mm512_loadu_ps(bp.add(p * bs + 16));
            for q in 0..P {
                for r in 0..MR {
                    let ar = _mm512_set1_ps(*ap.add(q * MR * kc + p * MR + r));
                    let t = &mut acc[q * MR + r];
                    t[0] = _mm512_fmadd_ps(ar, b0, t[0]);
                    t[1] = _mm512_fmadd_ps(ar, b1, t[1]);
                }
            }
        }
    }
    let al = _mm512_set1_ps(alpha);
    let (lo, hi) = masks(cols);
    for (r, t) in acc.iter().enumerate().take(rows) {
        // Safety: the caller guarantees row r's `cols` floats at c + r·rs are writable; the masks keep
        // every load and store inside them (masked-off lanes are never accessed).
        unsafe {
            let row = c.add(r * rs);
            let upper = row.wrapping_add(16);
            let (v0, v1): (__m512, __m512) = match store {
                Store::Overwrite => (_mm512_mul_ps(t[0], al), _mm512_mul_ps(t[1], al)),
                Store::Add => (
                    _mm512_fmadd_ps(t[0], al, _mm512_maskz_loadu_ps(lo, row)),
                    _mm512_fmadd_ps(t[1], al, _mm512_maskz_loadu_ps(hi, upper)),
                ),
            };
            _mm512_mask_storeu_ps(row, lo, v0);
            if hi != 0 {
                _mm512_mask_storeu_ps(upper, hi, v1);
            }
        }
    }
}

#[cfg(test)]
mod tests;
