//! The bundle writer (feature `alloc`), used by the converter: collect tasks and tensors in any
//! order, then [`BundleWriter::finish`] lays them out in canonical order.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use half::f16;

use super::header::{check_hyper, check_task, HeaderWire, TaskWire};
use super::layout::{align_up, crc32, u64_of, Preamble, TensorRecord, PREAMBLE_LEN, RECORD_LEN};
use super::{Dtype, FORMAT_VERSION, TENSOR_ALIGN};
use crate::model::{self, Hyper, PostProcess, Shape, TaskInfo, TensorKey, TensorKind, MAX_RANK};
use crate::{Error, Result};

/// One tensor added to the writer, already encoded little-endian.
struct Pending {
    shape: Shape,
    dtype: Dtype,
    bytes: Vec<u8>,
}

/// Builds a bundle in memory: [`new`](Self::new), [`add_task`](Self::add_task) for every task,
/// [`add_tensor`](Self::add_tensor) for every canonical tensor (any order), [`finish`](Self::finish).
pub struct BundleWriter {
    hyper: Hyper,
    scratch_floats: u64,
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
        Ok(Self { hyper, scratch_floats, tasks: Vec::new(), tensors })
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

    /// Adds tensor `key` with row-major `shape` and values `data`, stored as `dtype` (f16 rounds to
    /// nearest even). Values must be finite, also once rounded to f16. Each key once.
    pub fn add_tensor(&mut self, key: TensorKey, shape: &[u32], data: &[f32], dtype: Dtype) -> Result<()> {
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
        if shape.numel() != u64_of(data.len()) {
            let expected = usize::try_from(shape.numel()).unwrap_or(usize::MAX);
            return Err(Error::ShapeMismatch { what: "tensor data", expected, found: data.len() });
        }
        let slot = usize::try_from(index).ok().and_then(|i| self.tensors.get_mut(i));
        let slot = slot.ok_or(Error::UnknownTensor { index, count })?;
        if slot.is_some() {
            return Err(Error::Inconsistent { what: "tensor added twice" });
        }
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
            }
        }
        *slot = Some(Pending { shape, dtype, bytes });
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

    /// Checks that every task and tensor is present with the right shape and encodes the bundle:
    /// preamble, header, tensor table and weights in canonical order, each tensor 64-byte aligned.
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
        let header = postcard::to_allocvec(&wire).map_err(|_| Error::Malformed { what: "header" })?;

        // Place every tensor, in canonical order.
        let too_big = Error::Inconsistent { what: "bundle larger than the address space" };
        let table_len = usize::try_from(count).ok().and_then(|c| c.checked_mul(RECORD_LEN)).ok_or(too_big)?;
        let mut p = Preamble {
            version: FORMAT_VERSION,
            flags: 0,
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
