//! [`AccelBackend`](super::AccelBackend)'s copies into DMA memory, and where the IP reads the weights.

use crate::accel::bus::{BusFault, DmaMemory};
use crate::accel::place::{Region, WeightPlacement};
use crate::bundle::Bundle;
use crate::{Error, Result};

/// Bytes staged on the stack per DMA copy.
pub(super) const CHUNK: usize = 256;

/// A DMA fault at byte `offset`, as the crate's error.
pub(super) fn dma_fault(offset: usize) -> impl Fn(BusFault) -> Error {
    move |_| Error::BusFault { what: "DMA memory", offset: offset as u64 }
}

/// Copies `words` as little-endian bytes into `dma` at `offset`, through a stack buffer.
pub(super) fn write_words<D: DmaMemory>(dma: &mut D, offset: usize, words: &[u32]) -> Result<()> {
    let mut buf = [0u8; CHUNK];
    for (i, chunk) in words.chunks(CHUNK / 4).enumerate() {
        for (b, w) in buf.chunks_exact_mut(4).zip(chunk) {
            b.copy_from_slice(&w.to_le_bytes());
        }
        let at = offset + i * CHUNK;
        let part = buf.get(..chunk.len() * 4).ok_or(Error::Inconsistent { what: "word chunk" })?;
        dma.write(at, part).map_err(dma_fault(at))?;
    }
    Ok(())
}

/// Makes the CPU's writes to `r` visible to the IP.
pub(super) fn flush<D: DmaMemory>(dma: &mut D, r: Region) -> Result<()> {
    dma.flush(r.offset..r.end()).map_err(dma_fault(r.offset))
}

/// The bus address of `bundle`'s weight section when the IP reads it where it is (`None` for
/// [`WeightPlacement::Copy`]); [`Error::Inconsistent`] for [`WeightPlacement::InPlace`] on a DMA memory that
/// cannot reach the CPU's memory.
pub(super) fn weight_address<D: DmaMemory>(
    dma: &D,
    weights: WeightPlacement,
    bundle: &Bundle<'_>,
) -> Result<Option<u64>> {
    match weights {
        WeightPlacement::Copy => Ok(None),
        WeightPlacement::At(a) => Ok(Some(a)),
        WeightPlacement::InPlace => {
            dma.in_place_address(bundle.weight_section()).map(Some).ok_or(Error::Inconsistent {
                what: "weights read in place need a DMA memory that reaches the CPU's memory (identity-mapped)",
            })
        }
    }
}
