//! M3RT firmware for Arm's MPS2+ board with the AN386 image (Cortex-M4F, `thumbv7em-none-eabihf`), CPU backend.
//!
//! The `micro` model bundle is compiled into flash (ZBT SSRAM1, see `memory.x`) and read in place; the
//! engine's scratch is a static buffer in SRAM. Logs go out as defmt frames over semihosting.
//!
//! The firmware first runs the self-test: every task of the model on the fixed input compiled in, one
//! CRC-32 line per output on UART0. Without the `serve` feature it then exits through semihosting (success,
//! or failure after an error line); with it, the model is copied into A/B slots in SRAM, `serving` is
//! printed and the command loop of `m3rt::serve` runs on UART0 forever.
#![no_std]
#![no_main]

mod buffers;
#[cfg(feature = "serve")]
mod slots;
mod uart;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use embedded_io::Write;
use m3rt::backend::{Backend, CpuBackend};
use m3rt::bundle::Bundle;

/// Bytes aligned to 64, as the bundle format wants its weights in memory.
#[repr(C, align(64))]
struct Aligned64<T: ?Sized>(T);

/// The model bundle, in flash (`build.rs` names the file).
static MODEL: &Aligned64<[u8]> = &Aligned64(*include_bytes!(env!("M3RT_BUNDLE_PATH")));
/// The self-test input: `models/micro/golden/input_0.npy` as little-endian f32 bytes (see `build.rs`).
static INPUT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/input.f32"));
/// What the hello exchange reports.
const FIRMWARE: &str = concat!("m3rt-mps2-an386 ", env!("CARGO_PKG_VERSION"));

#[entry]
fn main() -> ! {
    defmt::info!("{=str}: model {=usize} bytes in flash", FIRMWARE, MODEL.0.len());
    // Safety: UART0 is a CMSDK UART at this address on the AN386, and only this function drives it.
    let mut uart = unsafe { uart::Uart::new(uart::UART0_BASE) };
    let _ = write!(uart, "{FIRMWARE} firmware: cpu backend, model in flash\r\n");
    let Some(buf) = buffers::take() else {
        let _ = uart.write_all(b"error: buffers already taken\r\n");
        exit(false)
    };
    let status = self_test(&mut uart, &mut buf.scratch[..], &mut buf.input[..], &mut buf.output[..]);
    if let Err(e) = &status {
        if let m3rt_selftest::Failure::Runtime(err) = e {
            defmt::error!("runtime error: {}", err);
        }
        let _ = write!(uart, "error: {e}\r\n");
    }
    let _ = uart.flush();
    defmt::info!("self-test {=str}", if status.is_ok() { "passed" } else { "failed" });
    #[cfg(feature = "serve")]
    serve(uart, buf);
    #[cfg(not(feature = "serve"))]
    exit(status.is_ok())
}

/// Runs every task of the model in flash on the fixed input and reports each output's CRC-32.
fn self_test(
    uart: &mut uart::Uart,
    scratch: &mut [f32],
    input: &mut [f32],
    output: &mut [f32],
) -> Result<(), m3rt_selftest::Failure<core::convert::Infallible>> {
    let bundle = Bundle::parse(&MODEL.0)?;
    let mut backend = CpuBackend::new(scratch);
    let mut model = backend.load(bundle)?;
    let input = buffers::load_input(INPUT, input, model.input_len())?;
    m3rt_selftest::report(uart, &mut model, input, output)
}

/// Copies the model into slot A, then runs the command loop over UART0 forever.
#[cfg(feature = "serve")]
fn serve(mut uart: uart::Uart, buf: buffers::Buffers) -> ! {
    let storage = match slots::take(&MODEL.0) {
        Some(Ok(storage)) => storage,
        Some(Err(e)) => {
            let _ = write!(uart, "error: installing the model: {e}\r\n");
            exit(false)
        }
        None => exit(false),
    };
    // The zero byte ends the text as a (damaged, dropped) frame for the host's deframer.
    let _ = uart.write_all(b"serving\r\n\0");
    defmt::info!("serving the m3rt protocol on UART0");
    let backend = CpuBackend::new(buf.scratch);
    let mut server = m3rt::serve::Server::new(uart, storage, backend, buf.input, buf.output, FIRMWARE);
    loop {
        // A UART never ends and never fails: `run` returns only for a warm reboot, and the loop reloads the
        // active slot's model.
        let Ok(_) = server.run();
    }
}

/// Semihosting exit: success or failure.
fn exit(success: bool) -> ! {
    debug::exit(if success { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Safety: the panicking code no longer uses its UART handle; this one only adds bytes to the FIFO.
    let mut uart = unsafe { uart::Uart::new(uart::UART0_BASE) };
    let _ = write!(uart, "panic: {info}\r\n");
    let _ = uart.flush();
    exit(false)
}
