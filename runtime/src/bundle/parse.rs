//! [`Bundle::parse`]: the one-time validation of a bundle's bytes.

use bytemuck::PodCastError;
use half::slice::HalfBitsSliceExt;

use super::header::HeaderWire;
use super::layout::{crc32, u64_of, Preamble, TensorRecord, RECORD_LEN};
use super::reader::Bundle;
use super::{Dtype, TensorData, TENSOR_ALIGN};
use crate::model::{self, MAX_TASKS};
use crate::{Error, Result};

fn crc_check(part: &'static str, bytes: &[u8], stored: u32) -> Result<()> {
    let computed = crc32(bytes);
    if computed == stored {
        Ok(())
    } else {
        Err(Error::CrcMismatch { part, stored, computed })
    }
}

const OUT_OF_BOUNDS: Error = Error::Inconsistent { what: "tensor data out of bounds" };

impl<'a> Bundle<'a> {
    /// Validates `bytes` as a bundle: preamble, section bounds, zero padding, the three CRCs, the
    /// header (hyperparameters, tasks, tensor count, scratch size) and every tensor record (canonical
    /// order, type, shape, length, 64-byte aligned non-overlapping in-bounds data, memory alignment).
    ///
    /// Bytes after the bundle's end are ignored, so a whole flash partition may be passed.
    /// `bytes` should start at a 64-byte aligned address; f32 tensors need 4, f16 tensors 2, else
    /// [`Error::Misaligned`] names `"bundle bytes"`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Self::parse_with(bytes, crc32)
    }

    /// [`parse`](Self::parse) with the weights section's CRC computed by `weights_crc` (given exactly that
    /// section; it must return [`crc32`] of it). A host that maps the file uses this to read the weights
    /// piece by piece and release each piece's pages, so checking the CRC does not make the whole file
    /// resident; everything else is checked as in `parse`.
    pub fn parse_with(bytes: &'a [u8], weights_crc: impl FnOnce(&[u8]) -> u32) -> Result<Self> {
        let p = Preamble::read(bytes)?;
        let s = p.sections()?;
        let total = s.total();
        let bytes = bytes.get(..total).ok_or(Error::Truncated { needed: u64_of(total), have: u64_of(bytes.len()) })?;
        let gap = |r: core::ops::Range<usize>| bytes.get(r).ok_or(Error::Malformed { what: "section bounds" });
        let pad_a = gap(s.header.end..s.table.start)?;
        let pad_b = gap(s.table.end..s.weights.start)?;
        if pad_a.iter().chain(pad_b).any(|&b| b != 0) {
            return Err(Error::Malformed { what: "padding between sections (must be zero)" });
        }
        let header = gap(s.header.clone())?;
        let table = gap(s.table.clone())?;
        crc_check("header", header, p.header_crc)?;
        crc_check("tensor table", table, p.table_crc)?;
        let weights = gap(s.weights.clone())?;
        let computed = weights_crc(weights);
        if computed != p.weights_crc {
            return Err(Error::CrcMismatch { part: "weights", stored: p.weights_crc, computed });
        }

        let (wire, rest) =
            postcard::take_from_bytes::<HeaderWire<'a>>(header).map_err(|_| Error::Malformed { what: "header" })?;
        if !rest.is_empty() {
            return Err(Error::Malformed { what: "header (bytes after its last field)" });
        }
        let hyper = wire.hyper()?;
        let mut tasks = [None; MAX_TASKS];
        wire.tasks(&mut tasks)?;
        let tensor_count = model::tensor_count(&hyper);
        if wire.tensor_count != tensor_count {
            return Err(Error::Inconsistent { what: "tensor count differs from the model's" });
        }
        if u64::from(p.table_len) != u64::from(tensor_count).saturating_mul(u64_of(RECORD_LEN)) {
            return Err(Error::Inconsistent { what: "tensor table length differs from the tensor count" });
        }
        let scratch_floats = usize::try_from(wire.scratch_floats)
            .ok()
            .filter(|&n| n != 0 && n.checked_mul(4).is_some_and(|b| b <= isize::MAX.unsigned_abs()))
            .ok_or(Error::Inconsistent { what: "scratch_floats is 0 or too large for this target" })?;
        let max_out_channels = tasks.iter().flatten().map(|t| t.out_channels).max().unwrap_or(0);
        let bundle = Bundle {
            bytes,
            table,
            hyper,
            tasks,
            tensor_count,
            scratch_floats,
            max_out_channels,
            weights: (s.weights.start, s.weights.end),
        };
        bundle.check_tensors()?;
        Ok(bundle)
    }

    /// Checks every tensor record and that its data can be borrowed.
    fn check_tensors(&self) -> Result<()> {
        let mut prev_end = self.weights.0;
        for i in 0..self.tensor_count {
            let rec = TensorRecord::read(self.table, i)?;
            if rec.index != i {
                return Err(Error::Inconsistent { what: "tensor table not in canonical order" });
            }
            let key = model::canonical_key(&self.hyper, i)
                .ok_or(Error::UnknownTensor { index: i, count: self.tensor_count })?;
            let dtype = rec.dtype().ok_or(Error::UnsupportedDtype { code: rec.dtype })?;
            if rec.reserved != 0 {
                return Err(Error::Malformed { what: "tensor record (reserved field not 0)" });
            }
            let channels = self.task(key.task)?.out_channels;
            let expected = model::expected_shape(&self.hyper, key, channels);
            if rec.shape() != Some(expected) {
                return Err(Error::TensorShape { index: i });
            }
            if expected.numel().checked_mul(u64_of(dtype.size())) != Some(rec.len) {
                return Err(Error::Inconsistent { what: "tensor byte length differs from its shape" });
            }
            if rec.offset % u64_of(TENSOR_ALIGN) != 0 {
                return Err(Error::Misaligned { what: "tensor offset", align: TENSOR_ALIGN });
            }
            let range = rec.range().ok_or(OUT_OF_BOUNDS)?;
            if range.start < prev_end {
                return Err(Error::Inconsistent {
                    what: "tensor data overlaps the previous tensor or the tensor table",
                });
            }
            if range.end > self.weights.1 {
                return Err(OUT_OF_BOUNDS);
            }
            prev_end = range.end;
            self.data(&rec)?;
        }
        Ok(())
    }

    /// Borrows a record's data with its element type.
    pub(super) fn data(&self, rec: &TensorRecord) -> Result<TensorData<'a>> {
        let bytes = self.bytes.get(rec.range().ok_or(OUT_OF_BOUNDS)?).ok_or(OUT_OF_BOUNDS)?;
        let dtype = rec.dtype().ok_or(Error::UnsupportedDtype { code: rec.dtype })?;
        let cast_err = |e: PodCastError| match e {
            PodCastError::TargetAlignmentGreaterAndInputNotAligned => {
                Error::Misaligned { what: "bundle bytes", align: dtype.size() }
            }
            _ => Error::Inconsistent { what: "tensor byte length differs from its shape" },
        };
        Ok(match dtype {
            Dtype::F32 => TensorData::F32(bytemuck::try_cast_slice::<u8, f32>(bytes).map_err(cast_err)?),
            Dtype::F16 => {
                let bits = bytemuck::try_cast_slice::<u8, u16>(bytes).map_err(cast_err)?;
                TensorData::F16(bits.reinterpret_cast())
            }
        })
    }
}
