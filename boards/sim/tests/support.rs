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
