//! The messages: every request a host sends and every response a board returns. Variant order is the wire
//! encoding (postcard writes the variant index as a varint): new variants are only ever appended.

use serde::{Deserialize, Serialize};

use crate::model::{MAX_DEPTH, MAX_TASKS};

/// A host's request to a board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// Opens a session: the host's protocol version. Answered with [`Response::Info`], or with
    /// [`ErrorCode::VersionMismatch`] (detail: the board's version).
    Hello {
        /// The host's [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
        protocol: u16,
    },
    /// Asks for [`Response::Info`].
    Info,
    /// Asks for [`Response::Tasks`].
    ListTasks,
    /// Selects the task the next runs compute, by index. Answered with [`Response::TaskSelected`].
    SelectTask {
        /// Task index.
        index: u32,
    },
    /// Selects the task by name. Answered with [`Response::TaskSelected`].
    SelectTaskByName {
        /// Task name, as in the model's config.
        #[serde(borrow)]
        name: &'a str,
    },
    /// Stores part of the input image `[3, H, W]` as f32 little-endian bytes. `offset` is in bytes, a multiple
    /// of 4 and at most the bytes already received (chunks arrive in order; re-sending one is harmless).
    SendInput {
        /// Byte offset into the input.
        offset: u32,
        /// f32 LE values, a multiple of 4 bytes, at most [`MAX_CHUNK`](super::MAX_CHUNK).
        #[serde(borrow)]
        data: &'a [u8],
    },
    /// Runs the selected task on the complete input. Answered with [`Response::Ran`].
    Run,
    /// Reads part of the last run's output `[C, H, W]` as f32 LE bytes. Answered with [`Response::Output`].
    ReadOutput {
        /// Byte offset into the output, a multiple of 4.
        offset: u32,
        /// Bytes wanted, a multiple of 4, at most [`MAX_CHUNK`](super::MAX_CHUNK) (fewer come back at the end).
        len: u16,
    },
    /// Asks for [`Response::Stats`] of the last run.
    Stats,
    /// Starts a model upload into the inactive slot. Answered with [`Response::UploadReady`].
    UploadBegin {
        /// Bundle size in bytes.
        len: u32,
        /// CRC-32 (ISO-HDLC) of the whole bundle.
        crc: u32,
    },
    /// Writes part of the bundle being uploaded (in order; re-sending a chunk is harmless).
    /// Answered with [`Response::UploadProgress`].
    UploadChunk {
        /// Byte offset into the bundle.
        offset: u32,
        /// Bundle bytes, at most [`MAX_CHUNK`](super::MAX_CHUNK).
        #[serde(borrow)]
        data: &'a [u8],
    },
    /// Verifies the uploaded bundle (length, CRC, full parse, fits the board) and makes its slot the active
    /// one. Answered with [`Response::UploadCommitted`].
    UploadCommit,
    /// Warm reboot: answered with [`Response::Rebooting`], then the board restarts with the active slot.
    Reboot,
}

