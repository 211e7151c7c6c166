//! Byte links between host and board: TCP (`--tcp HOST:PORT`) or a serial port (`--port /dev/ttyX`), and
//! the adapter that lets the runtime's `embedded_io` command loop run over any `std::io` stream.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result};

pub use m3rt_linux::StdIo;

/// Where the board is: one of the two links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkTarget {
    /// A TCP socket, `HOST:PORT` (QEMU's `-serial tcp:...`, `m3rt serve`).
    Tcp(String),
    /// A serial device and its baud rate.
    Serial {
        /// Device path (`/dev/ttyUSB1`, `COM3`).
        port: String,
        /// Baud rate.
        baud: u32,
    },
}

/// The link options shared by `m3rt board` and `m3rt flash`.
#[derive(clap::Args, Clone, Debug)]
pub struct LinkArgs {
    /// Serial device of the board (e.g. /dev/ttyUSB1).
    #[arg(long, conflicts_with = "tcp")]
    pub port: Option<String>,
    /// TCP address of the board's serial link, HOST:PORT (QEMU or `m3rt serve`).
    #[arg(long)]
    pub tcp: Option<String>,
    /// Baud rate of the serial device.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// How long to wait for each response, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub timeout_ms: u64,
}

impl LinkArgs {
    /// The link the options name, if they name one.
    pub fn target(&self) -> Option<LinkTarget> {
        match (&self.port, &self.tcp) {
            (Some(port), _) => Some(LinkTarget::Serial { port: port.clone(), baud: self.baud }),
            (None, Some(addr)) => Some(LinkTarget::Tcp(addr.clone())),
            (None, None) => None,
        }
    }
}

/// A connected link.
pub trait Link: Read + Write + Send {}
impl<T: Read + Write + Send> Link for T {}

/// How long a TCP connection refused is tried again: a board (QEMU, `m3rt serve`) that was just started
/// may not listen yet.
pub const CONNECT_RETRY: Duration = Duration::from_secs(5);

/// Connects to `addr`, trying again for [`CONNECT_RETRY`] while the connection is refused.
fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let start = std::time::Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused && start.elapsed() < CONNECT_RETRY => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Opens `target` with a read timeout of `timeout`.
pub fn open(target: &LinkTarget, timeout: Duration) -> Result<Box<dyn Link>> {
    match target {
        LinkTarget::Tcp(addr) => {
            let stream = connect(addr).with_context(|| format!("connecting to {addr}"))?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(timeout))?;
            Ok(Box::new(stream))
        }
        LinkTarget::Serial { port, baud } => Ok(Box::new(m3rt_linux::open_serial(port, *baud, timeout)?)),
    }
}
