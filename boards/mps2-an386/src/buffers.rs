//! The firmware's working memory: static buffers in `.bss`, handed out once.

use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

/// Scratch for the engine: 2 MiB of the 4 MiB SRAM (micro needs 0.35 MiB in f32, 0.54 MiB in f16; `m3rt inspect`
/// prints the need).
#[cfg(not(feature = "serve"))]
const SCRATCH_FLOATS: usize = 512 << 10;
/// Scratch when serving: the A/B slots take 2.73 MiB of SRAM, so only what micro needs (140 352 floats with f16
/// weights, 90 688 with f32).
#[cfg(feature = "serve")]
const SCRATCH_FLOATS: usize = 144 << 10;
/// Largest input `[3, H, W]`.
const INPUT_FLOATS: usize = 8 << 10;
/// Largest task output `[C, H, W]`.
const OUTPUT_FLOATS: usize = 16 << 10;

static mut SCRATCH: [f32; SCRATCH_FLOATS] = [0.0; SCRATCH_FLOATS];
static mut INPUT: [f32; INPUT_FLOATS] = [0.0; INPUT_FLOATS];
static mut OUTPUT: [f32; OUTPUT_FLOATS] = [0.0; OUTPUT_FLOATS];
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The three buffers, exclusively borrowed for the rest of the program.
pub struct Buffers {
    /// Engine scratch.
    pub scratch: &'static mut [f32],
    /// Input image.
    pub input: &'static mut [f32],
    /// Task output.
    pub output: &'static mut [f32],
}

/// The buffers, the first time only.
pub fn take() -> Option<Buffers> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // Safety: TAKEN lets this line run once, so these are the only references ever made to the statics.
    unsafe {
        Some(Buffers {
            scratch: &mut *addr_of_mut!(SCRATCH),
            input: &mut *addr_of_mut!(INPUT),
            output: &mut *addr_of_mut!(OUTPUT),
        })
    }
}

/// Decodes `len` little-endian f32 values from `bytes` into the front of `buf`.
pub fn load_input<'a>(bytes: &[u8], buf: &'a mut [f32], len: usize) -> Result<&'a [f32], m3rt::Error> {
    let found = bytes.len() / 4;
    if found != len || !bytes.len().is_multiple_of(4) {
        return Err(m3rt::Error::ShapeMismatch { what: "compiled-in input", expected: len, found });
    }
    let have = buf.len();
    let dst =
        buf.get_mut(..len).ok_or(m3rt::Error::ShapeMismatch { what: "input buffer", expected: len, found: have })?;
    for (d, c) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
        *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    Ok(dst)
}
