//! The host side of the serial protocol: one request at a time, each answered by the response with the
//! same tag; damaged exchanges are retried.

use std::fmt;
use std::io::{ErrorKind, Read, Write};

use anyhow::{anyhow, bail, Result};
use m3rt::protocol::{
    frame, Deframer, ErrorCode, Feed, ModelInfo, Request, Response, Slot, Stats, MAX_CHUNK, MAX_FRAME, NO_TAG,
    PROTOCOL_VERSION,
};

/// An error response from the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardError {
    /// The error code.
    pub code: ErrorCode,
    /// Its detail number.
    pub detail: u32,
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.detail;
        match self.code {
            ErrorCode::UnknownTask => write!(f, "the board's model has no such task (it has tasks 0..{d})"),
            ErrorCode::NoModel => write!(f, "the board has no model: flash one with `m3rt flash`"),
            ErrorCode::BadSize => write!(f, "the board refused the size or offset (the limit is {d} bytes)"),
            ErrorCode::UploadBadCrc => write!(f, "the uploaded bytes arrived corrupted (board CRC {d:#010x})"),
            ErrorCode::BadBundle => write!(f, "the board found the uploaded bundle invalid"),
            ErrorCode::ModelTooLarge => write!(f, "the model needs more memory than the board has"),
            ErrorCode::AccelTimeout => write!(f, "the board's accelerator timed out (no ap_done after {d} µs)"),
            ErrorCode::BusFault => write!(f, "the board's accelerator bus faulted (at offset {d:#x})"),
            ErrorCode::AccelStatus => match m3rt::accel::Status::from_u32(d) {
                Some(s) => write!(f, "the board's accelerator refused the run: {} ({})", s.name(), s.doc()),
                None => write!(f, "the board's accelerator refused the run with unknown status {d}"),
            },
            ErrorCode::AccelBusy => write!(f, "the board's accelerator is still busy with an earlier run"),
            ErrorCode::AccelProtocol => write!(f, "the board's accelerator broke its control protocol"),
            ErrorCode::Unsupported => write!(f, "the board's backend cannot run this model (precision or head)"),
            code => write!(f, "the board answered {code:?} (detail {d})"),
        }
    }
}

impl std::error::Error for BoardError {}

/// Who the board is ([`m3rt::protocol::Info`], owned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardInfo {
    /// Protocol version.
    pub protocol: u16,
    /// Firmware name and version.
    pub firmware: String,
    /// Inference backend.
    pub backend: String,
    /// The active model.
    pub model: Option<ModelInfo>,
    /// Why a fallback serves instead of the board's own backend (`backend` is then the fallback's).
    pub fallback: Option<BoardError>,
}

/// One task of the board's model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardTask {
    /// Name.
    pub name: String,
    /// Output channels.
    pub channels: u32,
    /// Post-processing code (`m3rt::model::PostProcess`).
    pub post: u8,
}

/// Result of a run on the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// The task that ran.
    pub task: u32,
    /// Output size in f32 values.
    pub output_len: u32,
    /// The board's own measurement of the run, when it has a clock.
    pub micros: Option<u32>,
}

/// A protocol client over any byte stream with a read timeout.
pub struct Client<T> {
    io: T,
    tag: u16,
    deframer: Deframer,
    chunk: Vec<u8>,
    pos: usize,
    len: usize,
    /// How often a request is sent again when its exchange was damaged or timed out.
    pub retries: u32,
    /// Damaged frames seen (ours or the board's), for reports.
    pub damaged: u64,
}

impl<T: Read + Write> Client<T> {
    /// A client over `io` (which should have a read timeout, or a lost frame blocks forever).
    pub fn new(io: T) -> Self {
        Self { io, tag: 0, deframer: Deframer::new(), chunk: vec![0; 4096], pos: 0, len: 0, retries: 3, damaged: 0 }
    }

    /// The byte stream (tests write raw bytes through it).
    pub fn io_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// The next tag, never [`NO_TAG`].
    fn next_tag(&mut self) -> u16 {
        self.tag = self.tag.checked_add(1).unwrap_or(1);
        self.tag
    }