/// A board's response. Each carries the tag of the request it answers (see [`frame`](super::frame)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // No heap to box into on a board; one response lives at a time.
pub enum Response<'a> {
    /// Who the board is and what it runs.
    #[serde(borrow)]
    Info(Info<'a>),
    /// The model's tasks.
    Tasks {
        /// The selected task's index.
        selected: u32,
        /// Every task in index order.
        #[serde(borrow)]
        tasks: heapless::Vec<TaskEntry<'a>, MAX_TASKS>,
    },
    /// A task was selected.
    TaskSelected {
        /// Its index.
        index: u32,
        /// Its output size in f32 values.
        output_len: u32,
    },
    /// Input bytes were stored.
    InputStored {
        /// Input bytes received so far (the next offset to send).
        next: u32,
    },
    /// A run finished; its output can be read.
    Ran {
        /// The task that ran.
        task: u32,
        /// Output size in f32 values.
        output_len: u32,
        /// Run time in microseconds, when the board has a clock.
        micros: Option<u32>,
    },
    /// Part of the output.
    Output {
        /// Byte offset of `data` in the output.
        offset: u32,
        /// f32 LE values.
        #[serde(borrow)]
        data: &'a [u8],
    },
    /// Counters of the last run.
    Stats(Stats),
    /// An upload was started.
    UploadReady {
        /// The slot being written (the inactive one).
        slot: Slot,
        /// Bundle size announced.
        len: u32,
    },
    /// Upload bytes were stored.
    UploadProgress {
        /// Bytes received so far (the next offset to send).
        next: u32,
    },
    /// The upload was verified and its slot is now the active one.
    UploadCommitted {
        /// The new active slot.
        slot: Slot,
        /// The new model's fingerprint (see [`ModelInfo::fingerprint`]).
        fingerprint: u32,
    },
    /// The board restarts after this response.
    Rebooting,
    /// The request failed; nothing changed on the board.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// A number that helps: expected size, expected offset, computed CRC, ... (see [`ErrorCode`]).
        detail: u32,
    },
}

/// One of the two model slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slot {
    /// Slot A.
    A,
    /// Slot B.
    B,
}

impl Slot {
    /// The other slot.
    pub const fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

/// Answer to [`Request::Hello`] and [`Request::Info`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info<'a> {
    /// The board's [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
    pub protocol: u16,
    /// Firmware name and version.
    pub firmware: &'a str,
    /// The inference backend in use (`"cpu"`, ...).
    pub backend: &'a str,
    /// The active model, or `None` when no slot holds a valid one.
    pub model: Option<ModelInfo>,
    /// Set when a fallback serves instead of the backend the board was built with: why (the error that
    /// made the board give up on it, e.g. an accelerator timeout), and `backend` is then the fallback's name.
    pub fallback: Option<Fault>,
}

/// An error as the protocol carries it: its code and detail number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Fault {
    /// What went wrong.
    pub code: ErrorCode,
    /// The number that helps (see [`ErrorCode`]).
    pub detail: u32,
}

/// The active model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The slot it is in.
    pub slot: Slot,
    /// Bundle size in bytes.
    pub bytes: u32,
    /// CRC-32 of the bundle's 40-byte preamble, which holds the CRCs of every section: it changes whenever
    /// any byte of the model does.
    pub fingerprint: u32,
    /// Number of tasks.
    pub tasks: u32,
    /// The selected task.
    pub task: u32,
    /// Input height.
    pub image_h: u32,
    /// Input width.
    pub image_w: u32,
}

/// One task of [`Response::Tasks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEntry<'a> {
    /// Task name.
    pub name: &'a str,
    /// Output channels.
    pub channels: u32,
    /// How the output is read, as `model::PostProcess` codes (0 none, 1 argmax, 2 sigmoid, 3 L2 normalise).
    pub post: u8,
}

/// Counters of the last run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Completed runs since the model was loaded.
    pub runs: u64,
    /// The task of the last run.
    pub task: u32,
    /// Bytes of expert weights read by the last run.
    pub expert_bytes: u64,
    /// The last run's time in microseconds, when the board has a clock.
    pub micros: Option<u32>,
    /// Per block of the model: which experts were read, how many loads (all zero where the backend does
    /// not count per block: the accelerator counts in `accel`).
    pub layers: heapless::Vec<LayerStats, { MAX_DEPTH as usize }>,
    /// What the accelerator IP counted in the last run, read back through its registers (accelerator only).
    pub accel: Option<AccelStats>,
}

/// The accelerator IP's own counters of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelStats {
    /// Experts whose weights the IP fetched, all MoE blocks together.
    pub expert_loads: u32,
    /// KiB of weights the IP fetched (rounded up).
    pub weight_kib: u32,
}

