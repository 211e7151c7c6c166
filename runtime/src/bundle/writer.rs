//! The bundle writer (feature `alloc`), used by the converter: collect tasks and tensors in any
//! order, then [`BundleWriter::finish`] lays them out in canonical order.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use half::f16;

use super::header::{check_hyper, check_task, HeaderWire, TaskWire};
use super::layout::{align_up, crc32, u64_of, Preamble, TensorRecord, PREAMBLE_LEN, RECORD_LEN};
use super::quantized::{check_profile, dtype_allowed, q8_scales_at, scale_count, ProfileWire, FLAG_QUANTIZED};
use super::{Dtype, FORMAT_VERSION, TENSOR_ALIGN};
use crate::fixed::quant::Int8Scale;
use crate::fixed::Profile;
use crate::model::{self, Hyper, PostProcess, Shape, TaskInfo, TensorKey, TensorKind, MAX_RANK};
use crate::{Error, Result};

/// One tensor added to the writer, already encoded little-endian.
struct Pending {
    shape: Shape,
    dtype: Dtype,
    /// Number of scale words (int8 tensors), else 0.
    scales: usize,
    bytes: Vec<u8>,
}

/// Builds a bundle in memory: [`new`](Self::new), [`add_task`](Self::add_task) for every task,
/// [`add_tensor`](Self::add_tensor) for every canonical tensor (any order), [`finish`](Self::finish).
/// A quantized bundle: [`set_profile`](Self::set_profile), then [`add_q16`](Self::add_q16) and
/// [`add_q8`](Self::add_q8) with the types [`quantized_dtype`](super::quantized_dtype) names.
pub struct BundleWriter {
    hyper: Hyper,
    scratch_floats: u64,
    profile: Option<Profile>,
    tasks: Vec<(String, u32, PostProcess)>,
    tensors: Vec<Option<Pending>>,
}

impl BundleWriter {
    /// A writer for a model with hyperparameters `hyper` (checked as the reader checks them) whose
    /// engine needs `scratch_floats` f32 of scratch (non-zero).
    pub fn new(hyper: Hyper, scratch_floats: u64) -> Result<Self> {
        check_hyper(&hyper)?;
        if scratch_floats == 0 {
            return Err(Error::Inconsistent { what: "scratch_floats is 0" });
        }
        let count = usize::try_from(model::tensor_count(&hyper)).map_err(|_| Error::BadHyper { field: "depth" })?;
        let mut tensors = Vec::new();
        tensors.resize_with(count, || None);
        Ok(Self { hyper, scratch_floats, profile: None, tasks: Vec::new(), tensors })
    }

    /// Makes the bundle quantized with `profile` (checked with `Profile::check`, else
    /// [`Error::BadProfile`]): preamble flag bit 0, the profile after the header, and every tensor Q16 or
    /// Q8 as [`quantized_dtype`](super::quantized_dtype) says ([`finish`](Self::finish) checks).
    pub fn set_profile(&mut self, profile: Profile) -> Result<()> {
        check_profile(&profile)?;
        self.profile = Some(profile);
        Ok(())
    }

    /// Adds the next task (index = number of tasks added before). Names must be non-empty, at most
    /// `MAX_TASK_NAME` bytes and unique; at most `hyper.tasks` tasks.
    pub fn add_task(&mut self, name: &str, out_channels: u32, post: PostProcess) -> Result<()> {
        check_task(&TaskInfo { name, out_channels, post })?;
        if self.tasks.iter().any(|(n, _, _)| n == name) {
            return Err(Error::Inconsistent { what: "duplicate task name" });
        }
        if u64_of(self.tasks.len()) >= u64::from(self.hyper.tasks) {
            return Err(Error::Inconsistent { what: "more tasks than hyper.tasks" });
        }
        self.tasks.push((String::from(name), out_channels, post));
        Ok(())
    }

    /// Adds tensor `key` with row-major `shape` and values `data`, stored as `dtype` (f32 or f16; f16
    /// rounds to nearest even). Values must be finite, also once rounded to f16. Each key once.
    pub fn add_tensor(&mut self, key: TensorKey, shape: &[u32], data: &[f32], dtype: Dtype) -> Result<()> {
        let (index, shape) = self.place(key, shape, data.len())?;
        let non_finite = Error::Inconsistent { what: "weight not finite (or beyond the f16 range)" };
        let mut bytes = Vec::with_capacity(data.len().saturating_mul(dtype.size()));
        for &v in data {
            match dtype {
                Dtype::F32 if v.is_finite() => bytes.extend_from_slice(&v.to_le_bytes()),
                Dtype::F16 => {
                    let h = f16::from_f32(v);
                    if !h.is_finite() {
                        return Err(non_finite);
                    }
                    bytes.extend_from_slice(&h.to_bits().to_le_bytes());
                }
                Dtype::F32 => return Err(non_finite),
                Dtype::Q16 | Dtype::Q8 => return Err(Error::WrongDtype { index, code: dtype as u8 }),
            }
        }
        self.store(index, Pending { shape, dtype, scales: 0, bytes })
    }

