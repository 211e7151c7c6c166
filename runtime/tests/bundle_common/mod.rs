//! Models, bundles and byte surgery shared by the bundle tests.
#![allow(dead_code)]

use m3rt::bundle::layout::{crc32, Preamble, PREAMBLE_LEN};
use m3rt::bundle::{AlignedBytes, BundleWriter, Dtype};
use m3rt::model::{self, HeadKind, Hyper, PostProcess};

/// The smallest model there is: 2×2 image, one 2×2 patch, D = 2, one MoE block of 2 experts, a light
/// head, one task. 23 tensors.
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
pub const TINY_TASKS: &[(&str, u32, PostProcess)] = &[("d", 1, PostProcess::Raw)];

/// A richer model: two blocks (dense, then MoE with 4 experts), the PUP head, three tasks.
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
pub const SMALL_TASKS: &[(&str, u32, PostProcess)] =
    &[("semseg", 21, PostProcess::Argmax), ("depth", 1, PostProcess::Raw), ("normals", 3, PostProcess::L2Normalize)];

/// Simple values, exact in f16 too: element `j` of tensor `i` is `((7i + 3j) mod 23) / 8 − 1`.
pub fn simple_values(i: u32, n: usize) -> Vec<f32> {
    (0..n).map(|j| ((i as usize * 7 + j * 3) % 23) as f32 * 0.125 - 1.0).collect()
}

/// Values most of which f16 cannot represent exactly, in about ±5.
pub fn rough_values(i: u32, n: usize) -> Vec<f32> {
    (0..n).map(|j| ((j as u64 * 2_654_435_761 + i as u64 * 97) % 10_007) as f32 / 1000.1 - 5.0).collect()
}

/// Writes a bundle of `h` with `tasks`, every tensor `values(i, numel)` as `dtype`. Tensors are added
/// in reverse canonical order and before the tasks, to exercise the writer's "any order".
pub fn build(
    h: &Hyper,
    tasks: &[(&str, u32, PostProcess)],
    dtype: Dtype,
    values: fn(u32, usize) -> Vec<f32>,
) -> Vec<u8> {
    let mut w = BundleWriter::new(*h, 300).unwrap();
    for i in (0..model::tensor_count(h)).rev() {
        let key = model::canonical_key(h, i).unwrap();
        let channels = tasks[key.task as usize].1;
        let shape = model::expected_shape(h, key, channels);
        let data = values(i, shape.numel() as usize);
        w.add_tensor(key, shape.as_slice(), &data, dtype).unwrap();
    }
    for (name, c, post) in tasks {
        w.add_task(name, *c, *post).unwrap();
    }
    w.finish().unwrap()
}

/// The tiny model's bundle (simple values, f32).
pub fn tiny_bundle() -> Vec<u8> {
    build(&tiny_hyper(), TINY_TASKS, Dtype::F32, simple_values)
}

/// Recomputes the three CRCs after the bytes were patched; `false` (and nothing changed) when the
/// preamble does not decode or its sections are not all in `bytes`.
pub fn try_recrc(bytes: &mut [u8]) -> bool {
    let Ok(mut p) = Preamble::read(bytes) else {
        return false;
    };
    let Ok(s) = p.sections() else { return false };
    let (Some(h), Some(t), Some(w)) = (bytes.get(s.header), bytes.get(s.table), bytes.get(s.weights)) else {
        return false;
    };
    (p.header_crc, p.table_crc, p.weights_crc) = (crc32(h), crc32(t), crc32(w));
    bytes[..PREAMBLE_LEN].copy_from_slice(&p.to_bytes());
    true
}

/// [`try_recrc`] that must succeed.
pub fn recrc(bytes: &mut [u8]) {
    assert!(try_recrc(bytes), "preamble no longer decodes");
}

/// A 64-byte aligned copy.
pub fn aligned(bytes: &[u8]) -> AlignedBytes {
    AlignedBytes::from_slice(bytes)
}