/// One block's expert counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStats {
    /// Bit `e` set when expert `e` was read.
    pub experts_read: u64,
    /// Expert weight loads.
    pub expert_loads: u32,
}

/// Why a request failed. The wire value is the variant index; new codes are only appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorCode {
    /// The frame's CRC did not match (tag 0: the request could not be identified).
    BadCrc,
    /// The frame was not valid COBS or shorter than a CRC (tag 0).
    BadFrame,
    /// The frame was longer than [`MAX_FRAME`](super::MAX_FRAME) (tag 0; detail: the limit).
    FrameTooLong,
    /// The frame's CRC held but its contents are no request this board knows.
    UnknownCommand,
    /// Hello with another protocol version (detail: the board's version).
    VersionMismatch,
    /// No valid model is active.
    NoModel,
    /// The task index or name does not exist (detail: number of tasks).
    UnknownTask,
    /// An offset or length is not a multiple of 4 or runs past the end (detail: the size allowed, in bytes).
    BadSize,
    /// A chunk skipped ahead (detail: the next offset expected).
    OutOfOrder,
    /// Run before the whole input was sent (detail: bytes received).
    InputIncomplete,
    /// The input holds NaN or infinite values.
    NonFiniteInput,
    /// ReadOutput or Stats before any run.
    NoOutput,
    /// The backend failed to run the model.
    RunFailed,
    /// UploadChunk or UploadCommit without UploadBegin.
    UploadNotStarted,
    /// The upload is larger than the slot (detail: slot capacity).
    UploadTooLarge,
    /// UploadCommit before every byte arrived (detail: bytes received).
    UploadIncomplete,
    /// The uploaded bytes do not have the announced CRC (detail: the computed CRC).
    UploadBadCrc,
    /// The uploaded bytes are no valid bundle.
    BadBundle,
    /// The bundle is valid but needs more scratch or staging memory than this board has.
    ModelTooLarge,
    /// The board's model storage failed.
    Storage,
    /// The accelerator did not finish within its time bound (detail: microseconds waited, saturated).
    AccelTimeout,
    /// A bus access to the accelerator failed (detail: the register's byte offset, or the DMA byte offset).
    BusFault,
    /// The accelerator finished with a non-zero status word (detail: the status code, `docs/accel-ip.md`).
    AccelStatus,
    /// The accelerator is still busy with an earlier (timed-out) run.
    AccelBusy,
    /// The accelerator broke its control protocol.
    AccelProtocol,
    /// The backend cannot run this bundle (its precision, or a head it does not compute).
    Unsupported,
}

impl ErrorCode {
    /// The code and detail a run or load error travels as: the accelerator's faults each as themselves,
    /// non-finite input as itself, memory as `ModelTooLarge` (detail: bytes needed), a bundle the backend
    /// cannot run as `Unsupported`, anything else as `RunFailed`.
    pub fn of(e: &crate::Error) -> Fault {
        use crate::Error as E;
        let sat = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let (code, detail) = match *e {
            E::AccelTimeout { waited_us } => (ErrorCode::AccelTimeout, sat(waited_us)),
            E::BusFault { offset, .. } => (ErrorCode::BusFault, sat(offset)),
            E::AccelStatus { code } => (ErrorCode::AccelStatus, code),
            E::AccelBusy => (ErrorCode::AccelBusy, 0),
            E::AccelProtocol { .. } => (ErrorCode::AccelProtocol, 0),
            E::NonFiniteInput => (ErrorCode::NonFiniteInput, 0),
            E::DmaTooSmall { needed, .. } | E::ScratchTooSmall { needed, .. } => {
                (ErrorCode::ModelTooLarge, sat(needed as u64))
            }
            E::Inconsistent { .. } | E::BadHyper { .. } | E::Misaligned { .. } | E::Unrepresentable { .. } => {
                (ErrorCode::Unsupported, 0)
            }
            _ => (ErrorCode::RunFailed, 0),
        };
        Fault { code, detail }
    }
}
