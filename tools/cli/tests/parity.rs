//! The runtime's f32 output matches onnxruntime's golden outputs and tract on the same ONNX, every task,
//! every golden input; f16 weights halve the bundle and their error is measured.

mod common;

use std::path::Path;

use common::*;
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt::model::PostProcess;
use m3rt_cli::convert::Precision;

const BOUND: f32 = 1e-4;

/// Runs every task on every golden input; returns the outputs `[input][task]`.
fn run_all(bytes: &[u8], dir: &Path) -> Vec<Vec<Vec<f32>>> {
    let bundle = Bundle::parse(bytes).expect("bundle parses");
    let mut scratch = vec![0f32; bundle.scratch_floats()];
    let mut engine = Engine::new(bundle, &mut scratch).expect("engine");
    (0..golden_inputs(dir))
        .map(|i| {
            let (_, input) = npy_f32(&dir.join(format!("golden/input_{i}.npy")));
            (0..bundle.task_count())
                .map(|t| {
                    engine.select_task(t).unwrap();
                    let mut out = vec![0f32; engine.output_len().unwrap()];
                    engine.run(&input, &mut out).expect("run");
                    out
                })
                .collect()
        })
        .collect()
}

fn check_model(name: &str) {
    let Some(dir) = model_dir(name) else { return };
    let bytes = bundle(&dir, Precision::F32);
    let bundle_ = Bundle::parse(&bytes).unwrap();
    let h = *bundle_.hyper();
    let (hh, ww) = (h.image_h as usize, h.image_w as usize);
    let outputs = run_all(&bytes, &dir);
    assert!(!outputs.is_empty(), "{name}: no golden inputs");
    for (i, per_task) in outputs.iter().enumerate() {
        let (_, input) = npy_f32(&dir.join(format!("golden/input_{i}.npy")));
        for (t, ours) in per_task.iter().enumerate() {
            let task = bundle_.task(t as u32).unwrap().name;
            let (shape, golden) = npy_f32(&dir.join(format!("golden/{task}_{i}.npy")));
            assert_eq!(shape.iter().product::<usize>(), ours.len(), "{name}/{task}: output size");
            let err_ort = max_rel_err(ours, &golden);
            let tract = tract_run(&dir.join("model.onnx"), task, &input, hh, ww);
            let err_tract = max_rel_err(ours, &tract);
            println!("{name}/{task}/input {i}: max rel err vs onnxruntime {err_ort:.2e}, vs tract {err_tract:.2e}");
            assert!(err_ort <= BOUND, "{name}/{task}/input {i}: {err_ort:e} against onnxruntime");
            assert!(err_tract <= BOUND, "{name}/{task}/input {i}: {err_tract:e} against tract");
        }
    }
}

#[test]
fn micro_matches_onnxruntime_and_tract() {
    check_model("micro");
}

#[test]
fn tiny_light_head_matches_onnxruntime_and_tract() {
    check_model("tiny-light");
}

#[test]
fn sparse_route_top1_matches_onnxruntime_and_tract() {
    check_model("sparse-route");
}

#[test]
fn m3vit_t_matches_onnxruntime_and_tract() {
    check_model("m3vit-t");
}

/// The f16 bundle against the f32 one on the same inputs: size ratio, worst element error, relative RMS
/// error, and for argmax tasks the share of pixels whose class agrees.
fn check_f16(name: &str) {
    let Some(dir) = model_dir(name) else { return };
    let b32 = bundle(&dir, Precision::F32);
    let b16 = bundle(&dir, Precision::F16);
    let ratio = b16.len() as f64 / b32.len() as f64;
    let parsed = Bundle::parse(&b32).unwrap();
    let hw = (parsed.hyper().image_h * parsed.hyper().image_w) as usize;
    let (o32, o16) = (run_all(&b32, &dir), run_all(&b16, &dir));
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
        println!("{name}/{}: f16 bundle {ratio:.3} of f32; against f32: max rel err {worst:.2e}, relative RMS {rel_rms:.2e}{classes}", info.name);
        assert!(rel_rms < 1e-2, "{name}/{}: f16 relative RMS error {rel_rms:e}", info.name);
        if pixels > 0 {
            assert!(agree as f64 >= 0.98 * pixels as f64, "{name}/{}: f16 changes too many classes", info.name);
        }
    }
    assert!((0.45..0.56).contains(&ratio), "{name}: f16 bundle is {ratio:.3} of f32");
}

#[test]
fn micro_f16_weights_halve_the_bundle() {
    check_f16("micro");
}

#[test]
fn m3vit_t_f16_weights_halve_the_bundle() {
    check_f16("m3vit-t");
}
