//! k tasks on one frame (`m3vit-t`, every task): `Engine::run_tasks`, which runs the task-independent
//! prefix (patch embedding and every block before the first MoE block) once, against k separate
//! `select_task` + `run` calls. The outputs of both are checked equal before timing.

use criterion::{criterion_group, criterion_main, Criterion};
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_benches::{bundle, golden_input, model_dir, quick};
use m3rt_cli::convert::Precision;

fn multi(c: &mut Criterion) {
    let Some(dir) = model_dir("m3vit-t") else {
        eprintln!("m3vit-t: not generated; run `cargo xtask models`");
        return;
    };
    let input = golden_input(&dir);
    let bytes = bundle(&dir, Precision::F32);
    let bundle = Bundle::parse(&bytes).expect("bundle parses");
    let mut probe_scratch = vec![0f32; bundle.scratch_floats()];
    let needed = Engine::new(bundle, &mut probe_scratch).expect("engine").multi_task_scratch_floats();
    let mut scratch = vec![0f32; needed];
    let mut engine = Engine::new(bundle, &mut scratch).expect("engine");
    let tasks: Vec<u32> = (0..bundle.task_count()).collect();
    let lens: Vec<usize> = tasks
        .iter()
        .map(|&t| {
            engine.select_task(t).expect("task");
            engine.output_len().expect("len")
        })
        .collect();
    let mut shared: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0f32; n]).collect();
    let mut separate = shared.clone();
    let run_shared = |engine: &mut Engine<'_, '_>, outs: &mut [Vec<f32>]| {
        let mut views: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        engine.run_tasks(&input, &tasks, &mut views).expect("runs")
    };
    let run_separate = |engine: &mut Engine<'_, '_>, outs: &mut [Vec<f32>]| {
        for (&t, out) in tasks.iter().zip(outs.iter_mut()) {
            engine.select_task(t).expect("task");
            engine.run(&input, out).expect("runs");
        }
    };
    run_shared(&mut engine, &mut shared);
    run_separate(&mut engine, &mut separate);
    assert_eq!(shared, separate, "run_tasks differs from separate runs");
    let mut group = c.benchmark_group("multi/m3vit-t");
    // The prefix is about 1/12 of the encoder, a few % of a run: enough samples to see it.
    quick(&mut group, 30);
    let k = tasks.len();
    group.bench_function(format!("k{k}/shared"), |b| b.iter(|| run_shared(&mut engine, &mut shared)));
    group.bench_function(format!("k{k}/separate"), |b| b.iter(|| run_separate(&mut engine, &mut separate)));
    group.finish();
}

criterion_group!(benches, multi);
criterion_main!(benches);
