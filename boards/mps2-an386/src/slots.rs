//! The A/B model slots of the `serve` build: two 1400 KiB buffers in SRAM and the active marker, all in
//! `.bss`. At power-up the model compiled into flash is copied into slot A and made active; a model upload
//! writes the inactive slot and flips the marker, which a warm reboot request (the loop restarting) keeps.

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use m3rt::serve::{ActiveMarker, SliceStorage};

/// Bytes of one slot: room for the f32 `micro` bundle (1 403 460 bytes).
const SLOT_BYTES: usize = 1400 << 10;

/// A slot's bytes, 64-byte aligned so bundles are read in place.
#[repr(C, align(64))]
struct SlotBytes([u8; SLOT_BYTES]);

static mut SLOT_A: SlotBytes = SlotBytes([0; SLOT_BYTES]);
static mut SLOT_B: SlotBytes = SlotBytes([0; SLOT_BYTES]);
static mut MARKER: MaybeUninit<ActiveMarker> = MaybeUninit::uninit();
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The storage with `initial` installed in slot A, the first time only.
pub fn take(initial: &[u8]) -> Option<Result<SliceStorage<'static>, m3rt::Error>> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // Safety: TAKEN lets this run once, so these are the only references ever made to the three statics.
    let (a, b, marker) =
        unsafe { (&mut *addr_of_mut!(SLOT_A), &mut *addr_of_mut!(SLOT_B), &mut *addr_of_mut!(MARKER)) };
    let mut storage = SliceStorage::new(&mut a.0, &mut b.0, marker.write(ActiveMarker::default()));
    Some(storage.install(initial).map(|()| storage))
}
