//! SGEMM for x86-64 CPUs with AVX2 and FMA (chosen at run time, `std` only).
//!
//! The BLIS loop order: a `KC × NC` block of B is packed into `NR`-column micro-panels (reading B's rows
//! front to back), then each block of up to `MC` rows of A into `MR`-row micro-panels; every B micro-panel
//! (L1-resident) is swept by every A micro-panel (L2-resident). The micro-kernel keeps a `6 × 16` tile of C
//! in twelve ymm registers and issues two FMAs per broadcast A element. The packing buffers are fixed arrays
//! on the stack (about 390 KiB, initialised only as far as used), so nothing is allocated.
//!
//! Three refinements: a left-hand matrix used by many products (constant filters) can be packed once ahead
//! of time in this build's layout ([`panel_index`]) and read as it lies; with `beta = 0` the first K slice
//! stores its tiles instead of adding them to C, so C is never cleared first; and a product can fetch the
//! bytes its caller reads next (the next weight matrix) into the cache, a share of the lines per
//! micro-kernel call spread over its K loop, so weights stream in from memory while it computes.

use core::arch::x86_64::{
    __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps,
    _mm256_storeu_ps, _mm_prefetch, _MM_HINT_T0,
};

use core::mem::MaybeUninit;

use super::source::PackB;
use super::View;

/// Rows of the register tile (and of the packed A micro-panels the AVX-512 build reads too).
pub(super) const MR: usize = 6;
/// Columns of the register tile (two ymm registers).
const NR: usize = 16;
/// Depth of one packed slice of K.
pub(super) const KC: usize = 256;
/// Rows of A packed at once (`MC × KC` floats: 256 KiB, L2-resident). Most matrices here (256 output
/// channels, 129 tokens) fit in one block, so A is packed once per `KC` slice.
pub(super) const MC: usize = 258;
/// Columns of B packed at once (`KC × NC` floats: 128 KiB, L2-resident).
const NC: usize = 128;

/// Where the left-hand matrix comes from.
#[derive(Clone, Copy, Debug)]
pub enum SourceA<'a> {
    /// A strided matrix, packed `MC` rows at a time as the product goes.
    Matrix(&'a [f32], View),
    /// Already packed: `rows × cols` at [`panel_index`] (the slice holds `⌈rows / MR⌉·MR·cols` floats).
    Panels(&'a [f32], usize, usize),
}

/// Where element `(i, p)` of an `m × k` matrix goes when packed ahead of time: the layout [`pack_a`]
/// writes for each `KC` slice, slices one after the other.
pub const fn panel_index(m: usize, k: usize, i: usize, p: usize) -> usize {
    let p0 = p / KC * KC;
    let kc = if k - p0 < KC { k - p0 } else { KC };
    p0 * m.div_ceil(MR) * MR + (i / MR) * MR * kc + (p - p0) * MR + i % MR
}

/// The bytes a product fetches into the cache while it computes (the weights its caller reads next), as
/// addresses: a share of the lines per micro-kernel call, spread over that call's K loop. A prefetch never
/// faults, so the addresses are only ever hints.
pub(super) struct Ahead {
    /// Address of the next line to fetch.
    next: usize,
    /// One past the last byte.
    end: usize,
    /// Lines per micro-kernel call, so the whole region is fetched by the product's end.
    per_call: usize,
}

impl Ahead {
    /// Spreads `region` over `calls` micro-kernel calls.
    pub(super) fn new(region: &[u8], calls: usize) -> Self {
        let next = region.as_ptr() as usize;
        Self { next, end: next + region.len(), per_call: region.len().div_ceil(64).div_ceil(calls.max(1)) }
    }

    /// The first address of one call's share and the distance in K steps between two of its prefetches
    /// (`usize::MAX` when nothing is left).
    pub(super) fn take(&mut self, kc: usize) -> (usize, usize) {
        let lines = self.per_call.min(self.end.saturating_sub(self.next).div_ceil(64)).min(kc);
        let first = self.next;
        self.next += lines * 64;
        (first, kc.checked_div(lines).map_or(usize::MAX, |every| every.max(1)))
    }
}

/// `c = alpha·a·b + beta·c` on views already checked to lie inside their slices and to match in shape
/// (`b` is `va.cols × vc.cols`).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gemm<B: PackB>(alpha: f32, a: SourceA<'_>, b: &B, beta: f32, c: &mut [f32], vc: View, ahead: &[u8]) {
    let (m, k) = match a {
        SourceA::Matrix(_, va) => (va.rows, va.cols),
        SourceA::Panels(_, rows, cols) => (rows, cols),
    };
    let n = vc.cols;
    // With beta = 0 the first K slice overwrites C (no clearing pass); any other beta scales C first.
    let overwrite = beta == 0.0 && k > 0;
    if !overwrite {
        super::blocked::scale_c(beta, c, vc);
    }
    let (mut ap, mut bp) = (Lazy::<{ MC * KC }>::new(), Lazy::<{ KC * NC }>::new());
    let mut ahead = Ahead::new(ahead, k.div_ceil(KC) * m.div_ceil(MR) * n.div_ceil(NR));
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
                        // Full strips are read where they lie; only a last partial strip is packed.
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

/// What a finished tile does to C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Store {
    /// `c = alpha · tile` (the first K slice of a product with `beta = 0`).
    Overwrite,
    /// `c += alpha · tile`.
    Add,
}

