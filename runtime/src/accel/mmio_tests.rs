//! [`MmioBus`] over a word array and [`MmioDma`] over a byte array, standing for the register page and the
//! DMA window: the accesses land where the offsets say, and nothing outside the span is touched.

use super::*;
use crate::accel::{regfile, regs};

#[test]
fn mmio_bus_writes_and_reads_the_right_words() {
    let mut page = [0u32; 8];
    let p = page.as_mut_ptr();
    // Safety: the array lives until the end of the test and is only reached through `p` meanwhile.
    let mut bus = unsafe { MmioBus::new(p as usize, 32) };
    assert_eq!((bus.base(), bus.span()), (p as usize, 32));
    bus.write32(0, 0x1111_1111).unwrap();
    bus.write32(0x14, 0xdead_beef).unwrap();
    bus.write32(28, 7).unwrap();
    // Safety: `p` points at the live array of 8 words.
    let seen: [u32; 8] = core::array::from_fn(|i| unsafe { p.add(i).read_volatile() });
    assert_eq!(seen, [0x1111_1111, 0, 0, 0, 0, 0xdead_beef, 0, 7]);
    // Safety: word 3 of the array.
    unsafe { p.add(3).write_volatile(0x0bad_f00d) };
    assert_eq!(bus.read32(12), Ok(0x0bad_f00d));
    assert_eq!(bus.read32(0x14), Ok(0xdead_beef));
}

#[test]
fn mmio_bus_refuses_out_of_span_and_misaligned_offsets() {
    let mut page = [0u32; 8];
    let p = page.as_mut_ptr();
    // Safety: as above; the span covers 7 of the 8 words, so word 7 stands for memory past the page.
    let mut bus = unsafe { MmioBus::new(p as usize, 28) };
    for offset in [28, 32, 2, 1, 27, u32::MAX - 3, u32::MAX] {
        assert_eq!(bus.read32(offset), Err(BusFault), "read at {offset:#x}");
        assert_eq!(bus.write32(offset, 0xffff_ffff), Err(BusFault), "write at {offset:#x}");
    }
    // A span that is not a whole number of words: the last partial word is outside it.
    // Safety: as above.
    let mut ragged = unsafe { MmioBus::new(p as usize, 30) };
    assert_eq!(ragged.write32(28, 1), Err(BusFault));
    assert_eq!(ragged.write32(24, 2), Ok(()));
    // A misaligned base faults on every access.
    // Safety: as above (never dereferenced: every access faults).
    let mut skewed = unsafe { MmioBus::new(p as usize + 1, 28) };
    assert_eq!(skewed.read32(0), Err(BusFault));
    assert_eq!(page, [0, 0, 0, 0, 0, 0, 2, 0], "no refused write touched memory");
}

#[test]
fn mmio_bus_spans_the_ips_registers() {
    let mut page = [0u32; (regfile::SPAN / 4) as usize];
    let p = page.as_mut_ptr();
    // Safety: as above.
    let mut bus = unsafe { MmioBus::new(p as usize, regfile::SPAN) };
    bus.write32(regs::WEIGHT_KIB_CTRL, 1).unwrap();
    assert_eq!(bus.read32(regfile::SPAN), Err(BusFault));
    // WEIGHT_KIB_CTRL = 0x9C, the last word: index 39.
    // Safety: word 39 of the live array.
    assert_eq!(unsafe { p.add(39).read_volatile() }, 1);
}

#[test]
fn mmio_dma_copies_inside_its_window_only() {
    let mut mem = [0u8; 16];
    let p = mem.as_mut_ptr();
    // Safety: the array lives until the end of the test and is only reached through the window.
    let mut dma = unsafe { MmioDma::new(p as usize, 12) };
    assert_eq!((dma.bus_address(), dma.len()), (p as u64, 12));
    dma.write(10, &[0xaa, 0xbb]).unwrap();
    dma.write(0, &[1, 2, 3]).unwrap();
    assert_eq!(dma.write(11, &[9, 9]), Err(BusFault));
    assert_eq!(dma.write(usize::MAX, &[9]), Err(BusFault));
    let mut out = [0u8; 4];
    dma.read(8, &mut out).unwrap();
    assert_eq!(out, [0, 0, 0xaa, 0xbb]);
    assert_eq!(dma.read(9, &mut out), Err(BusFault));
    assert_eq!(dma.flush(0..12), Ok(()));
    assert_eq!(dma.invalidate(4..4), Ok(()));
    assert_eq!(dma.flush(0..13), Err(BusFault));
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 5..4;
    assert_eq!(dma.invalidate(backwards), Err(BusFault));
    assert_eq!(mem, [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0xaa, 0xbb, 0, 0, 0, 0]);
}

#[test]
fn maintenance_covers_every_line_and_marks_the_partial_ones() {
    let all: heapless::Vec<(usize, bool), 8> = lines(0x1000..0x1080).collect();
    assert_eq!(all.as_slice(), &[(0x1000, true), (0x1040, true)]);
    // 0x1010..0x10c1 touches lines 0x1000 (partly), 0x1040, 0x1080 (whole), 0x10c0 (one byte).
    let all: heapless::Vec<(usize, bool), 8> = lines(0x1010..0x10c1).collect();
    assert_eq!(all.as_slice(), &[(0x1000, false), (0x1040, true), (0x1080, true), (0x10c0, false)]);
    // Inside one line.
    let all: heapless::Vec<(usize, bool), 8> = lines(0x2044..0x2048).collect();
    assert_eq!(all.as_slice(), &[(0x2040, false)]);
    assert_eq!(lines(0x3000..0x3000).count(), 0);
    // The last line of the address space ends the walk.
    let top = usize::MAX - 63;
    let all: heapless::Vec<(usize, bool), 8> = lines(top..usize::MAX).collect();
    assert_eq!(all.as_slice(), &[(top, false)]);
}

#[test]
fn mmio_dma_reads_other_memory_in_place_at_its_own_address() {
    let mut window = [0u8; 8];
    // Safety: the array lives until the end of the test and is only reached through the window.
    let mut dma = unsafe { MmioDma::new(window.as_mut_ptr() as usize, 8) };
    let weights = [7u8; 100];
    assert_eq!(dma.in_place_address(&weights), Some(weights.as_ptr() as u64));
    assert_eq!(dma.flush_in_place(&weights), Ok(()));
    assert_eq!(dma.flush_in_place(&[]), Ok(()));
    assert_eq!(weights, [7u8; 100], "cleaning changes no byte");
    // The default of the trait: a DMA memory that cannot reach the CPU's memory says so.
    let mut host = [0u8; 8];
    let slice = crate::accel::bus::SliceDma::new(&mut host, 0x1000);
    assert_eq!(slice.in_place_address(&weights), None);
}
