//! `m3rt flash`: put a model on a board. Over a link (`--port`, `--tcp`) the bundle is uploaded into the
//! inactive A/B slot, verified by the board and committed; with `--board qemu-*` the board's firmware is
//! built and booted in QEMU with the model, its UART served on a TCP port.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use m3rt::bundle::layout::crc32;
use m3rt::bundle::Bundle;
use m3rt_cli::board::{LinkArgs, LinkTarget};

use crate::board_cmd;

/// Arguments of `m3rt flash`.
#[derive(clap::Args)]
pub struct FlashArgs {
    #[command(flatten)]
    link: LinkArgs,
    /// An emulated board to build, boot in QEMU and load the model into (instead of --port / --tcp).
    #[arg(long, value_enum, conflicts_with_all = ["port", "tcp"])]
    board: Option<m3rt_cli::qemu::QemuBoard>,
    /// The bundle (.m3b) to flash.
    #[arg(long)]
    model: PathBuf,
    /// With --board: the TCP port of 127.0.0.1 the emulated board's UART listens on (default: a free one).
    #[arg(long, requires = "board")]
    uart_port: Option<u16>,
}

/// Where `m3rt flash` puts the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlashTarget {
    /// A running board reached over a serial port or TCP: upload into its inactive slot.
    Link(LinkTarget),
    /// A board emulated by QEMU: build its firmware and boot it with the model.
    Qemu(m3rt_cli::qemu::QemuBoard),
}

impl FlashTarget {
    /// The target the arguments name.
    pub fn from_args(args: &FlashArgs) -> Result<Self> {
        match (args.board, args.link.target()) {
            (Some(board), _) => Ok(FlashTarget::Qemu(board)),
            (None, Some(t)) => Ok(FlashTarget::Link(t)),
            (None, None) => bail!("say where the board is: --port DEVICE, --tcp HOST:PORT or --board qemu-..."),
        }
    }
}

/// Runs `m3rt flash`.
pub fn flash(args: &FlashArgs) -> Result<()> {
    let bytes = std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let bundle = Bundle::parse(&m3rt::bundle::AlignedBytes::from_slice(&bytes))
        .map_err(|e| anyhow!("{} is not a valid bundle: {e}", args.model.display()))?
        .total_bytes();
    let bytes = &bytes[..bundle];
    match FlashTarget::from_args(args)? {
        FlashTarget::Link(_) => upload(args, bytes),
        FlashTarget::Qemu(board) => boot_qemu(board, &args.model, args.uart_port),
    }
}

/// Builds `board`'s firmware, boots it in QEMU with `model` and serves its UART until QEMU exits.
fn boot_qemu(board: m3rt_cli::qemu::QemuBoard, model: &std::path::Path, port: Option<u16>) -> Result<()> {
    let elf = m3rt_cli::qemu::build_firmware(board, model)?;
    let booted = m3rt_cli::qemu::boot(board, &elf, model, port)?;
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

fn upload(args: &FlashArgs, bytes: &[u8]) -> Result<()> {
    let (mut c, info) = board_cmd::connect(&args.link)?;
    let expected = crc32(&bytes[..m3rt::bundle::layout::PREAMBLE_LEN]);
    if info.model.is_some_and(|m| m.fingerprint == expected) {
        println!("the board already runs this model (fingerprint {expected:#010x}); uploading it again");
    }
    let bar = ProgressBar::new(bytes.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let result = c.upload(bytes, |n| bar.set_position(n as u64));
    bar.finish_and_clear();
    let (slot, fingerprint) = result.context("upload failed; the board keeps its previous model")?;
    let secs = start.elapsed().as_secs_f64();
    if fingerprint != expected {
        bail!("the board committed fingerprint {fingerprint:#010x}, expected {expected:#010x}");
    }
    let now = c.info()?.model.ok_or_else(|| anyhow!("the board reports no model after the commit"))?;
    if now.fingerprint != expected {
        bail!("the board runs fingerprint {:#010x} after the commit, expected {expected:#010x}", now.fingerprint);
    }
    println!(
        "flashed {} into slot {slot:?}: {} bytes in {secs:.2} s ({:.0} KiB/s), fingerprint {fingerprint:#010x}, verified",
        args.model.display(),
        bytes.len(),
        bytes.len() as f64 / 1024.0 / secs.max(1e-9)
    );
    Ok(())
}
