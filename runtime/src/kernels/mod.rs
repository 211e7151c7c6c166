//! CPU kernels: one op family per file, each with a naive reference (`*_ref`) and a fast path tested
//! against it. Everything works on caller-provided slices and never allocates.

pub mod activation;
pub mod attention;
pub mod conv;
pub mod convert;
pub mod gemm;
pub mod norm;
pub mod patch;
pub mod resize;
pub mod simd;
#[cfg(test)]
mod testing;
pub mod winograd;

use crate::{Error, Result};

/// Checks that `buf` holds at least `needed` elements.
pub(crate) fn need(what: &'static str, buf: usize, needed: usize) -> Result<()> {
    if buf < needed {
        return Err(Error::ShapeMismatch { what, expected: needed, found: buf });
    }
    Ok(())
}

/// Rows per band: `fit` clamped to `[1, total]` (at least 1 even when `total` is 0).
pub(crate) const fn band_clamp(fit: usize, total: usize) -> usize {
    let rows = if fit < total { fit } else { total };
    if rows == 0 {
        1
    } else {
        rows
    }
}
