//! Driver of the Arm CMSDK APB UART (the MPS2's UART0), as `embedded_io` 0.7 `Read` and `Write`: blocking,
//! polled, one-byte buffers each way.

use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};

/// UART0 of the MPS2 FPGA images (the board's USB-serial port; QEMU's `-serial` 0).
pub const UART0_BASE: usize = 0x4000_4000;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

/// 115 200 baud from the AN386's 25 MHz peripheral clock.
const BAUDDIV_115200: u32 = 25_000_000 / 115_200;

/// One CMSDK UART, owned.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// Takes the UART at `base`: 115 200 baud, interrupts off, transmitter and receiver on.
    ///
    /// # Safety
    /// `base` must be the address of a CMSDK UART that no other code drives.
    pub unsafe fn new(base: usize) -> Self {
        let mut uart = Self { base };
        uart.write_reg(BAUDDIV, BAUDDIV_115200);
        uart.write_reg(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        uart
    }

    fn read_reg(&self, offset: usize) -> u32 {
        // Safety: `new`'s contract makes `base + offset` a register of this UART, which `self` owns.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write_reg(&mut self, offset: usize, value: u32) {
        // Safety: as in `read_reg`; `&mut self` makes this the only writer.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn rx_ready(&self) -> bool {
        self.read_reg(STATE) & STATE_RX_FULL != 0
    }

    fn tx_ready(&self) -> bool {
        self.read_reg(STATE) & STATE_TX_FULL == 0
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::Write for Uart {
    /// Waits for the transmit buffer, then sends as many bytes as it takes without waiting (at least one).
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        while !self.tx_ready() {}
        let mut n = 0;
        for &b in buf {
            if !self.tx_ready() {
                break;
            }
            self.write_reg(DATA, u32::from(b));
            n += 1;
        }
        Ok(n)
    }

    /// Waits until the transmit buffer is free again.
    fn flush(&mut self) -> Result<(), Infallible> {
        while !self.tx_ready() {}
        Ok(())
    }
}

impl embedded_io::Read for Uart {
    /// Waits for one byte, then takes every byte already received, up to `buf.len()`.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        while !self.rx_ready() {}
        let mut n = 0;
        for slot in buf.iter_mut() {
            if !self.rx_ready() {
                break;
            }
            *slot = self.read_reg(DATA) as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.rx_ready())
    }
}

impl embedded_io::WriteReady for Uart {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.tx_ready())
    }
}
