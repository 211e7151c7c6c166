//! `m3rt convert --precision fixed16|int8` on the committed micro model: every tensor against the f32
//! bundle's value quantized here by the formulas of docs/fixed-point.md, the f32 engine on the fixed16 and
//! int8 bundles against the f32 bundle's outputs, the report, and the `m3rt` binary (convert, inspect, run).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use m3rt::bundle::{AlignedBytes, Bundle, TensorData};
use m3rt::fixed::{Profile, ValueClass, WeightMode};
use m3rt_cli::convert::{convert_onnx, convert_onnx_with, quant_summary, Int8Scales, Precision};

fn micro() -> PathBuf {
    root().join("models/micro")
}

/// Largest |a - b| over every output and the largest |b|: the measured error of a quantized bundle.
fn max_abs_err(a: &[f32], reference: &[f32]) -> (f32, f32) {
    let err = a.iter().zip(reference).map(|(x, r)| (x - r).abs()).fold(0.0, f32::max);
    (err, reference.iter().map(|r| r.abs()).fold(0.0, f32::max))
}

/// Every task's output on every golden input, `[input][task]`.
fn outputs(bytes: &[u8]) -> Vec<Vec<Vec<f32>>> {
    let inputs = golden_inputs(&micro());
    (0..inputs)
        .map(|i| {
            let (_, input) = npy_f32(&micro().join(format!("golden/input_{i}.npy")));
            host_outputs(bytes, &input).into_iter().map(|(o, _)| o).collect()
        })
        .collect()
}

#[test]
fn micro_fixed16_holds_each_value_rounded_to_its_format() {
    let f32_bytes = bundle(&micro(), Precision::F32);
    let (bytes, report) = convert_onnx(&micro().join("model.onnx"), Precision::Fixed16).expect("converts");
    let quant = report.quant.expect("a quantization report");
    let aligned = AlignedBytes::from_slice(&bytes);
    let (f, q) = (Bundle::parse(&f32_bytes).unwrap(), Bundle::parse(&aligned).expect("parses"));
    assert_eq!(q.profile(), Some(Profile::EDGE_MOE));
    assert_eq!((q.hyper(), report.params), (f.hyper(), quant.tensors.iter().map(|t| t.elements as u64).sum()));
    let mut saturated = 0;
    for i in 0..q.tensor_count() {
        let ((key, TensorData::F32(orig)), (_, TensorData::Q16 { values, frac })) =
            (f.tensor_at(i).unwrap(), q.tensor_at(i).unwrap())
        else {
            panic!("tensor {i}: f32 and Q16 expected");
        };
        let format = Profile::EDGE_MOE.format(ValueClass::of(key.kind));
        assert_eq!(frac, i32::from(format.width) - i32::from(format.int));
        let (lo, hi) = (-(1i64 << (format.width - 1)), (1i64 << (format.width - 1)) - 1);
        let mut sat = 0;
        for (&r, &v) in values.iter().zip(orig) {
            let raw = (f64::from(v) * 2f64.powi(frac)).round_ties_even() as i64;
            assert_eq!(i64::from(r), raw.clamp(lo, hi), "{key:?}: {v}");
            sat += usize::from(raw < lo || raw > hi);
        }
        assert_eq!(quant.tensors[i as usize].saturated, sat, "{key:?}");
        saturated += sat;
    }
    assert_eq!(quant.saturated(), saturated);
    println!("micro fixed16: {saturated} saturated values");
    // The size: 2 bytes a value (f32 4), so about half.
    let ratio = bytes.len() as f64 / f32_bytes.len() as f64;
    assert!((0.45..0.6).contains(&ratio), "fixed16/f32 size ratio {ratio}");
}

