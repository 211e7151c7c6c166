//! A small tract runner for the peak-memory comparison: loads one task of an ONNX into tract (optimized,
//! pruned to that output), runs it once on a float32 `.npy` input `[1, 3, H, W]` and prints the output shape.
//!
//! `m3rt-bench-tract-run MODEL.onnx TASK INPUT.npy`

use std::path::Path;

use m3rt_benches::{tract_input, tract_plan, tract_run};
use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [onnx, task, input] = args.as_slice() else {
        eprintln!("usage: m3rt-bench-tract-run MODEL.onnx TASK INPUT.npy");
        return std::process::ExitCode::from(2);
    };
    let file = match std::fs::File::open(input) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{input}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let x = match ArrayD::<f32>::read_npy(file) {
        Ok(x) if x.ndim() == 4 && x.shape()[0] == 1 && x.shape()[1] == 3 => x,
        Ok(x) => {
            eprintln!("{input}: expected [1, 3, H, W], found {:?}", x.shape());
            return std::process::ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{input}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let plan = tract_plan(Path::new(onnx), task, h, w);
    let values: Vec<f32> = x.iter().copied().collect();
    let out = tract_run(&plan, &tract_input(&values, h, w));
    println!("{task}: {:?}", out[0].shape());
    std::process::ExitCode::SUCCESS
}
