//! [`Bundle::parse`]: the one-time validation of a bundle's bytes.

use bytemuck::PodCastError;
use half::slice::HalfBitsSliceExt;

use super::header::HeaderWire;
use super::layout::{crc32, u64_of, Preamble, TensorRecord, RECORD_LEN};
use super::quantized::{dtype_allowed, q8_scales_at, scale_count, stored_len, ProfileWire, FLAG_QUANTIZED};
use super::reader::Bundle;
use super::{Dtype, Q8Data, TensorData, TENSOR_ALIGN};
use crate::fixed::quant::{Channels, Int8Scale};
use crate::fixed::{ValueClass, WeightMode};
use crate::model::{self, TensorKind, MAX_TASKS};
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
const LENGTH: Error = Error::Inconsistent { what: "tensor byte length differs from its shape" };

impl<'a> Bundle<'a> {
    /// Validates `bytes` as a bundle: preamble, section bounds, zero padding, the three CRCs, the
    /// header (hyperparameters, tasks, tensor count, scratch size, and the profile of a quantized bundle)
    /// and every tensor record (canonical order, type allowed by the profile, shape, length, 64-byte
    /// aligned non-overlapping in-bounds data, memory alignment, int8 scale words).
    ///
    /// Bytes after the bundle's end are ignored, so a whole flash partition may be passed.
    /// `bytes` should start at a 64-byte aligned address; f32 and int8 tensors need 4, f16 and Q16
    /// tensors 2, else [`Error::Misaligned`] names `"bundle bytes"`.
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
        let (profile, rest) = if p.flags & FLAG_QUANTIZED != 0 {
            let (wire, rest) = postcard::take_from_bytes::<ProfileWire>(rest)
                .map_err(|_| Error::Malformed { what: "header (profile of a quantized bundle)" })?;
            (Some(wire.profile()?), rest)
        } else {
            (None, rest)
        };
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
            profile,
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
            if !dtype_allowed(self.profile.as_ref(), key.kind, dtype) {
                return Err(Error::WrongDtype { index: i, code: rec.dtype });
            }
            if rec.reserved != 0 {
                return Err(Error::Malformed { what: "tensor record (reserved field not 0)" });
            }
            let channels = self.task(key.task)?.out_channels;
            let expected = model::expected_shape(&self.hyper, key, channels);
            if rec.shape() != Some(expected) {
                return Err(Error::TensorShape { index: i });
            }
            let scales = match (dtype, self.profile) {
                (Dtype::Q8, Some(p)) => scale_count(p.weights, key.kind, expected).ok_or(LENGTH)?,
                _ => 0,
            };
            if stored_len(dtype, expected.numel(), u64_of(scales)) != Some(rec.len) {
                return Err(LENGTH);
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
            if let TensorData::Q8(q) = self.data(&rec, key.kind)? {
                check_q8(self.bytes, range.start, &q, i)?;
            }
        }
        Ok(())
    }

    /// Borrows a record's data with its element type (a tensor of kind `kind`).
    pub(super) fn data(&self, rec: &TensorRecord, kind: TensorKind) -> Result<TensorData<'a>> {
        let bytes = self.bytes.get(rec.range().ok_or(OUT_OF_BOUNDS)?).ok_or(OUT_OF_BOUNDS)?;
        let dtype = rec.dtype().ok_or(Error::UnsupportedDtype { code: rec.dtype })?;
        let cast_err = |e: PodCastError| match e {
            PodCastError::TargetAlignmentGreaterAndInputNotAligned => {
                Error::Misaligned { what: "bundle bytes", align: dtype.align() }
            }
            _ => LENGTH,
        };
        let wrong = Error::WrongDtype { index: rec.index, code: rec.dtype };
        Ok(match dtype {
            Dtype::F32 => TensorData::F32(bytemuck::try_cast_slice::<u8, f32>(bytes).map_err(cast_err)?),
            Dtype::F16 => {
                let bits = bytemuck::try_cast_slice::<u8, u16>(bytes).map_err(cast_err)?;
                TensorData::F16(bits.reinterpret_cast())
            }
            Dtype::Q16 => {
                let p = self.profile.ok_or(wrong)?;
                let values = bytemuck::try_cast_slice::<u8, i16>(bytes).map_err(cast_err)?;
                TensorData::Q16 { values, frac: p.format(ValueClass::of(kind)).frac() }
            }
            Dtype::Q8 => {
                let p = self.profile.ok_or(wrong)?;
                let shape = rec.shape().ok_or(Error::TensorShape { index: rec.index })?;
                // Checks that the shape's sizes fit `usize`, so `Channels::of` is in range.
                scale_count(p.weights, kind, shape).ok_or(LENGTH)?;
                let n = usize::try_from(shape.numel()).map_err(|_| LENGTH)?;
                let values = bytes.get(..n).ok_or(LENGTH)?;
                let scales = bytes.get(q8_scales_at(n).ok_or(LENGTH)?..).ok_or(LENGTH)?;
                TensorData::Q8(Q8Data {
                    values: bytemuck::cast_slice::<u8, i8>(values),
                    scales: bytemuck::try_cast_slice::<u8, u32>(scales).map_err(cast_err)?,
                    per_channel: p.weights == WeightMode::Int8PerChannel,
                    channels: Channels::of(kind, shape),
                })
            }
        })
    }
}

/// Checks an int8 tensor starting at `start` in `bytes` (canonical index `index`): the padding between its
/// values and its scales is zero and every scale word decodes.
fn check_q8(bytes: &[u8], start: usize, q: &Q8Data<'_>, index: u32) -> Result<()> {
    let n = q.values.len();
    let pad = start.checked_add(n).zip(q8_scales_at(n).and_then(|a| start.checked_add(a)));
    let pad = pad.and_then(|(a, b)| bytes.get(a..b)).ok_or(OUT_OF_BOUNDS)?;
    if pad.iter().any(|&b| b != 0) {
        return Err(Error::Malformed { what: "int8 tensor (padding before its scales must be zero)" });
    }
    for (k, &w) in q.scales.iter().enumerate() {
        if Int8Scale::from_word(w).is_none() {
            return Err(Error::BadScale { index, scale: u32::try_from(k).unwrap_or(u32::MAX) });
        }
    }
    Ok(())
}
