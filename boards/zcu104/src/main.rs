//! M3RT firmware for the ZCU104's Cortex-A53 cores (bare metal, `aarch64-unknown-none`), CPU backend.
//!
//! Boot: `start.rs` parks cores 1–3, drops to EL1, enables FP/SIMD, the MMU and caches, then calls
//! [`m3rt_main`]. Models live in two A/B slots of the DDR window `__model_start..__model_end` (`link.ld`);
//! QEMU's `-device loader` (or JTAG / a BOOT.BIN data partition on the board) puts the first model in slot A.
//!
//! The firmware first runs the self-test: every task of the active model on the fixed input compiled in,
//! one CRC-32 line per output on UART0. Without the `serve` feature it then exits through semihosting with
//! 0 (1 after an error line); with it, it prints `serving` and runs the command loop of `m3rt::serve` on
//! UART0 forever (a warm reboot request restarts the loop; the slots and the active marker stay).
//!
//! With the `accel` feature (a board whose PL holds the accelerator's bitstream) it first probes the IP's
//! register page (`accel.rs`) and says whether the IP answers. If it does, the command loop serves on
//! `Fallback<accel::Accel, CpuBackend>`: a quantized bundle in the IP's profile on the IP, anything else (and
//! every run after a device fault) on the CPU; the hello exchange says which and why. The self-test always
//! runs on the CPU: its CRC lines are checked against the host runtime's CPU backend (`cargo xtask qemu`),
//! which an IP computing fixed-point bits would not match, and the suite's `micro` is f32, which the IP
//! refuses anyway. Without the feature, or without an IP, the command loop serves on the CPU alone.
#![no_std]
#![no_main]

mod accel;
mod buffers;
mod semihosting;
mod slots;
mod start;
mod timer;
mod uart;

use embedded_io::Write;
use m3rt::backend::{Backend, CpuBackend, Fallback};
use m3rt::bundle::Bundle;
use m3rt::serve::{ModelStorage, SliceStorage};

/// The self-test input: `models/micro/golden/input_0.npy` as little-endian f32 bytes (see `build.rs`).
static INPUT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/input.f32"));
/// What the hello exchange reports.
const FIRMWARE: &str = concat!("m3rt-zcu104 ", env!("CARGO_PKG_VERSION"));

/// Entered from `start.rs` on core 0 at EL1, with the exception level the core started in.
#[no_mangle]
extern "C" fn m3rt_main(entry_el: u64) -> ! {
    // Safety: UART0 is mapped as device memory by start.rs and only this function drives it.
    let mut uart = unsafe { uart::Uart::new(uart::UART0_BASE) };
    let _ = write!(uart, "{FIRMWARE} firmware: cpu backend, entered at EL{entry_el}\r\n");
    let accel = if accel::ENABLED { accel::start(&mut uart) } else { None };
    let (Some(buf), Some(mut storage)) = (buffers::take(), slots::take()) else {
        let _ = uart.write_all(b"error: memory already taken\r\n");
        semihosting::exit(1)
    };
    let model = storage.split().0;
    let passed = match self_test(&mut uart, model, &mut buf.scratch[..], &mut buf.input[..], &mut buf.output[..]) {
        Ok(()) => true,
        Err(e) => {
            let _ = write!(uart, "error: {e}\r\n");
            false
        }
    };
    let _ = uart.flush();
    if cfg!(feature = "serve") {
        // The zero byte ends the text as a (damaged, dropped) frame for the host's deframer.
        let _ = uart.write_all(b"serving\r\n\0");
        serve(uart, storage, buf, accel)
    }
    semihosting::exit(if passed { 0 } else { 1 })
}

/// Runs every task of `model` on the fixed input and reports each output's CRC-32.
fn self_test(
    uart: &mut uart::Uart,
    model: Option<&[u8]>,
    scratch: &mut [f32],
    input: &mut [f32],
    output: &mut [f32],
) -> Result<(), m3rt_selftest::Failure<core::convert::Infallible>> {
    let bytes = model.ok_or(m3rt::Error::BadMagic)?;
    let bundle = Bundle::parse(bytes)?;
    let mut backend = CpuBackend::new(scratch);
    let mut model = backend.load(bundle)?;
    let input = buffers::load_input(INPUT, input, model.input_len())?;
    m3rt_selftest::report(uart, &mut model, input, output)
}

/// The command loop over UART0, forever: on the IP with the CPU as fallback when there is one, else on the
/// CPU.
fn serve(uart: uart::Uart, storage: SliceStorage<'static>, buf: buffers::Buffers, accel: Option<accel::Accel>) -> ! {
    let cpu = CpuBackend::new(buf.scratch);
    match accel {
        Some(ip) => serve_on(uart, storage, Fallback::new(ip, cpu), buf.input, buf.output),
        None => serve_on(uart, storage, cpu, buf.input, buf.output),
    }
}

/// The command loop on `backend`, forever.
fn serve_on<B: Backend>(
    uart: uart::Uart,
    storage: SliceStorage<'static>,
    backend: B,
    input: &mut [f32],
    output: &mut [f32],
) -> ! {
    let mut server =
        m3rt::serve::Server::new(uart, storage, backend, input, output, FIRMWARE).with_clock(timer::micros);
    loop {
        // A UART never ends and never fails: `run` returns only for a warm reboot, and the loop reloads the
        // active slot's model.
        let Ok(_) = server.run();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Safety: the panicking code no longer uses its UART handle; this one only adds bytes to the FIFO.
    let mut uart = unsafe { uart::Uart::new(uart::UART0_BASE) };
    let _ = write!(uart, "panic: {info}\r\n");
    let _ = uart.flush();
    semihosting::exit(101)
}
