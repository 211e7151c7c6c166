//! Where the bridge puts what the IP reads and writes in one [`DmaMemory`](super::DmaMemory)
//! (`docs/accel-bridge.md`, "DMA memory"): the model descriptor, every task's gate and head tables (written
//! once at load, so that a task switch only points the IP at other tables), the input pixels, the output,
//! the working memory and, unless the bundle's weights are already where the IP can read them, a copy of
//! the weight section. Every buffer starts on a [`DMA_ALIGN`] boundary.

use super::desc;
use crate::bundle::Bundle;
use crate::{Error, Result};

/// Alignment of every buffer the IP reaches, in bytes, on the IP's bus: one 256-bit AXI beat would need 32;
/// 64 keeps each buffer on its own cache lines (64 bytes on the Cortex-A53) for cache maintenance.
pub const DMA_ALIGN: u64 = 64;

/// Where the IP reads the bundle's weight section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightPlacement {
    /// Copied into the DMA memory at load (a Linux board's DMA buffer, the C-simulation memory).
    Copy,
    /// Already readable by the IP at this bus address (a bare-metal board whose model slot is in DDR): the
    /// bridge writes no weight byte.
    At(u64),
    /// Read in place from the bundle's own bytes, at the bus address the DMA memory gives for them
    /// ([`DmaMemory::in_place_address`](super::bus::DmaMemory::in_place_address): on an identity-mapped
    /// bare-metal board, the address the CPU sees them at). Chosen per bundle at load, so one configuration
    /// serves every bundle of a model slot; the bridge writes no weight byte and cleans the section's cache
    /// lines ([`DmaMemory::flush_in_place`](super::bus::DmaMemory::flush_in_place)) at load. A DMA memory
    /// that cannot reach the CPU's memory refuses it at load ([`Error::Inconsistent`]).
    InPlace,
}

/// A byte range of the DMA memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    /// First byte, from the memory's start.
    pub offset: usize,
    /// Bytes.
    pub len: usize,
}

impl Region {
    /// One past the last byte.
    pub const fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// The buffers of one bundle in the DMA memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The model descriptor.
    pub model: Region,
    /// Task 0's gate table; task `t`'s is `gate_stride · t` bytes further.
    pub gates: Region,
    /// Bytes between two tasks' gate tables.
    pub gate_stride: usize,
    /// Task 0's head table; task `t`'s is `head_stride · t` bytes further.
    pub heads: Region,
    /// Bytes between two tasks' head tables.
    pub head_stride: usize,
    /// The input pixels `[3, H, W]` (one byte each).
    pub input: Region,
    /// The output `[C, H, W]` (i32), sized for the widest task.
    pub output: Region,
    /// The IP's working memory (i32 words).
    pub work: Region,
    /// The copy of the weight section (empty when the weights are [`WeightPlacement::At`] an address or
    /// [`WeightPlacement::InPlace`]).
    pub weights: Region,
    /// Bytes of DMA memory needed in all.
    pub total: usize,
}

/// `v` rounded up to a multiple of [`DMA_ALIGN`], or [`Error::Unrepresentable`].
fn align(v: usize) -> Result<usize> {
    let a = DMA_ALIGN as usize;
    v.checked_add(a - 1).map(|x| x / a * a).ok_or(Error::Unrepresentable { what: "DMA placement past usize" })
}

/// Words to bytes, checked.
fn bytes_of(words: u64, size: u64) -> Result<usize> {
    words
        .checked_mul(size)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or(Error::Unrepresentable { what: "a DMA buffer larger than the address space" })
}

impl Placement {
    /// The placement of `bundle`'s buffers, weights placed as `weights` says. Pure arithmetic on the
    /// hyperparameters: the same on the host and on a board.
    pub fn new(bundle: &Bundle<'_>, weights: WeightPlacement) -> Result<Self> {
        let h = bundle.hyper();
        let tasks = bundle.task_count() as usize;
        let mut top = 0usize;
        let mut take = |len: usize| -> Result<Region> {
            let r = Region { offset: top, len };
            top = align(top.checked_add(len).ok_or(Error::Unrepresentable { what: "DMA placement past usize" })?)?;
            Ok(r)
        };
        let model = take(bytes_of(desc::model_descriptor_words(h) as u64, 4)?)?;
        let gate_len = bytes_of(desc::gate_table_words(h) as u64, 4)?;
        let gate_stride = align(gate_len)?;
        let gates_all = take(gate_stride.checked_mul(tasks).ok_or(Error::BadHyper { field: "tasks" })?)?;
        let head_len = bytes_of(desc::head_table_words(h) as u64, 4)?;
        let head_stride = align(head_len)?;
        let heads_all = take(head_stride.checked_mul(tasks).ok_or(Error::BadHyper { field: "tasks" })?)?;
        let pixels = u64::from(h.image_h) * u64::from(h.image_w);
        let input = take(bytes_of(3 * pixels, 1)?)?;
        let output = take(bytes_of(u64::from(bundle.max_out_channels()) * pixels, 4)?)?;
        let work = take(bytes_of(desc::work_words(h, bundle.max_out_channels()), 4)?)?;
        let weights = match weights {
            WeightPlacement::Copy => take(bundle.weight_section().len())?,
            WeightPlacement::At(_) | WeightPlacement::InPlace => Region::default(),
        };
        Ok(Self {
            model,
            gates: Region { offset: gates_all.offset, len: gate_len },
            gate_stride,
            heads: Region { offset: heads_all.offset, len: head_len },
            head_stride,
            input,
            output,
            work,
            weights,
            total: top,
        })
    }

    /// Task `task`'s gate table.
    pub fn gates_of(&self, task: u32) -> Region {
        Region { offset: self.gates.offset + self.gate_stride * task as usize, len: self.gates.len }
    }

    /// Task `task`'s head table.
    pub fn head_of(&self, task: u32) -> Region {
        Region { offset: self.heads.offset + self.head_stride * task as usize, len: self.heads.len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_rounds_up_to_64() {
        assert_eq!(align(0).unwrap(), 0);
        assert_eq!(align(1).unwrap(), 64);
        assert_eq!(align(64).unwrap(), 64);
        assert_eq!(align(65).unwrap(), 128);
        assert!(align(usize::MAX).is_err());
        assert!(bytes_of(u64::MAX, 4).is_err());
    }
}
