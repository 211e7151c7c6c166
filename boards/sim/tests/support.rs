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

/// `m3rt::bundle::testing`'s small model (two blocks, the second MoE with 4 experts of which each token
/// takes 2, 7 tokens, the PUP head) with its first two tasks (semseg, depth), f32 weights
/// `((7i + 3j) mod 23) / 8 − 1`, quantized W16A32 with the Edge-MoE profile: a bundle the fixed-point
/// engine routes, built without the converter.
pub fn small_q16_bundle() -> Vec<u8> {
    use m3rt::bundle::testing::{build, quantized, simple_values, small_hyper, SMALL_TASKS};
    use m3rt::bundle::Dtype;
    use m3rt::fixed::Profile;
    let f32_bytes = build(&small_hyper(), &SMALL_TASKS[..2], Dtype::F32, simple_values).unwrap();
    quantized(&f32_bytes, Profile::EDGE_MOE).unwrap()
}

/// An input image for [`small_q16_bundle`]: `[3, 32, 48]` values in [0, 1).
pub fn small_input() -> Vec<f32> {
    (0..3 * 32 * 48).map(|i| ((i * 37) % 101) as f32 / 101.0).collect()
}