#[test]
fn micro_int8_values_lie_within_half_a_scale_step() {
    let f32_bytes = bundle(&micro(), Precision::F32);
    let f = Bundle::parse(&f32_bytes).unwrap();
    for (scales, mode) in
        [(Int8Scales::Channel, WeightMode::Int8PerChannel), (Int8Scales::Tensor, WeightMode::Int8PerTensor)]
    {
        let (bytes, report) = convert_onnx_with(&micro().join("model.onnx"), Precision::Int8, scales).unwrap();
        let aligned = AlignedBytes::from_slice(&bytes);
        let q = Bundle::parse(&aligned).unwrap();
        assert_eq!(q.profile().map(|p| p.weights), Some(mode));
        let quant = report.quant.unwrap();
        let mut matrices = 0;
        for i in 0..q.tensor_count() {
            let ((key, TensorData::F32(orig)), (_, data)) = (f.tensor_at(i).unwrap(), q.tensor_at(i).unwrap()) else {
                panic!("f32 source");
            };
            let is_matrix = ValueClass::of(key.kind).is_matrix();
            let TensorData::Q8(d) = data else {
                assert!(!is_matrix && matches!(data, TensorData::Q16 { .. }), "{key:?}");
                continue;
            };
            assert!(is_matrix && d.per_channel == (mode == WeightMode::Int8PerChannel), "{key:?}");
            matrices += 1;
            let mut sat = 0;
            for (j, (&qv, &v)) in d.values.iter().zip(orig).enumerate() {
                let s = d.scale(j).unwrap();
                let step = f64::from(s.mantissa) * 2f64.powi(-i32::from(s.shift));
                let ideal = (f64::from(v) / step).round_ties_even();
                if ideal.abs() > 127.0 {
                    sat += 1;
                } else {
                    assert!((f64::from(qv) * step - f64::from(v)).abs() <= step / 2.0, "{key:?} element {j}");
                }
                // The scale's mantissa is normalised: 2^15 ≤ m (shift within 0..=63 here).
                assert!(s.mantissa >= 1 << 15 || s.mantissa == 0, "{key:?}: {s:?}");
            }
            assert_eq!(quant.tensors[i as usize].saturated, sat, "{key:?}");
        }
        assert_eq!(
            matrices,
            4 * 4 + 1 + 2 * (2 + 5),
            "micro's matrices: 4 per block, the patch, per task 2 gates + 5 convs"
        );
        println!("micro int8 ({scales:?}): {} saturated values", quant.saturated());
    }
}

/// The measured error of the f32 engine on the quantized bundles (the dequantized models), every task and
/// golden input, against the f32 bundle's outputs: the largest absolute error, bounded relative to
/// `max(1, largest |output|)`. Measured (outputs up to 1.34): fixed16 1.5e-3, int8 per channel 3.2e-2, int8
/// per tensor 4.5e-2 at most; the bounds leave a margin of about 2.5×.
#[test]
fn the_f32_engine_runs_quantized_micro_bundles_close_to_f32() {
    let reference = outputs(&bundle(&micro(), Precision::F32));
    for (precision, scales, bound) in [
        (Precision::Fixed16, Int8Scales::Channel, FIXED16_BOUND),
        (Precision::Int8, Int8Scales::Channel, INT8_BOUND),
        (Precision::Int8, Int8Scales::Tensor, INT8_TENSOR_BOUND),
    ] {
        let (bytes, _) = convert_onnx_with(&micro().join("model.onnx"), precision, scales).unwrap();
        let ours = outputs(&AlignedBytes::from_slice(&bytes));
        for (i, (a, r)) in ours.iter().zip(&reference).enumerate() {
            for (t, (a, r)) in a.iter().zip(r).enumerate() {
                let (err, scale) = max_abs_err(a, r);
                println!(
                    "{precision:?}/{scales:?} input {i} task {t}: max abs err {err:.3e} (outputs up to {scale:.3})"
                );
                assert!(err <= bound * scale.max(1.0), "{precision:?}/{scales:?} input {i} task {t}: {err:e}");
            }
        }
    }
}

/// The bounds of the test above, relative to `max(1, largest |output|)`.
const FIXED16_BOUND: f32 = 4e-3;
const INT8_BOUND: f32 = 8e-2;
const INT8_TENSOR_BOUND: f32 = 1.2e-1;

