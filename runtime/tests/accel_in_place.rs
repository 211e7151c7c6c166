//! `WeightPlacement::InPlace` (`docs/accel-bridge.md`, "DMA memory"): the IP is pointed at the bundle's own
//! weight section, at the address the DMA memory gives for it; no weight byte is copied, the section is
//! flushed once at load, and a DMA memory that cannot reach the CPU's memory, or a section not 64-byte
//! aligned, is refused at load.

mod bundle_common;
use bundle_common::*;

use m3rt::accel::bus::{BusFault, DmaMemory, PollClock, RegisterBus, SliceDma};
use m3rt::accel::place::{Placement, WeightPlacement};
use m3rt::accel::regs;
use m3rt::backend::{AccelBackend, AccelConfig, Backend, Inference};
use m3rt::bundle::{quantize, AlignedBytes, Bundle};
use m3rt::fixed::Profile;
use m3rt::Error;

/// A register bus that records every write and reads 0.
#[derive(Default)]
struct Recorder(Vec<(u32, u32)>);

impl RegisterBus for Recorder {
    fn read32(&mut self, _: u32) -> Result<u32, BusFault> {
        Ok(0)
    }
    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        self.0.push((offset, value));
        Ok(())
    }
}

impl Recorder {
    /// The last value written to the 64-bit register pair at `lo`.
    fn pair(&self, lo: u32) -> Option<u64> {
        let last = |o: u32| self.0.iter().rev().find(|(r, _)| *r == o).map(|&(_, v)| u64::from(v));
        Some(last(lo)? | last(lo + regs::SECOND_WORD)? << 32)
    }
}

/// Host memory standing for an identity-mapped board's: the bus address of anything is its address.
struct Identity {
    bytes: AlignedBytes,
    flushed_in_place: Vec<(usize, usize)>,
}

impl DmaMemory for Identity {
    fn bus_address(&self) -> u64 {
        self.bytes.as_ptr() as u64
    }
    fn len(&self) -> usize {
        self.bytes.len()
    }
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), BusFault> {
        let end = offset.checked_add(data.len()).ok_or(BusFault)?;
        self.bytes.as_mut_slice().get_mut(offset..end).ok_or(BusFault)?.copy_from_slice(data);
        Ok(())
    }
    fn read(&mut self, offset: usize, out: &mut [u8]) -> Result<(), BusFault> {
        let end = offset.checked_add(out.len()).ok_or(BusFault)?;
        out.copy_from_slice(self.bytes.get(offset..end).ok_or(BusFault)?);
        Ok(())
    }
    fn in_place_address(&self, bytes: &[u8]) -> Option<u64> {
        Some(bytes.as_ptr() as u64)
    }
    fn flush_in_place(&mut self, bytes: &[u8]) -> Result<(), BusFault> {
        self.flushed_in_place.push((bytes.as_ptr() as usize, bytes.len()));
        Ok(())
    }
}

/// The tiny model quantized in the IP's profile, 64-byte aligned.
fn tiny_fixed16() -> AlignedBytes {
    let f32_bytes = aligned(&tiny_bundle());
    aligned(&quantize(&Bundle::parse(&f32_bytes).unwrap(), Profile::EDGE_MOE).unwrap().0)
}

const IN_PLACE: AccelConfig = AccelConfig { weights: WeightPlacement::InPlace, ..AccelConfig::new(Profile::EDGE_MOE) };

#[test]
fn in_place_weights_are_the_bundles_own_bytes() {
    let bytes = tiny_fixed16();
    let b = Bundle::parse(&bytes).unwrap();
    let section = b.weight_section();
    let (copy, in_place) =
        (Placement::new(&b, WeightPlacement::Copy).unwrap(), Placement::new(&b, WeightPlacement::InPlace).unwrap());
    assert_eq!(in_place.weights.len, 0);
    assert_eq!(in_place.total, copy.weights.offset, "the placement ends where the copy would start");
    let sizing = AccelBackend::new(Recorder::default(), SliceDma::new(&mut [], 0), PollClock::new(), IN_PLACE);
    assert_eq!(sizing.scratch_words(&b) * 4, in_place.total.div_ceil(4) * 4);

    let dma = Identity { bytes: AlignedBytes::zeroed(in_place.total), flushed_in_place: Vec::new() };
    let mut backend = AccelBackend::new(Recorder::default(), dma, PollClock::new(), IN_PLACE);
    {
        let model = backend.load(Bundle::parse(&bytes).unwrap()).unwrap();
        assert_eq!(model.placement(), &in_place);
        assert_eq!(model.task(), 0);
    }
    let (bus, dma, _) = backend.parts();
    let at = section.as_ptr() as u64;
    assert_eq!((bus.pair(regs::WQ16_LO), bus.pair(regs::WQ8_LO)), (Some(at), Some(at)));
    assert_eq!(bus.pair(regs::MODEL_LO), Some(dma.bus_address() + in_place.model.offset as u64));
    assert_eq!(dma.flushed_in_place, [(section.as_ptr() as usize, section.len())]);
    // Nothing was written past the tables: the input, output and work buffers are still zero.
    assert!(dma.bytes[in_place.input.offset..].iter().all(|&x| x == 0));
}

#[test]
fn in_place_needs_a_dma_memory_that_reaches_the_cpus_memory() {
    let bytes = tiny_fixed16();
    let b = Bundle::parse(&bytes).unwrap();
    let need = Placement::new(&b, WeightPlacement::InPlace).unwrap().total;
    let mut mem = vec![0u8; need];
    let mut backend =
        AccelBackend::new(Recorder::default(), SliceDma::new(&mut mem, 0x1000_0000), PollClock::new(), IN_PLACE);
    assert!(matches!(backend.fits(&b), Err(Error::Inconsistent { .. })));
    assert!(matches!(backend.load(Bundle::parse(&bytes).unwrap()), Err(Error::Inconsistent { .. })));
    assert!(backend.parts().0 .0.is_empty(), "no register written");
}

#[test]
fn in_place_weights_must_be_aligned() {
    let good = tiny_fixed16();
    // The same bundle two bytes further (parsing needs 2): its weight section is no longer 64-byte aligned.
    let mut skewed = AlignedBytes::zeroed(good.len() + 2);
    skewed.as_mut_slice()[2..].copy_from_slice(&good);
    let b = Bundle::parse(&skewed[2..]).unwrap();
    let need = Placement::new(&b, WeightPlacement::InPlace).unwrap().total;
    let dma = Identity { bytes: AlignedBytes::zeroed(need), flushed_in_place: Vec::new() };
    let mut backend = AccelBackend::new(Recorder::default(), dma, PollClock::new(), IN_PLACE);
    assert_eq!(backend.fits(&b), Err(Error::Misaligned { what: "the weight section's bus address", align: 64 }));
    assert!(backend.load(b).is_err());
    assert!(backend.parts().0 .0.is_empty(), "no register written");
}
