//! `m3rt golden`: golden vectors of a quantized bundle for the IP's C-simulation testbench.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use m3rt_cli::golden;

use crate::{run, tensor_io};

/// Arguments of `m3rt golden`.
#[derive(clap::Args)]
pub struct GoldenArgs {
    /// The quantized bundle (`m3rt convert --precision fixed16|int8`).
    #[arg(long)]
    model: PathBuf,
    /// Task name.
    #[arg(long)]
    task: String,
    /// The directory to write (manifest.txt and raw little-endian files).
    #[arg(long)]
    out: PathBuf,
    /// Input: a PNG or a float32 .npy of [1, 3, H, W]; without it, a seeded uniform [0, 1) image.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Seed of the generated input.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `m3rt golden`.
pub fn golden(args: &GoldenArgs) -> Result<()> {
    let bytes = tensor_io::read_bundle(&args.model)?;
    let bundle = bytes.parse().map_err(|e| anyhow!("{}: {e}", args.model.display()))?;
    let task = bundle
        .task_index(&args.task)
        .map_err(|_| anyhow!("the model has no task '{}'; its tasks are: {}", args.task, run::task_names(&bundle)))?;
    let h = *bundle.hyper();
    let (hh, ww) = (h.image_h as usize, h.image_w as usize);
    let input = match &args.input {
        Some(path) => run::read_input(path, hh, ww)?,
        None => golden::seeded_input(3 * hh * ww, args.seed),
    };
    let s = golden::write(bundle, task, &input, &args.out)?;
    println!(
        "{}: task '{}', {} trace items, {} experts read, {:.1} MiB written to {}",
        args.model.display(),
        args.task,
        s.traces,
        s.expert_loads,
        s.bytes as f64 / (1 << 20) as f64,
        args.out.display()
    );
    Ok(())
}
