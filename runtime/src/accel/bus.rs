//! What the bridge needs from a platform to drive the IP (`docs/accel-bridge.md`): a [`RegisterBus`] for
//! the IP's AXI4-Lite control registers, a [`DmaMemory`] the IP reads and writes over its AXI4 masters, and a
//! [`Clock`] that bounds the wait for `ap_done`.
//!
//! Every access is fallible: a bus reports a fault as a [`BusFault`], which the driver turns into
//! [`Error::BusFault`](crate::Error::BusFault) naming the register or the buffer. The DMA memory is reached
//! only by copies in and out, never by a reference held across a register access, so the memory the IP
//! writes while it runs is never aliased by a Rust reference (the C-simulation bus writes it from C++, a
//! board's IP from the fabric).

use core::ops::Range;

/// A failed bus access: an AXI `SLVERR`/`DECERR`, an unmapped address, a device that went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusFault;

/// 32-bit reads and writes at byte offsets of the IP's control interface (`m3rt::accel::regs`).
pub trait RegisterBus {
    /// Reads the word at byte offset `offset` (a multiple of 4).
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault>;

    /// Writes the word at byte offset `offset` (a multiple of 4).
    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault>;
}

impl<B: RegisterBus + ?Sized> RegisterBus for &mut B {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        (**self).read32(offset)
    }
    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        (**self).write32(offset, value)
    }
}

/// A buffer both the CPU and the IP reach: its address on the IP's bus, its length, copies in and out, and
/// the cache maintenance a platform without coherent DMA needs.
///
/// Offsets are bytes from the buffer's start; an access past [`DmaMemory::len`] is a [`BusFault`].
pub trait DmaMemory {
    /// The address of byte 0 as the IP sees it (a physical address on a board).
    fn bus_address(&self) -> u64;

    /// Bytes in the buffer.
    fn len(&self) -> usize;

    /// Whether the buffer is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `data` into the buffer at `offset`.
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), BusFault>;

    /// Copies the buffer's bytes at `offset` into `out`.
    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), BusFault>;

    /// Makes the CPU's writes to `range` visible to the IP (cleans the data cache); nothing where DMA is
    /// coherent, which is the default.
    fn flush(&mut self, range: Range<usize>) -> Result<(), BusFault> {
        let _ = range;
        Ok(())
    }

    /// Makes the IP's writes to `range` visible to the CPU (invalidates the data cache); nothing where DMA
    /// is coherent, which is the default.
    fn invalidate(&mut self, range: Range<usize>) -> Result<(), BusFault> {
        let _ = range;
        Ok(())
    }

    /// The bus address at which the IP reads `bytes`, CPU memory outside this buffer, in place
    /// ([`WeightPlacement::InPlace`](super::place::WeightPlacement::InPlace)); `None` (the default) when the
    /// IP cannot reach the CPU's memory at known addresses (a host, a Linux process, a simulation).
    fn in_place_address(&self, bytes: &[u8]) -> Option<u64> {
        let _ = bytes;
        None
    }

    /// Makes the CPU's writes to `bytes` (memory the IP reads in place, see
    /// [`DmaMemory::in_place_address`]) visible to the IP; nothing where DMA is coherent, which is the
    /// default.
    fn flush_in_place(&mut self, bytes: &[u8]) -> Result<(), BusFault> {
        let _ = bytes;
        Ok(())
    }
}

/// Time for the wait on `ap_done`: a monotonic microsecond count and what to do between two polls.
pub trait Clock {
    /// Microseconds since an arbitrary fixed point; never decreases.
    fn now_us(&mut self) -> u64;

    /// Called between two polls of the control register: a spin hint, a short sleep, or a wait for the
    /// IP's interrupt. The default is a spin hint.
    fn pause(&mut self) {
        core::hint::spin_loop();
    }
}

/// A clock that counts polls, one microsecond each: for platforms without a timer, and for tests, whose
/// timeouts then are poll counts independent of the machine's speed.
#[derive(Clone, Copy, Debug, Default)]
pub struct PollClock {
    polls: u64,
}

impl PollClock {
    /// A clock at zero.
    pub const fn new() -> Self {
        Self { polls: 0 }
    }
}

impl Clock for PollClock {
    fn now_us(&mut self) -> u64 {
        self.polls
    }
    fn pause(&mut self) {
        self.polls = self.polls.saturating_add(1);
    }
}

/// The host's monotonic clock; between polls it yields the thread for a few microseconds.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    start: std::time::Instant,
}

#[cfg(feature = "std")]
impl Default for StdClock {
    fn default() -> Self {
        Self { start: std::time::Instant::now() }
    }
}

#[cfg(feature = "std")]
impl Clock for StdClock {
    fn now_us(&mut self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
    fn pause(&mut self) {
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
}

/// A [`DmaMemory`] over a slice of host memory whose bus address is given: the memory of a bare-metal
/// board (where the IP sees the CPU's physical addresses one to one) or of a test.
#[derive(Debug)]
pub struct SliceDma<'m> {
    bytes: &'m mut [u8],
    bus_address: u64,
}

impl<'m> SliceDma<'m> {
    /// The buffer `bytes`, which the IP reaches at `bus_address`.
    pub fn new(bytes: &'m mut [u8], bus_address: u64) -> Self {
        Self { bytes, bus_address }
    }
}

impl DmaMemory for SliceDma<'_> {
    fn bus_address(&self) -> u64 {
        self.bus_address
    }
    fn len(&self) -> usize {
        self.bytes.len()
    }
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), BusFault> {
        let end = offset.checked_add(data.len()).ok_or(BusFault)?;
        self.bytes.get_mut(offset..end).ok_or(BusFault)?.copy_from_slice(data);
        Ok(())
    }
    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), BusFault> {
        let end = offset.checked_add(out.len()).ok_or(BusFault)?;
        out.copy_from_slice(self.bytes.get(offset..end).ok_or(BusFault)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_dma_copies_and_refuses_out_of_range() {
        let mut mem = [0u8; 8];
        let mut dma = SliceDma::new(&mut mem, 0x1000);
        assert_eq!((dma.bus_address(), dma.len()), (0x1000, 8));
        dma.write(6, &[1, 2]).unwrap();
        assert_eq!(dma.write(7, &[1, 2]), Err(BusFault));
        assert_eq!(dma.write(usize::MAX, &[1]), Err(BusFault));
        let mut out = [0u8; 3];
        dma.read(5, &mut out).unwrap();
        assert_eq!(out, [0, 1, 2]);
        assert_eq!(dma.read(6, &mut out), Err(BusFault));
    }

    #[test]
    fn poll_clock_advances_by_pause_only() {
        let mut c = PollClock::new();
        assert_eq!(c.now_us(), 0);
        c.pause();
        c.pause();
        assert_eq!(c.now_us(), 2);
    }
}
