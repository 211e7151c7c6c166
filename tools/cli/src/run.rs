//! `m3rt run`: one task of a bundle on a backend (`--backend`, default the CPU).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use m3rt::bundle::Bundle;
use m3rt_cli::backends::{BackendName, Loaded};

use crate::{picture, tensor_io};

/// Arguments of `m3rt run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The bundle (.m3b).
    #[arg(long)]
    model: PathBuf,
    /// Task name, as in the model's config (see `m3rt inspect`).
    #[arg(long)]
    task: String,
    /// Input: a PNG (resized to the model's size, values in [0, 1]) or a float32 .npy of [1, 3, H, W].
    #[arg(long)]
    input: PathBuf,
    /// Write the output as a picture (input and output side by side).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the raw output tensor [1, C, H, W] as float32 .npy.
    #[arg(long)]
    raw: Option<PathBuf>,
    /// Run this many times and report the median latency.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Release each stage's weight pages after it ran on every run, not just a single one: the least
    /// memory (about one stage's weights resident), at the cost of faulting the pages in again.
    #[arg(long)]
    low_memory: bool,
    /// The backend that runs the model.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendName,
}

/// Names of the tasks of a bundle, for error messages.
pub fn task_names(bundle: &Bundle<'_>) -> String {
    (0..bundle.task_count()).filter_map(|t| bundle.task(t).ok()).map(|t| t.name).collect::<Vec<_>>().join(", ")
}

/// Reads `path` as the model input `[3, H, W]`: `.npy` as is, anything else as a PNG.
pub fn read_input(path: &Path, h: usize, w: usize) -> Result<Vec<f32>> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        tensor_io::read_input_npy(path, h, w)
    } else {
        picture::to_input(&picture::read_png(path)?, h, w)
    }
}

/// Runs `m3rt run`.
pub fn run(args: &RunArgs) -> Result<()> {
    let bytes = tensor_io::read_bundle(&args.model)?;
    let bundle = bytes.parse().map_err(|e| anyhow!("{}: {e}", args.model.display()))?;
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    args.backend.with_loaded(bundle, |loaded| run_loaded(args, &bytes, &bundle, loaded))
}

/// `m3rt run` once `bundle` (the bytes `bytes`) is loaded on its backend.
fn run_loaded(args: &RunArgs, bytes: &tensor_io::BundleBytes, bundle: &Bundle<'_>, loaded: Loaded<'_>) -> Result<()> {
    let Loaded { backend, model, .. } = loaded;
    let hyper = *bundle.hyper();
    let (h, w) = (hyper.image_h as usize, hyper.image_w as usize);
    model
        .select_task_by_name(&args.task)
        .map_err(|_| anyhow!("the model has no task '{}'; its tasks are: {}", args.task, task_names(bundle)))?;
    let info = bundle.task(model.task())?;
    let input = read_input(&args.input, h, w)?;
    let mut output = vec![0f32; model.output_len()?];
    // A single run reads every weight page once either way, so it releases each stage's pages as soon as
    // the stage is done; repeated runs keep them resident unless asked not to.
    let release = args.low_memory || args.repeat == 1;
    let mut times = Vec::with_capacity(args.repeat);
    for _ in 0..args.repeat {
        let t = Instant::now();
        if release {
            model.run_releasing(&input, &mut output, &mut |span| bytes.release_inside(span))
        } else {
            model.run(&input, &mut output)
        }
        .context("inference failed")?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{}: task '{}' ({} channels, {}x{}) on the {backend} backend, median {:.3} ms over {} run(s)",
        args.model.display(),
        info.name,
        info.out_channels,
        h,
        w,
        times[times.len() / 2],
        times.len()
    );
    let c = info.out_channels as usize;
    if let Some(raw) = &args.raw {
        tensor_io::write_npy(raw, &[1, c, h, w], &output)?;
        println!("raw output written to {}", raw.display());
    }
    if let Some(out) = &args.out {
        let pic = picture::side_by_side(
            &picture::from_input(&input, h, w),
            &picture::draw_output(&output, c, h, w, info.post),
        );
        picture::write_png(out, &picture::enlarged(&pic, 192))?;
        println!("picture written to {}", out.display());
    }
    Ok(())
}
