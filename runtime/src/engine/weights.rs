//! Weight access: f32 tensors are used in place; f16 and fixed-point (Q16, Q8) tensors are widened, exactly,
//! into a scratch region just before use (each matrix once per use, so the bytes read from the bundle are
//! the same either way). A quantized bundle thus runs on the f32 engine as its dequantized f32 model.

use core::ops::Range;

use crate::bundle::TensorData;
use crate::kernels::convert;
use crate::{Error, Result};

/// The elements `range` of `data` as f32: a slice of the bundle for f32 tensors, or `buf` filled with the
/// widened values for the others (`r · 2^-F` for Q16, `q · m · 2^-s` for Q8).
pub fn widen<'w, 'b: 'w>(data: TensorData<'b>, range: Range<usize>, buf: &'w mut [f32]) -> Result<&'w [f32]> {
    const OUT: Error = Error::Inconsistent { what: "weight slice out of range" };
    let len = range.len();
    if let TensorData::F32(s) = data {
        return s.get(range).ok_or(OUT);
    }
    let found = buf.len();
    let dst =
        buf.get_mut(..len).ok_or(Error::ShapeMismatch { what: "weight widening buffer", expected: len, found })?;
    match data {
        TensorData::F32(_) => return Err(OUT),
        TensorData::F16(s) => convert::f16_to_f32(s.get(range).ok_or(OUT)?, dst)?,
        TensorData::Q16 { values, frac } => convert::q16_to_f32(values.get(range).ok_or(OUT)?, frac, dst)?,
        TensorData::Q8(q) => convert::q8_to_f32(&q, range, dst)?,
    }
    Ok(dst)
}

/// A whole tensor as f32 (see [`widen`]).
pub fn widen_all<'w, 'b: 'w>(data: TensorData<'b>, buf: &'w mut [f32]) -> Result<&'w [f32]> {
    widen(data, 0..data.len(), buf)
}

/// The scratch regions weights are widened into: one matrix and two vectors.
pub struct WeightBufs<'s> {
    /// The largest matrix of the model.
    pub w: &'s mut [f32],
    /// First vector buffer.
    pub va: &'s mut [f32],
    /// Second vector buffer.
    pub vb: &'s mut [f32],
}