    /// Sends `request` and returns the response with its tag, resending on damage or timeout.
    pub fn call(&mut self, request: &Request<'_>) -> Result<Response<'_>> {
        let tag = self.next_tag();
        let mut out = [0u8; MAX_FRAME];
        let n = frame::encode(tag, request, &mut out)?;
        let mut attempt = 0;
        let got = loop {
            self.io.write_all(&out[..n])?;
            self.io.flush()?;
            match self.wait_for(tag)? {
                Some(len) => break len,
                None if attempt < self.retries => attempt += 1,
                None => bail!("no valid answer to {request:?} after {} attempts", attempt + 1),
            }
        };
        let frame = &mut self.deframer.frame()[..got];
        let (_, response) = frame::decode::<Response<'_>>(frame)?;
        match response {
            Response::Error { code, detail } => Err(BoardError { code, detail }.into()),
            r => Ok(r),
        }
    }

    /// Reads frames until one answers `tag` (returns its length, left in the deframer), or until the
    /// exchange is known lost: a timeout, or a no-tag error meaning our request arrived damaged.
    fn wait_for(&mut self, tag: u16) -> Result<Option<usize>> {
        while let Some(n) = self.next_frame()? {
            let mut copy = self.deframer.frame().to_vec();
            let decoded =
                frame::decode::<Response<'_>>(&mut copy).map(|(t, r)| (t, matches!(r, Response::Error { .. })));
            match decoded {
                Ok((t, _)) if t == tag => return Ok(Some(n)),
                Ok((NO_TAG, true)) => {
                    self.damaged += 1;
                    return Ok(None);
                }
                // An answer to an earlier attempt of ours, or a damaged response: keep reading.
                Ok(_) => {}
                Err(_) => self.damaged += 1,
            }
        }
        Ok(None)
    }

    /// Reads up to the next frame (its length; the bytes stay in the deframer), or `None` on a timeout.
    fn next_frame(&mut self) -> Result<Option<usize>> {
        loop {
            if self.pos >= self.len {
                match self.io.read(&mut self.chunk) {
                    Ok(0) => bail!("the board closed the link"),
                    Ok(n) => (self.pos, self.len) = (0, n),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Ok(None),
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let byte = self.chunk[self.pos];
            self.pos += 1;
            if let Feed::Frame(n) = self.deframer.push(byte) {
                return Ok(Some(n));
            }
        }
    }

    /// Writes raw bytes to the link (for tests and tools that craft frames).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.io.write_all(bytes)?;
        Ok(self.io.flush()?)
    }

    /// Reads the next frame that decodes and returns its tag and error code, if it is an error response
    /// (`None` for any other response). Fails on a timeout.
    pub fn next_error(&mut self) -> Result<Option<(u16, ErrorCode, u32)>> {
        loop {
            if self.next_frame()?.is_none() {
                bail!("timed out waiting for a response");
            }
            match frame::decode::<Response<'_>>(self.deframer.frame()) {
                Ok((tag, Response::Error { code, detail })) => return Ok(Some((tag, code, detail))),
                Ok(_) => return Ok(None),
                Err(_) => self.damaged += 1,
            }
        }
    }

    /// Hello: checks the protocol version; returns the board's info.
    pub fn hello(&mut self) -> Result<BoardInfo> {
        // A lone delimiter first ends any partial frame left on the line.
        self.io.write_all(&[0])?;
        match self.call(&Request::Hello { protocol: PROTOCOL_VERSION }) {
            Ok(Response::Info(i)) => Ok(owned_info(i)),
            Ok(other) => Err(unexpected(&other)),
            Err(e) => match e.downcast_ref::<BoardError>() {
                Some(b) if b.code == ErrorCode::VersionMismatch => {
                    bail!("the board speaks protocol {} and this host {}", b.detail, PROTOCOL_VERSION)
                }
                _ => Err(e),
            },
        }
    }

    /// The board's info.
    pub fn info(&mut self) -> Result<BoardInfo> {
        match self.call(&Request::Info)? {
            Response::Info(i) => Ok(owned_info(i)),
            other => Err(unexpected(&other)),
        }
    }

    /// The tasks and the selected one.
    pub fn tasks(&mut self) -> Result<(Vec<BoardTask>, u32)> {
        match self.call(&Request::ListTasks)? {
            Response::Tasks { selected, tasks } => Ok((
                tasks.iter().map(|t| BoardTask { name: t.name.into(), channels: t.channels, post: t.post }).collect(),
                selected,
            )),
            other => Err(unexpected(&other)),
        }
    }

    /// Selects a task by name, or by index when `task` is a number; returns the index and output length.
    pub fn select(&mut self, task: &str) -> Result<(u32, u32)> {
        let request = match task.parse::<u32>() {
            Ok(index) => Request::SelectTask { index },
            Err(_) => Request::SelectTaskByName { name: task },
        };
        match self.call(&request)? {
            Response::TaskSelected { index, output_len } => Ok((index, output_len)),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends the whole input `[3, H, W]` in chunks.
    pub fn send_input(&mut self, input: &[f32]) -> Result<()> {
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        for (i, chunk) in bytes.chunks(MAX_CHUNK).enumerate() {
            let offset = u32::try_from(i * MAX_CHUNK)?;
            match self.call(&Request::SendInput { offset, data: chunk })? {
                Response::InputStored { .. } => {}
                other => return Err(unexpected(&other)),
            }
        }
        Ok(())
    }

    /// Runs the selected task on the input sent.
    pub fn run(&mut self) -> Result<RunReport> {
        match self.call(&Request::Run)? {
            Response::Ran { task, output_len, micros } => Ok(RunReport { task, output_len, micros }),
            other => Err(unexpected(&other)),
        }
    }

    /// Reads the last run's output (`len` f32 values) in chunks.
    pub fn read_output(&mut self, len: usize) -> Result<Vec<f32>> {
        let total = len * 4;
        let mut bytes = Vec::with_capacity(total);
        while bytes.len() < total {
            let want = (total - bytes.len()).min(MAX_CHUNK) as u16;
            let offset = u32::try_from(bytes.len())?;
            match self.call(&Request::ReadOutput { offset, len: want })? {
                Response::Output { offset: o, data } if o == offset && !data.is_empty() => {
                    bytes.extend_from_slice(data)
                }
                other => return Err(unexpected(&other)),
            }
        }
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    /// Sends `input`, runs the selected task, reads the output.
    pub fn infer(&mut self, input: &[f32]) -> Result<(Vec<f32>, RunReport)> {
        self.send_input(input)?;
        let report = self.run()?;
        Ok((self.read_output(report.output_len as usize)?, report))
    }

    /// Counters of the last run.
    pub fn stats(&mut self) -> Result<Stats> {
        match self.call(&Request::Stats)? {
            Response::Stats(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// Uploads `bundle` into the inactive slot and commits it; `progress` gets the bytes sent so far.
    /// Returns the new active slot and the model's fingerprint.
    pub fn upload(&mut self, bundle: &[u8], mut progress: impl FnMut(usize)) -> Result<(Slot, u32)> {
        let len = u32::try_from(bundle.len()).map_err(|_| anyhow!("bundle larger than 4 GiB"))?;
        let crc = m3rt::bundle::layout::crc32(bundle);
        match self.call(&Request::UploadBegin { len, crc })? {
            Response::UploadReady { .. } => {}
            other => return Err(unexpected(&other)),
        }
        self.upload_chunks(bundle, 0, bundle.len(), &mut progress)?;
        match self.call(&Request::UploadCommit)? {
            Response::UploadCommitted { slot, fingerprint } => Ok((slot, fingerprint)),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends the chunks of `bundle[from..to]` (an upload must have begun).
    pub fn upload_chunks(
        &mut self,
        bundle: &[u8],
        from: usize,
        to: usize,
        progress: &mut impl FnMut(usize),
    ) -> Result<()> {
        let mut at = from;
        while at < to {
            let end = (at + MAX_CHUNK).min(to);
            let offset = u32::try_from(at)?;
            match self.call(&Request::UploadChunk { offset, data: &bundle[at..end] })? {
                Response::UploadProgress { .. } => {}
                other => return Err(unexpected(&other)),
            }
            at = end;
            progress(at);
        }
        Ok(())
    }

    /// Asks for a warm reboot (answered before the board restarts).
    pub fn reboot(&mut self) -> Result<()> {
        match self.call(&Request::Reboot)? {
            Response::Rebooting => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

fn owned_info(i: m3rt::protocol::Info<'_>) -> BoardInfo {
    BoardInfo {
        protocol: i.protocol,
        firmware: i.firmware.into(),
        backend: i.backend.into(),
        model: i.model,
        fallback: i.fallback.map(|f| BoardError { code: f.code, detail: f.detail }),
    }
}

fn unexpected(r: &Response<'_>) -> anyhow::Error {
    anyhow!("unexpected response from the board: {r:?}")
}
