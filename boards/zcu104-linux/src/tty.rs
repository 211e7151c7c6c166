//! The board's serial tty. Opened with `serialport` (raw mode by `cfmakeraw`, 8N1, no flow control, any
//! baud rate through termios2); where the kernel or emulator has no termios2 (`qemu-aarch64` user mode up
//! to QEMU 9 answers `TCGETS2` with ENOSYS), the same raw 8N1 set-up is made with plain POSIX termios, for
//! the standard baud rates.

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// A byte stream to serve on: a tty.
pub trait Tty: Read + Write + Send {}
impl<T: Read + Write + Send> Tty for T {}

/// Opens the serial device `port` at `baud` with `serialport`: raw mode, 8N1, no flow control (its
/// `cfmakeraw` and builder defaults); reads time out after `timeout`.
pub fn open_serial(port: &str, baud: u32, timeout: Duration) -> Result<Box<dyn serialport::SerialPort>> {
    if baud == 0 {
        bail!("--baud must be positive");
    }
    serialport::new(port, baud)
        .timeout(timeout)
        .open()
        .with_context(|| format!("opening serial port {port} at {baud} baud"))
}

/// Opens the board's tty `port` at `baud` for the command loop (see the module text); returns it and how
/// it was configured.
pub fn open_tty(port: &str, baud: u32) -> Result<(Box<dyn Tty>, &'static str)> {
    match open_serial(port, baud, Duration::from_secs(1)) {
        Ok(tty) => Ok((Box::new(tty), "serialport")),
        Err(e) if lacks_termios2(&e) => Ok((Box::new(posix::open(port, baud)?), "POSIX termios: no termios2 here")),
        Err(e) => Err(e),
    }
}

/// Whether opening failed because an ioctl is not implemented (ENOSYS: `TCGETS2` under older QEMU).
fn lacks_termios2(e: &anyhow::Error) -> bool {
    #[cfg(unix)]
    let enosys = nix::errno::Errno::ENOSYS.desc();
    #[cfg(not(unix))]
    let enosys = "";
    e.downcast_ref::<serialport::Error>()
        .is_some_and(|s| s.kind() == serialport::ErrorKind::Unknown && !enosys.is_empty() && s.description == enosys)
}

#[cfg(unix)]
mod posix {
    use std::fs::{File, OpenOptions};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;

    use anyhow::{anyhow, Context, Result};
    use nix::fcntl::OFlag;
    use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};

    /// Opens `port` in raw mode, 8N1, no flow control, at the standard rate `baud`. Reads block until at
    /// least one byte has arrived (`cfmakeraw`: VMIN 1, VTIME 0).
    pub fn open(port: &str, baud: u32) -> Result<File> {
        let rate = standard_rate(baud)
            .ok_or_else(|| anyhow!("{baud} baud is not a standard rate (without termios2 only those are)"))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OFlag::O_NOCTTY.bits())
            .open(port)
            .with_context(|| format!("opening serial port {port}"))?;
        let fd = file.as_raw_fd();
        let mut t = termios::tcgetattr(fd).with_context(|| format!("{port}: tcgetattr"))?;
        termios::cfmakeraw(&mut t);
        t.control_flags |= ControlFlags::CREAD | ControlFlags::CLOCAL;
        t.control_flags &= !(ControlFlags::CSTOPB | ControlFlags::CRTSCTS);
        // The speed as Linux keeps it, in the CBAUD bits of c_cflag (CIBAUD clear: input speed = output
        // speed), which is what glibc's cfsetspeed does; calling it is not possible here, as the libc crate
        // binds it by a symbol version (`@GLIBC_2.17`) that a static glibc does not resolve.
        let speed = ControlFlags::from_bits_truncate(rate as nix::libc::tcflag_t);
        t.control_flags = (t.control_flags & !(ControlFlags::CBAUD | ControlFlags::CIBAUD)) | speed;
        termios::tcsetattr(fd, SetArg::TCSANOW, &t).with_context(|| format!("{port}: tcsetattr"))?;
        Ok(file)
    }

    fn standard_rate(baud: u32) -> Option<BaudRate> {
        use BaudRate::*;
        Some(match baud {
            9_600 => B9600,
            19_200 => B19200,
            38_400 => B38400,
            57_600 => B57600,
            115_200 => B115200,
            230_400 => B230400,
            460_800 => B460800,
            921_600 => B921600,
            1_000_000 => B1000000,
            2_000_000 => B2000000,
            3_000_000 => B3000000,
            4_000_000 => B4000000,
            _ => return None,
        })
    }
}

#[cfg(not(unix))]
mod posix {
    /// No POSIX termios on this system.
    pub fn open(port: &str, _baud: u32) -> anyhow::Result<std::fs::File> {
        anyhow::bail!("{port}: serialport could not configure it and there is no POSIX termios here")
    }
}
