//! Driver of the Cadence UART of the Zynq UltraScale+ PS (UG1087 "UART" registers), as `embedded_io` 0.7
//! `Read` and `Write`: blocking, polled, 8N1.

use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};

/// UART0 of the PS (the ZCU104's USB-UART bridge port 0; QEMU's `-serial` 0).
pub const UART0_BASE: usize = 0xff00_0000;

const CR: usize = 0x00; // control
const MR: usize = 0x04; // mode
const IDR: usize = 0x0c; // interrupt disable
const BAUDGEN: usize = 0x18; // baud-rate generator divisor CD
const SR: usize = 0x2c; // channel status
const FIFO: usize = 0x30; // TX/RX FIFO
const BAUDDIV: usize = 0x34; // baud-rate divider BDIV

const CR_RXRST: u32 = 1 << 0;
const CR_TXRST: u32 = 1 << 1;
const CR_RX_EN: u32 = 1 << 2;
const CR_RX_DIS: u32 = 1 << 3;
const CR_TX_EN: u32 = 1 << 4;
const CR_TX_DIS: u32 = 1 << 5;
const MR_8N1: u32 = 0b100 << 3; // 8 data bits, no parity (PAR = 1xx), 1 stop bit
const SR_RXEMPTY: u32 = 1 << 1;
const SR_TXEMPTY: u32 = 1 << 3;
const SR_TXFULL: u32 = 1 << 4;

/// 115 200 baud from the 100 MHz UART reference clock the ZCU104's FSBL sets up: 100 MHz / (124 · (6 + 1)).
const CD_115200: u32 = 124;
const BDIV_115200: u32 = 6;

/// One Cadence UART, owned.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// Takes the UART at `base` and sets it to 115 200 baud 8N1, interrupts off, receiver and transmitter on.
    ///
    /// # Safety
    /// `base` must be the address of a Cadence UART, mapped as device memory, that no other code drives.
    pub unsafe fn new(base: usize) -> Self {
        let mut uart = Self { base };
        uart.write_reg(CR, CR_RX_DIS | CR_TX_DIS);
        uart.write_reg(IDR, 0x1fff);
        uart.write_reg(MR, MR_8N1);
        uart.write_reg(BAUDGEN, CD_115200);
        uart.write_reg(BAUDDIV, BDIV_115200);
        // Reset both FIFOs, then enable: bytes that arrive before RX is on are dropped by the hardware.
        uart.write_reg(CR, CR_RXRST | CR_TXRST | CR_RX_EN | CR_TX_EN);
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
        self.read_reg(SR) & SR_RXEMPTY == 0
    }

    fn tx_ready(&self) -> bool {
        self.read_reg(SR) & SR_TXFULL == 0
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::Write for Uart {
    /// Waits for room in the TX FIFO, then queues as many bytes as fit (at least one).
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
            self.write_reg(FIFO, u32::from(b));
            n += 1;
        }
        Ok(n)
    }

    /// Waits until the TX FIFO has drained.
    fn flush(&mut self) -> Result<(), Infallible> {
        while self.read_reg(SR) & SR_TXEMPTY == 0 {}
        Ok(())
    }
}

impl embedded_io::Read for Uart {
    /// Waits for at least one byte, then takes every byte already received, up to `buf.len()`.
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
            *slot = self.read_reg(FIFO) as u8;
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
