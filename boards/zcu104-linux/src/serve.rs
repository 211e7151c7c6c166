//! The board process: the firmware's command loop (`m3rt::serve`) on a serial tty or on TCP connections,
//! with the model slots as files ([`FileStorage`]).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use m3rt::backend::{Backend, CpuBackend, FixedBackend};
use m3rt::bundle::layout::{crc32, PREAMBLE_LEN};
use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::serve::{ModelStorage, Server, Stopped};

#[cfg(not(target_os = "linux"))]
use crate::accel::AccelError;
use crate::accel::{AccelArgs, SysRoots};
use crate::line::{ListenerLine, StdIo};
use crate::slots::FileStorage;
use crate::tty::open_tty;

/// Working memory of the board process: engine scratch and input/output staging, sized generously (the
/// pages are only touched as far as a model uses them), and the microsecond clock its runs are timed by.
pub struct HostBuffers {
    scratch: Vec<f32>,
    input: Vec<f32>,
    output: Vec<f32>,
    clock: fn() -> u64,
}

impl HostBuffers {
    /// Buffers of `scratch` and `staging` f32 values, runs timed by the host's clock ([`micros`]).
    pub fn new(scratch: usize, staging: usize) -> Self {
        Self { scratch: vec![0.0; scratch], input: vec![0.0; staging], output: vec![0.0; staging], clock: micros }
    }

    /// Times the runs by `clock` instead (a simulated board's own time).
    pub fn with_clock(mut self, clock: fn() -> u64) -> Self {
        self.clock = clock;
        self
    }
}

impl Default for HostBuffers {
    /// 64 Mi values of scratch and 16 Mi of staging each: room for m3vit-t at 128×256.
    fn default() -> Self {
        Self::new(64 << 20, 16 << 20)
    }
}

/// Microseconds since the first call: the board process's clock.
pub fn micros() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Runs the command loop over `line` on the CPU backend until the line ends; a warm reboot request restarts
/// the loop, keeping only the model slots. `firmware` is the name the hello exchange reports.
pub fn serve_line<L, S>(line: L, storage: &mut S, buffers: &mut HostBuffers, firmware: &'static str) -> Result<()>
where
    L: embedded_io::Read + embedded_io::Write + embedded_io::ErrorType<Error = std::io::Error>,
    S: ModelStorage,
{
    serve_line_on(line, storage, buffers, firmware, CpuBackend::new)
}

/// [`serve_line`] on the backend `make` builds over the buffers' scratch.
pub fn serve_line_on<'b, L, S, B>(
    line: L,
    storage: &mut S,
    buffers: &'b mut HostBuffers,
    firmware: &'static str,
    make: impl FnOnce(&'b mut [f32]) -> B,
) -> Result<()>
where
    L: embedded_io::Read + embedded_io::Write + embedded_io::ErrorType<Error = std::io::Error>,
    S: ModelStorage,
    B: Backend,
{
    let HostBuffers { scratch, input, output, clock } = buffers;
    let mut server = Server::new(line, storage, make(scratch), input, output, firmware).with_clock(*clock);
    while server.run().context("serial line failed")? == Stopped::Reboot {}
    Ok(())
}

/// The backends the Linux board serves on (`m3rt-board --backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BoardBackend {
    /// The f32 CPU engine.
    Cpu,
    /// The fixed-point engine (quantized bundles; the accelerator's bits on the CPU).
    Fixed,
    /// The accelerator IP over UIO and a u-dma-buf buffer, falling back on the fixed-point engine when it
    /// refuses a model or faults; an error when the IP is not found (`m3rt_linux::accel`).
    Accel,
    /// `accel` when the IP is found and answers, else `fixed` (the same bits on the CPU), with one line
    /// saying why.
    Auto,
}

/// Runs the command loop over the connections of `listener` (all of them, or the first `connections`) as
/// one serial line (see [`serve_line`]).
pub fn serve_listener<S: ModelStorage>(
    listener: &TcpListener,
    storage: &mut S,
    buffers: &mut HostBuffers,
    connections: Option<usize>,
    firmware: &'static str,
) -> Result<()> {
    serve_line(ListenerLine::new(listener, connections), storage, buffers, firmware)
}

/// Options of a board process (`m3rt-board`, `m3rt serve`).
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Make this bundle the active model at start (written to the inactive slot, like an upload) unless it
    /// is active already. Without it, the slots' active model is served.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Serve on this serial device (e.g. /dev/ttyPS1), raw 8N1, instead of TCP.
    #[arg(long, conflicts_with = "tcp")]
    pub port: Option<String>,
    /// Baud rate of --port.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Address to listen on (port 0: any free port); the bound address is printed.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub tcp: String,
    /// Folder of the A/B slot files (created if missing).
    #[arg(long, default_value = "m3rt-slots")]
    pub slots: PathBuf,
    /// Largest model a slot takes, in MiB.
    #[arg(long, default_value_t = 512)]
    pub slot_mib: usize,
}

