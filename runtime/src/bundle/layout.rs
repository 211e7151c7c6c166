//! The fixed-size little-endian parts of a bundle: the preamble, the tensor records, where each
//! section starts and the CRC. Public so that tools (`m3rt inspect`) and tests can read and patch them.

use core::ops::Range;

use crc::{Crc, CRC_32_ISO_HDLC};

use super::quantized::KNOWN_FLAGS;
use super::{Dtype, FORMAT_VERSION, MAGIC, TENSOR_ALIGN};
use crate::model::{Shape, MAX_RANK};
use crate::{Error, Result};

/// Size of the preamble; the header starts right after it.
pub const PREAMBLE_LEN: usize = 40;
/// Size of one tensor record.
pub const RECORD_LEN: usize = 40;
/// Alignment of the tensor table, in bytes from the file start.
pub const TABLE_ALIGN: usize = 8;

/// Slice-by-16 tables (16 KiB) on hosts, where bundles are large; one 1 KiB table on small targets.
#[cfg(feature = "std")]
type CrcTable = crc::Table<16>;
#[cfg(not(feature = "std"))]
type CrcTable = crc::Table<1>;

static CRC32: Crc<u32, CrcTable> = Crc::<u32, CrcTable>::new(&CRC_32_ISO_HDLC);

/// CRC-32/ISO-HDLC (the zlib / Ethernet CRC) of `bytes`, as stored in the preamble.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// [`crc32`] computed piece by piece: the value over the concatenation of every [`update`](Self::update).
pub struct Crc32Stream(crc::Digest<'static, u32, CrcTable>);

impl Crc32Stream {
    /// A CRC over no bytes yet.
    pub fn new() -> Self {
        Self(CRC32.digest())
    }
    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// The CRC of everything added.
    pub fn finish(self) -> u32 {
        self.0.finalize()
    }
}

impl Default for Crc32Stream {
    fn default() -> Self {
        Self::new()
    }
}

/// `x` rounded up to a multiple of the power of two `align`, or `None` on overflow.
pub(crate) fn align_up(x: u64, align: usize) -> Option<u64> {
    let mask = u64::try_from(align).ok()?.checked_sub(1)?;
    Some(x.checked_add(mask)? & !mask)
}

/// `n` as a u64 (saturating; only 128-bit targets could saturate).
pub(crate) fn u64_of(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn le<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    le(b, at).map(u16::from_le_bytes)
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    le(b, at).map(u32::from_le_bytes)
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    le(b, at).map(u64::from_le_bytes)
}

/// The fixed 40-byte start of a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    /// Format version (bytes 8..10).
    pub version: u16,
    /// Feature flags (bytes 10..12): bit 0 ([`FLAG_QUANTIZED`](super::FLAG_QUANTIZED)) marks a quantized
    /// bundle; the other bits must be 0.
    pub flags: u16,
    /// Length of the postcard header (bytes 12..16).
    pub header_len: u32,
    /// CRC-32 of the header bytes (bytes 16..20).
    pub header_crc: u32,
    /// Length of the tensor table, a multiple of [`RECORD_LEN`] (bytes 20..24).
    pub table_len: u32,
    /// CRC-32 of the tensor table bytes (bytes 24..28).
    pub table_crc: u32,
    /// CRC-32 of the weight section bytes, padding between tensors included (bytes 28..32).
    pub weights_crc: u32,
    /// Length of the weight section (bytes 32..40); the bundle ends with it.
    pub weights_len: u64,
}

/// Where the sections of a bundle lie, in bytes from the file start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sections {
    /// The postcard header: `PREAMBLE_LEN .. PREAMBLE_LEN + header_len`.
    pub header: Range<usize>,
    /// The tensor table: starts at the header end rounded up to [`TABLE_ALIGN`].
    pub table: Range<usize>,
    /// The weight data: starts at the table end rounded up to [`TENSOR_ALIGN`]; ends the bundle.
    pub weights: Range<usize>,
}

impl Preamble {
    /// Decodes the preamble at the start of `bytes`, checking the magic, the version and that no unknown
    /// flag is set.
    pub fn read(bytes: &[u8]) -> Result<Self> {
        let truncated = Error::Truncated { needed: u64_of(PREAMBLE_LEN), have: u64_of(bytes.len()) };
        let b = bytes.get(..PREAMBLE_LEN).ok_or(truncated)?;
        if b.get(..8) != Some(&MAGIC[..]) {
            return Err(Error::BadMagic);
        }
        let field = Error::Malformed { what: "preamble" };
        let version = u16_at(b, 8).ok_or(field)?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        let p = Preamble {
            version,
            flags: u16_at(b, 10).ok_or(field)?,
            header_len: u32_at(b, 12).ok_or(field)?,
            header_crc: u32_at(b, 16).ok_or(field)?,
            table_len: u32_at(b, 20).ok_or(field)?,
            table_crc: u32_at(b, 24).ok_or(field)?,
            weights_crc: u32_at(b, 28).ok_or(field)?,
            weights_len: u64_at(b, 32).ok_or(field)?,
        };
        if p.flags & !KNOWN_FLAGS != 0 {
            return Err(Error::Malformed { what: "preamble flags (only bit 0 is defined in version 1)" });
        }
        Ok(p)
    }

