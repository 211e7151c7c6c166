//! The accelerator on a Linux board (`m3rt-board --backend accel|auto`, `docs/accel-bridge.md`, "Buses"):
//! finding the IP's UIO device, checking that it answers as the IP ([`m3rt::accel::probe::probe`]), opening
//! the u-dma-buf buffer it reads and writes, and serving on
//! `Fallback<AccelBackend<UioBus, UdmabufDma, StdClock>, FixedBackend>`.
//!
//! The IP's UIO device is the one whose `/sys/class/uio/uioN/name` is [`UIO_NAME`]: the name the kernel's
//! `uio_pdrv_genirq` driver gives a device-tree node `m3rt_accel@a0000000 { compatible = "generic-uio"; }`
//! (the node name without its unit address; `boards/README.md` has the overlay). `--uio /dev/uioN` names it
//! explicitly. The `/dev` and `/sys` folders are parameters ([`SysRoots`]) so tests pass fake ones.
//! Nothing here has run on a board.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use m3rt::fixed::{Profile, WeightMode};

/// The UIO name of the IP's device: the device-tree node name `m3rt_accel` of the `generic-uio` overlay.
pub const UIO_NAME: &str = "m3rt_accel";

/// The u-dma-buf buffer used unless `--udmabuf` names another (`insmod u-dma-buf.ko udmabuf0=<bytes>`).
pub const DEFAULT_UDMABUF: &str = "udmabuf0";

/// The profile of the IP build the block design instantiates by default: Edge-MoE's formats with 16-bit
/// weights (`m3rt convert --precision fixed16` bundles).
pub const IP_PROFILE: Profile = Profile { weights: WeightMode::Fixed16, ..Profile::EDGE_MOE };

/// The weight mode the board's IP was built for (`--ip-weights`); an IP runs one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IpWeights {
    /// 16-bit weights (`--precision fixed16` bundles).
    Fixed16,
    /// int8 weights, one scale per output channel (`--precision int8`).
    Int8,
    /// int8 weights, one scale per tensor (`--precision int8 --int8-scales tensor`).
    Int8Tensor,
}

impl IpWeights {
    /// The profile of an IP built for this weight mode ([`IP_PROFILE`]'s formats).
    pub const fn profile(self) -> Profile {
        let weights = match self {
            IpWeights::Fixed16 => WeightMode::Fixed16,
            IpWeights::Int8 => WeightMode::Int8PerChannel,
            IpWeights::Int8Tensor => WeightMode::Int8PerTensor,
        };
        Profile { weights, ..IP_PROFILE }
    }
}

/// Options of the accelerator backend (`m3rt-board --backend accel|auto`).
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct AccelArgs {
    /// With --backend accel|auto: the IP's UIO device (/dev/uioN). Default: the UIO device named m3rt_accel
    /// in /sys/class/uio.
    #[arg(long)]
    pub uio: Option<PathBuf>,
    /// With --backend accel|auto: the u-dma-buf buffer the IP reads and writes (/dev/NAME).
    #[arg(long, default_value = DEFAULT_UDMABUF)]
    pub udmabuf: String,
    /// With --backend accel|auto: the weight mode the IP was built for. Bundles in another precision are
    /// served by the fixed-point fallback, and the hello exchange says why.
    #[arg(long, value_enum, default_value = "fixed16")]
    pub ip_weights: IpWeights,
    /// With --backend accel|auto: milliseconds a run may take on the IP before it counts as a device fault
    /// (the model then moves to the fixed-point engine).
    #[arg(long, default_value_t = 2000)]
    pub accel_timeout_ms: u64,
}

impl Default for AccelArgs {
    /// Found by name, `udmabuf0`, 16-bit weights, two seconds per run.
    fn default() -> Self {
        Self { uio: None, udmabuf: DEFAULT_UDMABUF.into(), ip_weights: IpWeights::Fixed16, accel_timeout_ms: 2000 }
    }
}

