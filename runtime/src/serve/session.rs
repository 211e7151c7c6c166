//! One session of the command loop: the model of the active slot loaded once, requests answered one by one
//! until a reboot, the end of the stream, or a complete upload to verify and commit.

use embedded_io::{Read, Write};

use super::storage::SlotWriter;
use super::{send, Rx};
use crate::backend::{Backend, Inference};
use crate::bundle::layout::{crc32, PREAMBLE_LEN};
use crate::bundle::Bundle;
use crate::protocol::{
    frame, AccelStats, ErrorCode, Feed, Info, LayerStats, ModelInfo, Request, Response, Slot, Stats, TaskEntry,
    MAX_CHUNK, MAX_FRAME, NO_TAG, PROTOCOL_VERSION,
};
use crate::Error;

/// How a session ended.
pub(super) enum Ending {
    /// Reboot requested (and answered).
    Reboot,
    /// End of stream.
    Disconnected,
    /// A complete upload awaits verification; `tag` is the commit request's.
    Commit { tag: u16, len: usize, crc: u32 },
}

/// The active model, loaded.
struct Model<'m, L> {
    bundle: Bundle<'m>,
    slot: Slot,
    fingerprint: u32,
    engine: L,
}

/// An upload in progress.
struct Upload {
    len: usize,
    crc: u32,
    next: usize,
}

/// A failed request: the error code and its detail number.
type Fail = (ErrorCode, u32);

/// Session state: everything a warm reboot forgets.
pub(super) struct Session<'m, W, B: Backend + 'm> {
    model: Option<Model<'m, B::Loaded<'m>>>,
    active: Option<Slot>,
    writer: &'m mut W,
    input: &'m mut [f32],
    output: &'m mut [f32],
    backend_name: &'static str,
    pub(super) firmware: &'static str,
    pub(super) clock: Option<fn() -> u64>,
    input_filled: usize,
    ran: Option<(u32, usize)>,
    micros: Option<u32>,
    upload: Option<Upload>,
}

/// The model's fingerprint: CRC-32 of the preamble, which holds the CRCs of every section.
pub(super) fn fingerprint(bundle: &Bundle<'_>) -> u32 {
    crc32(bundle.bytes().get(..PREAMBLE_LEN).unwrap_or_default())
}

/// Checks that the staging buffers hold the model's input and its largest output.
pub(super) fn staging_fits(bundle: &Bundle<'_>, input: usize, output: usize) -> Result<(), Fail> {
    let h = bundle.hyper();
    // In u64: a bundle may declare sizes that overflow a 32-bit usize.
    let plane = u64::from(h.image_h) * u64::from(h.image_w);
    let (needed_in, needed_out) = (3 * plane, u64::from(bundle.max_out_channels()) * plane);
    if needed_in > input as u64 || needed_out > output as u64 {
        let needed = u32::try_from(needed_in.max(needed_out)).unwrap_or(u32::MAX);
        return Err((ErrorCode::ModelTooLarge, needed));
    }
    Ok(())
}