    /// Adds tensor `key` of a quantized bundle as 16-bit fixed point: `values` are the raw values in the
    /// profile's format for the tensor's class. Each key once.
    pub fn add_q16(&mut self, key: TensorKey, shape: &[u32], values: &[i16]) -> Result<()> {
        let (index, shape) = self.place(key, shape, values.len())?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.store(index, Pending { shape, dtype: Dtype::Q16, scales: 0, bytes })
    }

    /// Adds matrix `key` of an int8 bundle: `values`, then `scales` (one for a per-tensor profile, one per
    /// output channel for a per-channel one; a scale whose shift exceeds 63 is [`Error::BadScale`]). Each
    /// key once.
    pub fn add_q8(&mut self, key: TensorKey, shape: &[u32], values: &[i8], scales: &[Int8Scale]) -> Result<()> {
        let (index, shape) = self.place(key, shape, values.len())?;
        for (k, s) in scales.iter().enumerate() {
            if Int8Scale::from_word(s.to_word()) != Some(*s) {
                return Err(Error::BadScale { index, scale: u32::try_from(k).unwrap_or(u32::MAX) });
            }
        }
        let at = q8_scales_at(values.len()).ok_or(Error::Inconsistent { what: "tensor too large" })?;
        let mut bytes = Vec::with_capacity(at.saturating_add(scales.len().saturating_mul(4)));
        bytes.extend(values.iter().map(|v| v.to_le_bytes()[0]));
        bytes.resize(at, 0);
        bytes.extend(scales.iter().flat_map(|s| s.to_word().to_le_bytes()));
        self.store(index, Pending { shape, dtype: Dtype::Q8, scales: scales.len(), bytes })
    }

    /// Checks that `key` is a tensor of the model with `shape` (as far as known yet) and `elements`
    /// elements, not yet added; returns its canonical index and shape.
    fn place(&self, key: TensorKey, shape: &[u32], elements: usize) -> Result<(u32, Shape)> {
        let count = model::tensor_count(&self.hyper);
        let index = model::canonical_index(&self.hyper, key).ok_or(Error::UnknownTensor { index: u32::MAX, count })?;
        if shape.is_empty() || shape.len() > MAX_RANK {
            return Err(Error::TensorShape { index });
        }
        let shape = Shape::new(shape);
        if let Some(expected) = self.expected_shape(key) {
            if shape != expected {
                return Err(Error::TensorShape { index });
            }
        }
        if shape.numel() != u64_of(elements) {
            let expected = usize::try_from(shape.numel()).unwrap_or(usize::MAX);
            return Err(Error::ShapeMismatch { what: "tensor data", expected, found: elements });
        }
        match usize::try_from(index).ok().and_then(|i| self.tensors.get(i)) {
            None => Err(Error::UnknownTensor { index, count }),
            Some(Some(_)) => Err(Error::Inconsistent { what: "tensor added twice" }),
            Some(None) => Ok((index, shape)),
        }
    }

    /// Stores an encoded tensor in its (checked) slot.
    fn store(&mut self, index: u32, t: Pending) -> Result<()> {
        let count = model::tensor_count(&self.hyper);
        let slot = usize::try_from(index).ok().and_then(|i| self.tensors.get_mut(i));
        *slot.ok_or(Error::UnknownTensor { index, count })? = Some(t);
        Ok(())
    }

    /// The shape tensor `key` must have, if it is known yet (a head's last convolution depends on
    /// its task's channels).
    fn expected_shape(&self, key: TensorKey) -> Option<Shape> {
        let depends_on_channels = matches!(key.kind, TensorKind::HeadConvW | TensorKind::HeadConvB);
        let channels = match usize::try_from(key.task).ok().and_then(|t| self.tasks.get(t)) {
            Some(&(_, c, _)) => c,
            None if depends_on_channels => return None,
            None => 1,
        };
        Some(model::expected_shape(&self.hyper, key, channels))
    }

