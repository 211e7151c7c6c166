//! Loading bundles and reading or writing tensors and images for the commands.

use std::path::Path;

use anyhow::{bail, Context, Result};
use m3rt::bundle::{AlignedBytes, Bundle, Crc32Stream};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

/// A bundle's bytes: the file mapped into memory (weights are read straight from the page cache, and pages
/// a run never touches, such as other tasks' heads, are never loaded), or a copy in aligned memory where
/// mapping is not possible.
pub enum BundleBytes {
    /// The file, mapped read-only (page-aligned, so every tensor keeps its 64-byte alignment).
    Mapped(memmap2::Mmap),
    /// A copy in 64-byte-aligned memory.
    Copied(AlignedBytes),
}

impl std::ops::Deref for BundleBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            BundleBytes::Mapped(m) => m,
            BundleBytes::Copied(a) => a,
        }
    }
}

/// Opens a bundle file for zero-copy parsing: mapped when possible, else read into aligned memory.
pub fn read_bundle(path: &Path) -> Result<BundleBytes> {
    let file = std::fs::File::open(path).with_context(|| format!("opening bundle {}", path.display()))?;
    // Safety: the map is read-only and private to this process; the bundle is treated as untrusted bytes
    // (parsed and checked before use), and the commands do not write to the file while it is mapped.
    match unsafe { memmap2::Mmap::map(&file) } {
        Ok(map) if !map.is_empty() => Ok(BundleBytes::Mapped(map)),
        _ => Ok(BundleBytes::Copied(
            AlignedBytes::read_file(path).with_context(|| format!("reading bundle {}", path.display()))?,
        )),
    }
}

/// Bytes of the weights read between two page releases while checking the CRC of a mapped bundle.
const CRC_PIECE: usize = 4 << 20;

impl BundleBytes {
    /// Parses the bundle ([`Bundle::parse`]). A mapped file's weights CRC is computed in 4 MiB pieces
    /// whose pages are released after each piece, so the check leaves only the pages a run touches
    /// resident (one task's pathway; not the other tasks' heads) instead of the whole file.
    pub fn parse(&self) -> std::result::Result<Bundle<'_>, m3rt::Error> {
        let BundleBytes::Mapped(map) = self else { return Bundle::parse(self) };
        let base = map.as_ptr() as usize;
        Bundle::parse_with(map, |weights| {
            let mut crc = Crc32Stream::new();
            for piece in weights.chunks(CRC_PIECE) {
                crc.update(piece);
                release(map, piece.as_ptr() as usize - base, piece.len());
            }
            crc.finish()
        })
    }
}

/// Drops this process's resident pages of `map[offset .. offset + len]` (memmap2 widens the range to whole
/// pages).
fn release(map: &memmap2::Mmap, offset: usize, len: usize) {
    // Safety: the map is a private read-only mapping of a file the commands never write, so MADV_DONTNEED
    // loses nothing: later reads fault the same file bytes back in. A failure (an unsupported advice) only
    // leaves the pages resident.
    #[cfg(unix)]
    let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
    #[cfg(not(unix))]
    let _ = (map, offset, len);
}

/// Reads a float32 `.npy` tensor of `[1, 3, H, W]` or `[3, H, W]` and returns it as `[3, H, W]`.
pub fn read_input_npy(path: &Path, h: usize, w: usize) -> Result<Vec<f32>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let array = ArrayD::<f32>::read_npy(file).with_context(|| format!("reading {} as float32 .npy", path.display()))?;
    let shape = array.shape().to_vec();
    let ok = shape == [1, 3, h, w] || shape == [3, h, w];
    if !ok {
        bail!("{} has shape {shape:?}; the model takes [1, 3, {h}, {w}] (or [3, {h}, {w}])", path.display());
    }
    Ok(array.iter().copied().collect())
}

/// Reads a float32 `.npy` tensor with its shape.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let array = ArrayD::<f32>::read_npy(file).with_context(|| format!("reading {} as float32 .npy", path.display()))?;
    Ok((array.shape().to_vec(), array.iter().copied().collect()))
}

/// Writes `data` as a float32 `.npy` of `shape`.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let array = ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).context("tensor shape")?;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    array.write_npy(file).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
