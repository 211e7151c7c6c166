//! The register sequences that drive the IP (`docs/accel-bridge.md`, "Register sequences"), over any
//! [`RegisterBus`]: program the buffer addresses once, point the IP at a task's tables, start a run, wait for
//! `ap_done` within a time bound, read the outputs back. Each step names the register a bus fault hit.

use super::bus::{BusFault, Clock, RegisterBus};
use super::regs;
use super::Status;
use crate::{Error, Result};

/// The bus addresses of the buffers a run uses, as [`program`] writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    /// The model descriptor.
    pub model: u64,
    /// The weight section (written to both `wq16` and `wq8`).
    pub weights: u64,
    /// The input pixels.
    pub input: u64,
    /// The output.
    pub output: u64,
    /// The working memory.
    pub work: u64,
    /// Words available at `work`.
    pub work_words: u32,
}

/// What the IP reported at the end of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Experts whose weights the IP fetched, all MoE blocks together.
    pub expert_loads: u32,
    /// KiB of weights the IP fetched (rounded up).
    pub weight_kib: u32,
    /// Microseconds (of the driver's [`Clock`]) between `ap_start` and `ap_done`.
    pub waited_us: u64,
}

/// A bus fault at register `offset`, as the crate's error.
fn fault(offset: u32) -> impl Fn(BusFault) -> Error {
    move |_| Error::BusFault { what: "accelerator register", offset: u64::from(offset) }
}

fn write<B: RegisterBus + ?Sized>(bus: &mut B, offset: u32, value: u32) -> Result<()> {
    bus.write32(offset, value).map_err(fault(offset))
}

fn read<B: RegisterBus + ?Sized>(bus: &mut B, offset: u32) -> Result<u32> {
    bus.read32(offset).map_err(fault(offset))
}

/// Writes a 64-bit pointer register: low word, then high word.
fn write_pointer<B: RegisterBus + ?Sized>(bus: &mut B, lo: u32, address: u64) -> Result<()> {
    write(bus, lo, address as u32)?;
    write(bus, lo + regs::SECOND_WORD, (address >> 32) as u32)
}

/// Writes every buffer address but the task's tables (13 writes, in register order). The IP keeps them
/// until they are written again, so this runs once per loaded model.
pub fn program<B: RegisterBus + ?Sized>(bus: &mut B, a: &Addresses) -> Result<()> {
    write_pointer(bus, regs::MODEL_LO, a.model)?;
    write_pointer(bus, regs::WQ16_LO, a.weights)?;
    write_pointer(bus, regs::WQ8_LO, a.weights)?;
    write_pointer(bus, regs::INPUT_LO, a.input)?;
    write_pointer(bus, regs::OUTPUT_LO, a.output)?;
    write_pointer(bus, regs::WORK_LO, a.work)?;
    write(bus, regs::WORK_WORDS, a.work_words)
}

/// Register writes of a task switch.
pub const SELECT_WRITES: usize = 4;

/// Points the IP at a task's gate table and head table: [`SELECT_WRITES`] writes and nothing else.
pub fn select<B: RegisterBus + ?Sized>(bus: &mut B, gates: u64, head: u64) -> Result<()> {
    write_pointer(bus, regs::GATES_LO, gates)?;
    write_pointer(bus, regs::HEAD_LO, head)
}

/// Starts a run: checks that the IP is idle ([`Error::AccelBusy`] otherwise, e.g. after a timed-out run),
/// then writes `ap_start`.
pub fn start<B: RegisterBus + ?Sized>(bus: &mut B) -> Result<()> {
    let ctrl = read(bus, regs::CTRL)?;
    if ctrl & regs::CTRL_AP_IDLE == 0 {
        return Err(Error::AccelBusy);
    }
    write(bus, regs::CTRL, regs::CTRL_AP_START)
}