    /// Checks that every task and tensor is present with the right shape and type (and an int8 tensor
    /// with its profile's number of scales) and encodes the bundle: preamble, header (then the profile of
    /// a quantized bundle), tensor table and weights in canonical order, each tensor 64-byte aligned.
    pub fn finish(self) -> Result<Vec<u8>> {
        if u64_of(self.tasks.len()) != u64::from(self.hyper.tasks) {
            return Err(Error::Inconsistent { what: "fewer tasks added than hyper.tasks" });
        }
        let count = model::tensor_count(&self.hyper);
        let mut wire = HeaderWire::new(&self.hyper, count, self.scratch_floats);
        for (name, out_channels, post) in &self.tasks {
            let task = TaskWire { name, out_channels: *out_channels, post: *post as u8 };
            if !wire.task_table.push(task) {
                return Err(Error::BadHyper { field: "tasks" });
            }
        }
        let mut header = postcard::to_allocvec(&wire).map_err(|_| Error::Malformed { what: "header" })?;
        if let Some(p) = &self.profile {
            let profile =
                postcard::to_allocvec(&ProfileWire::of(p)).map_err(|_| Error::Malformed { what: "header" })?;
            header.extend_from_slice(&profile);
        }

        // Place every tensor, in canonical order.
        let too_big = Error::Inconsistent { what: "bundle larger than the address space" };
        let table_len = usize::try_from(count).ok().and_then(|c| c.checked_mul(RECORD_LEN)).ok_or(too_big)?;
        let mut p = Preamble {
            version: FORMAT_VERSION,
            flags: if self.profile.is_some() { FLAG_QUANTIZED } else { 0 },
            header_len: u32::try_from(header.len()).map_err(|_| too_big)?,
            header_crc: crc32(&header),
            table_len: u32::try_from(table_len).map_err(|_| too_big)?,
            table_crc: 0,
            weights_crc: 0,
            weights_len: 0,
        };
        let weights_start = p.sections()?.weights.start;
        let mut records = Vec::with_capacity(self.tensors.len());
        let mut end = u64_of(weights_start);
        for (i, pending) in (0..count).zip(&self.tensors) {
            let key = model::canonical_key(&self.hyper, i).ok_or(Error::MissingTensor { index: i })?;
            let t = pending.as_ref().ok_or(Error::MissingTensor { index: i })?;
            if self.expected_shape(key) != Some(t.shape) {
                return Err(Error::TensorShape { index: i });
            }
            if !dtype_allowed(self.profile.as_ref(), key.kind, t.dtype) {
                return Err(Error::WrongDtype { index: i, code: t.dtype as u8 });
            }
            if let (Dtype::Q8, Some(p)) = (t.dtype, &self.profile) {
                if scale_count(p.weights, key.kind, t.shape) != Some(t.scales) {
                    return Err(Error::Inconsistent { what: "int8 scale count differs from the profile's" });
                }
            }
            let offset = align_up(end, TENSOR_ALIGN).ok_or(too_big)?;
            let len = u64_of(t.bytes.len());
            end = offset.checked_add(len).ok_or(too_big)?;
            let rank = t.shape.rank;
            let dtype = t.dtype as u8;
            records.push(TensorRecord { index: i, dtype, rank, reserved: 0, dims: t.shape.dims, offset, len });
        }
        p.weights_len = end - u64_of(weights_start);
        let s = p.sections()?;

        let mut out = vec![0u8; s.total()];
        let mut put = |at: usize, bytes: &[u8]| -> Result<()> {
            let dst = at.checked_add(bytes.len()).and_then(|e| out.get_mut(at..e)).ok_or(too_big)?;
            dst.copy_from_slice(bytes);
            Ok(())
        };
        put(s.header.start, &header)?;
        for (i, r) in records.iter().enumerate() {
            put(s.table.start + i * RECORD_LEN, &r.to_bytes())?;
        }
        for (r, t) in records.iter().zip(self.tensors.iter().flatten()) {
            put(usize::try_from(r.offset).map_err(|_| too_big)?, &t.bytes)?;
        }
        let section = |r: core::ops::Range<usize>| out.get(r).map(crc32).ok_or(too_big);
        p.table_crc = section(s.table.clone())?;
        p.weights_crc = section(s.weights.clone())?;
        out.get_mut(..PREAMBLE_LEN).ok_or(too_big)?.copy_from_slice(&p.to_bytes());
        Ok(out)
    }
}
