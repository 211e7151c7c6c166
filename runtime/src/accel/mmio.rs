//! The bare-metal buses (`docs/accel-bridge.md`, "Buses"): [`MmioBus`], the IP's AXI4-Lite register page
//! reached by volatile 32-bit loads and stores at its physical address, and [`MmioDma`], a window of
//! physical memory the CPU reaches at the addresses the IP uses (an identity-mapped bare-metal board), with
//! data-cache maintenance by virtual address on `aarch64` bare metal.
//!
//! Both check every access against their span before touching memory: an offset past the end, or a
//! register offset that is not a multiple of 4, is a [`BusFault`] and no load or store happens.

use core::ops::Range;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{compiler_fence, Ordering};

use super::bus::{BusFault, DmaMemory, RegisterBus};

/// The IP's register page at a fixed address, accessed with volatile 32-bit loads and stores.
#[derive(Debug)]
pub struct MmioBus {
    base: usize,
    span: u32,
}

impl MmioBus {
    /// The register page of `span` bytes at `base` (for the IP, `span` is
    /// [`regfile::SPAN`](super::regfile::SPAN) or the larger window the block design gives it).
    ///
    /// # Safety
    /// `base..base + span` must be the IP's register page, mapped as device memory (uncached, so every
    /// access reaches the slave), valid for 32-bit volatile reads and writes for as long as the bus lives,
    /// and driven by no other code meanwhile. `base` should be 4-byte aligned; if it is not, every access
    /// is a [`BusFault`].
    pub const unsafe fn new(base: usize, span: u32) -> Self {
        Self { base, span }
    }

    /// The address of byte offset 0.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Bytes of the page.
    pub fn span(&self) -> u32 {
        self.span
    }

    /// The address of the word at `offset`, if it lies wholly inside the page and is 4-byte aligned.
    fn word(&self, offset: u32) -> Result<*mut u32, BusFault> {
        let end = offset.checked_add(4).ok_or(BusFault)?;
        if !offset.is_multiple_of(4) || end > self.span || !self.base.is_multiple_of(4) {
            return Err(BusFault);
        }
        let addr = self.base.checked_add(offset as usize).ok_or(BusFault)?;
        Ok(addr as *mut u32)
    }
}

impl RegisterBus for MmioBus {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        let p = self.word(offset)?;
        // Safety: `p` is a 4-byte aligned word inside `base..base + span` (checked by `word`), which `new`'s
        // contract makes the IP's mapped register page, owned by this bus.
        Ok(unsafe { read_volatile(p) })
    }

    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        let p = self.word(offset)?;
        // Safety: as in `read32`; `&mut self` makes this the only access in flight.
        unsafe { write_volatile(p, value) };
        Ok(())
    }
}

/// A window of physical memory the CPU reaches at the same addresses as the IP (identity-mapped bare
/// metal): its bus address is its address.
///
/// Copies in and out are plain memory copies fenced against compiler reordering; [`DmaMemory::flush`] and
/// [`DmaMemory::invalidate`] clean and invalidate the data cache over the range on `aarch64` bare metal,
/// because the IP's AXI masters (HP ports) do not snoop the A53's caches and the firmware maps DDR as normal
/// write-back memory. Elsewhere they only check the range: hosts do not use this type for real DMA, and
/// under an operating system `dc ivac` is privileged (the OS owns cache maintenance).
#[derive(Debug)]
pub struct MmioDma {
    base: usize,
    len: usize,
}

impl MmioDma {
    /// The `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base + len` must be memory valid for reads and writes for as long as this value lives, that
    /// the IP reaches at the same addresses, that no Rust reference points into and that no other code uses
    /// meanwhile (the IP may write it); `base + len` must not overflow.
    pub const unsafe fn new(base: usize, len: usize) -> Self {
        Self { base, len }
    }

    /// The address of `offset..offset + n`, if it lies inside the window.
    fn at(&self, offset: usize, n: usize) -> Result<usize, BusFault> {
        let end = offset.checked_add(n).ok_or(BusFault)?;
        if end > self.len {
            return Err(BusFault);
        }
        self.base.checked_add(offset).ok_or(BusFault)
    }

    /// The addresses of `range`, if it lies inside the window.
    fn span(&self, range: Range<usize>) -> Result<Range<usize>, BusFault> {
        let n = range.end.checked_sub(range.start).ok_or(BusFault)?;
        let start = self.at(range.start, n)?;
        Ok(start..start + n)
    }
}

impl DmaMemory for MmioDma {
    fn bus_address(&self) -> u64 {
        self.base as u64
    }

