//! The boards' self-test, one source for every firmware and for the host reference: run every task of a
//! bundle on one fixed input and report a CRC-32 of each output's f32 bytes (little-endian), one line a task.
//!
//! ```text
//! model: 2 tasks, input 3x32x64, scratch 140352 floats
//! task 0 semseg: 14336 floats, crc32 0x0123abcd
//! task 1 depth: 2048 floats, crc32 0x4567ef01
//! self-test done
//! ```
//! A firmware writes these lines to its UART; `cargo xtask qemu` computes the same lines with the host
//! runtime on the same bundle and input and requires them to be identical. [`report`] runs on any
//! [`Inference`], so every backend a firmware can load gets the same check.
#![no_std]

pub mod npy;

use core::fmt;

use crc::{Crc, CRC_32_ISO_HDLC};
use m3rt::backend::Inference;

/// The CRC-32 used for digests: the zlib / Ethernet one (reflected, polynomial 0x04C11DB7).
pub const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// CRC-32 of the little-endian bytes of `values`.
pub fn digest_f32(values: &[f32]) -> u32 {
    let mut d = CRC32.digest();
    for v in values {
        d.update(&v.to_le_bytes());
    }
    d.finalize()
}

/// Why the self-test stopped.
#[derive(Debug)]
pub enum Failure<E> {
    /// The runtime refused the model, the task or the buffers.
    Runtime(m3rt::Error),
    /// The output buffer is smaller than a task's output.
    OutputTooSmall {
        /// Floats the task writes.
        needed: usize,
        /// Floats the buffer holds.
        have: usize,
    },
    /// Writing the report failed.
    Write(E),
    /// A line could not be formatted.
    Format,
}

impl<E> From<embedded_io::WriteFmtError<E>> for Failure<E> {
    fn from(e: embedded_io::WriteFmtError<E>) -> Self {
        match e {
            embedded_io::WriteFmtError::Other(e) => Failure::Write(e),
            _ => Failure::Format,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Runtime(e) => write!(f, "runtime error: {e}"),
            Failure::OutputTooSmall { needed, have } => {
                write!(f, "output buffer too small: {needed} floats needed, {have} given")
            }
            Failure::Write(e) => write!(f, "could not write the report: {e:?}"),
            Failure::Format => f.write_str("could not format a report line"),
        }
    }
}

impl<E> From<m3rt::Error> for Failure<E> {
    fn from(e: m3rt::Error) -> Self {
        Failure::Runtime(e)
    }
}

/// Runs every task of `model` on `input` (`[3, H, W]`) and writes the report to `w`: a model line (with the
/// bundle's stated scratch size), one line per task with the output's length and [`digest_f32`], and a
/// closing line. `output` must hold the largest task output. Leaves task 0 selected.
pub fn report<W: embedded_io::Write, I: Inference + ?Sized>(
    w: &mut W,
    model: &mut I,
    input: &[f32],
    output: &mut [f32],
) -> Result<(), Failure<W::Error>> {
    let h = *model.bundle().hyper();
    let tasks = model.bundle().task_count();
    let scratch = model.bundle().scratch_floats();
    write!(w, "model: {tasks} tasks, input 3x{}x{}, scratch {scratch} floats\r\n", h.image_h, h.image_w)?;
    for t in 0..tasks {
        model.select_task(t)?;
        let len = model.output_len()?;
        let have = output.len();
        let out = output.get_mut(..len).ok_or(Failure::OutputTooSmall { needed: len, have })?;
        model.run(input, out)?;
        let name = model.bundle().task(t)?.name;
        write!(w, "task {t} {name}: {len} floats, crc32 {:#010x}\r\n", digest_f32(out))?;
    }
    model.select_task(0)?;
    w.write_all(b"self-test done\r\n").map_err(Failure::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The catalogue's check value of CRC-32/ISO-HDLC over the ASCII digits.
        assert_eq!(CRC32.checksum(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn digest_is_crc_of_little_endian_bytes() {
        // 1.0f32 = 0x3F800000 → bytes 00 00 80 3F; -2.5 = 0xC0200000 → 00 00 20 C0.
        // Reference from Python: zlib.crc32(bytes([0,0,0x80,0x3f,0,0,0x20,0xc0])).
        assert_eq!(digest_f32(&[1.0, -2.5]), 0x5603_02F4);
    }
}
