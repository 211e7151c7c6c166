//! Per-task latency of a whole inference (encoder and head), m3rt against tract on the same ONNX and the
//! same input, in one run, one thread. Models: `micro` (committed) and `m3vit-t` (after `cargo xtask
//! models`).

use criterion::{criterion_group, criterion_main, Criterion};
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_benches::{bundle, golden_input, model_dir, tract_plan, tract_run};
use m3rt_cli::convert::Precision;
use tract_onnx::prelude::*;

fn latency(c: &mut Criterion) {
    for name in ["micro", "m3vit-t"] {
        let Some(dir) = model_dir(name) else {
            eprintln!("{name}: not generated; run `cargo xtask models`");
            continue;
        };
        let input = golden_input(&dir);
        let bytes = bundle(&dir, Precision::F32);
        let bundle = Bundle::parse(&bytes).expect("bundle parses");
        let h = *bundle.hyper();
        let (hh, ww) = (h.image_h as usize, h.image_w as usize);
        let tensor = tract_ndarray::Array4::from_shape_vec((1, 3, hh, ww), input.clone()).unwrap().into_tensor();
        let mut scratch = vec![0f32; bundle.scratch_floats()];
        let mut engine = Engine::new(bundle, &mut scratch).expect("engine");
        let mut group = c.benchmark_group(format!("{name}/end-to-end"));
        group.sample_size(10);
        for t in 0..bundle.task_count() {
            let task = bundle.task(t).unwrap().name;
            engine.select_task(t).unwrap();
            let mut out = vec![0f32; engine.output_len().unwrap()];
            group.bench_function(format!("{task}/m3rt"), |b| b.iter(|| engine.run(&input, &mut out).unwrap()));
            let plan = tract_plan(&dir.join("model.onnx"), task, hh, ww);
            group.bench_function(format!("{task}/tract"), |b| b.iter(|| tract_run(&plan, &tensor)));
        }
        group.finish();
    }
}

criterion_group!(benches, latency);
criterion_main!(benches);