    fn len(&self) -> usize {
        self.len
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), BusFault> {
        let at = self.at(offset, data.len())?;
        compiler_fence(Ordering::SeqCst);
        // Safety: `at..at + data.len()` lies inside the window (checked by `at`), which `new`'s contract makes
        // writable memory no reference points into, so it cannot overlap `data`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), at as *mut u8, data.len()) };
        compiler_fence(Ordering::SeqCst);
        Ok(())
    }

    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), BusFault> {
        let at = self.at(offset, out.len())?;
        compiler_fence(Ordering::SeqCst);
        // Safety: as in `write`, for reads.
        unsafe { core::ptr::copy_nonoverlapping(at as *const u8, out.as_mut_ptr(), out.len()) };
        compiler_fence(Ordering::SeqCst);
        Ok(())
    }

    fn flush(&mut self, range: Range<usize>) -> Result<(), BusFault> {
        let span = self.span(range)?;
        cache::clean(span);
        Ok(())
    }

    fn invalidate(&mut self, range: Range<usize>) -> Result<(), BusFault> {
        let span = self.span(range)?;
        cache::invalidate(span);
        Ok(())
    }

    /// The bytes' own address: identity-mapped memory is at the same address for the CPU and the IP.
    fn in_place_address(&self, bytes: &[u8]) -> Option<u64> {
        Some(bytes.as_ptr() as u64)
    }

    /// Cleans the bytes' cache lines (`dc cvac` on `aarch64` bare metal, as [`DmaMemory::flush`]).
    fn flush_in_place(&mut self, bytes: &[u8]) -> Result<(), BusFault> {
        let start = bytes.as_ptr() as usize;
        let end = start.checked_add(bytes.len()).ok_or(BusFault)?;
        cache::clean(start..end);
        Ok(())
    }
}

/// Bytes of a data-cache line of the Cortex-A53 (and A72): the stride of the maintenance loops.
pub const CACHE_LINE: usize = 64;

/// The cache lines a maintenance of an address range touches, in increasing order, each with whether it
/// lies wholly inside the range.
#[derive(Clone, Debug)]
pub struct Lines {
    next: usize,
    range: Range<usize>,
}

/// The lines of `range` ([`Lines`]); none for an empty range.
pub fn lines(range: Range<usize>) -> Lines {
    Lines { next: range.start & !(CACHE_LINE - 1), range }
}

impl Iterator for Lines {
    type Item = (usize, bool);

    fn next(&mut self) -> Option<(usize, bool)> {
        if self.next >= self.range.end {
            return None;
        }
        let line = self.next;
        let end = line.checked_add(CACHE_LINE);
        // At the top of the address space there is no next line.
        self.next = end.unwrap_or(usize::MAX);
        let whole = line >= self.range.start && end.is_some_and(|e| e <= self.range.end);
        Some((line, whole))
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod cache {
    use super::{lines, Range};

    /// Cleans every line of `span` to the point of coherency (`dc cvac`), then waits for completion.
    pub(super) fn clean(span: Range<usize>) {
        for (line, _) in lines(span) {
            // Safety: cleaning a line writes back dirty data and changes no value a program can read; the
            // address lies in the DMA window `MmioDma::new`'s contract makes mapped memory, or in a live
            // slice (`flush_in_place`), which is mapped memory too.
            unsafe { core::arch::asm!("dc cvac, {a}", a = in(reg) line, options(nostack, preserves_flags)) };
        }
        // Safety: a barrier has no effect on memory contents.
        unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
    }

    /// Invalidates every line of `span` (`dc ivac`), then waits for completion. A line only partly inside
    /// `span` is cleaned and invalidated (`dc civac`) instead, so that the CPU's data next to the range is
    /// not discarded.
    pub(super) fn invalidate(span: Range<usize>) {
        for (line, whole) in lines(span) {
            if whole {
                // Safety: the whole line lies in the range the IP wrote, whose cached copy is stale by the
                // bridge's protocol (the CPU does not write a buffer the IP is writing); dropping it
                // loses nothing.
                unsafe { core::arch::asm!("dc ivac, {a}", a = in(reg) line, options(nostack, preserves_flags)) };
            } else {
                // Safety: clean-and-invalidate keeps any dirty data of the line, so no value changes.
                unsafe { core::arch::asm!("dc civac, {a}", a = in(reg) line, options(nostack, preserves_flags)) };
            }
        }
        // Safety: a barrier has no effect on memory contents.
        unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
mod cache {
    use super::Range;

    /// Nothing to do here (see [`super::MmioDma`]); a fence keeps the compiler's order.
    pub(super) fn clean(_span: Range<usize>) {
        super::compiler_fence(super::Ordering::SeqCst);
    }

    /// As [`clean`].
    pub(super) fn invalidate(_span: Range<usize>) {
        super::compiler_fence(super::Ordering::SeqCst);
    }
}

#[cfg(test)]
#[path = "mmio_tests.rs"]
mod tests;
