//! The ARM generic timer as the firmware's clock: the command loop's run times ([`micros`]) and the bound on
//! the accelerator's `ap_done` wait ([`Timer`], an `m3rt::accel::bus::Clock`).
//!
//! It reads the virtual count `CNTVCT_EL0`, not the physical `CNTPCT_EL0`: when the firmware is entered at
//! EL2 (`-M xlnx-zcu102,virtualization=on`, or a loader that hands over at EL2), an EL1 read of the physical
//! count traps to EL2 unless `CNTHCTL_EL2.EL1PCTEN` is set, which `start.rs` does not touch, and EL2 has no
//! vectors here; the virtual count is never trapped from EL1 (ARMv8.0) and runs at the same rate (it differs
//! from the physical one by the constant `CNTVOFF_EL2`). `CNTFRQ_EL0` gives the rate: QEMU sets it (62.5 MHz); on
//! a board the boot code at EL3 is expected to (not checked: nothing here has run on a board).

use m3rt::accel::bus::Clock;

/// The counter and its frequency in Hz.
fn counter() -> (u64, u64) {
    let (count, freq): (u64, u64);
    // Safety: `isb` only orders the read after earlier instructions; reading the virtual count and its
    // frequency has no side effect and is allowed at EL1 (see the module's documentation).
    unsafe {
        core::arch::asm!(
            "isb",
            "mrs {c}, cntvct_el0",
            "mrs {f}, cntfrq_el0",
            c = out(reg) count,
            f = out(reg) freq,
            options(nomem, nostack, preserves_flags)
        );
    }
    (count, freq)
}

/// Microseconds of `count` ticks at `freq` Hz, without overflow (128-bit product; saturates, never wraps).
fn to_us(count: u64, freq: u64) -> Option<u64> {
    if freq == 0 {
        return None;
    }
    Some(u64::try_from(u128::from(count) * 1_000_000 / u128::from(freq)).unwrap_or(u64::MAX))
}

/// Microseconds since the counter started (0 if `CNTFRQ_EL0` was never programmed): the command loop's clock.
pub fn micros() -> u64 {
    let (count, freq) = counter();
    to_us(count, freq).unwrap_or(0)
}

/// The generic timer as the accelerator's [`Clock`]. If `CNTFRQ_EL0` reads 0 (a loader that did not set
/// it), time cannot be told from the count, and the clock counts one microsecond per poll instead, so a
/// run's timeout still ends the wait.
#[derive(Debug, Default)]
pub struct Timer {
    polls: u64,
}

impl Timer {
    /// A timer.
    pub const fn new() -> Self {
        Self { polls: 0 }
    }
}

impl Clock for Timer {
    fn now_us(&mut self) -> u64 {
        let (count, freq) = counter();
        to_us(count, freq).unwrap_or(self.polls)
    }

    /// A spin hint (`yield`); no `wfe`, as nothing here sends the event that would end it.
    fn pause(&mut self) {
        self.polls = self.polls.saturating_add(1);
        core::hint::spin_loop();
    }
}
