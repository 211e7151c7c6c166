//! The accelerator's buses under Linux (`docs/accel-bridge.md`, "Buses"): [`UioBus`], the IP's register
//! page as a UIO device's map 0, and [`UdmabufDma`], a physically contiguous buffer of the `u-dma-buf`
//! kernel module, both `mmap`ed into the process and reached with volatile accesses only.
//!
//! Device nodes and sysfs folders are named by the kernel: `/dev/uioN` with `/sys/class/uio/uioN/maps/map0/`
//! (`size`, hex), `/dev/udmabufN` with `/sys/class/u-dma-buf/udmabufN/` (`phys_addr`, hex; `size`, decimal).
//! Every constructor also takes explicit paths and numbers, so tests can stand a regular file for the device
//! and a folder for sysfs. Errors opening, reading or mapping name the path.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::ptr::{read_volatile, write_volatile};

use m3rt::accel::bus::{BusFault, DmaMemory, RegisterBus};
use m3rt::accel::mmio::MmioBus;
use memmap2::{MmapOptions, MmapRaw};

/// `error` with `path` in front of its message, same kind.
fn at_path(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// A number as the kernel writes it in sysfs: `0x` and hex digits, or decimal digits; whitespace around it
/// (the final newline) is ignored.
pub fn parse_sysfs_number(text: &str) -> Option<u64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

/// Reads the sysfs attribute at `path` as a number ([`parse_sysfs_number`]).
pub fn read_sysfs_number(path: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(path).map_err(|e| at_path(path, e))?;
    parse_sysfs_number(&text).ok_or_else(|| {
        at_path(path, io::Error::new(io::ErrorKind::InvalidData, format!("not a number: {:?}", text.trim())))
    })
}

/// Opens `path` for reading and writing (with `O_SYNC` when `sync`) and maps its first `size` bytes shared.
/// A regular file shorter than `size` is refused: touching a page past its end would raise `SIGBUS`.
fn map(path: &Path, size: u64, sync: bool) -> io::Result<MmapRaw> {
    let invalid = |what: String| at_path(path, io::Error::new(io::ErrorKind::InvalidInput, what));
    let len = usize::try_from(size).map_err(|_| invalid(format!("size {size} does not fit this address space")))?;
    if len == 0 {
        return Err(invalid("size 0".into()));
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if sync {
        options.custom_flags(nix::libc::O_SYNC);
    }
    let file: File = options.open(path).map_err(|e| at_path(path, e))?;
    let meta = file.metadata().map_err(|e| at_path(path, e))?;
    if meta.is_file() && meta.len() < size {
        return Err(invalid(format!("{} bytes, {size} needed", meta.len())));
    }
    MmapOptions::new().len(len).map_raw(&file).map_err(|e| at_path(path, e))
}

/// The IP's register page: map 0 of a UIO device, accessed with volatile 32-bit loads and stores.
///
/// The block design puts the page on a page boundary (`hls/scripts/vivado_bd.tcl`: 0xA000_0000, 64 KiB), so
/// byte 0 of the map is register 0. The kernel maps a UIO physical map uncached (`pgprot_noncached`: device
/// memory on aarch64), so every access reaches the slave. Offsets past the map or not a multiple of 4 are a
/// [`BusFault`], with no access made.
///
/// The accesses are [`MmioBus`]'s (one implementation of the bounds-checked volatile access, bare metal and
/// Linux), over the mapping this bus keeps alive.
#[derive(Debug)]
pub struct UioBus {
    /// Kept for its lifetime: `bus` points into it.
    _map: MmapRaw,
    bus: MmioBus,
}

impl UioBus {
    /// `/dev/uio{index}`, its size from `/sys/class/uio/uio{index}/maps/map0/size`.
    pub fn open(index: u32) -> io::Result<Self> {
        Self::open_at(format!("/dev/uio{index}"), format!("/sys/class/uio/uio{index}"))
    }

    /// The device `dev`, its size from `maps/map0/size` under the sysfs folder `sysfs`.
    pub fn open_at(dev: impl AsRef<Path>, sysfs: impl AsRef<Path>) -> io::Result<Self> {
        let size = read_sysfs_number(&sysfs.as_ref().join("maps/map0/size"))?;
        Self::open_path(dev, size)
    }

    /// The first `size` bytes of `dev` (a UIO device node, or a file standing for one in tests).
    pub fn open_path(dev: impl AsRef<Path>, size: u64) -> io::Result<Self> {
        let map = map(dev.as_ref(), size, false)?;
        let span = u32::try_from(map.len()).unwrap_or(u32::MAX);
        // Safety: `map` is a shared mapping of the register page, `span` bytes (at most its length), which the
        // kernel maps uncached; it starts on a page (4-byte aligned) and lives as long as the returned value,
        // which alone drives it (the mapping is private to it, and `bus` is dropped with it).
        let bus = unsafe { MmioBus::new(map.as_mut_ptr() as usize, span) };
        Ok(Self { _map: map, bus })
    }

    /// Bytes of the page the bus reaches.
    pub fn span(&self) -> u32 {
        self.bus.span()
    }
}

impl RegisterBus for UioBus {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        self.bus.read32(offset)
    }

    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        self.bus.write32(offset, value)
    }
}