    /// The encoded preamble, magic included.
    pub fn to_bytes(&self) -> [u8; PREAMBLE_LEN] {
        let mut b = [0u8; PREAMBLE_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.version.to_le_bytes());
        b[10..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..16].copy_from_slice(&self.header_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.header_crc.to_le_bytes());
        b[20..24].copy_from_slice(&self.table_len.to_le_bytes());
        b[24..28].copy_from_slice(&self.table_crc.to_le_bytes());
        b[28..32].copy_from_slice(&self.weights_crc.to_le_bytes());
        b[32..40].copy_from_slice(&self.weights_len.to_le_bytes());
        b
    }

    /// The section ranges the lengths imply. `Malformed` when they do not fit the address space.
    pub fn sections(&self) -> Result<Sections> {
        Self::sections_of(u64::from(self.header_len), u64::from(self.table_len), self.weights_len)
            .ok_or(Error::Malformed { what: "preamble lengths (bundle larger than the address space)" })
    }

    fn sections_of(header_len: u64, table_len: u64, weights_len: u64) -> Option<Sections> {
        let header_start = u64_of(PREAMBLE_LEN);
        let header_end = header_start.checked_add(header_len)?;
        let table_start = align_up(header_end, TABLE_ALIGN)?;
        let table_end = table_start.checked_add(table_len)?;
        let weights_start = align_up(table_end, TENSOR_ALIGN)?;
        let weights_end = weights_start.checked_add(weights_len)?;
        // Every end fits `usize` once the last one does, as they ascend.
        let u = |x: u64| usize::try_from(x).ok();
        Some(Sections {
            header: u(header_start)?..u(header_end)?,
            table: u(table_start)?..u(table_end)?,
            weights: u(weights_start)?..u(weights_end)?,
        })
    }
}

impl Sections {
    /// Total size of the bundle in bytes.
    pub fn total(&self) -> usize {
        self.weights.end
    }
}

/// One entry of the tensor table: a tensor's canonical index, type, shape and place in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorRecord {
    /// Canonical index (bytes 0..4); equals the record's position in the table.
    pub index: u32,
    /// Type code (byte 4): 0 = f32, 1 = f16, 2 = Q16, 3 = Q8 (see [`Dtype`]).
    pub dtype: u8,
    /// Number of dimensions, 1..=4 (byte 5).
    pub rank: u8,
    /// Reserved, 0 (bytes 6..8).
    pub reserved: u16,
    /// Dimensions (bytes 8..24, four u32); the ones past `rank` are 1.
    pub dims: [u32; MAX_RANK],
    /// Offset of the data from the file start, a multiple of 64 (bytes 24..32).
    pub offset: u64,
    /// Length of the data in bytes (bytes 32..40): elements × element size, or for int8 tensors
    /// `align4(elements) + 4 · scales`.
    pub len: u64,
}

impl TensorRecord {
    /// Decodes record `i` of the tensor `table`.
    pub fn read(table: &[u8], i: u32) -> Result<Self> {
        let short = Error::Malformed { what: "tensor table (record past its end)" };
        let at = usize::try_from(i).ok().and_then(|i| i.checked_mul(RECORD_LEN)).ok_or(short)?;
        let r = table.get(at..at.checked_add(RECORD_LEN).ok_or(short)?).ok_or(short)?;
        let mut dims = [0u32; MAX_RANK];
        for (k, d) in dims.iter_mut().enumerate() {
            *d = u32_at(r, 8 + 4 * k).ok_or(short)?;
        }
        Ok(TensorRecord {
            index: u32_at(r, 0).ok_or(short)?,
            dtype: *r.get(4).ok_or(short)?,
            rank: *r.get(5).ok_or(short)?,
            reserved: u16_at(r, 6).ok_or(short)?,
            dims,
            offset: u64_at(r, 24).ok_or(short)?,
            len: u64_at(r, 32).ok_or(short)?,
        })
    }

    /// The encoded record.
    pub fn to_bytes(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0..4].copy_from_slice(&self.index.to_le_bytes());
        b[4] = self.dtype;
        b[5] = self.rank;
        b[6..8].copy_from_slice(&self.reserved.to_le_bytes());
        let dims = b.get_mut(8..8 + 4 * MAX_RANK).unwrap_or_default();
        for (field, d) in dims.chunks_exact_mut(4).zip(&self.dims) {
            field.copy_from_slice(&d.to_le_bytes());
        }
        b[24..32].copy_from_slice(&self.offset.to_le_bytes());
        b[32..40].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// The element type, if the code is known.
    pub fn dtype(&self) -> Option<Dtype> {
        Dtype::from_u8(self.dtype)
    }

    /// The shape, if the rank is 1..=4.
    pub fn shape(&self) -> Option<Shape> {
        (1..=MAX_RANK as u8).contains(&self.rank).then_some(Shape { dims: self.dims, rank: self.rank })
    }

    /// The data's byte range in the file, if it fits the address space.
    pub fn range(&self) -> Option<Range<usize>> {
        let start = usize::try_from(self.offset).ok()?;
        Some(start..start.checked_add(usize::try_from(self.len).ok()?)?)
    }
}
