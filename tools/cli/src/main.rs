//! `m3rt`: convert, inspect, run and demo M³ViT models.

mod board_cmd;
mod demo;
mod flash;
mod golden_cmd;

mod profile_cmd;
mod profile_cpu;
mod profile_out;
mod profile_sweep;
mod raster;
mod roofline;
mod run;
mod serve_cmd;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use m3rt_cli::convert::{self, Int8Scales, Precision};
use m3rt_cli::{picture, tensor_io};

/// Multi-task mixture-of-experts ViTs on edge hardware: convert an ONNX export into a bundle, inspect it,
/// run any of its tasks.
#[derive(Parser)]
#[command(name = "m3rt", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an M³ViT ONNX export into a bundle (.m3b). Several files (for example one graph per task,
    /// as PyTorch's exporter writes them) merge into one multi-task bundle when every tensor but the gates
    /// and heads is bit-identical across them.
    Convert {
        /// The ONNX file(s) (docs/onnx-form.md: our exporter's form or PyTorch's). Every graph output is a
        /// task, in file then output order.
        #[arg(required = true, num_args = 1..)]
        onnx: Vec<PathBuf>,
        /// The task names, comma-separated, one per task output (default: the graph output names, which
        /// must then differ).
        #[arg(long, value_delimiter = ',')]
        task_names: Option<Vec<String>>,
        /// The bundle to write.
        #[arg(short, long)]
        out: PathBuf,
        /// Weight precision in the bundle: f32, f16, or a quantized bundle for the fixed-point engine and the
        /// accelerator (fixed16: every tensor 16-bit fixed point; int8: matrices int8 with scales).
        #[arg(long, value_enum, default_value = "f32")]
        precision: Precision,
        /// int8 only: one scale per output channel, or one per tensor.
        #[arg(long, value_enum, default_value = "channel")]
        int8_scales: Int8Scales,
    },
    /// Print a bundle's structure, tasks, parameter counts, section sizes and scratch size.
    Inspect {
        /// The bundle.
        bundle: PathBuf,
    },
    /// Run one task of a bundle on a backend (the CPU by default).
    Run(run::RunArgs),
    /// Convert the shipped micro model if needed, run every task on a sample input, print latencies and
    /// write pictures.
    Demo(demo::DemoArgs),
    /// Write golden vectors of a quantized bundle for the accelerator IP's C-simulation testbench
    /// (docs/accel-ip.md): descriptor, tables, weights, input and every kernel's output.
    Golden(golden_cmd::GoldenArgs),
    /// Talk to a board over its serial link: info, tasks, switch, infer, stats, monitor.
    Board(board_cmd::BoardArgs),
    /// Upload a model into a board's inactive slot, verify it and make it active.
    Flash(flash::FlashArgs),
    /// Run a board on this host: the firmware's command loop on a TCP port (or a serial device), model
    /// slots as files (the code of the Linux board build, `boards/zcu104-linux`).
    Serve(serve_cmd::ServeCmd),
    /// Simulated latency and energy of a task on an accelerator design point (host simulator), per layer.
    Profile(Box<profile_cmd::ProfileCmd>),
}

fn main() -> std::process::ExitCode {
    m3rt_linux::exit_code(dispatch(Cli::parse()))
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Convert { onnx, task_names, out, precision, int8_scales } => {
            let paths: Vec<&std::path::Path> = onnx.iter().map(PathBuf::as_path).collect();
            let report = convert::convert_files(&paths, task_names.as_deref(), &out, precision, int8_scales)
                .with_context(|| {
                    let list: Vec<String> = onnx.iter().map(|p| p.display().to_string()).collect();
                    format!("converting {}", list.join(" + "))
                })?;
            if let Some(quant) = &report.quant {
                let names: Vec<&str> = report.tasks.iter().map(|(n, _)| n.as_str()).collect();
                let (summary, warnings) = convert::quant_summary(quant, &names);
                print!("{summary}");
                for w in warnings {
                    eprintln!("warning: {w}");
                }
            }
            println!(
                "wrote {} ({:.2} MiB, {} parameters, tasks: {})",
                out.display(),
                report.bytes as f64 / (1 << 20) as f64,
                report.params,
                report.tasks.iter().map(|(n, c)| format!("{n} ({c} ch)")).collect::<Vec<_>>().join(", ")
            );
            Ok(())
        }
        Command::Inspect { bundle } => {
            let bytes = std::fs::read(&bundle).with_context(|| format!("reading {}", bundle.display()))?;
            print!("{}", m3rt_cli::inspect::inspect(&bytes)?);
            Ok(())
        }
        Command::Run(args) => run::run(&args),
        Command::Demo(args) => demo::demo(&args),
        Command::Golden(args) => golden_cmd::golden(&args),
        Command::Board(args) => board_cmd::board(&args),
        Command::Flash(args) => flash::flash(&args),
        Command::Serve(args) => serve_cmd::serve(&args),
        Command::Profile(args) => profile_cmd::profile(&args),
    }
}
