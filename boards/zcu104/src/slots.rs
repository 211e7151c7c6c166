//! The A/B model slots: the two halves of the DDR model window (`link.ld`), and the active marker.
//!
//! At power-up the marker is zero (invalid): when slot A holds a valid bundle (placed there by the loader),
//! it becomes the active model. A model upload then writes the inactive slot and flips the marker; the
//! marker lives in `.bss`, which a warm reboot request (the command loop restarting) keeps.

use core::mem::MaybeUninit;
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicBool, Ordering};

use m3rt::bundle::Bundle;
use m3rt::protocol::Slot;
use m3rt::serve::{ActiveMarker, SliceStorage};

extern "C" {
    static mut __model_start: u8;
    static __model_end: u8;
}

static mut MARKER: MaybeUninit<ActiveMarker> = MaybeUninit::uninit();
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The storage over both slots, the first time only.
pub fn take() -> Option<SliceStorage<'static>> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let start = addr_of_mut!(__model_start);
    let len = addr_of!(__model_end) as usize - start as usize;
    // Safety: link.ld reserves this DDR window for models (no section of the image lies in it); TAKEN lets
    // this run once, so the two halves and the marker are borrowed exclusively for the rest of the program.
    let (window, marker) = unsafe { (core::slice::from_raw_parts_mut(start, len), &mut *addr_of_mut!(MARKER)) };
    let marker = marker.write(ActiveMarker::default());
    let (a, b) = window.split_at_mut(len / 2);
    if marker.get().is_none() {
        if let Ok(bundle) = Bundle::parse(a) {
            *marker = ActiveMarker::new(Slot::A, u32::try_from(bundle.total_bytes()).unwrap_or(0));
        }
    }
    Some(SliceStorage::new(a, b, marker))
}
