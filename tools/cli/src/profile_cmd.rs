//! `m3rt profile`: latency and energy of one task of a quantized model on an accelerator design point, from
//! the host simulator (`boards/sim`): per layer, the encoder, the head and end to end, every figure
//! SIMULATED (a model of the design, never a measurement; `boards/sim/README.md` says where each constant
//! comes from and which one was fitted).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt_cli::golden::seeded_input;
use m3rt_sim::Design;

use crate::{profile_out, run};

/// The design points shipped in `boards/sim/designs/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BoardName {
    /// Our accelerator IP on a ZCU104 (`zcu104.toml`).
    Zcu104,
    /// Edge-MoE's published design on a ZCU102 (`edge-moe-zcu102.toml`): encoder only.
    EdgeMoeZcu102,
}

/// What `m3rt profile --board` profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileBoard {
    /// Our accelerator IP on a ZCU104 (simulated).
    Zcu104,
    /// Edge-MoE's published design on a ZCU102 (simulated, encoder only).
    EdgeMoeZcu102,
    /// The CPU fallback: measured on this host, estimated for the boards' cores.
    Cpu,
}

/// `m3rt profile [OPTIONS]`, or `m3rt profile sweep [OPTIONS]`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ProfileCmd {
    #[command(subcommand)]
    sweep: Option<ProfileSub>,
    #[command(flatten)]
    args: ProfileArgs,
}

/// The subcommands of `m3rt profile`.
#[derive(clap::Subcommand, Debug)]
pub enum ProfileSub {
    /// Vary the design point's linear-unit tile, clock and precision within its device's resources
    /// (estimates); print every variant and the Pareto front of latency against energy (SIMULATED).
    Sweep(crate::profile_sweep::SweepArgs),
}

/// Options of `m3rt profile`.
#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    /// The bundle: quantized (`m3rt convert --precision fixed16|int8`) for an accelerator design point, f32
    /// or f16 for `--board cpu`.
    #[arg(long, required = true)]
    model: Option<PathBuf>,
    /// Task name, as in the model's config.
    #[arg(long, required = true)]
    task: Option<String>,
    /// The design point, or `cpu`: the CPU fallback measured on this host, with estimates for the boards.
    #[arg(long, value_enum, default_value = "zcu104", conflicts_with = "design")]
    board: ProfileBoard,
    /// With `--board cpu`: timed runs (after one warm-up) whose per-stage medians are reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Simulate this many frames (the input, then seeded images) and report the spread of their latency
    /// and energy: each frame routes its own way.
    #[arg(long, default_value_t = 1)]
    frames: usize,
    /// A design point file instead (TOML, as `boards/sim/designs/*.toml`).
    #[arg(long)]
    design: Option<PathBuf>,
    /// The input whose routing the MoE layers follow (PNG or float32 .npy); default: a seeded image.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Also write the report as JSON (every layer and total).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write one CSV row a layer.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also write a Chrome / Perfetto trace (JSON trace event format; open it in ui.perfetto.dev).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Also write a chart of per-layer latency and energy bars: `.png` or `.svg`.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The MoE layers' schedule: expert by expert over the token queues (the IP's), or token by token with
    /// an LRU cache of `--cache-experts` experts (what M³ViT compared against).
    #[arg(long, value_enum, default_value = "reordered")]
    schedule: ScheduleName,
    /// Experts the token-order schedule's on-chip cache holds.
    #[arg(long, default_value_t = 4)]
    cache_experts: u32,
    /// Also compare the two schedules (latency, DRAM traffic, on-chip weight memory, energy).
    #[arg(long)]
    compare: bool,
}

/// `--schedule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleName {
    /// Expert by expert over each expert's token queue (compute reordering).
    Reordered,
    /// Token by token, an expert cache.
    TokenOrder,
}

/// The design point of `--board` or `--design`.
pub fn load_design(board: BoardName, design: Option<&PathBuf>) -> Result<Design> {
    Ok(match design {
        Some(path) => Design::load(path).with_context(|| format!("reading {}", path.display()))?,
        None => match board {
            BoardName::Zcu104 => Design::zcu104(),
            BoardName::EdgeMoeZcu102 => Design::edge_moe_zcu102(),
        },
    })
}

/// The quantized bundle at `path`, the index of task `task` and the input (`input`, else a seeded image).
pub fn load_input(path: &Path, task: &str, input: Option<&PathBuf>) -> Result<(AlignedBytes, u32, Vec<f32>)> {
    let bytes = AlignedBytes::read_file(path).with_context(|| format!("reading {}", path.display()))?;
    let bundle = Bundle::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if bundle.profile().is_none() {
        return Err(anyhow!(
            "{}: the simulator profiles quantized bundles (convert with --precision fixed16 or int8)",
            path.display()
        ));
    }
    let index = bundle.task_index(task).map_err(|e| anyhow!("task '{task}': {e}"))?;
    let h = bundle.hyper();
    let (hh, ww) = (h.image_h as usize, h.image_w as usize);
    let input = match input {
        Some(p) => run::read_input(p, hh, ww)?,
        None => seeded_input(3 * hh * ww, 1),
    };
    Ok((bytes, index, input))
}

