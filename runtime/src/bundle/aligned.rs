//! [`AlignedBytes`] (feature `alloc`): bundle bytes in 64-byte aligned heap memory.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use super::TENSOR_ALIGN;

/// A byte buffer whose first byte is 64-byte aligned, so that a bundle loaded into it has every
/// tensor 64-byte aligned in memory: `Bundle::parse(&AlignedBytes::from_slice(&bytes))`.
pub struct AlignedBytes {
    /// Backing words; the heap block does not move when `self` does.
    words: Vec<u64>,
    /// Offset of the first byte in `words`, chosen to make it 64-byte aligned.
    start: usize,
    /// Number of bytes.
    len: usize,
}

impl AlignedBytes {
    /// `len` zero bytes, 64-byte aligned.
    pub fn zeroed(len: usize) -> Self {
        let words = vec![0u64; len.div_ceil(8).saturating_add(TENSOR_ALIGN / 8)];
        let misalign = words.as_ptr().addr() % TENSOR_ALIGN;
        let start = (TENSOR_ALIGN - misalign) % TENSOR_ALIGN;
        Self { words, start, len }
    }

    /// A 64-byte aligned copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut a = Self::zeroed(bytes.len());
        a.as_mut_slice().copy_from_slice(bytes);
        a
    }

    /// Reads a whole file into 64-byte aligned memory (feature `std`).
    #[cfg(feature = "std")]
    pub fn read_file(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::OutOfMemory, "file larger than memory"))?;
        let mut a = Self::zeroed(len);
        file.read_exact(a.as_mut_slice())?;
        // A file that grew since `metadata` is read whole all the same.
        let mut rest = Vec::new();
        if file.read_to_end(&mut rest)? != 0 {
            let mut all = Vec::with_capacity(len.saturating_add(rest.len()));
            all.extend_from_slice(&a);
            all.extend_from_slice(&rest);
            a = Self::from_slice(&all);
        }
        Ok(a)
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let (start, len) = (self.start, self.len);
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.words);
        // In range by construction: `words` holds `start + len` bytes at least.
        bytes.get_mut(start..start + len).unwrap_or_default()
    }
}

impl Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let bytes: &[u8] = bytemuck::cast_slice(&self.words);
        // In range by construction: `words` holds `start + len` bytes at least.
        bytes.get(self.start..self.start + self.len).unwrap_or_default()
    }
}

impl Clone for AlignedBytes {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl fmt::Debug for AlignedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedBytes({} bytes)", self.len)
    }
}
