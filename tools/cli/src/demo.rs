//! `m3rt demo`: the shipped micro model end to end, every task, with latencies and pictures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use m3rt::bundle::Bundle;
use m3rt_cli::backends::{BackendName, Loaded};
use m3rt_cli::convert::convert_file;

use crate::{picture, tensor_io};

/// Arguments of `m3rt demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// The exported model folder (model.onnx and golden/); default: the shipped micro model.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Where the bundle and the pictures go.
    #[arg(long, default_value = "target/m3rt-demo")]
    out: PathBuf,
    /// Runs per task for the latency figure.
    #[arg(long, default_value_t = 50)]
    repeat: usize,
    /// The backend that runs the model.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendName,
}

fn default_model_dir() -> PathBuf {
    let here = Path::new("models/micro");
    if here.join("model.onnx").exists() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/micro")
}

/// Runs `m3rt demo`.
pub fn demo(args: &DemoArgs) -> Result<()> {
    let dir = args.model_dir.clone().unwrap_or_else(default_model_dir);
    let onnx = dir.join("model.onnx");
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let precision = args.backend.native_precision();
    let bundle_path = args.out.join(format!("model-{}.m3b", format!("{precision:?}").to_lowercase()));
    let stale = match (std::fs::metadata(&bundle_path), std::fs::metadata(&onnx)) {
        (Ok(b), Ok(o)) => b.modified()? < o.modified()?,
        (Err(_), _) => true,
        (_, Err(e)) => return Err(anyhow!("{}: {e}", onnx.display())),
    };
    if stale {
        let t = Instant::now();
        let report = convert_file(&onnx, &bundle_path, precision)?;
        println!(
            "converted {} → {} ({} parameters) in {:.2} s",
            onnx.display(),
            bundle_path.display(),
            report.params,
            t.elapsed().as_secs_f64()
        );
    }
    let bytes = tensor_io::read_bundle(&bundle_path)?;
    let bundle = bytes.parse().map_err(|e| anyhow!("{}: {e}", bundle_path.display()))?;
    let (_, input) = tensor_io::read_npy(&dir.join("golden/input_0.npy"))?;
    args.backend.with_loaded(bundle, |loaded| demo_loaded(args, &dir, &bundle, &input, loaded))
}

/// Every task of `bundle` (exported in `dir`) run on `input` once the model is loaded on its backend.
fn demo_loaded(args: &DemoArgs, dir: &Path, bundle: &Bundle<'_>, input: &[f32], loaded: Loaded<'_>) -> Result<()> {
    let Loaded { backend, scratch_words, model } = loaded;
    let hyper = *bundle.hyper();
    let (h, w) = (hyper.image_h as usize, hyper.image_w as usize);
    println!(
        "model: {}x{} image, D={}, {} blocks ({} MoE, {} experts, top-{}), {} tasks, {} backend, scratch {:.2} MiB",
        h,
        w,
        hyper.dim,
        hyper.depth,
        hyper.moe_count(),
        hyper.experts,
        hyper.top_k,
        hyper.tasks,
        backend,
        scratch_words as f64 * 4.0 / (1 << 20) as f64
    );
    println!("{:<10} {:>4} {:>14} {:>18} {:>16}", "task", "C", "median (ms)", "max |diff| golden", "experts read");
    for t in 0..bundle.task_count() {
        let info = bundle.task(t)?;
        model.select_task(t)?;
        let c = info.out_channels as usize;
        let mut output = vec![0f32; model.output_len()?];
        let mut times = Vec::with_capacity(args.repeat.max(1));
        for _ in 0..args.repeat.max(1) {
            let start = Instant::now();
            model.run(input, &mut output)?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let golden = dir.join(format!("golden/{}_0.npy", info.name));
        let diff = match tensor_io::read_npy(&golden) {
            Ok((_, g)) if g.len() == output.len() => {
                let d = g.iter().zip(&output).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                format!("{d:.2e}")
            }
            _ => "n/a".into(),
        };
        // The accelerator counts the experts it fetched itself (all blocks together), not per block.
        let counters = model.counters();
        let read: u32 = match counters.accel {
            Some(ip) => ip.expert_loads,
            None => counters.experts_read.iter().map(|m| m.count_ones()).sum(),
        };
        let total = hyper.moe_count() * hyper.experts;
        println!(
            "{:<10} {:>4} {:>14.3} {:>18} {:>16}",
            info.name,
            c,
            times[times.len() / 2],
            diff,
            format!("{read}/{total}")
        );
        let pic = picture::side_by_side(
            &picture::from_input(input, h, w),
            &picture::draw_output(&output, c, h, w, info.post),
        );
        let path = args.out.join(format!("{}.png", info.name));
        picture::write_png(&path, &picture::enlarged(&pic, 192))?;
    }
    let t = Instant::now();
    let switches = 100_000u32;
    for i in 0..switches {
        model.select_task(i % bundle.task_count())?;
    }
    println!(
        "task switch: {:.1} ns each ({} switches); pictures in {}",
        t.elapsed().as_secs_f64() * 1e9 / f64::from(switches),
        switches,
        args.out.display()
    );
    Ok(())
}
