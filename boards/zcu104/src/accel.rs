//! The M3RT accelerator IP in the PL (`hls/`, `docs/accel-bridge.md`): where its register page is, and
//! whether it answers there.
//!
//! Only a build with the `accel` feature looks: QEMU's `xlnx-zcu102` has nothing at [`ACCEL_BASE`], and on a
//! board whose PL holds no (or another) bitstream an access there can end in an external abort, which parks
//! the core in the vector table. Without the feature the code below is still compiled (`main.rs` refers to
//! it behind `cfg!`), and the firmware never touches the address. The self-test and the command loop run on
//! the CPU backend either way: the IP computes fixed-point bundles only, not the f32 `micro` of the suite.

use embedded_io::Write;
use m3rt::accel::mmio::MmioBus;
pub use m3rt::accel::probe::probe;
use m3rt::accel::regfile;

/// Base address of the IP's AXI4-Lite `control` slave: the bottom of the PS's M_AXI_HPM0_FPD window
/// (0xA000_0000; the LPD port's window starts at 0x8000_0000). It must match the block design:
/// `hls/scripts/vivado_bd.tcl` assigns `accel/s_axi_control` `-offset 0xA0000000 -range 64K`.
pub const ACCEL_BASE: usize = 0xA000_0000;

/// Whether this build probes for the IP (the cargo feature `accel`, off by default).
pub const ENABLED: bool = cfg!(feature = "accel");

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

/// Prints on `uart` whether the IP answers at [`ACCEL_BASE`]; called only when [`ENABLED`].
pub fn report(uart: &mut impl Write) {
    // Safety: only an `accel` build calls this, and that feature is the build's statement that the bitstream
    // of `hls/scripts/vivado_bd.tcl` is loaded; nothing else in the firmware drives the IP.
    let found = unsafe { detect() }.is_some();
    let _ = if found {
        write!(uart, "accel: IP found at {ACCEL_BASE:#x} (not used: cpu backend)\r\n")
    } else {
        write!(uart, "accel: no IP at {ACCEL_BASE:#x}\r\n")
    };
}
