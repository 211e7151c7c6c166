//! Per-task latency of one inference, end to end (encoder and head) and encoder only, on the same ONNX and
//! the same input, in one run, one thread: m3rt with f32 weights, m3rt with f16 weights, tract (optimized,
//! pruned to the task output). Models: `micro` (committed) and `m3vit-t` (after `cargo xtask models`).
//! onnxruntime is timed by `benches/ort_bench.py` in the same `cargo xtask bench-report` run.

use criterion::{criterion_group, criterion_main, Criterion};
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_benches::{bundle, encoder_nodes, golden_input, model_dir, quick, tract_input, tract_plan, tract_run};
use m3rt_cli::convert::Precision;

fn latency(c: &mut Criterion) {
    let enc_nodes = encoder_nodes();
    for name in ["micro", "m3vit-t"] {
        let Some(dir) = model_dir(name) else {
            eprintln!("{name}: not generated; run `cargo xtask models`");
            continue;
        };
        let input = golden_input(&dir);
        let mut group = c.benchmark_group(format!("latency/{name}"));
        quick(&mut group, 10);
        for (precision, label) in [(Precision::F32, "m3rt-f32"), (Precision::F16, "m3rt-f16")] {
            let bytes = bundle(&dir, precision);
            let bundle = Bundle::parse(&bytes).expect("bundle parses");
            let mut scratch = vec![0f32; bundle.scratch_floats()];
            let mut engine = Engine::new(bundle, &mut scratch).expect("engine");
            for t in 0..bundle.task_count() {
                let task = bundle.task(t).expect("task").name;
                engine.select_task(t).expect("task exists");
                let mut out = vec![0f32; engine.output_len().expect("output length")];
                group.bench_function(format!("{task}/e2e/{label}"), |b| {
                    b.iter(|| engine.run(&input, &mut out).expect("runs"))
                });
                group.bench_function(format!("{task}/encoder/{label}"), |b| {
                    b.iter(|| engine.encode(&input).map(|x| x[0]).expect("encodes"))
                });
            }
        }
        let bytes = bundle(&dir, Precision::F32);
        let bundle = Bundle::parse(&bytes).expect("bundle parses");
        let (h, w) = (bundle.hyper().image_h as usize, bundle.hyper().image_w as usize);
        let tensor = tract_input(&input, h, w);
        let onnx = dir.join("model.onnx");
        for task in bundle.tasks().map(|t| t.name) {
            let plan = tract_plan(&onnx, task, h, w);
            group.bench_function(format!("{task}/e2e/tract"), |b| b.iter(|| tract_run(&plan, &tensor)));
            if name != "m3vit-t" {
                continue;
            }
            if let Some((_, node)) = enc_nodes.iter().find(|(t, _)| t == task) {
                let plan = tract_plan(&onnx, node, h, w);
                group.bench_function(format!("{task}/encoder/tract"), |b| b.iter(|| tract_run(&plan, &tensor)));
            }
        }
        group.finish();
    }
}

criterion_group!(benches, latency);
criterion_main!(benches);
