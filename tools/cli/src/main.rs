//! `m3rt`: convert, inspect, run and demo M³ViT models.

mod demo;
mod picture;
mod run;
mod tensor_io;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use m3rt_cli::convert::{self, Precision};

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
    /// Convert an M³ViT ONNX export into a bundle (.m3b).
    Convert {
        /// The ONNX file (the form of docs/onnx-form.md).
        onnx: PathBuf,
        /// The bundle to write.
        #[arg(short, long)]
        out: PathBuf,
        /// Weight precision in the bundle.
        #[arg(long, value_enum, default_value = "f32")]
        precision: Precision,
    },
    /// Print a bundle's structure, tasks, parameter counts, section sizes and scratch size.
    Inspect {
        /// The bundle.
        bundle: PathBuf,
    },
    /// Run one task of a bundle on the CPU.
    Run(run::RunArgs),
    /// Convert the shipped micro model if needed, run every task on a sample input, print latencies and
    /// write pictures.
    Demo(demo::DemoArgs),
    /// Build a board firmware and boot it in QEMU with a model; its UART is served on a TCP port.
    Flash {
        /// The emulated board.
        #[arg(long, value_enum)]
        board: m3rt_cli::qemu::QemuBoard,
        /// The model bundle (.m3b).
        #[arg(long)]
        model: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    match dispatch(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one screen, without a backtrace: these are user errors.
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Flash { board, model } => {
            let elf = m3rt_cli::qemu::build_firmware(board, &model)?;
            let booted = m3rt_cli::qemu::boot(board, &elf, &model)?;
            println!(
                "{} waiting on 127.0.0.1:{} (connect with `m3rt board --tcp 127.0.0.1:{}`)",
                board.folder(),
                booted.port,
                booted.port
            );
            let status = booted.wait()?;
            println!("QEMU exited with {status}");
            Ok(())
        }
        Command::Convert { onnx, out, precision } => {
            let report = convert::convert_file(&onnx, &out, precision)
                .with_context(|| format!("converting {}", onnx.display()))?;
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
    }
}
