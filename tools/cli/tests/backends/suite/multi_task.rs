//! `Inference::run_tasks`: every task on one frame (the shared prefix computed once where the backend
//! can) matches onnxruntime's goldens within the primary precision's bound and the one-task-at-a-time path bit
//! for bit, in any task order; bad calls are typed errors.

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;
use m3rt::Error;

use super::{multi_task_scratch, scratch, UnderTest};
use crate::common::*;

/// Every task of model `name` in two orders against the goldens and separate runs.
pub fn check<D: UnderTest>(name: &str) {
    let Some(dir) = model_dir(name) else { return };
    let bound = D::bounds(name, D::PRIMARY).reference.expect("the primary is held to the references");
    let bytes = bundle(&dir, D::PRIMARY);
    let parsed = Bundle::parse(&bytes).unwrap();
    let mut scratch = multi_task_scratch::<D>(&parsed);
    let mut backend = D::backend(&mut scratch);
    let mut model = backend.load(parsed).unwrap();
    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let n = parsed.task_count();
    // Every task, and the same tasks in reverse with one repeated.
    let orders: [Vec<u32>; 2] = [(0..n).collect(), (0..n).rev().chain([n - 1]).collect()];
    for tasks in orders {
        let mut outs: Vec<Vec<f32>> = tasks
            .iter()
            .map(|&t| vec![0f32; parsed.task(t).unwrap().out_channels as usize * model.input_len() / 3])
            .collect();
        let mut views: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        model.run_tasks(&input, &tasks, &mut views).expect("run_tasks");
        for (&t, ours) in tasks.iter().zip(&outs) {
            let task = parsed.task(t).unwrap().name;
            let (_, golden) = npy_f32(&dir.join(format!("golden/{task}_0.npy")));
            let err = max_rel_err(ours, &golden);
            println!("{}: {name}/{task} in {tasks:?}: max rel err vs onnxruntime {err:.2e}", D::NAME);
            assert!(err <= bound, "{}: {name}/{task}: {err:e}", D::NAME);
            model.select_task(t).unwrap();
            let mut single = vec![0f32; ours.len()];
            model.run(&input, &mut single).unwrap();
            assert!(single == *ours, "{}: {name}/{task}: shared-prefix output differs from a separate run", D::NAME);
        }
    }
}

/// Mismatched outputs, unknown tasks and short inputs are typed errors; so is too little working memory
/// for a backend that keeps a shared prefix.
pub fn bad_calls_are_typed_errors<D: UnderTest>() {
    let dir = model_dir("micro").unwrap();
    let bytes = bundle(&dir, D::PRIMARY);
    let parsed = Bundle::parse(&bytes).unwrap();
    let mut scratch = scratch::<D>(&parsed);
    let keeps_prefix = multi_task_scratch::<D>(&parsed).len() > scratch.len();
    let mut backend = D::backend(&mut scratch);
    let mut model = backend.load(parsed).unwrap();
    let input = vec![0.5f32; model.input_len()];
    let len = model.output_len().unwrap();
    let (mut a, mut b) = (vec![0f32; len], vec![0f32; len]);
    if keeps_prefix {
        // The working memory `run` needs is not enough for the kept prefix.
        let err = model.run_tasks(&input, &[0], &mut [&mut a]).unwrap_err();
        assert!(matches!(err, Error::ScratchTooSmall { .. }), "{err:?}");
    }
    let err = model.run_tasks(&input, &[0, 1], &mut [&mut a]).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
    let err = model.run_tasks(&input, &[0, 9], &mut [&mut a, &mut b]).unwrap_err();
    assert!(matches!(err, Error::UnknownTask { task: 9, .. }), "{err:?}");
    let err = model.run_tasks(&input[1..], &[0], &mut [&mut a]).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { what: "input", .. }), "{err:?}");
}
