//! The zero-copy reader: [`Bundle`] and its O(1) accessors ([`Bundle::parse`] is in `parse.rs`).

use core::fmt;

use super::layout::TensorRecord;
use super::{Dtype, TensorData};
use crate::fixed::Profile;
use crate::model::{self, Hyper, TaskInfo, TensorKey, MAX_TASKS};
use crate::{Error, Result};

/// A validated bundle borrowing its bytes: hyperparameters, tasks and zero-copy weight tensors.
#[derive(Clone, Copy)]
pub struct Bundle<'a> {
    /// Exactly the bundle's bytes (trailing bytes after it are not included).
    pub(super) bytes: &'a [u8],
    /// The tensor table.
    pub(super) table: &'a [u8],
    pub(super) hyper: Hyper,
    pub(super) tasks: [Option<TaskInfo<'a>>; MAX_TASKS],
    pub(super) tensor_count: u32,
    pub(super) scratch_floats: usize,
    pub(super) max_out_channels: u32,
    /// The fixed-point profile of a quantized bundle (checked).
    pub(super) profile: Option<Profile>,
    /// The weight section's start and end.
    pub(super) weights: (usize, usize),
}

impl<'a> Bundle<'a> {
    /// The model's hyperparameters (already checked).
    pub fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// Number of tasks.
    pub fn task_count(&self) -> u32 {
        self.hyper.tasks
    }

    /// Task `t`, or [`Error::UnknownTask`].
    pub fn task(&self, t: u32) -> Result<TaskInfo<'a>> {
        usize::try_from(t)
            .ok()
            .and_then(|i| self.tasks.get(i).copied().flatten())
            .ok_or(Error::UnknownTask { task: t, tasks: self.hyper.tasks })
    }

    /// The index of the task called `name`, or [`Error::UnknownTask`] with `task: u32::MAX`.
    pub fn task_index(&self, name: &str) -> Result<u32> {
        self.tasks
            .iter()
            .flatten()
            .position(|t| t.name == name)
            .and_then(|i| u32::try_from(i).ok())
            .ok_or(Error::UnknownTask { task: u32::MAX, tasks: self.hyper.tasks })
    }

    /// The tasks in index order.
    pub fn tasks(&self) -> impl Iterator<Item = TaskInfo<'a>> + '_ {
        self.tasks.iter().flatten().copied()
    }

    /// Number of weight tensors (`model::tensor_count(hyper)`).
    pub fn tensor_count(&self) -> u32 {
        self.tensor_count
    }

    /// The tensor `key` (O(1): its canonical index is computed, not searched), or
    /// [`Error::UnknownTensor`] with `index: u32::MAX` when the model has no such tensor.
    pub fn tensor(&self, key: TensorKey) -> Result<TensorData<'a>> {
        let index = model::canonical_index(&self.hyper, key)
            .ok_or(Error::UnknownTensor { index: u32::MAX, count: self.tensor_count })?;
        self.tensor_at(index).map(|(_, data)| data)
    }

    /// The tensor at canonical `index` with its key, or [`Error::UnknownTensor`].
    pub fn tensor_at(&self, index: u32) -> Result<(TensorKey, TensorData<'a>)> {
        let unknown = Error::UnknownTensor { index, count: self.tensor_count };
        if index >= self.tensor_count {
            return Err(unknown);
        }
        let key = model::canonical_key(&self.hyper, index).ok_or(unknown)?;
        let rec = TensorRecord::read(self.table, index)?;
        Ok((key, self.data(&rec, key.kind)?))
    }

    /// The tensor record at canonical `index` (for tools that show offsets), or
    /// [`Error::UnknownTensor`].
    pub fn record(&self, index: u32) -> Result<TensorRecord> {
        if index >= self.tensor_count {
            return Err(Error::UnknownTensor { index, count: self.tensor_count });
        }
        TensorRecord::read(self.table, index)
    }

    /// The byte offset of tensor `index`'s data from the start of the weight section (what the accelerator's
    /// descriptor holds), or [`Error::UnknownTensor`].
    pub fn weight_offset(&self, index: u32) -> Result<u64> {
        let start = super::layout::u64_of(self.weights.0);
        self.record(index)?.offset.checked_sub(start).ok_or(Error::Malformed { what: "tensor offset" })
    }

    /// The smallest byte range of [`Bundle::bytes`] holding the data of every tensor with a canonical index
    /// in `tensors` (empty for an empty range), or [`Error::UnknownTensor`].
    pub fn span(&self, tensors: core::ops::Range<u32>) -> Result<core::ops::Range<usize>> {
        let mut span: Option<core::ops::Range<usize>> = None;
        for i in tensors {
            let r = self.record(i)?.range().ok_or(Error::Malformed { what: "tensor range" })?;
            span = Some(match span {
                Some(s) => s.start.min(r.start)..s.end.max(r.end),
                None => r,
            });
        }
        Ok(span.unwrap_or(0..0))
    }

    /// True when some tensor is stored as f16.
    pub fn has_f16(&self) -> bool {
        (0..self.tensor_count).any(|i| self.dtype_at(i) == Some(Dtype::F16))
    }

    /// True when some tensor is not stored as f32 (f16 or quantized): the f32 engine then reserves
    /// buffers to widen such tensors into.
    pub fn widens(&self) -> bool {
        (0..self.tensor_count).any(|i| self.dtype_at(i) != Some(Dtype::F32))
    }

    /// The fixed-point profile of a quantized bundle (preamble flag bit 0), already checked with
    /// [`Profile::check`]; `None` for an f32/f16 bundle.
    pub fn profile(&self) -> Option<Profile> {
        self.profile
    }

    fn dtype_at(&self, i: u32) -> Option<Dtype> {
        TensorRecord::read(self.table, i).ok().and_then(|r| r.dtype())
    }

    /// f32 elements of scratch memory the engine needs, as the converter computed it.
    pub fn scratch_floats(&self) -> usize {
        self.scratch_floats
    }

    /// The largest `out_channels` over the tasks.
    pub fn max_out_channels(&self) -> u32 {
        self.max_out_channels
    }

    /// Size of the weight section in bytes (tensor data and the padding between tensors).
    pub fn weight_bytes(&self) -> usize {
        self.weights.1.saturating_sub(self.weights.0)
    }

    /// The weight section itself (what the accelerator's weight pointers address; tensor offsets of the
    /// descriptor count from its first byte).
    pub fn weight_section(&self) -> &'a [u8] {
        self.bytes.get(self.weights.0..self.weights.1).unwrap_or_default()
    }

    /// Size of the whole bundle in bytes.
    pub fn total_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The bundle's bytes, exactly (`total_bytes` long).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

impl fmt::Debug for Bundle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tasks = [""; MAX_TASKS];
        for (slot, t) in tasks.iter_mut().zip(self.tasks()) {
            *slot = t.name;
        }
        f.debug_struct("Bundle")
            .field("hyper", &self.hyper)
            .field("tasks", &tasks.get(..self.tasks().count()).unwrap_or(&[]))
            .field("tensor_count", &self.tensor_count)
            .field("scratch_floats", &self.scratch_floats)
            .field("profile", &self.profile)
            .field("weight_bytes", &self.weight_bytes())
            .field("total_bytes", &self.total_bytes())
            .finish()
    }
}
