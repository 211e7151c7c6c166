//! Hand-built bundles for tests and fuzzing (feature `testing`): the tiny and small models, their weight
//! patterns, the writer call that makes them, and the CRC fix-up after byte surgery. No converter is
//! involved, so a test built on these checks the runtime against values worked out by hand.
//!
//! One source for every crate that needs such a bundle (the runtime's tests, the fuzz targets and their
//! seeds, the simulator's and the Linux board's tests).

use alloc::vec::Vec;

use super::layout::{crc32, Preamble, PREAMBLE_LEN};
use super::{quantize, AlignedBytes, Bundle, BundleWriter, Dtype};
use crate::fixed::Profile;
use crate::model::{self, HeadKind, Hyper, PostProcess};
use crate::{Error, Result};

/// A task as the builders take it: name, output channels, post-processing.
pub type TaskSpec = (&'static str, u32, PostProcess);

/// The smallest model there is: 2×2 image, one 2×2 patch, D = 2, one MoE block of 2 experts (top-1), a
/// light head, one task. 23 tensors.
pub fn tiny_hyper() -> Hyper {
    Hyper {
        image_h: 2,
        image_w: 2,
        in_chans: 3,
        patch: 2,
        dim: 2,
        depth: 1,
        heads: 1,
        mlp_hidden: 2,
        experts: 2,
        top_k: 1,
        expert_hidden: 2,
        moe_blocks: 1,
        head_kind: HeadKind::Light,
        head_width: 2,
        ln_eps: 1e-6,
        norm_mean: [0.0; 3],
        norm_std: [1.0; 3],
        tasks: 1,
    }
}

/// The tiny model's only task.
pub const TINY_TASKS: &[TaskSpec] = &[("d", 1, PostProcess::Raw)];

/// The two tasks of the tiny two-task model ([`tiny_two_task_bundle`]): 1 and 3 channels.
pub const TINY_TWO_TASKS: &[TaskSpec] = &[("depth", 1, PostProcess::Raw), ("normals", 3, PostProcess::Raw)];

/// A richer model: two blocks (dense, then MoE with 4 experts of which each token takes 2), 32×48 image
/// (6 patches + cls = 7 tokens), the PUP head, three tasks.
pub fn small_hyper() -> Hyper {
    Hyper {
        image_h: 32,
        image_w: 48,
        in_chans: 3,
        patch: 16,
        dim: 8,
        depth: 2,
        heads: 2,
        mlp_hidden: 16,
        experts: 4,
        top_k: 2,
        expert_hidden: 12,
        moe_blocks: 0b10,
        head_kind: HeadKind::Pup,
        head_width: 4,
        ln_eps: 1e-6,
        norm_mean: [0.485, 0.456, 0.406],
        norm_std: [0.229, 0.224, 0.225],
        tasks: 3,
    }
}

/// The small model's tasks.
pub const SMALL_TASKS: &[TaskSpec] =
    &[("semseg", 21, PostProcess::Argmax), ("depth", 1, PostProcess::Raw), ("normals", 3, PostProcess::L2Normalize)];

/// Simple values, exact in f16 too: element `j` of tensor `i` is `((7i + 3j) mod 23) / 8 − 1`.
pub fn simple_values(i: u32, n: usize) -> Vec<f32> {
    (0..n).map(|j| ((i as usize * 7 + j * 3) % 23) as f32 * 0.125 - 1.0).collect()
}

/// Values most of which f16 cannot represent exactly, in about ±5.
pub fn rough_values(i: u32, n: usize) -> Vec<f32> {
    (0..n).map(|j| ((j as u64 * 2_654_435_761 + i as u64 * 97) % 10_007) as f32 / 1000.1 - 5.0).collect()
}

/// Writes a bundle of `h` (its task count taken from `tasks`) declaring 300 scratch floats, every tensor
/// `values(i, numel)` as `dtype`. See [`build_with_scratch`].
pub fn build(h: &Hyper, tasks: &[TaskSpec], dtype: Dtype, values: fn(u32, usize) -> Vec<f32>) -> Result<Vec<u8>> {
    build_with_scratch(h, tasks, dtype, values, 300)
}

/// Writes a bundle of `h` with `tasks`, every tensor `values(i, numel)` as `dtype`, declaring
/// `scratch_floats`. Tensors are added in reverse canonical order and before the tasks, to exercise the
/// writer's "any order" (its output is canonical whatever the order).
pub fn build_with_scratch(
    h: &Hyper,
    tasks: &[TaskSpec],
    dtype: Dtype,
    values: fn(u32, usize) -> Vec<f32>,
    scratch_floats: u64,
) -> Result<Vec<u8>> {
    let h = Hyper { tasks: tasks.len() as u32, ..*h };
    let mut w = BundleWriter::new(h, scratch_floats)?;
    for i in (0..model::tensor_count(&h)).rev() {
        let key = model::canonical_key(&h, i).ok_or(Error::Inconsistent { what: "tensor index past the model" })?;
        let channels = tasks.get(key.task as usize).map_or(0, |t| t.1);
        let shape = model::expected_shape(&h, key, channels);
        w.add_tensor(key, shape.as_slice(), &values(i, shape.numel() as usize), dtype)?;
    }
    for (name, c, post) in tasks {
        w.add_task(name, *c, *post)?;
    }
    w.finish()
}

/// The tiny model's one-task bundle (simple values, f32).
pub fn tiny_bundle() -> Result<Vec<u8>> {
    build(&tiny_hyper(), TINY_TASKS, Dtype::F32, simple_values)
}

/// The tiny model with [`TINY_TWO_TASKS`] as `dtype` (simple values), declaring the scratch the CPU engine
/// needs for 3 output channels: the bundle the fuzz targets and the board tests run.
pub fn tiny_two_task_bundle(dtype: Dtype) -> Result<Vec<u8>> {
    let h = Hyper { tasks: 2, ..tiny_hyper() };
    build_with_scratch(&h, TINY_TWO_TASKS, dtype, simple_values, crate::engine::scratch_floats(&h, 3, true))
}

/// `bytes` (an f32 or f16 bundle) quantized in `profile`.
pub fn quantized(bytes: &[u8], profile: Profile) -> Result<Vec<u8>> {
    let aligned = AlignedBytes::from_slice(bytes);
    Ok(quantize(&Bundle::parse(&aligned)?, profile)?.0)
}

/// Recomputes the three CRCs after the bytes were patched; `false` (and nothing changed) when the
/// preamble does not decode or its sections are not all in `bytes`.
pub fn try_recrc(bytes: &mut [u8]) -> bool {
    let Ok(mut p) = Preamble::read(bytes) else { return false };
    let Ok(s) = p.sections() else { return false };
    let (Some(h), Some(t), Some(w)) = (bytes.get(s.header), bytes.get(s.table), bytes.get(s.weights)) else {
        return false;
    };
    (p.header_crc, p.table_crc, p.weights_crc) = (crc32(h), crc32(t), crc32(w));
    match bytes.get_mut(..PREAMBLE_LEN) {
        Some(head) => head.copy_from_slice(&p.to_bytes()),
        None => return false,
    }
    true
}
