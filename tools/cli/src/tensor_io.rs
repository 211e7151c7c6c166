//! Loading bundles and reading or writing tensors and images for the commands.

use std::path::Path;

use anyhow::{bail, Context, Result};
use m3rt::bundle::AlignedBytes;
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
