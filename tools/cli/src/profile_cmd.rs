//! `m3rt profile`: latency and energy of one task of a quantized model on an accelerator design point, from
//! the host simulator (`boards/sim`): per layer, the encoder, the head and end to end, every figure
//! SIMULATED (a model of the design, never a measurement; `boards/sim/README.md` says where each constant
//! comes from and which one was fitted).

use std::path::PathBuf;

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

/// Options of `m3rt profile`.
#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    /// The quantized bundle (`m3rt convert --precision fixed16|int8`).
    #[arg(long)]
    model: PathBuf,
    /// Task name, as in the model's config.
    #[arg(long)]
    task: String,
    /// The design point.
    #[arg(long, value_enum, default_value = "zcu104", conflicts_with = "design")]
    board: BoardName,
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
    /// Also write an SVG chart of per-layer latency and energy.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Runs `m3rt profile`.
pub fn profile(args: &ProfileArgs) -> Result<()> {
    let design = match &args.design {
        Some(path) => Design::load(path).with_context(|| format!("reading {}", path.display()))?,
        None => match args.board {
            BoardName::Zcu104 => Design::zcu104(),
            BoardName::EdgeMoeZcu102 => Design::edge_moe_zcu102(),
        },
    };
    let path = &args.model;
    let bytes = AlignedBytes::read_file(path).with_context(|| format!("reading {}", path.display()))?;
    let bundle = Bundle::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if bundle.profile().is_none() {
        return Err(anyhow!(
            "{}: the simulator profiles quantized bundles (convert with --precision fixed16 or int8)",
            path.display()
        ));
    }
    let task = bundle.task_index(&args.task).map_err(|e| anyhow!("task '{}': {e}", args.task))?;
    let h = bundle.hyper();
    let (hh, ww) = (h.image_h as usize, h.image_w as usize);
    let input = match &args.input {
        Some(p) => run::read_input(p, hh, ww)?,
        None => seeded_input(3 * hh * ww, 1),
    };
    let report = m3rt_sim::profile(&design, &bytes, task, &input)?;
    print!("{report}");
    let model = path.display().to_string();
    let write = |out: &Option<PathBuf>, what: &str, text: String| -> Result<()> {
        if let Some(out) = out {
            std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
            println!("{what} written to {}", out.display());
        }
        Ok(())
    };
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    write(&args.json, "JSON", pretty(profile_out::json(&report, &model, &args.task)))?;
    write(&args.csv, "CSV", profile_out::csv(&report))?;
    write(&args.trace, "trace", pretty(profile_out::trace(&report)))?;
    write(&args.plot, "chart", profile_out::svg(&report, &format!("{model}, task {}", args.task)))?;
    println!(
        "task switch: {} AXI4-Lite register writes (the gate and head table addresses), no DMA [simulated as free]",
        m3rt::accel::driver::SELECT_WRITES
    );
    Ok(())
}
