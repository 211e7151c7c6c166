//! The backend's output matches onnxruntime's golden outputs and tract on the same ONNX, every task,
//! every golden input, within the bound of each precision held to the references (and, where the bound
//! asks, argmax tasks pick onnxruntime's class on enough pixels); an extra precision's bundle and outputs
//! are measured against the primary's on the same backend.

use std::path::Path;

use m3rt::backend::{Backend, Inference};
use m3rt::bundle::Bundle;
use m3rt::model::PostProcess;

use super::{argmax_agreement, precisions, scratch, UnderTest};
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

/// Every task on every golden input of model `name` against onnxruntime and tract, on every precision of
/// `D` held to the references.
pub fn check_model<D: UnderTest>(name: &str) {
    let Some(dir) = model_dir(name) else { return };
    let onnx = dir.join("model.onnx");
    // The references, once for all precisions: [input][task] (onnxruntime, tract).
    let mut refs: Vec<Vec<(Vec<f32>, Vec<f32>)>> = Vec::new();
    for precision in precisions::<D>() {
        let bounds = D::bounds(name, precision);
        let Some(bound) = bounds.reference else { continue };
        let bytes = bundle(&dir, precision);
        let parsed = Bundle::parse(&bytes).unwrap();
        let h = *parsed.hyper();
        let (hh, ww) = (h.image_h as usize, h.image_w as usize);
        let outputs = run_all::<D>(&bytes, &dir);
        assert!(!outputs.is_empty(), "{name}: no golden inputs");
        if refs.is_empty() {
            refs = (0..outputs.len())
                .map(|i| {
                    let (_, input) = npy_f32(&dir.join(format!("golden/input_{i}.npy")));
                    parsed
                        .tasks()
                        .map(|info| {
                            let (shape, golden) = npy_f32(&dir.join(format!("golden/{}_{i}.npy", info.name)));
                            let len = info.out_channels as usize * hh * ww;
                            assert_eq!(shape.iter().product::<usize>(), len, "{name}/{}: output size", info.name);
                            (golden, tract_run(&onnx, info.name, &input, hh, ww))
                        })
                        .collect()
                })
                .collect();
        }
        for (t, info) in parsed.tasks().enumerate() {
            let (mut agree, mut pixels) = (0, 0);
            for (i, per_task) in outputs.iter().enumerate() {
                let (ours, (golden, tract)) = (&per_task[t], &refs[i][t]);
                let task = info.name;
                assert_eq!(golden.len(), ours.len(), "{name}/{task}: output size");
                let err_ort = max_rel_err(ours, golden);
                let err_tract = max_rel_err(ours, tract);
                println!(
                    "{}: {name}/{task}/input {i}/{precision:?}: max rel err vs onnxruntime {err_ort:.2e}, vs tract \
                     {err_tract:.2e}",
                    D::NAME
                );
                let at = format!("{}: {name}/{task}/input {i}/{precision:?}", D::NAME);
                assert!(err_ort <= bound, "{at}: {err_ort:e} against onnxruntime");
                assert!(err_tract <= bound, "{at}: {err_tract:e} against tract");
                if info.post == PostProcess::Argmax {
                    let (a, n) = argmax_agreement(ours, golden, info.out_channels as usize);
                    (agree, pixels) = (agree + a, pixels + n);
                }
            }
            if pixels > 0 {
                let share = agree as f64 / pixels as f64;
                println!(
                    "{}: {name}/{}/{precision:?}: argmax agreement with onnxruntime {:.3}% ({agree} of {pixels} \
                     pixels)",
                    D::NAME,
                    info.name,
                    100.0 * share
                );
                if let Some(min) = bounds.argmax_agreement {
                    assert!(share >= min, "{}: {name}/{}/{precision:?}: argmax agreement {share}", D::NAME, info.name);
                }
            }
        }
    }
}

/// Each extra precision's bundle against the primary's on the same inputs and backend: size ratio, worst
/// element error, relative RMS error, and for argmax tasks the share of pixels whose class agrees.
pub fn check_extra<D: UnderTest>(name: &str) {
    let Some(dir) = model_dir(name) else { return };
    if D::EXTRA.is_empty() {
        eprintln!("skipping on {}: it loads no precision but {:?}", D::NAME, D::PRIMARY);
        return;
    }
    let primary = bundle(&dir, D::PRIMARY);
    let parsed = Bundle::parse(&primary).unwrap();
    let o_primary = run_all::<D>(&primary, &dir);
    for &precision in D::EXTRA {
        let bounds = D::bounds(name, precision)
            .against_primary
            .unwrap_or_else(|| panic!("{}: no bounds of {precision:?} against the primary on {name}", D::NAME));
        let extra = bundle(&dir, precision);
        let ratio = extra.len() as f64 / primary.len() as f64;
        let o_extra = run_all::<D>(&extra, &dir);
        for (t, info) in parsed.tasks().enumerate() {
            let (mut worst, mut err2, mut ref2, mut agree, mut pixels) = (0f32, 0f64, 0f64, 0usize, 0usize);
            for (a, b) in o_primary.iter().zip(&o_extra) {
                let (a, b) = (&a[t], &b[t]);
                worst = worst.max(max_rel_err(b, a));
                err2 += a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>();
                ref2 += a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>();
                if info.post == PostProcess::Argmax {
                    let (n, of) = argmax_agreement(a, b, info.out_channels as usize);
                    (agree, pixels) = (agree + n, pixels + of);
                }
            }
            let rel_rms = (err2 / ref2.max(1e-30)).sqrt();
            let classes = if pixels > 0 {
                format!(", argmax agreement {:.2}%", 100.0 * agree as f64 / pixels as f64)
            } else {
                String::new()
            };
            println!(
                "{}: {name}/{}: {precision:?} bundle {ratio:.3} of {:?}; against it: max rel err {worst:.2e}, \
                 relative RMS {rel_rms:.2e}{classes}",
                D::NAME,
                info.name,
                D::PRIMARY
            );
            let at = format!("{}: {name}/{}/{precision:?}", D::NAME, info.name);
            assert!(rel_rms < bounds.rel_rms, "{at}: relative RMS error {rel_rms:e} against {:?}", D::PRIMARY);
            if pixels > 0 {
                assert!(
                    agree as f64 >= bounds.argmax_agreement * pixels as f64,
                    "{at}: changes too many classes of {:?}",
                    D::PRIMARY
                );
            }
        }
        assert!(bounds.size_ratio.contains(&ratio), "{name}: {precision:?} bundle is {ratio:.3} of {:?}", D::PRIMARY);
    }
}
