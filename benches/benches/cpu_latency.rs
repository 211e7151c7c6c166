//! Per-task latency of one inference, end to end (encoder and head) and encoder only, on the same ONNX and
//! the same input, in one run, one thread: m3rt with f32 weights, m3rt with f16 weights, tract (optimized,
//! pruned to the task output). Models: `micro` (committed) and `m3vit-t` (after `cargo xtask models`).
//! onnxruntime is timed by `benches/ort_bench.py` in the same `cargo xtask bench-report` run.

use criterion::{criterion_group, criterion_main, Criterion};
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_benches::{
    bundle, encoder_nodes, golden_input, model_dir, quick, tract_input, tract_plan, tract_run, TractPlan,
};
use m3rt_cli::convert::Precision;
use std::path::Path;
use tract_onnx::prelude::*;

/// The m3rt engines, in the order of the bundles: f32 weights, f16 weights.
const LABELS: [&str; 2] = ["m3rt-f32", "m3rt-f16"];

/// Samples per benchmark: enough for a stable median of the 100–400 ms m3vit-t runs on a shared machine.
const SAMPLES: usize = 20;

fn latency(c: &mut Criterion) {
    let enc_nodes = encoder_nodes();
    for name in ["micro", "m3vit-t"] {
        let Some(dir) = model_dir(name) else {
            eprintln!("{name}: not generated; run `cargo xtask models`");
            continue;
        };
        let input = golden_input(&dir);
        let mut group = c.benchmark_group(format!("latency/{name}"));
        quick(&mut group, SAMPLES);
        let bytes = [bundle(&dir, Precision::F32), bundle(&dir, Precision::F16)];
        let bundles: Vec<Bundle<'_>> = bytes.iter().map(|b| Bundle::parse(b).expect("bundle parses")).collect();
        let mut scratches: Vec<Vec<f32>> = bundles.iter().map(|b| vec![0f32; b.scratch_floats()]).collect();
        let bundle = bundles[0];
        let (h, w) = (bundle.hyper().image_h as usize, bundle.hyper().image_w as usize);
        let tensor = tract_input(&input, h, w);
        let onnx = dir.join("model.onnx");
        // Task by task, every engine's run of one kind next to the others, so that a change of load on
        // the machine moves them together rather than one engine's figures alone.
        for t in 0..bundle.task_count() {
            let task = bundle.task(t).expect("task").name;
            for ((b, scratch), label) in bundles.iter().zip(scratches.iter_mut()).zip(LABELS) {
                let mut engine = Engine::new(*b, scratch).expect("engine");
                engine.select_task(t).expect("task exists");
                let mut out = vec![0f32; engine.output_len().expect("output length")];
                group.bench_function(format!("{task}/e2e/{label}"), |b| {
                    b.iter(|| engine.run(&input, &mut out).expect("runs"))
                });
            }
            let plan = tract_plan(&onnx, task, h, w);
            group.bench_function(format!("{task}/e2e/tract"), |b| b.iter(|| tract_run(&plan, &tensor)));
            drop(plan);
            for ((b, scratch), label) in bundles.iter().zip(scratches.iter_mut()).zip(LABELS) {
                let mut engine = Engine::new(*b, scratch).expect("engine");
                engine.select_task(t).expect("task exists");
                group.bench_function(format!("{task}/encoder/{label}"), |b| {
                    b.iter(|| engine.encode(&input).map(|x| x[0]).expect("encodes"))
                });
            }
            if name != "m3vit-t" {
                continue;
            }
            let Some((_, node)) = enc_nodes.iter().find(|(n, _)| *n == task) else { continue };
            match encoder_plan(&onnx, node, h, w) {
                Ok(plan) => {
                    group.bench_function(format!("{task}/encoder/tract"), |b| {
                        b.iter(|| plan.run(tvec!(tensor.clone().into())).expect("tract runs"))
                    });
                }
                Err(e) => eprintln!("{task}: tract cannot cut the model at {node}: {e}"),
            }
        }
        group.finish();
    }
}

/// tract's plan of the model cut at `node` (the encoder output), optimized; an error when tract cannot cut
/// there, so the rest of the bench still runs.
fn encoder_plan(onnx: &Path, node: &str, h: usize, w: usize) -> TractResult<TractPlan> {
    tract_onnx::onnx()
        .model_for_path(onnx)?
        .with_input_fact(0, f32::fact([1, 3, h, w]).into())?
        .with_outputs_by_name([node])?
        .into_optimized()?
        .into_runnable()
}

criterion_group!(benches, latency);
criterion_main!(benches);
