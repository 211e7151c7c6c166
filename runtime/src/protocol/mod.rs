//! The serial protocol between a host and a board: one source for the firmware and the host tools.
//!
//! ```text
//! frame   = COBS( payload ‖ CRC-32(payload) as 4 LE bytes ) ‖ 0x00
//! payload = postcard( tag: u16 varint, message: Request | Response )
//! ```
//! The host numbers its requests with tags `1..=65535`; each response carries the tag of the request it
//! answers, or [`frame::NO_TAG`] when the request's frame was too damaged to read its tag. A lone `0x00`
//! (an empty frame) is ignored, so a host may send one to resynchronise. A frame is at most [`MAX_FRAME`]
//! bytes on the wire, delimiter included; chunked data is at most [`MAX_CHUNK`] bytes per frame.
//!
//! The byte-level specification with example frames is `docs/serial-protocol.md`.

pub mod cobs;
pub mod frame;
mod message;

pub use frame::{Deframer, Feed, NO_TAG};
pub use message::{
    AccelStats, ErrorCode, Fault, Info, LayerStats, ModelInfo, Request, Response, Slot, Stats, TaskEntry,
};

/// The protocol version exchanged by [`Request::Hello`]; changed on any incompatible change of the messages
/// (2: `Info.fallback`, `Stats.accel`, the accelerator's error codes).
pub const PROTOCOL_VERSION: u16 = 2;

/// The largest frame on the wire, delimiter included (fits any UART FIFO-driven buffer on a Cortex-M4F).
pub const MAX_FRAME: usize = 1280;

/// The largest payload (postcard message and CRC) that still fits [`MAX_FRAME`] after COBS.
pub const MAX_PAYLOAD: usize = max_payload(MAX_FRAME);

/// The largest data chunk of [`Request::SendInput`], [`Request::ReadOutput`] and [`Request::UploadChunk`].
pub const MAX_CHUNK: usize = 1024;

/// The largest payload `p` with `cobs::max_encoded_len(p) + 1 ≤ frame`.
const fn max_payload(frame: usize) -> usize {
    let mut p = frame;
    while p > 0 && cobs::max_encoded_len(p) + 1 > frame {
        p -= 1;
    }
    p
}

// A full chunk request (tag, variant, offset, length, data, CRC) must fit a frame.
const _: () = assert!(3 + 1 + 5 + 2 + MAX_CHUNK + 4 <= MAX_PAYLOAD);
