//! A cache-blocked SGEMM that needs no allocator: B is packed one `KC × NR` panel at a time into a fixed
//! array on the stack (16 KiB; plus 4 KiB for A rows when they are not contiguous), and a register-blocked
//! micro-kernel accumulates `MR × NR` outputs. This is the portable path (every target, `no_std`); x86-64
//! with `std` uses `avx2.rs` when the CPU has AVX2 and FMA.

use super::View;

/// Rows of C per micro-kernel call.
pub const MR: usize = 4;
/// Columns of C per micro-kernel call.
pub const NR: usize = 16;
/// Depth of one packed panel.
pub const KC: usize = 256;

/// How the micro-kernel multiplies and adds: plain `a·b + c`, or fused.
pub trait MulAdd {
    /// `a·b + c`.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// Separate multiply and add (every target).
pub struct Plain;
impl MulAdd for Plain {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `c = alpha·a·b + beta·c` for views already checked to lie inside their slices and to match in shape.
/// Rows of A are read in place when they are contiguous (`cs == 1`, every caller here) and packed
/// `MR` at a time otherwise; B is packed one `KC × NR` panel at a time and reused for every row block.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn gemm<M: MulAdd>(alpha: f32, a: &[f32], va: View, b: &[f32], vb: View, beta: f32, c: &mut [f32], vc: View) {
    let (m, k, n) = (va.rows, va.cols, vb.cols);
    scale_c(beta, c, vc);
    let mut bp = [0f32; KC * NR];
    let mut ap = [0f32; MR * KC];
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        let mut j0 = 0;
        while j0 < n {
            let nr = NR.min(n - j0);
            // Pack B[p0.., j0..] into kc rows of NR (zero-padded) columns.
            for (p, row) in bp.chunks_exact_mut(NR).take(kc).enumerate() {
                let src = (p0 + p) * vb.rs + j0 * vb.cs;
                if vb.cs == 1 {
                    row[..nr].copy_from_slice(&b[src..src + nr]);
                } else {
                    for (j, slot) in row[..nr].iter_mut().enumerate() {
                        *slot = b[src + j * vb.cs];
                    }
                }
                row[nr..].fill(0.0);
            }
            let mut i0 = 0;
            while i0 < m {
                let mr = MR.min(m - i0);
                // Rows past `mr` repeat the last real row; their results are dropped.
                let row_at = |r: usize| (i0 + r.min(mr - 1)) * va.rs + p0 * va.cs;
                let acc = if va.cs == 1 {
                    micro_kernel::<M>(kc, core::array::from_fn(|r| &a[row_at(r)..row_at(r) + kc]), &bp)
                } else {
                    for (r, dst) in ap.chunks_exact_mut(KC).enumerate() {
                        for (p, slot) in dst[..kc].iter_mut().enumerate() {
                            *slot = a[row_at(r) + p * va.cs];
                        }
                    }
                    micro_kernel::<M>(kc, core::array::from_fn(|r| &ap[r * KC..r * KC + kc]), &bp)
                };
                for (r, acc_row) in acc.iter().enumerate().take(mr) {
                    for (j, v) in acc_row.iter().enumerate().take(nr) {
                        c[(i0 + r) * vc.rs + (j0 + j) * vc.cs] += alpha * v;
                    }
                }
                i0 += MR;
            }
            j0 += NR;
        }
        p0 += KC;
    }
}

/// `c = beta·c` over the view (exactly zero when `beta` is 0, whatever `c` held), so every K block can
/// simply accumulate.
pub fn scale_c(beta: f32, c: &mut [f32], vc: View) {
    if beta == 1.0 {
        return;
    }
    for i in 0..vc.rows {
        if vc.cs == 1 {
            let row = &mut c[i * vc.rs..i * vc.rs + vc.cols];
            if beta == 0.0 {
                row.fill(0.0);
            } else {
                row.iter_mut().for_each(|v| *v *= beta);
            }
            continue;
        }
        for j in 0..vc.cols {
            let at = i * vc.rs + j * vc.cs;
            c[at] = if beta == 0.0 { 0.0 } else { beta * c[at] };
        }
    }
}

/// `MR × NR` accumulators over `kc` columns of the `MR` rows of A and `kc` packed rows of B.
#[inline(always)]
fn micro_kernel<M: MulAdd>(kc: usize, rows: [&[f32]; MR], bp: &[f32; KC * NR]) -> [[f32; NR]; MR] {
    let rows = rows.map(|r| &r[..kc]);
    let mut acc = [[0f32; NR]; MR];
    for (p, b) in bp.chunks_exact(NR).take(kc).enumerate() {
        for r in 0..MR {
            let av = rows[r][p];
            for j in 0..NR {
                acc[r][j] = M::mul_add(av, b[j], acc[r][j]);
            }
        }
    }
    acc
}