/// Polls `CTRL` until `ap_done`, pausing with `clock` between polls; [`Error::AccelTimeout`] once more than
/// `timeout_us` microseconds have passed. Returns the microseconds waited.
pub fn wait_done<B: RegisterBus + ?Sized, C: Clock + ?Sized>(
    bus: &mut B,
    clock: &mut C,
    timeout_us: u64,
) -> Result<u64> {
    let t0 = clock.now_us();
    loop {
        let ctrl = read(bus, regs::CTRL)?;
        let waited = clock.now_us().saturating_sub(t0);
        if ctrl & regs::CTRL_AP_DONE != 0 {
            return Ok(waited);
        }
        if waited > timeout_us {
            return Err(Error::AccelTimeout { waited_us: waited });
        }
        clock.pause();
    }
}

/// Reads one output and its `ap_vld` (control word first: reading it clears it).
fn output<B: RegisterBus + ?Sized>(bus: &mut B, offset: u32) -> Result<u32> {
    let vld = read(bus, offset + regs::SECOND_WORD)?;
    let value = read(bus, offset)?;
    if vld & regs::OUT_AP_VLD == 0 {
        return Err(Error::AccelProtocol { what: "the IP raised ap_done without a valid output" });
    }
    Ok(value)
}

/// Reads the outputs of the run that just finished: the status ([`Error::AccelStatus`] unless OK), the
/// expert and weight counters.
pub fn finish<B: RegisterBus + ?Sized>(bus: &mut B, waited_us: u64) -> Result<Report> {
    let status = output(bus, regs::STATUS)?;
    if status != Status::Ok as u32 {
        return Err(Error::AccelStatus { code: status });
    }
    let expert_loads = output(bus, regs::EXPERT_LOADS)?;
    let weight_kib = output(bus, regs::WEIGHT_KIB)?;
    Ok(Report { expert_loads, weight_kib, waited_us })
}

/// One run of the IP with the buffers already in place: [`start`], [`wait_done`], [`finish`].
pub fn run<B: RegisterBus + ?Sized, C: Clock + ?Sized>(bus: &mut B, clock: &mut C, timeout_us: u64) -> Result<Report> {
    start(bus)?;
    let waited = wait_done(bus, clock, timeout_us)?;
    finish(bus, waited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accel::bus::PollClock;
    use crate::accel::regfile::{ControlRegisters, Write};

    /// The control slave, finishing every run at once with the given status.
    struct Instant(ControlRegisters, u32);

    impl RegisterBus for Instant {
        fn read32(&mut self, offset: u32) -> core::result::Result<u32, BusFault> {
            self.0.read(offset)
        }
        fn write32(&mut self, offset: u32, value: u32) -> core::result::Result<(), BusFault> {
            if self.0.write(offset, value)? == Write::Start {
                self.0.finish(self.1, 3, 17);
            }
            Ok(())
        }
    }

    #[test]
    fn a_run_reads_the_outputs() {
        let mut bus = Instant(ControlRegisters::new(), 0);
        let r = run(&mut bus, &mut PollClock::new(), 10).unwrap();
        assert_eq!((r.expert_loads, r.weight_kib), (3, 17));
        // ap_vld was consumed: reading the outputs again without a run is a protocol error.
        assert!(matches!(finish(&mut bus, 0), Err(Error::AccelProtocol { .. })));
    }

    #[test]
    fn a_status_is_a_typed_error() {
        let mut bus = Instant(ControlRegisters::new(), Status::WorkTooSmall as u32);
        assert_eq!(run(&mut bus, &mut PollClock::new(), 10), Err(Error::AccelStatus { code: 4 }));
    }

    #[test]
    fn never_done_times_out_and_then_is_busy() {
        let mut bus = ControlRegisters::new();
        struct Never<'a>(&'a mut ControlRegisters);
        impl RegisterBus for Never<'_> {
            fn read32(&mut self, offset: u32) -> core::result::Result<u32, BusFault> {
                self.0.read(offset)
            }
            fn write32(&mut self, offset: u32, value: u32) -> core::result::Result<(), BusFault> {
                self.0.write(offset, value).map(|_| ())
            }
        }
        let mut clock = PollClock::new();
        assert_eq!(run(&mut Never(&mut bus), &mut clock, 100), Err(Error::AccelTimeout { waited_us: 101 }));
        assert_eq!(clock.now_us(), 101, "one pause per poll, none after the deadline");
        assert_eq!(start(&mut Never(&mut bus)), Err(Error::AccelBusy));
    }
}
