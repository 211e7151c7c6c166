//! Weight access: f32 tensors are used in place; f16 tensors are widened into a scratch region just before
//! use (each matrix once per use, so the bytes read from the bundle are the same either way).

use core::ops::Range;

use crate::bundle::TensorData;
use crate::kernels::convert;
use crate::{Error, Result};

/// The elements `range` of `data` as f32: a slice of the bundle for f32 tensors, or `buf` filled with the
/// widened values for f16 tensors.
pub fn widen<'w, 'b: 'w>(data: TensorData<'b>, range: Range<usize>, buf: &'w mut [f32]) -> Result<&'w [f32]> {
    let len = range.len();
    match data {
        TensorData::F32(s) => s.get(range).ok_or(Error::Inconsistent { what: "weight slice out of range" }),
        TensorData::F16(s) => {
            let src = s.get(range).ok_or(Error::Inconsistent { what: "weight slice out of range" })?;
            let found = buf.len();
            let dst = buf.get_mut(..len).ok_or(Error::ShapeMismatch {
                what: "weight widening buffer",
                expected: len,
                found,
            })?;
            convert::f16_to_f32(src, dst)?;
            Ok(dst)
        }
    }
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
