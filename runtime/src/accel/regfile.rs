//! The IP's AXI4-Lite slave `control` as Vitis HLS generates it for `ap_ctrl_hs`, in software: what a bus
//! that stands for the IP (the C-simulation bus, the host simulator's virtual board, the tests' buses)
//! answers to the driver's reads and writes. Offsets and bits come from [`super::regs`] only.
//!
//! Behaviour modelled (Vitis HLS's generated slave, `docs/accel-bridge.md`, "The control slave"):
//! - `CTRL`: writing bit 0 (`ap_start`) while the IP is idle starts a run ([`Write::Start`]); `ap_done`
//!   clears when `CTRL` is read; `ap_idle` is low while a run is in flight; `auto_restart` is kept.
//! - `ISR` bits toggle where a 1 is written; a finished run sets `ISR.ap_done` when `IER.ap_done` is set.
//! - Pointer and scalar inputs keep what was written until written again (a task switch rewrites two
//!   pointers and nothing else); outputs are read-only, and reading an output's control word clears its
//!   `ap_vld`.
//! - Reserved words read 0 and ignore writes; an offset past the last register, or not a multiple of 4, is
//!   a [`BusFault`] (the interconnect's `DECERR`).

use super::bus::BusFault;
use super::regs::{self, Kind};

/// Bytes of the register space: one past the last register group.
pub const SPAN: u32 = last_end();

const fn last_end() -> u32 {
    let mut i = 0;
    let mut end = 0;
    while i < regs::REGISTERS.len() {
        if regs::REGISTERS[i].end() > end {
            end = regs::REGISTERS[i].end();
        }
        i += 1;
    }
    end
}

const WORDS: usize = (SPAN / 4) as usize;

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Stored (or ignored: a read-only or reserved word).
    Stored,
    /// `ap_start` was written while idle: the IP must run now, then report with
    /// [`ControlRegisters::finish`].
    Start,
}

/// The register file of the IP's control slave.
#[derive(Clone, Debug)]
pub struct ControlRegisters {
    words: [u32; WORDS],
    busy: bool,
    done: bool,
    auto_restart: bool,
}

impl Default for ControlRegisters {
    fn default() -> Self {
        Self::new()
    }
}

impl ControlRegisters {
    /// The registers after reset: idle, every word 0.
    pub const fn new() -> Self {
        Self { words: [0; WORDS], busy: false, done: false, auto_restart: false }
    }

    /// The register group whose span holds `offset`, and whether `offset` is its data word.
    fn group(offset: u32) -> Option<regs::Register> {
        regs::REGISTERS.iter().copied().find(|r| offset >= r.offset && offset < r.end())
    }

    fn index(offset: u32) -> Result<usize, BusFault> {
        if !offset.is_multiple_of(4) || offset >= SPAN {
            return Err(BusFault);
        }
        Ok((offset / 4) as usize)
    }

    /// The control word as the slave reads it.
    fn ctrl(&self) -> u32 {
        let mut v = 0;
        if self.busy {
            v |= regs::CTRL_AP_START;
        } else {
            v |= regs::CTRL_AP_IDLE | regs::CTRL_AP_READY;
        }
        if self.done {
            v |= regs::CTRL_AP_DONE;
        }
        if self.auto_restart {
            v |= regs::CTRL_AUTO_RESTART;
        }
        v
    }

    /// A read by the host, with its side effects (`ap_done` and `ap_vld` clear on read).
    pub fn read(&mut self, offset: u32) -> Result<u32, BusFault> {
        let i = Self::index(offset)?;
        if offset == regs::CTRL {
            let v = self.ctrl();
            self.done = false;
            return Ok(v);
        }
        let Some(g) = Self::group(offset) else { return Ok(0) };
        Ok(match g.kind {
            Kind::Block => self.words[i],
            Kind::Pointer if offset == g.offset || Some(offset) == g.hi() => self.words[i],
            Kind::ScalarIn | Kind::ScalarOut if offset == g.offset => self.words[i],
            Kind::ScalarOut if Some(offset) == g.ctrl() => core::mem::take(&mut self.words[i]),
            _ => 0,
        })
    }

    /// A write by the host.
    pub fn write(&mut self, offset: u32, value: u32) -> Result<Write, BusFault> {
        let i = Self::index(offset)?;
        match offset {
            regs::CTRL => {
                self.auto_restart = value & regs::CTRL_AUTO_RESTART != 0;
                if value & regs::CTRL_AP_START != 0 && !self.busy {
                    self.busy = true;
                    return Ok(Write::Start);
                }
            }
            regs::ISR => self.words[i] ^= value & (regs::IRQ_AP_DONE | regs::IRQ_AP_READY),
            regs::GIE | regs::IER => self.words[i] = value,
            _ => match Self::group(offset) {
                Some(g) if matches!(g.kind, Kind::Pointer) && (offset == g.offset || Some(offset) == g.hi()) => {
                    self.words[i] = value
                }
                Some(g) if matches!(g.kind, Kind::ScalarIn) && offset == g.offset => self.words[i] = value,
                _ => {}
            },
        }
        Ok(Write::Stored)
    }

