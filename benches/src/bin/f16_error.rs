//! The error of f16 weights against f32 on a model folder's golden input: converts the ONNX both ways, runs
//! every task and prints one line per task: `TASK MAX_ABS_ERROR MAX_ABS_F32_OUTPUT RMS_ERROR`.
//!
//! `m3rt-bench-f16-error MODEL_DIR` (a folder with `model.onnx` and `golden/input_0.npy`)

use std::path::Path;

use m3rt::bundle::Bundle;
use m3rt::engine::Engine;
use m3rt_benches::{bundle, golden_input};
use m3rt_cli::convert::Precision;

/// Every task's output for `input` with the given weight precision.
fn outputs(dir: &Path, precision: Precision, input: &[f32]) -> Result<Vec<(String, Vec<f32>)>, m3rt::Error> {
    let bytes = bundle(dir, precision);
    let bundle = Bundle::parse(&bytes)?;
    let mut scratch = vec![0f32; bundle.scratch_floats()];
    let mut engine = Engine::new(bundle, &mut scratch)?;
    let mut all = Vec::new();
    for t in 0..bundle.task_count() {
        engine.select_task(t)?;
        let mut out = vec![0f32; engine.output_len()?];
        engine.run(input, &mut out)?;
        all.push((bundle.task(t)?.name.to_string(), out));
    }
    Ok(all)
}

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: m3rt-bench-f16-error MODEL_DIR");
        return std::process::ExitCode::from(2);
    };
    let dir = Path::new(&dir);
    let input = golden_input(dir);
    let (full, half) = match (outputs(dir, Precision::F32, &input), outputs(dir, Precision::F16, &input)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{}: {e}", dir.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    for ((task, a), (_, b)) in full.iter().zip(&half) {
        let max_err = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        let max_out = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        let sq: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        let rms = (sq / a.len().max(1) as f64).sqrt();
        println!("{task} {max_err} {max_out} {rms}");
    }
    std::process::ExitCode::SUCCESS
}
