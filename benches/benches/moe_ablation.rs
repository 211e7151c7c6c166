//! MoE ablations on one real `m3vit-t` MoE layer (its first MoE block, the semseg gate, weights from the
//! bundle, input rows = the backbone's output tokens for the golden input): the runtime's expert-by-expert
//! reordered sparse pathway against token-by-token sparse execution and against the dense equivalent.
//! The three are checked for equal outputs in `m3rt_benches::moe_ablation`'s unit tests and again here.

use criterion::{criterion_group, criterion_main, Criterion};
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_benches::moe_ablation::MoeLayer;
use m3rt_benches::{bundle, golden_input, model_dir, quick};
use m3rt_cli::convert::Precision;

fn ablation(c: &mut Criterion) {
    let Some(dir) = model_dir("m3vit-t") else {
        eprintln!("m3vit-t: not generated; run `cargo xtask models`");
        return;
    };
    let bytes = bundle(&dir, Precision::F32);
    let bundle = Bundle::parse(&bytes).expect("bundle parses");
    let h = *bundle.hyper();
    let block = (0..h.depth).find(|&b| h.is_moe(b)).expect("m3vit-t has an MoE block");
    let mut scratch = vec![0f32; bundle.scratch_floats()];
    let mut engine = Engine::new(bundle, &mut scratch).expect("engine");
    let tokens = engine.encode(&golden_input(&dir)).expect("encodes").to_vec();
    let layer = MoeLayer::from_bundle(&bundle, block, 0, tokens).expect("layer");
    let mut s = layer.scratch();
    let n = layer.t * layer.d;
    let (mut ya, mut yb, mut yc) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    layer.run_reordered(&mut s, &mut ya).expect("runs");
    layer.run_token_by_token(&mut s, &mut yb).expect("runs");
    layer.run_dense(&mut s, &mut yc).expect("runs");
    let scale = ya.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (what, y) in [("token-by-token", &yb), ("dense", &yc)] {
        let diff = ya.iter().zip(y.iter()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-4 * scale.max(1.0), "{what} differs from the reordered pathway by {diff}");
    }
    eprintln!(
        "moe layer: block {block}, T={} D={} Dh={} E={} k={}, sparse work {:.1} MMAC",
        layer.t,
        layer.d,
        layer.dh,
        layer.e,
        layer.k,
        layer.sparse_macs() as f64 / 1e6
    );
    let mut group = c.benchmark_group("moe/m3vit-t");
    quick(&mut group, 20);
    group.bench_function("reordered", |b| b.iter(|| layer.run_reordered(&mut s, &mut ya).expect("runs")));
    group.bench_function("token-by-token", |b| b.iter(|| layer.run_token_by_token(&mut s, &mut yb).expect("runs")));
    group.bench_function("dense", |b| b.iter(|| layer.run_dense(&mut s, &mut yc).expect("runs")));
    group.finish();
}

criterion_group!(benches, ablation);
criterion_main!(benches);
