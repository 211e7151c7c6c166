//! `m3rt-board`: the M3RT board on Linux userspace (a ZCU104 under PetaLinux). Serves the serial protocol on
//! a tty (`--port /dev/ttyPS1 --baud 115200`) or TCP (`--tcp 127.0.0.1:0` prints the bound address), with
//! the A/B model slots as files in `--slots DIR`; `--model m.m3b` installs a model at start. `--backend
//! accel|auto` serves on the accelerator IP (`--uio`, `--udmabuf`, `--ip-weights`: see `m3rt_linux::accel`).

use clap::Parser;
use m3rt_linux::{exit_code, run_with, AccelArgs, BoardBackend, ServeArgs, BOARD_FIRMWARE};

/// The M3RT board on Linux: the firmware's command loop on a serial tty or TCP, model slots as files.
#[derive(Parser)]
#[command(name = "m3rt-board", version)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    /// The backend that runs the model: `auto` serves on the accelerator IP when it is found (UIO device
    /// named m3rt_accel), else on the fixed-point engine.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BoardBackend,
    #[command(flatten)]
    accel: AccelArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    exit_code(run_with(&cli.serve, &cli.accel, "m3rt-board", BOARD_FIRMWARE, cli.backend))
}
