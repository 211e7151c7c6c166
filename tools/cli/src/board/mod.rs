//! Talking to a board over the serial protocol: the links (TCP, serial port), the client, and the host
//! "board" that runs the firmware's command loop with file-backed model slots.

pub mod client;
pub mod host;
pub mod link;

pub use client::{BoardError, BoardInfo, BoardTask, Client, RunReport};
pub use link::{LinkArgs, LinkTarget, StdIo};
