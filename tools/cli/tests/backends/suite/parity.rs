//! The backend's f32 output matches onnxruntime's golden outputs and tract on the same ONNX, every task,
//! every golden input, within the backend's tolerance; f16 weights halve the bundle and their error on
//! the backend is measured against its own f32 run.

use std::path::Path;

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;
use m3rt::model::PostProcess;
use m3rt_cli::convert::Precision;

use super::{loads, scratch, UnderTest};
use crate::common::*;

/// Runs every task on every golden input on `D`; returns the outputs `[input][task]`.
pub fn run_all<D: UnderTest>(bytes: &[u8], dir: &Path) -> Vec<Vec<Vec<f32>>> {
    let bundle = Bundle::parse(bytes).expect("bundle parses");
    let mut scratch = scratch::<D>(&bundle);
    let mut backend = D::backend(&mut scratch);
    let mut model = backend.load(bundle).expect("loads");
    (0..golden_inputs(dir))
        .map(|i| {
            let (_, input) = npy_f32(&dir.join(format!("golden/input_{i}.npy")));
            (0..bundle.task_count())
                .map(|t| {
                    model.select_task(t).unwrap();
                    let mut out = vec![0f32; model.output_len().unwrap()];
                    model.run(&input, &mut out).expect("run");
                    out
                })
                .collect()
        })
        .collect()
}

/// Every task on every golden input of model `name` against onnxruntime and tract.
pub fn check_model<D: UnderTest>(name: &str) {
    let Some(dir) = model_dir(name) else { return };
    if !loads::<D>(Precision::F32) {
        return;
    }
    let bytes = bundle(&dir, Precision::F32);
    let bundle_ = Bundle::parse(&bytes).unwrap();
    let h = *bundle_.hyper();
    let (hh, ww) = (h.image_h as usize, h.image_w as usize);
    let outputs = run_all::<D>(&bytes, &dir);
    assert!(!outputs.is_empty(), "{name}: no golden inputs");
    let bound = D::TOLERANCE;
    for (i, per_task) in outputs.iter().enumerate() {
        let (_, input) = npy_f32(&dir.join(format!("golden/input_{i}.npy")));
        for (t, ours) in per_task.iter().enumerate() {
            let task = bundle_.task(t as u32).unwrap().name;
            let (shape, golden) = npy_f32(&dir.join(format!("golden/{task}_{i}.npy")));
            assert_eq!(shape.iter().product::<usize>(), ours.len(), "{name}/{task}: output size");
            let err_ort = max_rel_err(ours, &golden);
            let tract = tract_run(&dir.join("model.onnx"), task, &input, hh, ww);
            let err_tract = max_rel_err(ours, &tract);
            println!(
                "{}: {name}/{task}/input {i}: max rel err vs onnxruntime {err_ort:.2e}, vs tract {err_tract:.2e}",
                D::NAME
            );
            assert!(err_ort <= bound, "{}: {name}/{task}/input {i}: {err_ort:e} against onnxruntime", D::NAME);
            assert!(err_tract <= bound, "{}: {name}/{task}/input {i}: {err_tract:e} against tract", D::NAME);
        }
    }
}

/// The f16 bundle against the f32 one on the same inputs and backend: size ratio, worst element error,
/// relative RMS error, and for argmax tasks the share of pixels whose class agrees.
pub fn check_f16<D: UnderTest>(name: &str) {
    let Some(dir) = model_dir(name) else { return };
    if !(loads::<D>(Precision::F32) && loads::<D>(Precision::F16)) {
        return;
    }
    let b32 = bundle(&dir, Precision::F32);
    let b16 = bundle(&dir, Precision::F16);
    let ratio = b16.len() as f64 / b32.len() as f64;
    let parsed = Bundle::parse(&b32).unwrap();
    let hw = (parsed.hyper().image_h * parsed.hyper().image_w) as usize;
    let (o32, o16) = (run_all::<D>(&b32, &dir), run_all::<D>(&b16, &dir));
    for (t, info) in parsed.tasks().enumerate() {
        let (mut worst, mut err2, mut ref2, mut agree, mut pixels) = (0f32, 0f64, 0f64, 0usize, 0usize);
        for (a, b) in o32.iter().zip(&o16) {
            let (a, b) = (&a[t], &b[t]);
            worst = worst.max(max_rel_err(b, a));
            err2 += a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>();
            ref2 += a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>();
            if info.post == PostProcess::Argmax {
                let c = info.out_channels as usize;
                let class = |y: &[f32], i: usize| {
                    (0..c).fold(0, |best, ch| if y[ch * hw + i] > y[best * hw + i] { ch } else { best })
                };
                agree += (0..hw).filter(|&i| class(a, i) == class(b, i)).count();
                pixels += hw;
            }
        }
        let rel_rms = (err2 / ref2.max(1e-30)).sqrt();
        let classes = if pixels > 0 {
            format!(", argmax agreement {:.2}%", 100.0 * agree as f64 / pixels as f64)
        } else {
            String::new()
        };
        println!(
            "{}: {name}/{}: f16 bundle {ratio:.3} of f32; against f32: max rel err {worst:.2e}, relative RMS \
             {rel_rms:.2e}{classes}",
            D::NAME,
            info.name
        );
        assert!(rel_rms < 1e-2, "{}: {name}/{}: f16 relative RMS error {rel_rms:e}", D::NAME, info.name);
        if pixels > 0 {
            assert!(
                agree as f64 >= 0.98 * pixels as f64,
                "{}: {name}/{}: f16 changes too many classes",
                D::NAME,
                info.name
            );
        }
    }
    assert!((0.45..0.56).contains(&ratio), "{name}: f16 bundle is {ratio:.3} of f32");
}
