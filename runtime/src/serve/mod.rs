//! The firmware command loop, the same on every board and on the host: reads request frames from any
//! `embedded_io` byte stream, answers each with one response frame, runs the model on a [`Backend`], and
//! uploads new models into the inactive slot of a [`ModelStorage`].
//!
//! ```text
//! let mut server = Server::new(uart, storage, CpuBackend::new(scratch), input, output, "zcu104 0.1.0");
//! loop {
//!     match server.run()? {
//!         Stopped::Reboot => {}        // warm reboot: the next run() reloads the active slot
//!         Stopped::Disconnected => {}  // end of stream (host side); a UART never ends
//!     }
//! }
//! ```
//! Nothing allocates: the receive buffer (one frame, 1.3 KiB) lives in the `Server`, the transmit and data
//! buffers (about 3.6 KiB) on the stack while a request is answered; the scratch and the input/output
//! staging slices are the caller's. Damaged frames get an error response and the loop goes
//! on; a model upload only changes the active slot once it is complete and verified.

mod session;
mod storage;

pub use storage::{ActiveMarker, ModelStorage, SliceSlot, SliceStorage, SlotWriter};

use embedded_io::{Read, Write};

use crate::backend::Backend;
use crate::bundle::layout::crc32;
use crate::bundle::Bundle;
use crate::protocol::{frame, Deframer, ErrorCode, Response, MAX_FRAME};
use session::{Ending, Session};

/// Why [`Server::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The host asked for a warm reboot (already answered): reset the board, or call `run` again.
    Reboot,
    /// The byte stream ended (a host-side socket closed).
    Disconnected,
}

/// The command loop over a byte stream `io`, model storage `storage` and an inference `backend`.
pub struct Server<'x, IO, S, B> {
    io: IO,
    storage: S,
    backend: B,
    input: &'x mut [f32],
    output: &'x mut [f32],
    firmware: &'static str,
    clock: Option<fn() -> u64>,
    rx: Rx,
}

/// Bytes read from the stream but not yet fed to the deframer, kept across sessions and warm reboots (bytes
/// that followed a reboot request are not lost).
struct Rx {
    chunk: [u8; 64],
    pos: usize,
    len: usize,
    deframer: Deframer,
}

impl<'x, IO: Read + Write, S: ModelStorage, B: Backend> Server<'x, IO, S, B> {
    /// A server. `input` and `output` stage the model's input and output (at least the model's input size
    /// and largest task output, in f32 values); `firmware` is reported by the hello exchange.
    pub fn new(
        io: IO,
        storage: S,
        backend: B,
        input: &'x mut [f32],
        output: &'x mut [f32],
        firmware: &'static str,
    ) -> Self {
        let rx = Rx { chunk: [0; 64], pos: 0, len: 0, deframer: Deframer::new() };
        Self { io, storage, backend, input, output, firmware, clock: None, rx }
    }

    /// Adds a microsecond clock: runs then report their time.
    pub fn with_clock(mut self, micros: fn() -> u64) -> Self {
        self.clock = Some(micros);
        self
    }

    /// The model storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The byte stream, e.g. to replace a closed connection.
    pub fn io_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// Serves requests until a reboot request or the end of the stream. Each call starts as after a warm
    /// reboot: the active slot's model is parsed and loaded afresh, task 0 selected, nothing staged (bytes
    /// already received are kept).
    pub fn run(&mut self) -> Result<Stopped, IO::Error> {
        loop {
            let ending = {
                let slot = self.storage.active();
                let (active, writer) = self.storage.split();
                let model = slot.zip(active);
                let mut session = Session::new(model, writer, &mut self.backend, self.input, self.output);
                session.firmware = self.firmware;
                session.clock = self.clock;
                session.serve(&mut self.io, &mut self.rx)?
            };
            match ending {
                Ending::Reboot => return Ok(Stopped::Reboot),
                Ending::Disconnected => return Ok(Stopped::Disconnected),
                Ending::Commit { tag, len, crc } => {
                    let response = match self.verify_and_commit(len, crc) {
                        Ok(response) => response,
                        Err((code, detail)) => Response::Error { code, detail },
                    };
                    send(&mut self.io, tag, &response)?;
                }
            }
        }
    }

    /// Checks the uploaded bytes (CRC, full bundle parse, fits the backend and the staging buffers) and
    /// switches the active slot.
    fn verify_and_commit(&mut self, len: usize, crc: u32) -> Result<Response<'static>, (ErrorCode, u32)> {
        let (_, writer) = self.storage.split();
        let bytes = writer.written();
        if bytes.len() != len {
            return Err((ErrorCode::UploadIncomplete, bytes.len() as u32));
        }
        let computed = crc32(bytes);
        if computed != crc {
            return Err((ErrorCode::UploadBadCrc, computed));
        }
        let bundle = Bundle::parse(bytes).map_err(|_| (ErrorCode::BadBundle, 0))?;
        self.backend.fits(&bundle).map_err(|_| (ErrorCode::ModelTooLarge, 0))?;
        session::staging_fits(&bundle, self.input.len(), self.output.len())?;
        let fingerprint = session::fingerprint(&bundle);
        self.storage.commit(len).map_err(|_| (ErrorCode::Storage, 0))?;
        let slot = self.storage.active().ok_or((ErrorCode::Storage, 0))?;
        Ok(Response::UploadCommitted { slot, fingerprint })
    }
}

/// Encodes and writes one response frame.
fn send<IO: Write>(io: &mut IO, tag: u16, response: &Response<'_>) -> Result<(), IO::Error> {
    let mut tx = [0u8; MAX_FRAME];
    let n = match frame::encode(tag, response, &mut tx) {
        Ok(n) => n,
        // Only a response longer than a frame fails here, which the message sizes rule out; say so on the
        // wire rather than staying silent.
        Err(_) => {
            frame::encode(tag, &Response::Error { code: ErrorCode::FrameTooLong, detail: MAX_FRAME as u32 }, &mut tx)
                .unwrap_or(0)
        }
    };
    io.write_all(tx.get(..n).unwrap_or_default())?;
    io.flush()
}
