//! Shared by the tests: m3vit-t's hyperparameters and a routing without a model.
#![allow(dead_code)]

use m3rt::model::{HeadKind, Hyper};

/// M3ViT-T, the Edge-MoE workload (m3vit-model.md): 128×256, D = 192, 12 blocks, 3 heads, 16 experts,
/// top-2, Dh = 384, MoE in the odd blocks, PUP head of width 256.
pub fn m3vit_t() -> Hyper {
    Hyper {
        image_h: 128,
        image_w: 256,
        in_chans: 3,
        patch: 16,
        dim: 192,
        depth: 12,
        heads: 3,
        mlp_hidden: 768,
        experts: 16,
        top_k: 2,
        expert_hidden: 384,
        moe_blocks: 0b1010_1010_1010,
        head_kind: HeadKind::Pup,
        head_width: 256,
        ln_eps: 1e-6,
        norm_mean: [0.0; 3],
        norm_std: [1.0; 3],
        tasks: 2,
    }
}

/// Every MoE layer's 129 × 2 = 258 token slots spread as evenly as possible over the 16 experts.
pub fn even_queues(h: &Hyper) -> Vec<Vec<u32>> {
    let slots = h.tokens() * h.top_k;
    let e = h.experts;
    let q: Vec<u32> = (0..e).map(|x| slots / e + u32::from(x < slots % e)).collect();
    vec![q; h.moe_count() as usize]
}

/// A small model (two blocks, the second MoE with 4 experts of which each token takes 2, 7 tokens, the PUP
/// head, two tasks), f32 weights `((7i + 3j) mod 23) / 8 − 1` (as the runtime's bundle tests), quantized
/// W16A32 with the Edge-MoE profile: a bundle the fixed-point engine routes, built without the converter.
pub fn small_q16_bundle() -> Vec<u8> {
    use m3rt::bundle::{quantize, AlignedBytes, Bundle, BundleWriter, Dtype};
    use m3rt::fixed::Profile;
    use m3rt::model::{self, PostProcess};
    let h = Hyper {
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
        tasks: 2,
    };
    let tasks = [("semseg", 21, PostProcess::Argmax), ("depth", 1, PostProcess::Raw)];
    let mut w = BundleWriter::new(h, 300).unwrap();
    for i in 0..model::tensor_count(&h) {
        let key = model::canonical_key(&h, i).unwrap();
        let shape = model::expected_shape(&h, key, tasks[key.task as usize].1);
        let n = shape.numel() as usize;
        let data: Vec<f32> = (0..n).map(|j| ((i as usize * 7 + j * 3) % 23) as f32 * 0.125 - 1.0).collect();
        w.add_tensor(key, shape.as_slice(), &data, Dtype::F32).unwrap();
    }
    for (name, c, post) in tasks {
        w.add_task(name, c, post).unwrap();
    }
    let f32_bytes = AlignedBytes::from_slice(&w.finish().unwrap());
    quantize(&Bundle::parse(&f32_bytes).unwrap(), Profile::EDGE_MOE).unwrap().0
}

/// An input image for [`small_q16_bundle`]: `[3, 32, 48]` values in [0, 1).
pub fn small_input() -> Vec<f32> {
    (0..3 * 32 * 48).map(|i| ((i * 37) % 101) as f32 / 101.0).collect()
}
