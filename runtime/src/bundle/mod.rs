//! The bundle format `.m3b`: one file holding a model's hyperparameters, task table and every weight
//! tensor, read in place (zero-copy) from flash, DDR or a memory-mapped file.
//!
//! ```text
//! offset 0            preamble (40 bytes, fixed little-endian fields: magic, version, lengths, CRCs)
//! offset 40           header (postcard: hyperparameters, task table, tensor count, scratch size)
//! align 8             tensor table (one 40-byte little-endian record per tensor, canonical order)
//! align 64            weight data (each tensor at a 64-byte aligned offset from the file start)
//! ```
//!
//! The byte-level specification, with the stability rule, is `docs/bundle-format.md`.
//!
//! [`Bundle::parse`] validates everything once (all three CRCs, the hyperparameters, the task table,
//! every tensor's position, shape and type) and never panics, whatever the bytes. After that, the
//! accessors are O(1) and hand out slices of the original bytes.
//!
//! The bytes should start at a 64-byte aligned address: tensors are then 64-byte aligned in memory
//! too. The reader itself needs 4 bytes for f32 tensors and 2 for f16 tensors and otherwise returns
//! [`Error::Misaligned`](crate::Error::Misaligned). With `alloc`, [`AlignedBytes`] loads a file into
//! 64-byte aligned memory.

mod header;
pub mod layout;
mod parse;
mod reader;

#[cfg(feature = "alloc")]
mod aligned;
#[cfg(feature = "alloc")]
mod writer;

#[cfg(feature = "alloc")]
pub use aligned::AlignedBytes;
pub use layout::{Crc32Stream, Preamble, TensorRecord};
pub use reader::Bundle;
#[cfg(feature = "alloc")]
pub use writer::BundleWriter;

use half::f16;
use half::slice::HalfFloatSliceExt;

/// The first eight bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"M3RTBNDL";
/// The format version this runtime reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Alignment, in bytes from the file start, of every tensor's data (and of the weight section).
pub const TENSOR_ALIGN: usize = 64;

/// Reader limit: the largest image side (`image_h`, `image_w`) a bundle may declare.
pub const MAX_IMAGE_SIDE: u32 = 1 << 14;
/// Reader limit: the largest width (`patch`, `dim`, `heads`, `mlp_hidden`, `expert_hidden`,
/// `head_width`) a bundle may declare.
pub const MAX_WIDTH: u32 = 1 << 20;
/// Reader limit: the largest number of output channels of one task.
pub const MAX_OUT_CHANNELS: u32 = 1 << 16;

/// Element type of a stored weight tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Dtype {
    /// IEEE 754 binary32, little-endian.
    F32 = 0,
    /// IEEE 754 binary16, little-endian (rounded to nearest even by the writer).
    F16 = 1,
}

impl Dtype {
    /// Decodes the stored type code.
    pub const fn from_u8(code: u8) -> Option<Self> {
        match code {
            0 => Some(Dtype::F32),
            1 => Some(Dtype::F16),
            _ => None,
        }
    }

    /// Bytes per element (also the alignment the element needs in memory).
    pub const fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 => 2,
        }
    }
}

/// A weight tensor's elements, borrowed from the bundle bytes.
#[derive(Clone, Copy, Debug)]
pub enum TensorData<'a> {
    /// f32 elements, used in place.
    F32(&'a [f32]),
    /// f16 elements, widened by the kernels before use.
    F16(&'a [f16]),
}

impl<'a> TensorData<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(s) => s.len(),
            TensorData::F16(s) => s.len(),
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
        }
    }

    /// The bytes of elements `range` (for prefetching them), or `None` when the range is outside the tensor.
    pub fn bytes_of(&self, range: core::ops::Range<usize>) -> Option<&'a [u8]> {
        Some(match *self {
            TensorData::F32(s) => bytemuck::cast_slice(s.get(range)?),
            TensorData::F16(s) => bytemuck::cast_slice::<u16, u8>(s.get(range)?.reinterpret_cast()),
        })
    }

    /// Size of the elements in bytes.
    pub fn byte_len(&self) -> usize {
        match self {
            TensorData::F32(s) => core::mem::size_of_val(*s),
            TensorData::F16(s) => core::mem::size_of_val(*s),
        }
    }
}
