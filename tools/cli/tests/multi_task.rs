//! `Engine::run_tasks`: every task on one frame, the shared prefix computed once, matches onnxruntime's
//! goldens and the one-task-at-a-time path bit for bit, in any task order; bad calls are typed errors.

mod common;

use common::*;
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt::Error;
use m3rt_cli::convert::Precision;

fn check(name: &str) {
    let Some(dir) = model_dir(name) else { return };
    let bytes = bundle(&dir, Precision::F32);
    let parsed = Bundle::parse(&bytes).unwrap();
    let needed = {
        let mut probe_scratch = vec![0f32; parsed.scratch_floats()];
        Engine::new(parsed, &mut probe_scratch).unwrap().multi_task_scratch_floats()
    };
    let mut scratch = vec![0f32; needed];
    let mut engine = Engine::new(parsed, &mut scratch).unwrap();
    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let n = parsed.task_count();
    // Every task, and the same tasks in reverse with one repeated.
    let orders: [Vec<u32>; 2] = [(0..n).collect(), (0..n).rev().chain([n - 1]).collect()];
    for tasks in orders {
        let mut outs: Vec<Vec<f32>> = tasks
            .iter()
            .map(|&t| vec![0f32; parsed.task(t).unwrap().out_channels as usize * engine.input_len() / 3])
            .collect();
        let mut views: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        engine.run_tasks(&input, &tasks, &mut views).expect("run_tasks");
        for (&t, ours) in tasks.iter().zip(&outs) {
            let task = parsed.task(t).unwrap().name;
            let (_, golden) = npy_f32(&dir.join(format!("golden/{task}_0.npy")));
            let err = max_rel_err(ours, &golden);
            println!("{name}/{task} in {tasks:?}: max rel err vs onnxruntime {err:.2e}");
            assert!(err <= 1e-4, "{name}/{task}: {err:e}");
            engine.select_task(t).unwrap();
            let mut single = vec![0f32; ours.len()];
            engine.run(&input, &mut single).unwrap();
            assert!(single == *ours, "{name}/{task}: shared-prefix output differs from a separate run");
        }
    }
}

#[test]
fn micro_tasks_share_the_prefix() {
    check("micro");
}

#[test]
fn tiny_light_three_tasks_share_the_prefix() {
    check("tiny-light");
}

#[test]
fn bad_calls_are_typed_errors() {
    let dir = model_dir("micro").unwrap();
    let bytes = bundle(&dir, Precision::F32);
    let parsed = Bundle::parse(&bytes).unwrap();
    let mut scratch = vec![0f32; parsed.scratch_floats()];
    let mut engine = Engine::new(parsed, &mut scratch).unwrap();
    let input = vec![0.5f32; engine.input_len()];
    let len = engine.output_len().unwrap();
    let (mut a, mut b) = (vec![0f32; len], vec![0f32; len]);
    // The bundle's stated scratch suffices for `run` but not for the kept prefix.
    let err = engine.run_tasks(&input, &[0], &mut [&mut a]).unwrap_err();
    assert!(matches!(err, Error::ScratchTooSmall { .. }), "{err:?}");
    let err = engine.run_tasks(&input, &[0, 1], &mut [&mut a]).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
    let err = engine.run_tasks(&input, &[0, 9], &mut [&mut a, &mut b]).unwrap_err();
    assert!(matches!(err, Error::UnknownTask { task: 9, .. }), "{err:?}");
    let err = engine.run_tasks(&input[1..], &[0], &mut [&mut a]).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { what: "input", .. }), "{err:?}");
}
