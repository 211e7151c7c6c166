//! `m3rt serve`: a board on this host, the firmware's command loop of the Linux board build
//! (`boards/zcu104-linux`) on TCP or a serial device, with model slots as files, on any backend: the CPU,
//! the fixed-point engine, or the accelerator bridge over the C-simulated IP (`--backend csim`), so the
//! whole serial path to an accelerator can be tried without a board.

use anyhow::{anyhow, Context, Result};
use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::fixed::WeightMode;
use m3rt_cli::backends::{csim_board_backend, sim_board_backend, BackendName};
use m3rt_sim::Design;

use crate::profile_cmd::BoardName;
use m3rt_cli::board::host::{self, ServeArgs};

/// The IP build a C-simulated board has (`--ip-weights`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IpWeights {
    /// 16-bit weights (`--precision fixed16` bundles).
    Fixed16,
    /// int8 weights, one scale per output channel (`--precision int8`).
    Int8,
    /// int8 weights, one scale per tensor (`--precision int8 --int8-scales tensor`).
    Int8Tensor,
}

/// Options of `m3rt serve`.
#[derive(clap::Args, Debug)]
pub struct ServeCmd {
    #[command(flatten)]
    serve: ServeArgs,
    /// The backend the board runs the model on.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: BackendName,
    /// With `--backend csim`: the weight mode the simulated IP is built for (an IP runs one). Default: the
    /// `--model` bundle's, else fixed16. A bundle in another precision is served by the fixed-point fallback,
    /// and the hello exchange says why.
    #[arg(long, value_enum)]
    ip_weights: Option<IpWeights>,
    /// With `--backend csim` or `--board sim`: MiB of simulated DDR for the IP's buffers and the weight copy.
    #[arg(long, default_value_t = 1024)]
    dma_mib: usize,
    /// Serve the host simulator's virtual board: the accelerator is the C-simulated IP for function and the
    /// cycle model of `--design` for time (runs and `stats` report SIMULATED microseconds).
    #[arg(long, value_enum, conflicts_with = "backend")]
    board: Option<VirtualBoard>,
    /// With `--board sim`: the design point the cycle model simulates.
    #[arg(long, value_enum, default_value = "zcu104")]
    design: BoardName,
}

/// The virtual boards `m3rt serve --board` serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VirtualBoard {
    /// A ZCU104 whose accelerator is simulated (`boards/sim`).
    Sim,
}

/// What a virtual board's hello exchange reports: its run times are the simulator's.
pub const SIM_FIRMWARE: &str = concat!("m3rt-virtual-zcu104 ", env!("CARGO_PKG_VERSION"), " (times simulated)");

/// The virtual board served by this process: its clock times the runs.
static SIM_BOARD: std::sync::OnceLock<m3rt_sim::board::LastRun> = std::sync::OnceLock::new();

/// The virtual board's simulated microseconds.
fn sim_micros() -> u64 {
    SIM_BOARD.get().map_or(0, |b| b.now_us())
}

/// Runs `m3rt serve`.
pub fn serve(cmd: &ServeCmd) -> Result<()> {
    let (program, firmware) = ("m3rt serve", host::FIRMWARE);
    let mode = || -> Result<WeightMode> {
        Ok(match cmd.ip_weights {
            Some(IpWeights::Fixed16) => WeightMode::Fixed16,
            Some(IpWeights::Int8) => WeightMode::Int8PerChannel,
            Some(IpWeights::Int8Tensor) => WeightMode::Int8PerTensor,
            None => model_mode(&cmd.serve)?.unwrap_or(WeightMode::Fixed16),
        })
    };
    let bytes = cmd.dma_mib.checked_mul(1 << 20).ok_or_else(|| anyhow!("--dma-mib {} is too large", cmd.dma_mib))?;
    if cmd.board == Some(VirtualBoard::Sim) {
        let mode = mode()?;
        let design = match cmd.design {
            BoardName::Zcu104 => Design::zcu104(),
            BoardName::EdgeMoeZcu102 => Design::edge_moe_zcu102(),
        };
        m3rt_sim::resources::check(&design)?;
        println!("{program}: virtual board, accelerator SIMULATED as {} ({mode:?} weights)", design.name);
        let (bus, dma, clock, last) = m3rt_sim::board::virtual_board(design, mode, bytes);
        let _ = SIM_BOARD.set(last);
        let mut buffers = host::HostBuffers::default().with_clock(sim_micros);
        return host::run_on(&cmd.serve, program, SIM_FIRMWARE, &mut buffers, |scratch| {
            sim_board_backend(bus, dma, clock, mode, scratch)
        });
    }
    match cmd.backend {
        BackendName::Cpu => host::run(&cmd.serve, program, firmware, host::BoardBackend::Cpu),
        BackendName::Fixed => host::run(&cmd.serve, program, firmware, host::BoardBackend::Fixed),
        BackendName::Csim => {
            let mode = match cmd.ip_weights {
                Some(IpWeights::Fixed16) => WeightMode::Fixed16,
                Some(IpWeights::Int8) => WeightMode::Int8PerChannel,
                Some(IpWeights::Int8Tensor) => WeightMode::Int8PerTensor,
                None => model_mode(&cmd.serve)?.unwrap_or(WeightMode::Fixed16),
            };
            let bytes =
                cmd.dma_mib.checked_mul(1 << 20).ok_or_else(|| anyhow!("--dma-mib {} is too large", cmd.dma_mib))?;
            println!("{program}: the accelerator is the C-simulated IP ({mode:?} weights), {} MiB of DDR", cmd.dma_mib);
            let mut buffers = host::HostBuffers::default();
            host::run_on(&cmd.serve, program, firmware, &mut buffers, |scratch| {
                csim_board_backend(mode, bytes, scratch)
            })
        }
    }
}

/// The weight mode of the `--model` bundle, when one is given and quantized.
fn model_mode(args: &ServeArgs) -> Result<Option<WeightMode>> {
    let Some(path) = &args.model else { return Ok(None) };
    let bytes = AlignedBytes::read_file(path).with_context(|| format!("reading {}", path.display()))?;
    let bundle = Bundle::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(bundle.profile().map(|p| p.weights))
}