#[test]
fn the_summary_names_the_saturated_tensors() {
    let (_, report) = convert_onnx(&micro().join("model.onnx"), Precision::Fixed16).unwrap();
    let quant = report.quant.unwrap();
    let names: Vec<&str> = report.tasks.iter().map(|(n, _)| n.as_str()).collect();
    let (text, warnings) = quant_summary(&quant, &names);
    assert!(text.contains(&format!("quantized {} tensors", quant.tensors.len())), "{text}");
    assert!(text.contains("worst relative RMS error") && text.contains("Q(32,10)"), "{text}");
    assert_eq!(warnings.is_empty(), quant.saturated() == 0, "{warnings:?}");
    let mut none = quant.clone();
    none.tensors.iter_mut().for_each(|t| t.saturated = 0);
    assert!(quant_summary(&none, &names).1.is_empty());
    let mut some = none.clone();
    (some.tensors[0].saturated, some.tensors[6].saturated, some.tensors[60].saturated) = (3, 2, 1);
    let (_, w) = quant_summary(&some, &names);
    let want = "6 values saturated (clamped to their format's range) in 3 tensors: PatchW (3), block 0 QkvW (2), ";
    assert_eq!(w.len(), 1);
    assert!(w[0].starts_with(want), "{w:?}");
    let sixty = m3rt_cli::inspect::tensor_name(some.tensors[60].key, &names);
    assert!(w[0].ends_with(&format!("{sixty} (1)")) && sixty.starts_with("semseg "), "{w:?}");
    let mut many = quant.clone();
    many.tensors.iter_mut().for_each(|t| t.saturated = 1);
    let (_, w) = quant_summary(&many, &names);
    assert!(w[0].starts_with(&format!("{} values saturated", many.tensors.len())) && w[0].contains("more"), "{w:?}");
}

fn m3rt(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_m3rt")).args(args).output().expect("m3rt runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn the_binary_converts_inspects_and_runs_a_fixed_bundle() {
    let dir = std::env::temp_dir().join(format!("m3rt-convert-fixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let onnx = micro().join("model.onnx");
    let input = micro().join("golden/input_0.npy");
    for (precision, scales, want) in [
        ("fixed16", "channel", "Q16 Q(16,2)"),
        ("int8", "tensor", "Q8 (1 scale)"),
        ("int8", "channel", "Q8 (64 scales)"),
    ] {
        let out = dir.join(format!("{precision}-{scales}.m3b"));
        let (ok, stdout, stderr) = m3rt(&[
            "convert",
            onnx.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--precision",
            precision,
            "--int8-scales",
            scales,
        ]);
        assert!(ok, "{stderr}");
        assert!(stdout.contains("wrote") && stdout.contains("worst relative RMS error"), "{stdout}");
        assert!(stderr.lines().all(|l| l.starts_with("warning: ")), "{stderr}");
        // The file is what the library writes.
        let (lib, _) = convert_onnx_with(
            &onnx,
            if precision == "int8" { Precision::Int8 } else { Precision::Fixed16 },
            if scales == "tensor" { Int8Scales::Tensor } else { Int8Scales::Channel },
        )
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), lib);

        let (ok, text, stderr) = m3rt(&["inspect", out.to_str().unwrap()]);
        assert!(ok, "{stderr}");
        for w in
            ["profile", "act Q(32,10)", "bias Q(16,5)", "Q16 Q(16,7)", want, "block 0 QkvW", "semseg gate of block 1"]
        {
            assert!(text.contains(w), "{precision}/{scales}: missing {w:?} in\n{text}");
        }

        // `m3rt run` on the CPU f32 backend: the same output as the engine on the bundle.
        let raw = dir.join(format!("{precision}-{scales}.npy"));
        let (ok, _, stderr) = m3rt(&[
            "run",
            "--model",
            out.to_str().unwrap(),
            "--task",
            "depth",
            "--input",
            input.to_str().unwrap(),
            "--raw",
            raw.to_str().unwrap(),
        ]);
        assert!(ok, "{stderr}");
        let (_, got) = npy_f32(&raw);
        let (_, x) = npy_f32(&input);
        let want = host_outputs(&AlignedBytes::from_slice(&lib), &x).swap_remove(1).0;
        assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()) && got.len() == want.len());
    }
    let (ok, _, stderr) = m3rt(&["convert", onnx.to_str().unwrap(), "-o", "/dev/null", "--precision", "int4"]);
    assert!(!ok && stderr.contains("int8"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