/// Where the kernel's device nodes and sysfs are: `/dev` and `/sys` on a board, folders in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysRoots {
    /// The device nodes' folder (`/dev`).
    pub dev: PathBuf,
    /// The sysfs root (`/sys`).
    pub sys: PathBuf,
}

impl SysRoots {
    /// `/dev` and `/sys`.
    pub fn system() -> Self {
        Self { dev: "/dev".into(), sys: "/sys".into() }
    }

    /// `/sys/class/uio`.
    pub fn uio_class(&self) -> PathBuf {
        self.sys.join("class/uio")
    }
}

/// A UIO device: its node and its sysfs folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UioDevice {
    /// The device node (`/dev/uioN`).
    pub dev: PathBuf,
    /// Its sysfs folder (`/sys/class/uio/uioN`).
    pub sysfs: PathBuf,
}

/// Why the board cannot serve on the accelerator.
#[derive(Debug)]
pub enum AccelError {
    /// No UIO device has the IP's name.
    NoUio {
        /// The name looked for.
        name: &'static str,
        /// The folder searched.
        class: PathBuf,
    },
    /// `--uio` is not a path ending in `uioN`.
    BadUioPath(PathBuf),
    /// A device could not be opened or mapped (the source, which names the path, says why).
    Open {
        /// Which device: "the IP's UIO device" or "the u-dma-buf buffer".
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The UIO device's register page does not answer as the IP after reset.
    NotTheIp(PathBuf),
    /// This system has no UIO (the accelerator backend is built for Linux only).
    Unsupported,
}

impl fmt::Display for AccelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccelError::NoUio { name, class } => {
                write!(f, "no UIO device named {name} in {} (is the generic-uio overlay loaded?)", class.display())
            }
            AccelError::BadUioPath(p) => write!(f, "--uio {}: not a UIO device node /dev/uioN", p.display()),
            AccelError::Open { what, .. } => write!(f, "cannot open {what}"),
            AccelError::NotTheIp(p) => write!(
                f,
                "{}: the register page does not answer as the m3rt accelerator after reset \
                 (CTRL not idle, or a reserved word not 0: wrong device, no bitstream, or a run in flight)",
                p.display()
            ),
            AccelError::Unsupported => write!(f, "the accelerator backend needs Linux UIO"),
        }
    }
}

impl std::error::Error for AccelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AccelError::Open { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The index `N` of a name `uioN`.
fn uio_index(name: &str) -> Option<u32> {
    name.strip_prefix("uio").filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
}

/// The UIO device named `name` under `roots` (the lowest index if several are): scans
/// `<sys>/class/uio/uio*/name`. A missing class folder (no UIO driver loaded) finds nothing.
pub fn find_uio(roots: &SysRoots, name: &'static str) -> Result<UioDevice, AccelError> {
    let class = roots.uio_class();
    let not_found = || AccelError::NoUio { name, class: class.clone() };
    let Ok(entries) = std::fs::read_dir(&class) else { return Err(not_found()) };
    let mut found: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str().and_then(uio_index))
        .filter(|&n| {
            let attr = class.join(format!("uio{n}/name"));
            std::fs::read_to_string(attr).is_ok_and(|s| s.trim() == name)
        })
        .collect();
    found.sort_unstable();
    let n = *found.first().ok_or_else(not_found)?;
    Ok(UioDevice { dev: roots.dev.join(format!("uio{n}")), sysfs: class.join(format!("uio{n}")) })
}

/// The IP's UIO device: `--uio` when given (its sysfs folder from the node's name), else [`find_uio`] by
/// [`UIO_NAME`].
pub fn uio_device(roots: &SysRoots, uio: Option<&Path>) -> Result<UioDevice, AccelError> {
    let Some(path) = uio else { return find_uio(roots, UIO_NAME) };
    let name = path.file_name().and_then(|n| n.to_str()).filter(|n| uio_index(n).is_some());
    let name = name.ok_or_else(|| AccelError::BadUioPath(path.to_path_buf()))?;
    Ok(UioDevice { dev: path.to_path_buf(), sysfs: roots.uio_class().join(name) })
}