    /// Whether a run is in flight (started, not finished).
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// The 64-bit address in pointer register `lo` (a `*_LO` offset of [`regs`]).
    pub fn pointer(&self, lo: u32) -> u64 {
        let at = |o: u32| self.words.get((o / 4) as usize).copied().unwrap_or(0);
        u64::from(at(lo)) | u64::from(at(lo + regs::SECOND_WORD)) << 32
    }

    /// The value in scalar input register `offset`.
    pub fn scalar(&self, offset: u32) -> u32 {
        self.words.get((offset / 4) as usize).copied().unwrap_or(0)
    }

    /// Drops the run in flight without outputs (a bus that could not run it): idle again, no `ap_done`.
    pub fn abort(&mut self) {
        self.busy = false;
    }

    /// Ends the run in flight: the outputs get their values with `ap_vld` set, then `ap_done`, `ap_idle`,
    /// `ap_ready` (and `ISR.ap_done` when enabled). Returns [`Write::Start`] when `auto_restart` starts the
    /// next run at once.
    pub fn finish(&mut self, status: u32, expert_loads: u32, weight_kib: u32) -> Write {
        for (reg, v) in [(regs::STATUS, status), (regs::EXPERT_LOADS, expert_loads), (regs::WEIGHT_KIB, weight_kib)] {
            let i = (reg / 4) as usize;
            self.words[i] = v;
            self.words[i + 1] = regs::OUT_AP_VLD;
        }
        self.busy = false;
        self.done = true;
        if self.words[(regs::IER / 4) as usize] & regs::IRQ_AP_DONE != 0 {
            self.words[(regs::ISR / 4) as usize] |= regs::IRQ_AP_DONE;
        }
        if self.auto_restart {
            self.busy = true;
            return Write::Start;
        }
        Write::Stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_done_and_clear_on_read() {
        let mut r = ControlRegisters::new();
        assert_eq!(r.read(regs::CTRL), Ok(regs::CTRL_AP_IDLE | regs::CTRL_AP_READY));
        assert_eq!(r.write(regs::CTRL, regs::CTRL_AP_START), Ok(Write::Start));
        assert!(r.busy());
        assert_eq!(r.read(regs::CTRL), Ok(regs::CTRL_AP_START));
        // A second start while busy does nothing.
        assert_eq!(r.write(regs::CTRL, regs::CTRL_AP_START), Ok(Write::Stored));
        assert_eq!(r.finish(4, 7, 9), Write::Stored);
        assert_eq!(r.read(regs::CTRL), Ok(regs::CTRL_AP_DONE | regs::CTRL_AP_IDLE | regs::CTRL_AP_READY));
        assert_eq!(r.read(regs::CTRL), Ok(regs::CTRL_AP_IDLE | regs::CTRL_AP_READY), "ap_done clears on read");
        assert_eq!(r.read(regs::STATUS_CTRL), Ok(regs::OUT_AP_VLD));
        assert_eq!(r.read(regs::STATUS_CTRL), Ok(0), "ap_vld clears on read");
        assert_eq!(r.read(regs::STATUS), Ok(4));
        assert_eq!(r.read(regs::EXPERT_LOADS), Ok(7));
        assert_eq!(r.read(regs::WEIGHT_KIB), Ok(9));
        // Outputs are read-only.
        r.write(regs::STATUS, 1).unwrap();
        assert_eq!(r.read(regs::STATUS), Ok(4));
    }

    #[test]
    fn pointers_keep_their_values_and_reserved_words_read_zero() {
        let mut r = ControlRegisters::new();
        r.write(regs::GATES_LO, 0x1234_5678).unwrap();
        r.write(regs::GATES_HI, 0x9).unwrap();
        r.write(regs::WORK_WORDS, 77).unwrap();
        assert_eq!(r.pointer(regs::GATES_LO), 0x9_1234_5678);
        assert_eq!(r.scalar(regs::WORK_WORDS), 77);
        // The word after a pointer's high word and after an input scalar are reserved.
        r.write(regs::GATES_HI + 4, 5).unwrap();
        assert_eq!(r.read(regs::GATES_HI + 4), Ok(0));
        r.write(regs::WORK_WORDS + 4, 5).unwrap();
        assert_eq!(r.read(regs::WORK_WORDS + 4), Ok(0));
        assert_eq!(r.read(SPAN), Err(BusFault));
        assert_eq!(r.read(2), Err(BusFault));
        assert_eq!(r.write(SPAN + 4, 0), Err(BusFault));
    }

    #[test]
    fn interrupt_status_toggles_on_write() {
        let mut r = ControlRegisters::new();
        r.write(regs::IER, regs::IRQ_AP_DONE).unwrap();
        r.write(regs::CTRL, regs::CTRL_AP_START).unwrap();
        r.finish(0, 0, 0);
        assert_eq!(r.read(regs::ISR), Ok(regs::IRQ_AP_DONE));
        r.write(regs::ISR, regs::IRQ_AP_DONE).unwrap();
        assert_eq!(r.read(regs::ISR), Ok(0));
    }

    #[test]
    fn auto_restart_starts_again() {
        let mut r = ControlRegisters::new();
        assert_eq!(r.write(regs::CTRL, regs::CTRL_AP_START | regs::CTRL_AUTO_RESTART), Ok(Write::Start));
        assert_eq!(r.finish(0, 0, 0), Write::Start);
        assert!(r.busy());
    }
}