/// Where the micro-kernel reads the strips of one `kc × nc` block of B from.
pub(super) enum Panels<'a> {
    /// Packed micro-panels, `kc × NR` each.
    Packed(&'a [f32]),
    /// B itself (row stride `rs`, unit column stride) from row `p0`, column `j0`; a last partial strip is
    /// packed in `tail`.
    InPlace { data: &'a [f32], rs: usize, p0: usize, j0: usize, tail: &'a [f32] },
}

impl Panels<'_> {
    /// Strip `s` (columns `jr..jr+nr` of the block) of `W`-column strips: its first element and its row
    /// stride.
    pub(super) fn strip<const W: usize>(&self, s: usize, jr: usize, nr: usize, kc: usize) -> (&[f32], usize) {
        match *self {
            Panels::Packed(bp) => (&bp[s * kc * W..(s + 1) * kc * W], W),
            Panels::InPlace { tail, .. } if nr < W => (tail, W),
            Panels::InPlace { data, rs, p0, j0, .. } => {
                let at = p0 * rs + j0 + jr;
                (&data[at..at + (kc - 1) * rs + W], rs)
            }
        }
    }
}

/// Every `MR × NR` tile of the `mc × nc` block of C at `(i0, j0)`, from packed A and B micro-panels.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `vc` must lie inside `c`.
#[target_feature(enable = "avx2,fma")]
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
    let mut tile = [0f32; MR * NR];
    for (strip, jr) in (0..nc).step_by(NR).enumerate() {
        let nr = NR.min(nc - jr);
        let (bpanel, bs) = panels.strip::<NR>(strip, jr, nr, kc);
        for (panel, ir) in (0..mc).step_by(MR).enumerate() {
            let mr = MR.min(mc - ir);
            let apanel = &ap[panel * MR * kc..(panel + 1) * MR * kc];
            let (row0, col0) = (i0 + ir, j0 + jr);
            if nr == NR && vc.cs == 1 {
                let at = row0 * vc.rs + col0;
                // Safety: the view lies inside `c` (checked by the public entry points); rows row0..row0+mr,
                // columns col0..col0+16 are inside it, contiguous along a row (cs == 1).
                unsafe { kernel(apanel, bpanel, bs, alpha, store, c.as_mut_ptr().add(at), vc.rs, mr, ahead) };
            } else {
                // Safety: `tile` holds MR rows of NR contiguous floats.
                unsafe { kernel(apanel, bpanel, bs, 1.0, Store::Overwrite, tile.as_mut_ptr(), NR, MR, ahead) };
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

/// A packing buffer on a cache-line boundary, so no vector load of a micro-panel straddles two lines.
#[repr(C, align(64))]
struct Aligned<const N: usize>([f32; N]);

/// A packing buffer on the stack whose floats are initialised only as far as a product uses them, so a
/// small product does not clear 390 KiB of buffers first (that clearing was 4% of an m3vit-t run).
pub(super) struct Lazy<const N: usize> {
    buf: MaybeUninit<Aligned<N>>,
    /// Floats from the start already written at least once.
    init: usize,
}

impl<const N: usize> Lazy<N> {
    pub(super) fn new() -> Self {
        Self { buf: MaybeUninit::uninit(), init: 0 }
    }

    /// The first `len` floats (at most `N`), zeroed where they were never written.
    pub(super) fn get(&mut self, len: usize) -> &mut [f32] {
        let len = len.min(N);
        let p = self.buf.as_mut_ptr().cast::<f32>();
        if len > self.init {
            // Safety: `init..len` lies inside the buffer of N floats (`Aligned` is `repr(C)` over `[f32; N]`).
            unsafe { core::ptr::write_bytes(p.add(self.init), 0, len - self.init) };
            self.init = len;
        }
        // Safety: the first `init ≥ len` floats have been written (zeros, then whatever was packed), and
        // the slice borrows `self` mutably, so nothing else reaches the buffer meanwhile.
        unsafe { core::slice::from_raw_parts_mut(p, len) }
    }
}

/// Packs rows `i0..i0+mc`, columns `p0..p0+kc` of A into `MR`-row micro-panels: element `(r, p)` of
/// panel `q` at `q·MR·kc + p·MR + r`; rows past `mc` are zero.
pub(super) fn pack_a(a: &[f32], va: View, i0: usize, mc: usize, p0: usize, kc: usize, ap: &mut [f32]) {
    for (q, panel) in ap.chunks_exact_mut(MR * kc).take(mc.div_ceil(MR)).enumerate() {
        for r in 0..MR {
            let i = q * MR + r;
            if i >= mc {
                for p in 0..kc {
                    panel[p * MR + r] = 0.0;
                }
                continue;
            }
            let base = (i0 + i) * va.rs + p0 * va.cs;
            if va.cs == 1 {
                for (p, &v) in a[base..base + kc].iter().enumerate() {
                    panel[p * MR + r] = v;
                }
            } else {
                for p in 0..kc {
                    panel[p * MR + r] = a[base + p * va.cs];
                }
            }
        }
    }
}

/// The register tile: `c[r·rs + j] (+)= alpha · Σ_p a[p·MR + r] · b[p·bs + j]` for `r < rows ≤ 6`, `j < 16`
/// (`=` or `+=` as `store` says).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `c` must point to `rows` rows, `rs` floats apart, of 16 writable
/// floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    a: &[f32],
    b: &[f32],
    bs: usize,
    alpha: f32,
    store: Store,
    c: *mut f32,
    rs: usize,
    rows: usize,
    ahead: &mut Ahead,
) {
    let kc = a.len() / MR;
    if kc == 0 {
        return;
    }
    let b = &b[..(kc - 1) * bs + NR];
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    // Start fetching the C tile now: its rows are far apart in large outputs, and the K loop hides the
    // latency of the misses.
    if store == Store::Add {
        for r in 0..rows.min(MR) {
            let row = c.wrapping_add(r * rs) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(row);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(60));
        }
    }
    let mut acc: [__m256; 2 * MR] = [_mm256_setzero_ps(); 2 * MR];
    // This call's share of the lines fetched ahead, one every `every` K steps.
    let (mut line, every) = ahead.take(kc);
    let mut countdown = every;
    for p in 0..kc {
        countdown -= 1;
        if countdown == 0 {
            countdown = every;
            _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
            line += 64;
        }
        // Safety: p < kc, so the 16 floats at bp + p·bs and the 6 at ap + 6p are inside `b` and `a`.
        unsafe {
            let b0 = _mm256_loadu_ps(bp.add(p * bs));
            let b1 = _mm256_loadu_ps(bp.add(p * bs + 8));
            for r in 0..MR {
                let ar = _mm256_broadcast_ss(&*ap.add(p * MR + r));
                acc[2 * r] = _mm256_fmadd_ps(ar, b0, acc[2 * r]);
                acc[2 * r + 1] = _mm256_fmadd_ps(ar, b1, acc[2 * r + 1]);
            }
        }
    }
    let al = _mm256_set1_ps(alpha);
    for r in 0..rows.min(MR) {
        // Safety: the caller guarantees row r's 16 floats at c + r·rs are writable.
        unsafe {
            let row = c.add(r * rs);
            let (lo, hi) = match store {
                // alpha · tile rounds exactly as alpha · tile + 0 would.
                Store::Overwrite => (_mm256_mul_ps(acc[2 * r], al), _mm256_mul_ps(acc[2 * r + 1], al)),
                Store::Add => (
                    _mm256_fmadd_ps(acc[2 * r], al, _mm256_loadu_ps(row)),
                    _mm256_fmadd_ps(acc[2 * r + 1], al, _mm256_loadu_ps(row.add(8))),
                ),
            };
            _mm256_storeu_ps(row, lo);
            _mm256_storeu_ps(row.add(8), hi);
        }
    }
}
