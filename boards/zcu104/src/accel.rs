//! The M3RT accelerator IP in the PL (`hls/`, `docs/accel-bridge.md`): where its register page is, whether
//! it answers there, and the backend over it.
//!
//! Only a build with the `accel` feature looks: QEMU's `xlnx-zcu102` has nothing at [`ACCEL_BASE`], and on a
//! board whose PL holds no (or another) bitstream an access there can end in an external abort, which parks
//! the core in the vector table. Without the feature the code below is still compiled (`main.rs` refers to
//! it behind `cfg!`), and the firmware never touches the address.
//!
//! When the IP answers, the command loop serves on [`Accel`] behind `m3rt::backend::Fallback` with the CPU
//! backend: a bundle the IP refuses at load (f32 or f16, another precision than [`IP_PROFILE`], a head it
//! cannot compute) is served by the CPU, as is every run after a device fault. The IP reads the weights in
//! place from the model slot (`WeightPlacement::InPlace`: DDR is identity-mapped, so the slot's address is
//! the bus address) and its other buffers from the DMA window `__accel_dma_start..__accel_dma_end`
//! (`link.ld`). The self-test stays on the CPU (see `main.rs`).

use core::ptr::addr_of;
use core::sync::atomic::{AtomicBool, Ordering};

use embedded_io::Write;
use m3rt::accel::mmio::{MmioBus, MmioDma};
use m3rt::accel::place::WeightPlacement;
pub use m3rt::accel::probe::probe;
use m3rt::accel::regfile;
use m3rt::backend::{AccelBackend, AccelConfig};
use m3rt::fixed::{Profile, WeightMode};

use crate::timer::Timer;

/// Base address of the IP's AXI4-Lite `control` slave: the bottom of the PS's M_AXI_HPM0_FPD window
/// (0xA000_0000; the LPD port's window starts at 0x8000_0000). It must match the block design:
/// `hls/scripts/vivado_bd.tcl` assigns `accel/s_axi_control` `-offset 0xA0000000 -range 64K`.
pub const ACCEL_BASE: usize = 0xA000_0000;

/// The precision the bitstream is built for (`hls/`'s default build: Edge-MoE's W16A32 formats, fixed16
/// weights). A quantized bundle in another profile (int8 weights) is refused at load and served by the CPU.
pub const IP_PROFILE: Profile = Profile { weights: WeightMode::Fixed16, ..Profile::EDGE_MOE };

/// How long one run on the IP may take before `AccelTimeout` (and the move to the CPU): two seconds.
pub const TIMEOUT_US: u64 = 2_000_000;

/// Whether this build probes for the IP (the cargo feature `accel`, off by default).
pub const ENABLED: bool = cfg!(feature = "accel");

/// The accelerator backend of this board: the IP's registers, the DMA window, the generic timer.
pub type Accel = AccelBackend<MmioBus, MmioDma, Timer>;

extern "C" {
    static __accel_dma_start: u8;
    static __accel_dma_end: u8;
}

/// Whether the DMA window has been handed out.
static DMA_TAKEN: AtomicBool = AtomicBool::new(false);

/// The DMA window of `link.ld` as the IP's memory, the first time only.
fn dma() -> Option<MmioDma> {
    if DMA_TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let start = addr_of!(__accel_dma_start) as usize;
    let len = (addr_of!(__accel_dma_end) as usize).saturating_sub(start);
    // Safety: link.ld reserves this DDR window (no section of the image lies in it, so no Rust reference
    // points into it); start.rs identity-maps DDR, so the IP reaches it at the addresses the CPU uses;
    // DMA_TAKEN makes this the only handle, for the rest of the program.
    Some(unsafe { MmioDma::new(start, len) })
}

/// The IP's register bus, if the page at [`ACCEL_BASE`] answers as the IP after reset ([`probe`]).
///
/// # Safety
/// The PL must hold a bitstream whose block design decodes [`ACCEL_BASE`] (else the read may abort), and no
/// other code may drive the IP while the bus lives.
pub unsafe fn detect() -> Option<MmioBus> {
    // Safety: start.rs maps 0x8000_0000..0xC000_0000 (the PL slaves) as device nGnRnE memory, and this
    // function's contract makes `ACCEL_BASE..+SPAN` (inside the 64 KiB the block design gives) the IP's page,
    // owned by the bus.
    let mut bus = unsafe { MmioBus::new(ACCEL_BASE, regfile::SPAN) };
    probe(&mut bus).then_some(bus)
}

/// Probes the IP, prints on `uart` what was found, and returns the backend over it; called only when
/// [`ENABLED`]. `None` (the CPU alone serves) when the IP does not answer or the DMA window is taken.
pub fn start(uart: &mut impl Write) -> Option<Accel> {
    // Safety: only an `accel` build calls this, and that feature is the build's statement that the bitstream
    // of `hls/scripts/vivado_bd.tcl` is loaded; nothing else in the firmware drives the IP.
    let Some(bus) = (unsafe { detect() }) else {
        let _ = write!(uart, "accel: no IP at {ACCEL_BASE:#x}\r\n");
        return None;
    };
    let Some(dma) = dma() else {
        let _ = write!(uart, "accel: IP found at {ACCEL_BASE:#x}, DMA window already taken: cpu backend\r\n");
        return None;
    };
    let _ = write!(
        uart,
        "accel: IP found at {ACCEL_BASE:#x}; the command loop serves on it (cpu fallback), the self-test on the cpu\r\n"
    );
    let config = AccelConfig { profile: IP_PROFILE, weights: WeightPlacement::InPlace, timeout_us: TIMEOUT_US };
    Some(AccelBackend::new(bus, dma, Timer::new(), config))
}
