//! M3RT firmware for Arm's MPS2+ board with the AN386 image (Cortex-M4F, `thumbv7em-none-eabihf`), CPU backend.
//!
//! The `micro` model bundle is compiled into flash (ZBT SSRAM1, see `memory.x`) and read in place; the
//! engine's scratch is a static buffer in SRAM. Logs go out as defmt frames over semihosting.
//!
//! Today the firmware runs the self-test: every task of the model on the fixed input compiled in, one
//! CRC-32 line per output on UART0, then a semihosting exit with success (or failure after an error line).
#![no_std]
#![no_main]

mod buffers;
mod uart;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
use defmt_semihosting as _;
use embedded_io::Write;
use m3rt::bundle::Bundle;
use m3rt::engine::Engine;

/// Bytes aligned to 64, as the bundle format wants its weights in memory.
#[repr(C, align(64))]
struct Aligned64<T: ?Sized>(T);

/// The model bundle, in flash (`build.rs` names the file).
static MODEL: &Aligned64<[u8]> = &Aligned64(*include_bytes!(env!("M3RT_BUNDLE_PATH")));
/// The self-test input: `models/micro/golden/input_0.npy` as little-endian f32 bytes (see `build.rs`).
static INPUT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/input.f32"));

#[entry]
fn main() -> ! {
    defmt::info!(
        "m3rt mps2-an386 firmware {=str}: model {=usize} bytes in flash",
        env!("CARGO_PKG_VERSION"),
        MODEL.0.len()
    );
    // Safety: UART0 is a CMSDK UART at this address on the AN386, and only this function drives it.
    let mut uart = unsafe { uart::Uart::new(uart::UART0_BASE) };
    let _ = write!(uart, "m3rt mps2-an386 firmware {}: cpu backend, model in flash\r\n", env!("CARGO_PKG_VERSION"));
    let status = self_test(&mut uart);
    let _ = uart.flush();
    defmt::info!("self-test {=str}", if status.is_ok() { "passed" } else { "failed" });
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}

/// Runs every task on the fixed input and reports; errors are reported on the UART and in the log too.
fn self_test(uart: &mut uart::Uart) -> Result<(), ()> {
    let Some(buf) = buffers::take() else {
        let _ = uart.write_all(b"error: buffers already taken\r\n");
        return Err(());
    };
    let mut run = || -> Result<(), m3rt_selftest::Failure<core::convert::Infallible>> {
        let bundle = Bundle::parse(&MODEL.0)?;
        let mut engine = Engine::new(bundle, buf.scratch)?;
        let input = buffers::load_input(INPUT, buf.input, engine.input_len())?;
        m3rt_selftest::report(uart, &mut engine, input, buf.output)
    };
    run().map_err(|e| {
        if let m3rt_selftest::Failure::Runtime(err) = e {
            defmt::error!("runtime error: {}", err);
        }
        let _ = write!(uart, "error: {e}\r\n");
    })
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Safety: the panicking code no longer uses its UART handle; this one only adds bytes to the FIFO.
    let mut uart = unsafe { uart::Uart::new(uart::UART0_BASE) };
    let _ = write!(uart, "panic: {info}\r\n");
    let _ = uart.flush();
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