impl<'m, W: SlotWriter, B: Backend + 'm> Session<'m, W, B> {
    /// A session over the active slot's bytes `model` (when a slot is active). A slot that does not parse,
    /// load or fit the staging buffers leaves the session without a model (it still serves uploads).
    pub(super) fn new(
        model: Option<(Slot, &'m [u8])>,
        writer: &'m mut W,
        backend: &'m mut B,
        input: &'m mut [f32],
        output: &'m mut [f32],
    ) -> Self {
        let backend_name = backend.name();
        let active = model.map(|(slot, _)| slot);
        let loaded = model.and_then(|(slot, bytes)| {
            let bundle = Bundle::parse(bytes).ok()?;
            staging_fits(&bundle, input.len(), output.len()).ok()?;
            let engine = backend.load(bundle).ok()?;
            Some(Model { bundle, slot, fingerprint: fingerprint(&bundle), engine })
        });
        Self {
            model: loaded,
            active,
            writer,
            input,
            output,
            backend_name,
            firmware: "",
            clock: None,
            input_filled: 0,
            ran: None,
            micros: None,
            upload: None,
        }
    }

    /// Serves until the session ends.
    pub(super) fn serve<IO: Read + Write>(&mut self, io: &mut IO, rx: &mut Rx) -> Result<Ending, IO::Error> {
        loop {
            if rx.pos >= rx.len {
                let n = io.read(&mut rx.chunk)?;
                if n == 0 {
                    return Ok(Ending::Disconnected);
                }
                (rx.pos, rx.len) = (0, n);
            }
            let Some(&byte) = rx.chunk.get(rx.pos) else { continue };
            rx.pos += 1;
            match rx.deframer.push(byte) {
                Feed::Pending => {}
                Feed::TooLong => {
                    let detail = MAX_FRAME as u32;
                    send(io, NO_TAG, &Response::Error { code: ErrorCode::FrameTooLong, detail })?;
                }
                Feed::Frame(_) => {
                    let mut data = [0u8; MAX_CHUNK];
                    let (tag, outcome) = self.handle(rx.deframer.frame(), &mut data);
                    match outcome {
                        Outcome::Reply(r) => send(io, tag, &r)?,
                        Outcome::Fail((code, detail)) => send(io, tag, &Response::Error { code, detail })?,
                        Outcome::End(Ending::Reboot) => {
                            send(io, tag, &Response::Rebooting)?;
                            return Ok(Ending::Reboot);
                        }
                        Outcome::End(Ending::Commit { len, crc, .. }) => return Ok(Ending::Commit { tag, len, crc }),
                        Outcome::End(ending) => return Ok(ending),
                    }
                }
            }
        }
    }

    /// Decodes one frame and carries out its request.
    fn handle<'s>(&'s mut self, raw: &mut [u8], data: &'s mut [u8; MAX_CHUNK]) -> (u16, Outcome<'s>) {
        let payload = match frame::open(raw) {
            Ok(p) => p,
            Err(Error::CrcMismatch { .. }) => return (NO_TAG, Outcome::Fail((ErrorCode::BadCrc, 0))),
            Err(_) => return (NO_TAG, Outcome::Fail((ErrorCode::BadFrame, 0))),
        };
        let (tag, request) = match frame::parse::<Request<'_>>(payload) {
            Ok(v) => v,
            Err(_) => return (frame::tag_of(payload).unwrap_or(NO_TAG), Outcome::Fail((ErrorCode::UnknownCommand, 0))),
        };
        let outcome = match self.dispatch(request, data) {
            Ok(o) => o,
            Err(fail) => Outcome::Fail(fail),
        };
        (tag, outcome)
    }

    fn dispatch<'s>(&'s mut self, request: Request<'_>, data: &'s mut [u8; MAX_CHUNK]) -> Result<Outcome<'s>, Fail> {
        let reply = match request {
            Request::Hello { protocol } if protocol != PROTOCOL_VERSION => {
                return Err((ErrorCode::VersionMismatch, u32::from(PROTOCOL_VERSION)))
            }
            Request::Hello { .. } | Request::Info => Response::Info(self.info()),
            Request::ListTasks => self.tasks()?,
            Request::SelectTask { index } => self.select(Some(index), "")?,
            Request::SelectTaskByName { name } => self.select(None, name)?,
            Request::SendInput { offset, data } => self.send_input(offset as usize, data)?,
            Request::Run => self.run()?,
            Request::ReadOutput { offset, len } => return self.read_output(offset as usize, len as usize, data),
            Request::Stats => self.stats()?,
            Request::UploadBegin { len, crc } => self.upload_begin(len as usize, crc)?,
            Request::UploadChunk { offset, data } => self.upload_chunk(offset as usize, data)?,
            Request::UploadCommit => return self.upload_commit(),
            Request::Reboot => return Ok(Outcome::End(Ending::Reboot)),
        };
        Ok(Outcome::Reply(reply))
    }

    fn model(&mut self) -> Result<&mut Model<'m, B::Loaded<'m>>, Fail> {
        self.model.as_mut().ok_or((ErrorCode::NoModel, 0))
    }

    fn info(&self) -> Info<'static> {
        let model = self.model.as_ref().map(|m| ModelInfo {
            slot: m.slot,
            bytes: m.bundle.total_bytes() as u32,
            fingerprint: m.fingerprint,
            tasks: m.bundle.task_count(),
            task: m.engine.task(),
            image_h: m.bundle.hyper().image_h,
            image_w: m.bundle.hyper().image_w,
        });
        let serving = self.model.as_ref().and_then(|m| m.engine.serving());
        let fallback = self.model.as_ref().and_then(|m| m.engine.fallback_reason()).map(|e| ErrorCode::of(&e));
        let backend = serving.unwrap_or(self.backend_name);
        Info { protocol: PROTOCOL_VERSION, firmware: self.firmware, backend, model, fallback }
    }

    fn tasks(&mut self) -> Result<Response<'m>, Fail> {
        let m = self.model()?;
        let mut tasks = heapless::Vec::new();
        for t in m.bundle.tasks() {
            let entry = TaskEntry { name: t.name, channels: t.out_channels, post: t.post as u8 };
            tasks.push(entry).map_err(|_| (ErrorCode::RunFailed, 0))?;
        }
        Ok(Response::Tasks { selected: m.engine.task(), tasks })
    }

    fn select(&mut self, index: Option<u32>, name: &str) -> Result<Response<'static>, Fail> {
        let m = self.model()?;
        let tasks = m.bundle.task_count();
        let index = match index {
            Some(i) => i,
            None => m.bundle.task_index(name).map_err(|_| (ErrorCode::UnknownTask, tasks))?,
        };
        m.engine.select_task(index).map_err(|_| (ErrorCode::UnknownTask, tasks))?;
        let output_len = m.engine.output_len().map_err(|_| (ErrorCode::UnknownTask, tasks))? as u32;
        Ok(Response::TaskSelected { index, output_len })
    }

    fn send_input(&mut self, offset: usize, bytes: &[u8]) -> Result<Response<'static>, Fail> {
        let total = self.model()?.engine.input_len() * 4;
        let end = offset.checked_add(bytes.len()).filter(|&e| e <= total);
        let Some(end) = end.filter(|_| offset.is_multiple_of(4) && bytes.len().is_multiple_of(4)) else {
            return Err((ErrorCode::BadSize, total as u32));
        };
        if offset > self.input_filled {
            return Err((ErrorCode::OutOfOrder, self.input_filled as u32));
        }
        let dst = self.input.get_mut(offset / 4..end / 4).ok_or((ErrorCode::BadSize, total as u32))?;
        for (v, b) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
            if let &[b0, b1, b2, b3] = b {
                *v = f32::from_le_bytes([b0, b1, b2, b3]);
            }
        }
        self.input_filled = self.input_filled.max(end);
        Ok(Response::InputStored { next: self.input_filled as u32 })
    }

    fn run(&mut self) -> Result<Response<'static>, Fail> {
        let filled = self.input_filled;
        let clock = self.clock;
        let m = self.model.as_mut().ok_or((ErrorCode::NoModel, 0))?;
        let in_len = m.engine.input_len();
        if filled != in_len * 4 {
            return Err((ErrorCode::InputIncomplete, filled as u32));
        }
        let out_len = m.engine.output_len().map_err(|_| (ErrorCode::RunFailed, 0))?;
        let input = self.input.get(..in_len).ok_or((ErrorCode::ModelTooLarge, in_len as u32))?;
        let output = self.output.get_mut(..out_len).ok_or((ErrorCode::ModelTooLarge, out_len as u32))?;
        self.ran = None;
        let start = clock.map(|now| now());
        m.engine.run(input, output).map_err(|e| {
            let f = ErrorCode::of(&e);
            (f.code, f.detail)
        })?;
        self.micros = clock.zip(start).map(|(now, t0)| u32::try_from(now().saturating_sub(t0)).unwrap_or(u32::MAX));
        let task = m.engine.task();
        self.ran = Some((task, out_len));
        Ok(Response::Ran { task, output_len: out_len as u32, micros: self.micros })
    }

    fn read_output<'s>(
        &'s self,
        offset: usize,
        len: usize,
        data: &'s mut [u8; MAX_CHUNK],
    ) -> Result<Outcome<'s>, Fail> {
        let (_, out_len) = self.ran.ok_or((ErrorCode::NoOutput, 0))?;
        let total = out_len * 4;
        if !offset.is_multiple_of(4) || !len.is_multiple_of(4) || len > MAX_CHUNK || offset > total {
            return Err((ErrorCode::BadSize, total as u32));
        }
        let n = len.min(total - offset);
        let values = self.output.get(offset / 4..(offset + n) / 4).ok_or((ErrorCode::BadSize, total as u32))?;
        for (b, v) in data.chunks_exact_mut(4).zip(values) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        Ok(Outcome::Reply(Response::Output { offset: offset as u32, data: data.get(..n).unwrap_or_default() }))
    }

    fn stats(&mut self) -> Result<Response<'static>, Fail> {
        let (task, _) = self.ran.ok_or((ErrorCode::NoOutput, 0))?;
        let micros = self.micros;
        let m = self.model()?;
        let c = m.engine.counters();
        let depth = m.bundle.hyper().depth as usize;
        let mut layers = heapless::Vec::new();
        for (&experts_read, &expert_loads) in c.experts_read.iter().zip(&c.expert_loads).take(depth) {
            layers.push(LayerStats { experts_read, expert_loads }).map_err(|_| (ErrorCode::RunFailed, 0))?;
        }
        let accel = c.accel.map(|a| AccelStats { expert_loads: a.expert_loads, weight_kib: a.weight_kib });
        Ok(Response::Stats(Stats { runs: c.runs, task, expert_bytes: c.expert_bytes, micros, layers, accel }))
    }

    fn upload_begin(&mut self, len: usize, crc: u32) -> Result<Response<'static>, Fail> {
        self.upload = None;
        let capacity = self.writer.capacity();
        if len > capacity {
            return Err((ErrorCode::UploadTooLarge, capacity as u32));
        }
        self.writer.begin(len).map_err(|_| (ErrorCode::Storage, 0))?;
        self.upload = Some(Upload { len, crc, next: 0 });
        let slot = self.active.map_or(Slot::A, Slot::other);
        Ok(Response::UploadReady { slot, len: len as u32 })
    }

    fn upload_chunk(&mut self, offset: usize, bytes: &[u8]) -> Result<Response<'static>, Fail> {
        let up = self.upload.as_mut().ok_or((ErrorCode::UploadNotStarted, 0))?;
        if offset > up.next {
            return Err((ErrorCode::OutOfOrder, up.next as u32));
        }
        let Some(end) = offset.checked_add(bytes.len()).filter(|&e| e <= up.len) else {
            return Err((ErrorCode::BadSize, up.len as u32));
        };
        self.writer.write(offset, bytes).map_err(|_| (ErrorCode::Storage, 0))?;
        up.next = up.next.max(end);
        Ok(Response::UploadProgress { next: up.next as u32 })
    }

    fn upload_commit(&mut self) -> Result<Outcome<'static>, Fail> {
        let up = self.upload.as_ref().ok_or((ErrorCode::UploadNotStarted, 0))?;
        if up.next != up.len {
            return Err((ErrorCode::UploadIncomplete, up.next as u32));
        }
        let (len, crc) = (up.len, up.crc);
        self.upload = None;
        // `serve` puts the request's tag in.
        Ok(Outcome::End(Ending::Commit { tag: NO_TAG, len, crc }))
    }
}

/// What a request leads to.
#[allow(clippy::large_enum_variant)] // No heap to box into; one lives on the stack at a time.
enum Outcome<'s> {
    /// Answer with this response.
    Reply(Response<'s>),
    /// Answer with an error.
    Fail(Fail),
    /// End the session.
    End(Ending),
}
