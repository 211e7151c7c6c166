//! Talking to a board over the serial protocol: the links (TCP, serial port), the client, and the host
//! "board" that runs the firmware's command loop with file-backed model slots.

pub mod client;
pub mod link;
pub mod noisy;

/// The host "board" (`m3rt serve`): the code of the Linux board build, crate `m3rt-linux` (the command loop
/// on TCP or a tty, A/B slot files replaced atomically).
pub mod host {
    pub use m3rt_linux::*;

    /// Firmware name reported by the host board.
    pub const FIRMWARE: &str = concat!("m3rt-host ", env!("CARGO_PKG_VERSION"));
}

pub use client::{BoardError, BoardInfo, BoardTask, Client, RunReport};
pub use link::{LinkArgs, LinkTarget, StdIo};
pub use noisy::{NoiseCounts, Noisy};
