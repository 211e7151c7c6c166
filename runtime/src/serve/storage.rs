//! Model storage with two slots (A/B) and an active marker, supplied by the board: RAM kept across warm
//! reboots, flash, or files on a Linux host.

use crate::bundle::layout::crc32;
use crate::protocol::Slot;
use crate::{Error, Result};

/// The slot being written by an upload (always the inactive one).
pub trait SlotWriter {
    /// Largest bundle the slot holds, in bytes.
    fn capacity(&self) -> usize;
    /// Prepares the slot for a bundle of `len` bytes (erases it, opens a temporary file, ...).
    fn begin(&mut self, len: usize) -> Result<()>;
    /// Writes `data` at `offset` (inside the `len` given to [`SlotWriter::begin`]).
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<()>;
    /// The bytes written since [`SlotWriter::begin`] (its `len` bytes, 64-byte aligned when the slot is), for
    /// verification before the commit.
    fn written(&self) -> &[u8];
}

/// Two model slots and a marker saying which one is active.
pub trait ModelStorage {
    /// The writer of the inactive slot.
    type Writer: SlotWriter;
    /// The active slot, or `None` when no model was ever committed.
    fn active(&self) -> Option<Slot>;
    /// The active slot's bytes (`None` without a model) and the writer of the other slot, borrowed at once.
    fn split(&mut self) -> (Option<&[u8]>, &mut Self::Writer);
    /// Makes the inactive slot, holding the `len` bytes just written and verified, the active one. Must be
    /// atomic: after a power cut or reboot, either the old or the new slot is active, whole.
    fn commit(&mut self, len: usize) -> Result<()>;
}

impl<S: ModelStorage> ModelStorage for &mut S {
    type Writer = S::Writer;
    fn active(&self) -> Option<Slot> {
        (**self).active()
    }
    fn split(&mut self) -> (Option<&[u8]>, &mut Self::Writer) {
        (**self).split()
    }
    fn commit(&mut self, len: usize) -> Result<()> {
        (**self).commit(len)
    }
}

/// The active marker of [`SliceStorage`], kept in memory that survives a warm reboot. A marker whose check
/// word does not match (cold RAM) means "no model".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ActiveMarker {
    /// 0 for A, 1 for B.
    slot: u32,
    /// Bytes of the model in that slot.
    len: u32,
    /// `crc32(slot ‖ len) ^ MARKER_SALT`, so zeroed or random memory is not taken for a marker.
    check: u32,
}

const MARKER_SALT: u32 = 0x4D33_5254;

impl ActiveMarker {
    /// A marker for `slot` holding `len` bytes.
    pub fn new(slot: Slot, len: u32) -> Self {
        let s = match slot {
            Slot::A => 0,
            Slot::B => 1,
        };
        Self { slot: s, len, check: Self::check_of(s, len) }
    }

    /// The slot and length, when the marker is valid.
    pub fn get(&self) -> Option<(Slot, usize)> {
        let slot = match self.slot {
            0 => Slot::A,
            1 => Slot::B,
            _ => return None,
        };
        (self.check == Self::check_of(self.slot, self.len)).then_some((slot, self.len as usize))
    }

    fn check_of(slot: u32, len: u32) -> u32 {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&slot.to_le_bytes());
        b[4..].copy_from_slice(&len.to_le_bytes());
        crc32(&b) ^ MARKER_SALT
    }
}

/// Storage over two caller-provided byte slices and a marker: a board's RAM or memory-mapped flash
/// mirror. The slices should start 64-byte aligned so bundles are read in place.
pub struct SliceStorage<'a> {
    slots: [SliceSlot<'a>; 2],
    marker: &'a mut ActiveMarker,
}

/// One slot of [`SliceStorage`].
pub struct SliceSlot<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl<'a> SliceStorage<'a> {
    /// Storage over slots `a` and `b`; `marker` says which holds the active model (an invalid marker: none).
    pub fn new(a: &'a mut [u8], b: &'a mut [u8], marker: &'a mut ActiveMarker) -> Self {
        Self { slots: [SliceSlot { bytes: a, len: 0 }, SliceSlot { bytes: b, len: 0 }], marker }
    }

    /// Writes `bundle` straight into slot A and makes it active (first-time provisioning, no verification).
    pub fn install(&mut self, bundle: &[u8]) -> Result<()> {
        let [a, _] = &mut self.slots;
        a.begin(bundle.len())?;
        a.write(0, bundle)?;
        *self.marker = ActiveMarker::new(Slot::A, len_u32(bundle.len())?);
        Ok(())
    }
}

fn index(slot: Slot) -> usize {
    match slot {
        Slot::A => 0,
        Slot::B => 1,
    }
}

fn len_u32(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| Error::Storage { what: "model larger than 4 GiB" })
}

impl<'a> ModelStorage for SliceStorage<'a> {
    type Writer = SliceSlot<'a>;

    fn active(&self) -> Option<Slot> {
        self.marker.get().map(|(s, _)| s)
    }

    fn split(&mut self) -> (Option<&[u8]>, &mut Self::Writer) {
        let active = self.marker.get();
        let [a, b] = &mut self.slots;
        let (on, off) = match active {
            Some((Slot::B, _)) => (b, a),
            _ => (a, b),
        };
        let bytes = active.and_then(|(_, len)| on.bytes.get(..len));
        (bytes, off)
    }

    fn commit(&mut self, len: usize) -> Result<()> {
        let next = self.active().map_or(Slot::A, |s| s.other());
        let slot = self.slots.get(index(next)).ok_or(Error::Storage { what: "slot" })?;
        if len > slot.bytes.len() {
            return Err(Error::Storage { what: "commit longer than the slot" });
        }
        // One store of a small struct: a warm reboot sees the old or the new marker.
        *self.marker = ActiveMarker::new(next, len_u32(len)?);
        Ok(())
    }
}

impl SlotWriter for SliceSlot<'_> {
    fn capacity(&self) -> usize {
        self.bytes.len()
    }

    fn begin(&mut self, len: usize) -> Result<()> {
        if len > self.bytes.len() {
            return Err(Error::Storage { what: "model larger than the slot" });
        }
        self.len = len;
        Ok(())
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        let end = offset.checked_add(data.len()).filter(|&e| e <= self.len);
        let dst =
            end.and_then(|e| self.bytes.get_mut(offset..e)).ok_or(Error::Storage { what: "write past the end" })?;
        dst.copy_from_slice(data);
        Ok(())
    }

    fn written(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}
