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
//! too. The reader itself needs 4 bytes for f32 and int8 tensors (their scale words) and 2 for f16 and
//! 16-bit fixed-point tensors, and otherwise returns [`Error::Misaligned`](crate::Error::Misaligned).
//! With `alloc`, [`AlignedBytes`] loads a file into 64-byte aligned memory.
//!
//! A quantized bundle (preamble flag bit 0) carries a fixed-point [`Profile`](crate::fixed::Profile) and
//! stores its tensors as [`Dtype::Q16`] and [`Dtype::Q8`]; [`quantize`] (feature `alloc`) makes one from
//! an f32 or f16 bundle.

#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
mod data;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
mod header;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
pub mod layout;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
mod parse;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
pub mod quantized;
#[cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
mod reader;

#[cfg(feature = "alloc")]
mod aligned;
#[cfg(feature = "alloc")]
mod quantize;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "alloc")]
mod writer;

#[cfg(feature = "alloc")]
pub use aligned::AlignedBytes;
pub use data::{Q8Data, TensorData};
pub use layout::{Crc32Stream, Preamble, TensorRecord};
#[cfg(feature = "alloc")]
pub use quantize::{quantize, QuantReport, TensorQuant};
pub use quantized::{quantized_dtype, FLAG_QUANTIZED};
pub use reader::Bundle;
#[cfg(feature = "alloc")]
pub use writer::BundleWriter;

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
    /// 16-bit fixed point (quantized bundles only): i16 two's complement raw values, little-endian, in the
    /// profile's format for the tensor's class.
    Q16 = 2,
    /// int8 values, then at the next multiple of 4 bytes the u32 scale words (matrices of int8 profiles).
    Q8 = 3,
}

impl Dtype {
    /// Decodes the stored type code.
    pub const fn from_u8(code: u8) -> Option<Self> {
        match code {
            0 => Some(Dtype::F32),
            1 => Some(Dtype::F16),
            2 => Some(Dtype::Q16),
            3 => Some(Dtype::Q8),
            _ => None,
        }
    }

    /// Bytes per element (an int8 tensor's scale words come on top).
    pub const fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::Q16 => 2,
            Dtype::Q8 => 1,
        }
    }

    /// The alignment the tensor's data needs in memory: its element size, or 4 for int8 tensors (their
    /// scale words).
    pub const fn align(self) -> usize {
        match self {
            Dtype::F32 | Dtype::Q8 => 4,
            Dtype::F16 | Dtype::Q16 => 2,
        }
    }
}
