//! k tasks on one frame (`m3vit-t`, every task): `Engine::run_tasks`, which runs the task-independent
//! prefix (patch embedding and every block before the first MoE block) once, against k separate
//! `select_task` + `run` calls. The outputs of both are checked equal before timing.
//!
//! The prefix is about 1% of a run, far below the drift of a shared machine between two criterion
//! benchmarks, so the two are timed in pairs, back to back, the order alternating: the load a pair sees is
//! nearly the same for both halves, and the median of the per-pair savings, with the order-statistics 95%
//! interval of that median, goes to `multi-paired.json` in criterion's home for `cargo xtask bench-report`.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_benches::{bundle, golden_input, model_dir};
use m3rt_cli::convert::Precision;

/// Timed pairs (each a shared and a separate run of every task); two warm-up pairs come first.
const PAIRS: usize = 80;

/// Milliseconds `f` takes once.
fn time_ms(f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() * 1e3
}

/// The median of `v` (sorted here) and the 95% interval of the median from order statistics: ranks
/// `n/2 ∓ 0.98·√n` (the normal approximation of the binomial).
fn median_with_interval(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let half = 0.98 * (n as f64).sqrt();
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0)) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    (v[n / 2], v[lo], v[hi])
}

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
    let k = tasks.len();
    let (mut shared_ms, mut separate_ms, mut saving_pct) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..PAIRS + 2 {
        let mut sh = || run_shared(&mut engine, &mut shared);
        let (a, b) = if i % 2 == 0 {
            let a = time_ms(&mut sh);
            (a, time_ms(&mut || run_separate(&mut engine, &mut separate)))
        } else {
            let b = time_ms(&mut || run_separate(&mut engine, &mut separate));
            (time_ms(&mut || run_shared(&mut engine, &mut shared)), b)
        };
        if i >= 2 {
            shared_ms.push(a);
            separate_ms.push(b);
            saving_pct.push(100.0 * (b - a) / b);
        }
    }
    let (sh, _, _) = median_with_interval(&mut shared_ms);
    let (sep, _, _) = median_with_interval(&mut separate_ms);
    let (save, lo, hi) = median_with_interval(&mut saving_pct);
    println!(
        "multi/m3vit-t/k{k}: {PAIRS} pairs, shared {sh:.1} ms, separate {sep:.1} ms, saving {save:.2}% \
         (95% interval of the median {lo:.2}% .. {hi:.2}%)"
    );
    let home = std::env::var_os("CRITERION_HOME").map_or_else(|| "target/criterion".into(), std::path::PathBuf::from);
    let json = format!(
        "{{\"k\": {k}, \"pairs\": {PAIRS}, \"shared_ms\": {sh}, \"separate_ms\": {sep}, \
         \"saving_pct\": {save}, \"saving_pct_low\": {lo}, \"saving_pct_high\": {hi}}}"
    );
    std::fs::create_dir_all(&home).and_then(|_| std::fs::write(home.join("multi-paired.json"), json)).expect("write");
    let _ = c;
}

criterion_group!(benches, multi);
criterion_main!(benches);
