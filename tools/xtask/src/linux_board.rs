//! The Linux userspace board in `cargo xtask qemu`: `boards/zcu104-linux`'s `m3rt-board`, the binary a
//! ZCU104 under PetaLinux runs, cross-built for `aarch64-unknown-linux-gnu` (static, Debian's cross gcc as
//! the linker, see `.cargo/config.toml`) and run under `qemu-aarch64` user-mode emulation by
//! `tools/cli/tests/qemu_linux.rs`: protocol over TCP and over a pty, task switches, inference bit-identical
//! to the host's portable kernels, uploads, and slots that survive `kill -9`.
//!
//! The cross build needs only the runtime, `serialport`, `clap` and `anyhow` (no tract).

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};

use crate::steps::{self, LINUX_TARGET};

/// Installs the cross tools if missing, cross-builds `m3rt-board` (release) and runs the QEMU user-mode
/// test with `bundle` (the f32 micro bundle) as the model.
pub fn check(bundle: &Path) -> Result<()> {
    steps::timed("linux board: cross gcc and qemu-user installed", || {
        steps::ensure_programs(
            &["aarch64-linux-gnu-gcc", "qemu-aarch64"],
            &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross", "qemu-user"],
        )
    })?;
    let binary = steps::timed("linux board: cross build (aarch64-unknown-linux-gnu, release)", build)?;
    let (model, binary) = (bundle.to_string_lossy(), binary.to_string_lossy());
    steps::timed("linux board: protocol tests under qemu-aarch64", || {
        steps::ignored_cli_tests(
            "qemu_linux",
            &[("M3RT_QEMU_MODEL", model.as_ref()), ("M3RT_LINUX_BOARD", binary.as_ref())],
        )
    })
}

/// `cargo build --release -p m3rt-linux --bin m3rt-board --target aarch64-unknown-linux-gnu`; returns the
/// binary's path.
fn build() -> Result<PathBuf> {
    steps::cargo(&["build", "--release", "-p", "m3rt-linux", "--bin", "m3rt-board", "--target", LINUX_TARGET], &[])?;
    let binary = steps::target_dir().join(LINUX_TARGET).join("release/m3rt-board");
    ensure!(binary.is_file(), "the cross build did not produce {}", binary.display());
    println!("{} ({:.1} MiB)", binary.display(), binary.metadata()?.len() as f64 / (1 << 20) as f64);
    Ok(binary)
}