/// Simulates `frames` frames (`first`, then seeded images 2, 3, ...) with a progress bar and prints the
/// mean, minimum and maximum end-to-end latency and energy.
fn print_frames(
    design: &Design,
    bytes: &[u8],
    task: u32,
    first: &[f32],
    schedule: m3rt_sim::Schedule,
    frames: usize,
) -> Result<()> {
    let bar = indicatif::ProgressBar::new(frames as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("simulating frames {bar:40} {pos}/{len} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut figures = Vec::with_capacity(frames);
    for f in 0..frames {
        let input = if f == 0 { first.to_vec() } else { seeded_input(first.len(), f as u64 + 1) };
        let t = m3rt_sim::profile_with(design, bytes, task, &input, schedule)?.end_to_end();
        figures.push((t.seconds * 1e3, t.energy.total_j()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let stats = |v: Vec<f64>| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (mean, v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(0.0, f64::max))
    };
    let (ms, j) = (stats(figures.iter().map(|f| f.0).collect()), stats(figures.iter().map(|f| f.1).collect()));
    println!(
        "over {frames} frames: end to end {:.3} ms mean ({:.3} .. {:.3}), {:.4} J mean ({:.4} .. {:.4})  [simulated]",
        ms.0, ms.1, ms.2, j.0, j.1, j.2
    );
    Ok(())
}

/// `m3rt profile --board cpu`.
fn profile_cpu(args: &ProfileArgs, path: &Path, task_name: &str) -> Result<()> {
    let bytes = AlignedBytes::read_file(path).with_context(|| format!("reading {}", path.display()))?;
    let bundle = Bundle::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let task = bundle.task_index(task_name).map_err(|e| anyhow!("task '{task_name}': {e}"))?;
    let h = bundle.hyper();
    let (hh, ww) = (h.image_h as usize, h.image_w as usize);
    let input = match &args.input {
        Some(p) => run::read_input(p, hh, ww)?,
        None => seeded_input(3 * hh * ww, 1),
    };
    print!("{}", crate::profile_cpu::profile(bundle, task, &input, args.repeat)?);
    Ok(())
}

/// Runs `m3rt profile` (or its sweep).
pub fn profile(cmd: &ProfileCmd) -> Result<()> {
    if let Some(ProfileSub::Sweep(sweep)) = &cmd.sweep {
        return crate::profile_sweep::run(sweep);
    }
    let args = &cmd.args;
    let (Some(path), Some(task_name)) = (&args.model, &args.task) else {
        return Err(anyhow!("--model and --task are required"));
    };
    let board = match args.board {
        ProfileBoard::Zcu104 => BoardName::Zcu104,
        ProfileBoard::EdgeMoeZcu102 => BoardName::EdgeMoeZcu102,
        ProfileBoard::Cpu => return profile_cpu(args, path, task_name),
    };
    let design = load_design(board, args.design.as_ref())?;
    let (bytes, task, input) = load_input(path, task_name, args.input.as_ref())?;
    let schedule = match args.schedule {
        ScheduleName::Reordered => m3rt_sim::Schedule::Reordered,
        ScheduleName::TokenOrder => m3rt_sim::Schedule::TokenOrder { cache_experts: args.cache_experts },
    };
    let report = m3rt_sim::profile_with(&design, &bytes, task, &input, schedule)?;
    print!("{report}");
    if args.compare {
        print!("{}", m3rt_sim::compare(&design, &bytes, task, &input, args.cache_experts)?);
    }
    if args.frames > 1 {
        print_frames(&design, &bytes, task, &input, schedule, args.frames)?;
    }
    let model = path.display().to_string();
    let write = |out: &Option<PathBuf>, what: &str, text: String| -> Result<()> {
        if let Some(out) = out {
            std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
            println!("{what} written to {}", out.display());
        }
        Ok(())
    };
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    write(&args.json, "JSON", pretty(profile_out::json(&report, &model, task_name)))?;
    write(&args.csv, "CSV", profile_out::csv(&report))?;
    write(&args.trace, "trace", pretty(profile_out::trace(&report)))?;
    if let Some(out) = &args.plot {
        let roof = profile_out::Roof::of(&design);
        let title = format!("{model}, task {task_name}");
        match out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("png") => profile_out::png(&report, &roof, &title, out)?,
            Some("svg") => std::fs::write(out, profile_out::svg(&report, &roof, &title))
                .with_context(|| format!("writing {}", out.display()))?,
            _ => return Err(anyhow!("--plot {}: name a .png or a .svg file", out.display())),
        }
        println!("chart written to {}", out.display());
    }
    println!(
        "task switch: {} AXI4-Lite register writes (the gate and head table addresses), no DMA [simulated as free]",
        m3rt::accel::driver::SELECT_WRITES
    );
    Ok(())
}