/// Runs a board process on `backend` until it is killed (or its serial line fails): see [`run_on`]. The
/// accelerator, if asked for, is found with the default [`AccelArgs`] (see [`run_with`]).
pub fn run(args: &ServeArgs, program: &str, firmware: &'static str, backend: BoardBackend) -> Result<()> {
    run_with(args, &AccelArgs::default(), program, firmware, backend)
}

/// [`run`] with the accelerator's options `accel`, its devices under `/dev` and `/sys`.
pub fn run_with(
    args: &ServeArgs,
    accel: &AccelArgs,
    program: &str,
    firmware: &'static str,
    backend: BoardBackend,
) -> Result<()> {
    let mut buffers = HostBuffers::default();
    match backend {
        BoardBackend::Cpu => run_on(args, program, firmware, &mut buffers, CpuBackend::new),
        BoardBackend::Fixed => run_on(args, program, firmware, &mut buffers, FixedBackend::new),
        BoardBackend::Accel | BoardBackend::Auto => {
            let roots = SysRoots::system();
            match open_ip(&roots, accel) {
                Ok((ip, line)) => {
                    println!("{program}: serving on {line}, falling back on the fixed-point engine");
                    run_on_ip(args, program, firmware, &mut buffers, ip)
                }
                Err(e) if backend == BoardBackend::Auto => {
                    let why = anyhow::Error::new(e);
                    println!("{program}: serving on the CPU (fixed-point engine), no accelerator: {why:#}");
                    run_on(args, program, firmware, &mut buffers, FixedBackend::new)
                }
                Err(e) => Err(anyhow::Error::new(e).context("--backend accel: cannot serve on the accelerator IP")),
            }
        }
    }
}

#[cfg(target_os = "linux")]
use crate::accel::{open_accel as open_ip, BoardAccel as Ip};

/// Without Linux UIO there is no IP to open.
#[cfg(not(target_os = "linux"))]
fn open_ip(_: &SysRoots, _: &AccelArgs) -> Result<(std::convert::Infallible, String), AccelError> {
    Err(AccelError::Unsupported)
}
#[cfg(not(target_os = "linux"))]
type Ip = std::convert::Infallible;

/// Serves on `ip`, falling back on the fixed-point engine over the scratch.
fn run_on_ip(args: &ServeArgs, program: &str, firmware: &'static str, buffers: &mut HostBuffers, ip: Ip) -> Result<()> {
    #[cfg(target_os = "linux")]
    if let Some(why) = args.model.as_deref().and_then(|m| crate::accel::refusal(&ip, m)) {
        println!("{program}: {why}: the fixed-point engine serves it");
    }
    #[cfg(target_os = "linux")]
    return run_on(args, program, firmware, buffers, |scratch| {
        m3rt::backend::Fallback::new(ip, FixedBackend::new(scratch))
    });
    #[cfg(not(target_os = "linux"))]
    match (ip, args, program, firmware, buffers) {}
}

/// Runs a board process until it is killed (or its serial line fails): opens the slots, installs
/// `--model` if given, prints one line saying where it serves (`<program>: listening on ADDR ...` for TCP)
/// and serves on the backend `make` builds over the scratch of `buffers`. `firmware` is the name the hello
/// exchange reports.
pub fn run_on<'b, B: Backend>(
    args: &ServeArgs,
    program: &str,
    firmware: &'static str,
    buffers: &'b mut HostBuffers,
    make: impl FnOnce(&'b mut [f32]) -> B,
) -> Result<()> {
    let capacity =
        args.slot_mib.checked_mul(1 << 20).ok_or_else(|| anyhow!("--slot-mib {} is too large", args.slot_mib))?;
    let mut storage = FileStorage::open(&args.slots, capacity)?;
    if let Some(model) = &args.model {
        let bytes = AlignedBytes::read_file(model).with_context(|| format!("reading {}", model.display()))?;
        let len = Bundle::parse(&bytes).map_err(|e| anyhow!("{}: {e}", model.display()))?.total_bytes();
        let fingerprint = |b: &[u8]| b.get(..PREAMBLE_LEN).map(crc32);
        if storage.active_bytes().and_then(fingerprint) != fingerprint(&bytes) {
            storage.install(&bytes[..len]).context("installing the model")?;
        }
    }
    let model = storage.active_bytes().map_or("no model (waiting for `m3rt flash`)".to_string(), |b| {
        format!("model fingerprint {:#010x}", crc32(&b[..PREAMBLE_LEN.min(b.len())]))
    });
    let slots = args.slots.display();
    match &args.port {
        Some(port) => {
            let (tty, how) = open_tty(port, args.baud)?;
            println!("{program}: serving on {port} at {} baud ({how}) with slots in {slots}, {model}", args.baud);
            serve_line_on(StdIo(tty), &mut storage, buffers, firmware, make)
        }
        None => {
            let listener = TcpListener::bind(&args.tcp).with_context(|| format!("listening on {}", args.tcp))?;
            println!("{program}: listening on {} with slots in {slots}, {model}", listener.local_addr()?);
            serve_line_on(ListenerLine::new(&listener, None), &mut storage, buffers, firmware, make)
        }
    }
}
