//! M3RT firmware for the ZCU104's Cortex-A53 cores (bare metal, `aarch64-unknown-none`), CPU backend.
//!
//! Boot: `start.rs` parks cores 1–3, drops to EL1, enables FP/SIMD, the MMU and caches, then calls
//! [`m3rt_main`]. The model bundle is read in place from the DDR window `__model_start..__model_end`
//! (`link.ld`), where QEMU's `-device loader` (or JTAG / a BOOT.BIN data partition on the board) put it.
//!
//! Today the firmware runs the self-test: every task of the model on the fixed input compiled in, one
//! CRC-32 line per output on UART0, then a semihosting exit with 0 (or 1 after an error line).
#![no_std]
#![no_main]

mod buffers;
mod semihosting;
mod start;
mod uart;

use embedded_io::Write;
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;

/// The self-test input: `models/micro/golden/input_0.npy` as little-endian f32 bytes (see `build.rs`).
static INPUT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/input.f32"));

extern "C" {
    static __model_start: u8;
    static __model_end: u8;
}

/// The model window of DDR as bytes; the bundle parser ignores whatever follows the bundle.
fn model_window() -> &'static [u8] {
    let start = core::ptr::addr_of!(__model_start);
    let len = core::ptr::addr_of!(__model_end) as usize - start as usize;
    // Safety: link.ld reserves this window for the model: no section of the image lies in it, the loader
    // wrote it before the CPU started, and nothing in the firmware writes it. DDR is mapped normal memory.
    unsafe { core::slice::from_raw_parts(start, len) }
}

/// Entered from `start.rs` on core 0 at EL1, with the exception level the core started in.
#[no_mangle]
extern "C" fn m3rt_main(entry_el: u64) -> ! {
    // Safety: UART0 is mapped as device memory by start.rs and only this function drives it.
    let mut uart = unsafe { uart::Uart::new(uart::UART0_BASE) };
    let _ =
        write!(uart, "m3rt zcu104 firmware {}: cpu backend, entered at EL{entry_el}\r\n", env!("CARGO_PKG_VERSION"));
    let code = match self_test(&mut uart) {
        Ok(()) => 0,
        Err(()) => 1,
    };
    let _ = uart.flush();
    semihosting::exit(code)
}

/// Runs every task on the fixed input and reports; errors are reported on the UART too.
fn self_test(uart: &mut uart::Uart) -> Result<(), ()> {
    let Some(buf) = buffers::take() else {
        let _ = uart.write_all(b"error: buffers already taken\r\n");
        return Err(());
    };
    let mut run = || -> Result<(), m3rt_selftest::Failure<core::convert::Infallible>> {
        let bundle = Bundle::parse(model_window())?;
        let mut engine = Engine::new(bundle, buf.scratch)?;
        let input = buffers::load_input(INPUT, buf.input, engine.input_len())?;
        m3rt_selftest::report(uart, &mut engine, input, buf.output)
    };
    run().map_err(|e| {
        let _ = write!(uart, "error: {e}\r\n");
    })
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Safety: the panicking code no longer uses its UART handle; this one only adds bytes to the FIFO.
    let mut uart = unsafe { uart::Uart::new(uart::UART0_BASE) };
    let _ = write!(uart, "panic: {info}\r\n");
    let _ = uart.flush();
    semihosting::exit(101)
}
