//! Where a GEMM reads its right-hand matrix B from: a strided matrix in memory, or an image read as its
//! im2col matrix without ever building that matrix (implicit im2col).

use super::View;

/// A `K × N` right-hand matrix that can write any block of itself into `NR`-column micro-panels.
pub trait PackB {
    /// Rows (`K`) and columns (`N`).
    fn shape(&self) -> (usize, usize);

    /// Writes rows `p0..p0+kc`, columns `j0..j0+nc` into `NR`-column micro-panels: element `(p, j)` of
    /// strip `s` goes to `bp[s·kc·NR + p·NR + j]`; columns past `nc` in the last strip are zero. The block
    /// must lie inside the matrix and `bp` must hold `kc · NR · ⌈nc / NR⌉` floats.
    fn pack<const NR: usize>(&self, p0: usize, kc: usize, j0: usize, nc: usize, bp: &mut [f32]);

    /// The elements and row stride, when B lies in memory with unit column stride and can be read in place.
    fn in_place(&self) -> Option<(&[f32], usize)> {
        None
    }

    /// Whether to pack B even though it could be read in place, for a product with `rows_of_a` rows.
    fn worth_packing(&self, _rows_of_a: usize) -> bool {
        true
    }
}

/// A matrix in memory, addressed through a [`View`] already checked to lie inside `data`.
#[derive(Clone, Copy, Debug)]
pub struct MatrixB<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Its shape and strides.
    pub view: View,
}

impl PackB for MatrixB<'_> {
    fn shape(&self) -> (usize, usize) {
        (self.view.rows, self.view.cols)
    }

    fn in_place(&self) -> Option<(&[f32], usize)> {
        (self.view.cs == 1).then_some((self.data, self.view.rs))
    }

    fn worth_packing(&self, rows_of_a: usize) -> bool {
        // Packing pays once enough rows of A reuse each packed panel (and it keeps far-apart rows of a
        // wide B out of the micro-kernel's loads).
        rows_of_a >= IN_PLACE_BELOW
    }

    fn pack<const NR: usize>(&self, p0: usize, kc: usize, j0: usize, nc: usize, bp: &mut [f32]) {
        let (b, v) = (self.data, self.view);
        let strips = nc.div_ceil(NR);
        for p in 0..kc {
            let src = (p0 + p) * v.rs + j0 * v.cs;
            for s in 0..strips {
                let width = NR.min(nc - s * NR);
                let dst = &mut bp[s * kc * NR + p * NR..][..NR];
                let at = src + s * NR * v.cs;
                if v.cs == 1 && width == NR {
                    // A constant length, so this compiles to vector moves rather than a memcpy call.
                    dst.copy_from_slice(&b[at..at + NR]);
                } else {
                    for (j, slot) in dst.iter_mut().enumerate() {
                        *slot = if j < width { b[at + j * v.cs] } else { 0.0 };
                    }
                }
            }
        }
    }
}

/// Products with fewer rows of A than this read B in place (the MoE experts' short queues).
const IN_PLACE_BELOW: usize = 64;

/// Columns of one im2col row produced at a time (a multiple of every `NR` used).
const LINE: usize = 256;

/// The im2col matrix of a `cin × h × w` image for a `k × k` convolution with `stride` and zero padding
/// `pad`, restricted to output rows `y0 .. y0 + ho`: row `(ci·k + ky)·k + kx`, column `y·wo + x` holds
/// `input[ci][(y0 + y)·stride + ky − pad][x·stride + kx − pad]` (zero outside the image).
#[derive(Clone, Copy, Debug)]
pub struct Im2colB<'a> {
    /// The image, `cin × h × w`, already checked to be that long.
    pub input: &'a [f32],
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel size.
    pub k: usize,
    /// Stride (at least 1).
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
    /// First output row.
    pub y0: usize,
    /// Output rows (from `y0`).
    pub ho: usize,
    /// Output width.
    pub wo: usize,
}

impl Im2colB<'_> {
    /// Writes `dst.len()` consecutive elements of row `kidx`, starting at column `j`.
    fn row_run(&self, kidx: usize, j: usize, dst: &mut [f32]) {
        let (k, s) = (self.k, self.stride);
        let (ci, ky, kx) = (kidx / (k * k), kidx / k % k, kidx % k);
        let plane = &self.input[ci * self.h * self.w..(ci + 1) * self.h * self.w];
        let mut done = 0;
        while done < dst.len() {
            let (y, x) = (self.y0 + (j + done) / self.wo, (j + done) % self.wo);
            let seg = (dst.len() - done).min(self.wo - x);
            let out = &mut dst[done..done + seg];
            let iy = (y * s + ky).wrapping_sub(self.pad);
            if iy >= self.h {
                out.fill(0.0);
            } else {
                let row = &plane[iy * self.w..(iy + 1) * self.w];
                // Input column of output column x + t is (x + t)·s + kx − pad; it is inside for t in lo..hi.
                let first = (x * s + kx) as isize - self.pad as isize;
                let lo = if first >= 0 { 0 } else { ((-first) as usize).div_ceil(s) }.min(seg);
                let hi = if first >= self.w as isize { 0 } else { (self.w as isize - first) as usize }
                    .div_ceil(s)
                    .clamp(lo, seg);
                out[..lo].fill(0.0);
                out[hi..].fill(0.0);
                if lo < hi {
                    let start = (first + (lo * s) as isize) as usize;
                    if s == 1 {
                        out[lo..hi].copy_from_slice(&row[start..start + (hi - lo)]);
                    } else {
                        for (t, o) in out[lo..hi].iter_mut().enumerate() {
                            *o = row[start + t * s];
                        }
                    }
                }
            }
            done += seg;
        }
    }
}

impl PackB for Im2colB<'_> {
    fn shape(&self) -> (usize, usize) {
        (self.cin * self.k * self.k, self.ho * self.wo)
    }

    fn pack<const NR: usize>(&self, p0: usize, kc: usize, j0: usize, nc: usize, bp: &mut [f32]) {
        // Each row of the block is read from the image as long runs into `line`, then dealt out to strips.
        let mut line = [0f32; LINE];
        for c0 in (0..nc).step_by(LINE) {
            let width = LINE.min(nc - c0);
            for p in 0..kc {
                self.row_run(p0 + p, j0 + c0, &mut line[..width]);
                let padded = width.div_ceil(NR) * NR;
                line[width..padded].fill(0.0);
                for (i, chunk) in line[..padded].chunks_exact(NR).enumerate() {
                    let s = c0 / NR + i;
                    bp[s * kc * NR + p * NR..][..NR].copy_from_slice(chunk);
                }
            }
        }
    }
}
