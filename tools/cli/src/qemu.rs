//! `m3rt flash --board qemu-zcu104|qemu-mps2-an386 --model m.m3b`: builds a board firmware with its command
//! loop (`--features serve`), boots it in QEMU with the model, and serves its UART0 on a TCP port of
//! 127.0.0.1 (`-serial tcp:...,server=on,wait=on,nodelay=on`: the guest starts when a client connects).
//!
//! The firmware sources are found from this crate's source folder, so this works from a checkout of the
//! repository. A QEMU started here is killed when its [`Booted`] handle is dropped.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// A board model that QEMU emulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QemuBoard {
    /// The ZCU104's Cortex-A53 (QEMU `xlnx-zcu102`); the model is loaded into DDR slot A.
    #[value(name = "qemu-zcu104")]
    Zcu104,
    /// The MPS2+ AN386 Cortex-M4F (QEMU `mps2-an386`); the model is compiled into flash.
    #[value(name = "qemu-mps2-an386")]
    Mps2An386,
}

impl QemuBoard {
    /// The firmware's folder under `boards/`.
    pub fn folder(self) -> &'static str {
        match self {
            QemuBoard::Zcu104 => "zcu104",
            QemuBoard::Mps2An386 => "mps2-an386",
        }
    }

    fn target(self) -> &'static str {
        match self {
            QemuBoard::Zcu104 => "aarch64-unknown-none",
            QemuBoard::Mps2An386 => "thumbv7em-none-eabihf",
        }
    }
}

/// The repository root (this crate lives in `tools/cli`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds `board`'s firmware with the command loop (release) and returns its ELF. The M4 firmware
/// compiles `model` into flash; the A53 firmware is given it at boot instead.
pub fn build_firmware(board: QemuBoard, model: &Path) -> Result<PathBuf> {
    let dir = repo_root().join("boards").join(board.folder());
    let model = model.canonicalize().with_context(|| format!("model {}", model.display()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--features", "serve"])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env("M3RT_BUNDLE", &model)
        .status()
        .with_context(|| format!("running cargo in {}", dir.display()))?;
    ensure!(status.success(), "building the {} firmware failed ({status})", board.folder());
    Ok(dir.join("target").join(board.target()).join("release").join(format!("m3rt-{}", board.folder())))
}

/// A QEMU running a firmware, its UART0 on `127.0.0.1:port`. Dropping it kills QEMU.
pub struct Booted {
    child: Child,
    /// The TCP port of the board's UART.
    pub port: u16,
}

impl Drop for Booted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Booted {
    /// Waits for QEMU to end (after [`Booted::connect`], or by a signal).
    pub fn wait(mut self) -> Result<std::process::ExitStatus> {
        Ok(self.child.wait()?)
    }

    /// Connects to the UART (which starts the guest), reads the firmware's boot text up to the line
    /// `serving` and returns it with the stream, positioned at the first protocol byte. Fails after `timeout`.
    pub fn connect(&mut self, timeout: Duration) -> Result<(TcpStream, String)> {
        let start = Instant::now();
        let stream = loop {
            match TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) {
                Ok(s) => break s,
                Err(e) if start.elapsed() < timeout => {
                    if let Some(status) = self.child.try_wait()? {
                        bail!("QEMU exited with {status} before listening: {e}");
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e).context("connecting to QEMU's UART"),
            }
        };
        stream.set_nodelay(true)?;
        let mut text = Vec::new();
        let mut byte = [0u8; 1];
        let mut reader = &stream;
        while !text.ends_with(b"serving\r\n\0") {
            let left = timeout.checked_sub(start.elapsed()).filter(|d| !d.is_zero());
            let Some(left) = left else { bail!("no `serving` line within {timeout:?}; got {:?}", lossy(&text)) };
            stream.set_read_timeout(Some(left))?;
            match reader.read(&mut byte) {
                Ok(0) => bail!("the board closed the link during boot; got {:?}", lossy(&text)),
                Ok(_) => text.push(byte[0]),
                Err(e) => return Err(e).with_context(|| format!("reading the boot text; got {:?}", lossy(&text))),
            }
        }
        text.pop();
        Ok((stream, lossy(&text)))
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

/// A free TCP port on 127.0.0.1 (asked of the OS, then released for QEMU to take).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Boots `elf` on `board` in QEMU with `model` (loaded into DDR slot A on the A53; the M4 firmware
/// carries it already), UART0 on TCP port `port` of 127.0.0.1 (a free one when `None`), semihosting on.
pub fn boot(board: QemuBoard, elf: &Path, model: &Path, port: Option<u16>) -> Result<Booted> {
    let port = match port {
        Some(p) => p,
        None => free_port()?,
    };
    let mut cmd = match board {
        QemuBoard::Zcu104 => {
            let mut c = Command::new("qemu-system-aarch64");
            c.args(["-M", "xlnx-zcu102", "-m", "2G", "-device"])
                .arg(format!("loader,file={},addr=0x10000000,force-raw=on", model.display()));
            c
        }
        QemuBoard::Mps2An386 => {
            let mut c = Command::new("qemu-system-arm");
            c.args(["-M", "mps2-an386"]);
            c
        }
    };
    cmd.args(["-display", "none", "-monitor", "none", "-semihosting-config", "enable=on,target=native", "-serial"])
        .arg(format!("tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"))
        .arg("-kernel")
        .arg(elf)
        .env("QEMU_AUDIO_DRV", "none")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let child = cmd.spawn().context("starting QEMU (apt-get install qemu-system-arm)")?;
    Ok(Booted { child, port })
}