#[cfg(target_os = "linux")]
pub use linux::{open_accel, refusal, BoardAccel, BoardAccelBackend};

#[cfg(target_os = "linux")]
mod linux {
    use m3rt::accel::bus::{DmaMemory, StdClock};
    use m3rt::accel::place::{Placement, WeightPlacement};
    use m3rt::accel::probe::probe;
    use m3rt::backend::{AccelBackend, AccelConfig, Backend, Fallback, FixedBackend};
    use m3rt::bundle::{AlignedBytes, Bundle};

    use super::{uio_device, AccelArgs, AccelError, SysRoots};
    use crate::uio::{UdmabufDma, UioBus};

    /// The accelerator backend of a Linux board.
    pub type BoardAccel = AccelBackend<UioBus, UdmabufDma, StdClock>;

    /// What a Linux board with the IP serves on: the IP, falling back on the fixed-point engine over the
    /// scratch (the same bits on the CPU) when the IP refuses a model or faults.
    pub type BoardAccelBackend<'s> = Fallback<BoardAccel, FixedBackend<'s>>;

    /// Opens the IP as `args` say under `roots`: its UIO device (probed: it must answer as the IP after
    /// reset), then the u-dma-buf buffer `<dev>/NAME` (bus address and size from
    /// `<sys>/class/u-dma-buf/NAME`). Weights are copied into the buffer (`WeightPlacement::Copy`: it is
    /// the only memory the IP reaches). Returns the backend and one line describing it.
    pub fn open_accel(roots: &SysRoots, args: &AccelArgs) -> Result<(BoardAccel, String), AccelError> {
        let uio = uio_device(roots, args.uio.as_deref())?;
        let mut bus = UioBus::open_at(&uio.dev, &uio.sysfs)
            .map_err(|source| AccelError::Open { what: "the IP's UIO device", source })?;
        if !probe(&mut bus) {
            return Err(AccelError::NotTheIp(uio.dev));
        }
        let dev = roots.dev.join(&args.udmabuf);
        let sysfs = roots.sys.join("class/u-dma-buf").join(&args.udmabuf);
        let dma = UdmabufDma::open_at(&dev, &sysfs)
            .map_err(|source| AccelError::Open { what: "the u-dma-buf buffer", source })?;
        let profile = args.ip_weights.profile();
        let config = AccelConfig {
            profile,
            weights: WeightPlacement::Copy,
            timeout_us: args.accel_timeout_ms.saturating_mul(1000),
        };
        let line = format!(
            "the accelerator IP at {} ({:?} weights), DMA memory {} ({} bytes at bus address {:#x})",
            uio.dev.display(),
            profile.weights,
            dev.display(),
            dma.len(),
            dma.bus_address()
        );
        Ok((AccelBackend::new(bus, dma, StdClock::default(), config), line))
    }

    /// Why `ip` would not load the bundle at `model` (wrong precision, too little DMA memory: the
    /// [`Backend::fits`] error, with the bytes the placement needs), or `None` when it would or the file does
    /// not parse (the board's own reading of `--model` reports that).
    pub fn refusal(ip: &BoardAccel, model: &std::path::Path) -> Option<String> {
        let bytes = AlignedBytes::read_file(model).ok()?;
        let bundle = Bundle::parse(&bytes).ok()?;
        let e = ip.fits(&bundle).err()?;
        let needed = Placement::new(&bundle, WeightPlacement::Copy).map(|p| p.total).unwrap_or(0);
        Some(format!(
            "the accelerator will not load {} ({e}; its buffers need {needed} bytes of DMA memory)",
            model.display()
        ))
    }
}
