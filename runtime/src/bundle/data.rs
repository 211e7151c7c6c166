//! [`TensorData`]: a weight tensor's elements as stored, borrowed from the bundle bytes.

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::Dtype;
use crate::fixed::quant::{Channels, Int8Scale};

/// A weight tensor's elements, borrowed from the bundle bytes (never copied). Elements are row-major in the
/// layout `model.rs` documents, whatever the type.
#[derive(Clone, Copy, Debug)]
pub enum TensorData<'a> {
    /// f32 elements, used in place.
    F32(&'a [f32]),
    /// f16 elements, widened by the kernels before use.
    F16(&'a [f16]),
    /// 16-bit fixed point (quantized bundles): raw two's complement values `r`, each standing for
    /// `r · 2^-frac`. The format is the bundle profile's for the tensor's class,
    /// `profile.format(ValueClass::of(kind))`, and `frac` its fraction bits.
    Q16 {
        /// The raw values.
        values: &'a [i16],
        /// Fraction bits of the tensor's format (`Format::frac`).
        frac: i32,
    },
    /// int8 values with their scales (the matrices of an int8 profile's bundle).
    Q8(Q8Data<'a>),
}

/// An int8 tensor: value `q` of element `i` stands for `q · m · 2^-s` with `(m, s)` the scale
/// [`Q8Data::scale`]`(i)`.
#[derive(Clone, Copy, Debug)]
pub struct Q8Data<'a> {
    /// The int8 values, one per element.
    pub values: &'a [i8],
    /// The scale words ([`Int8Scale::to_word`]): one per output channel when `per_channel`, else one for
    /// the whole tensor. Every word of a parsed bundle decodes with [`Int8Scale::from_word`].
    pub scales: &'a [u32],
    /// Whether the tensor has one scale per output channel (else one).
    pub per_channel: bool,
    /// How elements map to output channels (`Channels::of(kind, shape)`), also for a per-tensor scale.
    pub channels: Channels,
}

impl Q8Data<'_> {
    /// The index in [`Q8Data::scales`] of element `element`'s scale: its output channel, or 0.
    pub const fn scale_index(&self, element: usize) -> usize {
        if self.per_channel {
            self.channels.of_index(element)
        } else {
            0
        }
    }

    /// Element `element`'s scale, or `None` past the scales (never for an element of a parsed bundle).
    pub fn scale(&self, element: usize) -> Option<Int8Scale> {
        self.scales.get(self.scale_index(element)).copied().and_then(Int8Scale::from_word)
    }
}

impl<'a> TensorData<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(s) => s.len(),
            TensorData::F16(s) => s.len(),
            TensorData::Q16 { values, .. } => values.len(),
            TensorData::Q8(q) => q.values.len(),
        }
    }

    /// True when the tensor has no elements (never the case for a tensor of a parsed bundle).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            TensorData::F32(_) => Dtype::F32,
            TensorData::F16(_) => Dtype::F16,
            TensorData::Q16 { .. } => Dtype::Q16,
            TensorData::Q8(_) => Dtype::Q8,
        }
    }

    /// The bytes of elements `range` (for prefetching them; an int8 tensor's scales are not included), or
    /// `None` when the range is outside the tensor.
    pub fn bytes_of(&self, range: core::ops::Range<usize>) -> Option<&'a [u8]> {
        Some(match *self {
            TensorData::F32(s) => bytemuck::cast_slice(s.get(range)?),
            TensorData::F16(s) => bytemuck::cast_slice::<u16, u8>(s.get(range)?.reinterpret_cast()),
            TensorData::Q16 { values, .. } => bytemuck::cast_slice(values.get(range)?),
            TensorData::Q8(q) => bytemuck::cast_slice(q.values.get(range)?),
        })
    }

    /// Size of the stored elements in bytes (an int8 tensor's scale words included, the padding before
    /// them not).
    pub fn byte_len(&self) -> usize {
        match self {
            TensorData::F32(s) => core::mem::size_of_val(*s),
            TensorData::F16(s) => core::mem::size_of_val(*s),
            TensorData::Q16 { values, .. } => core::mem::size_of_val(*values),
            TensorData::Q8(q) => q.values.len() + core::mem::size_of_val(q.scales),
        }
    }
}
