//! `m3rt-linux`: an M3RT board as a Linux process. The firmware's command loop (`m3rt::serve`) runs on a
//! serial tty (a ZCU104 under PetaLinux: `/dev/ttyPS1`) or on TCP connections, with the A/B model slots as
//! files replaced atomically, so a killed process never leaves a half-written model active.
//!
//! The binary `m3rt-board` is what is cross-built for `aarch64-unknown-linux-gnu` and installed on the
//! board; the host command `m3rt serve` runs the same code. Only the runtime, `serialport`, `clap` and
//! `anyhow` are linked in (and `memmap2` for the accelerator's buses of `uio`). With `--backend accel|auto`
//! the board serves on the accelerator IP when [`accel`] finds it.

pub mod accel;
pub mod line;
pub mod serve;
pub mod slots;
pub mod tty;
#[cfg(target_os = "linux")]
pub mod uio;

pub use accel::{AccelArgs, AccelError, IpWeights, SysRoots, IP_PROFILE, UIO_NAME};
pub use line::{ListenerLine, StdIo};
pub use serve::{
    micros, run, run_on, run_with, serve_line, serve_line_on, serve_listener, BoardBackend, HostBuffers, ServeArgs,
};
pub use slots::{write_atomically, FileSlotWriter, FileStorage};
pub use tty::{open_serial, open_tty, Tty};

/// The name the Linux board binary `m3rt-board` reports in the hello exchange.
pub const BOARD_FIRMWARE: &str = concat!("m3rt-zcu104-linux ", env!("CARGO_PKG_VERSION"));

/// The exit code of a command-line program that ended with `result`; an error is printed first with its
/// whole cause chain and no backtrace (these are user errors: a missing file, a busy port).
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
