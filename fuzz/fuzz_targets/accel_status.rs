//! The accelerator driver's status handling: `AccelBackend` over a register bus whose every read returns
//! the next 4 input bytes (a bus fault once they run out), loading the tiny fixed16 bundle into `SliceDma`
//! memory and running task 0 then task 1 under a `PollClock` bound of 64 polls. Must end with `Ok` or a
//! typed error: never a panic, never a loop without end.
//!
//! Input: byte 0 flags (bit 0: probe the bus first), byte 1 the index of the write that faults (0: none),
//! byte 2 the DMA memory's fill byte, then the words the reads return.
#![no_main]

use m3rt::accel::bus::{BusFault, PollClock, RegisterBus, SliceDma};
use m3rt::backend::{AccelBackend, AccelConfig, Backend, Inference};
use m3rt::bundle::Bundle;

struct FuzzBus<'a> {
    reads: &'a [u8],
    writes: u32,
    fault_at: u32,
}

impl RegisterBus for FuzzBus<'_> {
    fn read32(&mut self, _offset: u32) -> Result<u32, BusFault> {
        let (word, rest) = self.reads.split_first_chunk::<4>().ok_or(BusFault)?;
        self.reads = rest;
        Ok(u32::from_le_bytes(*word))
    }
    fn write32(&mut self, _offset: u32, _value: u32) -> Result<(), BusFault> {
        self.writes += 1;
        if self.writes == self.fault_at {
            return Err(BusFault);
        }
        Ok(())
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [flags, fault_at, fill, reads @ ..] = data else { return };
    let mut bus = FuzzBus { reads, writes: 0, fault_at: u32::from(*fault_at) };
    if flags & 1 != 0 {
        let _ = m3rt::accel::probe::probe(&mut bus);
    }
    let bundle = Bundle::parse(m3rt_fuzz::tiny_ip_bundle()).expect("the tiny fixed16 bundle parses");
    let config = AccelConfig { timeout_us: 64, ..AccelConfig::new(m3rt_fuzz::IP_PROFILE) };
    let words = AccelBackend::new(&mut bus, SliceDma::new(&mut [], 0), PollClock::new(), config).scratch_words(&bundle);
    // Room for the placement, 64-byte aligned at bus address 0x4000_0000.
    let mut memory = vec![*fill; words * 4 + 64];
    let skew = memory.as_ptr().align_offset(64);
    let dma = SliceDma::new(&mut memory[skew..], 0x4000_0000);
    let mut accel = AccelBackend::new(&mut bus, dma, PollClock::new(), config);
    let Ok(mut model) = accel.load(bundle) else { return };
    let input = vec![0.25f32; model.input_len()];
    for task in [0, 1] {
        if model.select_task(task).is_err() {
            continue;
        }
        let Ok(n) = model.output_len() else { continue };
        let mut output = vec![0f32; n];
        let _ = model.run(&input, &mut output);
    }
});
