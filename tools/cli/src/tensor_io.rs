//! Loading bundles and reading or writing tensors and images for the commands.

use std::path::Path;

use anyhow::{bail, Context, Result};
use m3rt::bundle::AlignedBytes;
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

/// Reads a bundle file into aligned memory (ready for zero-copy parsing).
pub fn read_bundle(path: &Path) -> Result<AlignedBytes> {
    AlignedBytes::read_file(path).with_context(|| format!("reading bundle {}", path.display()))
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