/// A `u-dma-buf` buffer: physically contiguous memory the IP reaches at its physical address, mapped
/// with `O_SYNC`.
///
/// With `O_SYNC` (and the module's default `sync_mode=1`) the kernel maps the buffer uncached, so the CPU
/// never holds a stale or dirty line of it: [`DmaMemory::flush`] and [`DmaMemory::invalidate`] only check
/// the range. Copies use volatile accesses, aligned words in the middle and bytes at the edges, because
/// uncached memory may be device memory on aarch64, where unaligned accesses fault.
#[derive(Debug)]
pub struct UdmabufDma {
    map: MmapRaw,
    bus_address: u64,
}

impl UdmabufDma {
    /// `/dev/udmabuf{index}`, its bus address and size from `/sys/class/u-dma-buf/udmabuf{index}/`.
    pub fn open(index: u32) -> io::Result<Self> {
        Self::open_at(format!("/dev/udmabuf{index}"), format!("/sys/class/u-dma-buf/udmabuf{index}"))
    }

    /// The device `dev`, its bus address and size from `phys_addr` and `size` under the folder `sysfs`.
    pub fn open_at(dev: impl AsRef<Path>, sysfs: impl AsRef<Path>) -> io::Result<Self> {
        let attr = |name: &str| -> PathBuf { sysfs.as_ref().join(name) };
        let bus_address = read_sysfs_number(&attr("phys_addr"))?;
        let size = read_sysfs_number(&attr("size"))?;
        Self::open_path(dev, bus_address, size)
    }

    /// The first `size` bytes of `dev`, which the IP reaches at `bus_address`.
    pub fn open_path(dev: impl AsRef<Path>, bus_address: u64, size: u64) -> io::Result<Self> {
        Ok(Self { map: map(dev.as_ref(), size, true)?, bus_address })
    }

    /// The mapping's address of `offset..offset + n`, if it lies inside the buffer.
    fn at(&self, offset: usize, n: usize) -> Result<*mut u8, BusFault> {
        let end = offset.checked_add(n).ok_or(BusFault)?;
        if end > self.map.len() {
            return Err(BusFault);
        }
        Ok(self.map.as_mut_ptr().wrapping_add(offset))
    }

    fn check(&self, range: std::ops::Range<usize>) -> Result<(), BusFault> {
        let n = range.end.checked_sub(range.start).ok_or(BusFault)?;
        self.at(range.start, n).map(|_| ())
    }
}

impl DmaMemory for UdmabufDma {
    fn bus_address(&self) -> u64 {
        self.bus_address
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), BusFault> {
        let dst = self.at(offset, data.len())?;
        // Safety: `dst..dst + data.len()` lies inside the live mapping (checked by `at`), which no reference
        // points into, so it does not overlap `data`.
        unsafe { copy_in(dst, data) };
        Ok(())
    }

    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), BusFault> {
        let src = self.at(offset, out.len())?;
        // Safety: as in `write`, for reads.
        unsafe { copy_out(src, out) };
        Ok(())
    }

    fn flush(&mut self, range: std::ops::Range<usize>) -> Result<(), BusFault> {
        self.check(range)
    }

    fn invalidate(&mut self, range: std::ops::Range<usize>) -> Result<(), BusFault> {
        self.check(range)
    }
}

/// Bytes before `p` reaches an 8-byte boundary, at most `n`.
fn head(p: *const u8, n: usize) -> usize {
    p.align_offset(8).min(n)
}

/// Copies `data` to `dst` with volatile stores: bytes up to an 8-byte boundary of `dst`, aligned 8-byte
/// words, then the remaining bytes.
///
/// # Safety
/// `dst..dst + data.len()` must be valid for writes and not overlap `data`.
unsafe fn copy_in(dst: *mut u8, data: &[u8]) {
    let h = head(dst, data.len());
    let (first, rest) = data.split_at(h);
    let words = rest.chunks_exact(8);
    let tail = words.remainder();
    for (i, &b) in first.iter().enumerate() {
        // Safety: `i < h ≤ data.len()`, inside the destination.
        unsafe { write_volatile(dst.add(i), b) };
    }
    let mut at = h;
    for w in words {
        let v = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // Safety: `dst + at` is 8-byte aligned (`head`) and `at + 8 ≤ data.len()`.
        unsafe { write_volatile(dst.add(at).cast::<u64>(), v) };
        at += 8;
    }
    for &b in tail {
        // Safety: `at < data.len()`.
        unsafe { write_volatile(dst.add(at), b) };
        at += 1;
    }
}

/// Copies `out.len()` bytes from `src` into `out` with volatile loads, split as in [`copy_in`].
///
/// # Safety
/// `src..src + out.len()` must be valid for reads and not overlap `out`.
unsafe fn copy_out(src: *const u8, out: &mut [u8]) {
    let h = head(src, out.len());
    let (first, rest) = out.split_at_mut(h);
    for (i, b) in first.iter_mut().enumerate() {
        // Safety: `i < h ≤ out.len()`, inside the source.
        *b = unsafe { read_volatile(src.add(i)) };
    }
    let mut at = h;
    let mut words = rest.chunks_exact_mut(8);
    for w in &mut words {
        // Safety: `src + at` is 8-byte aligned (`head`) and `at + 8 ≤ out.len()`.
        let v = unsafe { read_volatile(src.add(at).cast::<u64>()) };
        w.copy_from_slice(&v.to_ne_bytes());
        at += 8;
    }
    for b in words.into_remainder() {
        // Safety: `at < out.len()`.
        *b = unsafe { read_volatile(src.add(at)) };
        at += 1;
    }
}
