//! The one error type of the crate.

use core::fmt;

/// Everything that can go wrong in the runtime. Every error from outside bytes (bundles, inputs, task
/// ids, frames) is one of these; nothing panics.
///
/// Helpers adding variants: add with a focused edit, a doc line each, and a `Display` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes end before a structure they declare: `needed` bytes were required, `have` were given.
    Truncated {
        /// Bytes required.
        needed: u64,
        /// Bytes available.
        have: u64,
    },
    /// The bytes do not start with the bundle magic.
    BadMagic,
    /// The bundle's format version is not one this runtime reads.
    UnsupportedVersion {
        /// Version found in the bytes.
        found: u16,
        /// Version this runtime reads.
        supported: u16,
    },
    /// A CRC does not match: the bytes are corrupted.
    CrcMismatch {
        /// Which part failed (`"header"`, `"tensor table"`, `"weights"`).
        part: &'static str,
        /// CRC stored in the bytes.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// A header or table could not be decoded.
    Malformed {
        /// What could not be decoded.
        what: &'static str,
    },
    /// The bundle decodes but contradicts itself or the model it describes.
    Inconsistent {
        /// What is wrong.
        what: &'static str,
    },
    /// A weight tensor's shape is not the one the model's hyperparameters require.
    TensorShape {
        /// Canonical index of the tensor.
        index: u32,
    },
    /// A weight tensor's element type is not supported here.
    UnsupportedDtype {
        /// The stored type code.
        code: u8,
    },
    /// A buffer is not aligned as required for zero-copy use.
    Misaligned {
        /// What is misaligned.
        what: &'static str,
        /// Required alignment in bytes.
        align: usize,
    },
    /// A task index or name that the model does not have.
    UnknownTask {
        /// The index asked for (or `u32::MAX` for a name lookup).
        task: u32,
        /// Number of tasks in the model.
        tasks: u32,
    },
    /// An input or output buffer has the wrong number of elements.
    ShapeMismatch {
        /// Which buffer.
        what: &'static str,
        /// Elements expected.
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// The scratch buffer is smaller than the model needs.
    ScratchTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        have: usize,
    },
    /// An input value is NaN or infinite.
    NonFiniteInput,
    /// A hyperparameter is out of range or contradicts another one (bundle header or writer input).
    BadHyper {
        /// The offending field of `Hyper`.
        field: &'static str,
    },
    /// The model has no weight tensor at this canonical index or with this key.
    UnknownTensor {
        /// The canonical index asked for (or `u32::MAX` for a key the model has no slot for).
        index: u32,
        /// Number of tensors in the model.
        count: u32,
    },
    /// A bundle being written lacks a weight tensor the model needs.
    MissingTensor {
        /// Canonical index of the missing tensor.
        index: u32,
    },
    /// A protocol frame (or the buffer for it) exceeds the maximum frame size.
    FrameTooLong {
        /// Bytes the frame needs (or has).
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// A protocol frame is not valid COBS (a zero byte inside, or a block running past its end).
    BadCobs,
    /// Model storage failed (a slot could not be written or switched).
    Storage {
        /// What failed.
        what: &'static str,
    },
    /// A quantization profile breaks a rule of `docs/fixed-point.md` ("Profiles") or has an unknown code.
    BadProfile {
        /// The broken rule.
        what: &'static str,
    },
    /// A tensor's type is known but not the one its bundle allows for it (f32/f16 without a profile; with
    /// one, Q8 for the matrices of an int8 profile and Q16 for everything else).
    WrongDtype {
        /// Canonical index of the tensor.
        index: u32,
        /// The stored type code.
        code: u8,
    },
    /// An int8 tensor's scale word does not decode (reserved bits set, or a shift above 63).
    BadScale {
        /// Canonical index of the tensor.
        index: u32,
        /// Position of the word among the tensor's scales.
        scale: u32,
    },
    /// A value the fixed-point model or the accelerator's descriptor needs does not fit the format or the
    /// word that must hold it (a normalisation std ≤ 2^-8, a tensor offset past 4 GiB, ...).
    Unrepresentable {
        /// Which value, and the limit it exceeds.
        what: &'static str,
    },
    /// The accelerator did not raise `ap_done` within the driver's time bound.
    AccelTimeout {
        /// Microseconds waited (of the driver's clock).
        waited_us: u64,
    },
    /// A bus access failed (an AXI error response, an unmapped address, a device that went away).
    BusFault {
        /// What was accessed: `accelerator register`, `DMA memory`.
        what: &'static str,
        /// The register's byte offset, or the byte offset in the DMA memory.
        offset: u64,
    },
    /// The accelerator finished with a non-zero status word (`m3rt::accel::Status`).
    AccelStatus {
        /// The status code the IP wrote.
        code: u32,
    },
    /// The accelerator is still busy with an earlier run (one that timed out) and cannot start another.
    AccelBusy,
    /// The accelerator broke its control protocol (e.g. `ap_done` without a valid output).
    AccelProtocol {
        /// What it did.
        what: &'static str,
    },
    /// The DMA memory given to the accelerator backend is too small for the model.
    DmaTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        have: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { needed, have } => {
                write!(f, "truncated: {needed} bytes needed, {have} available")
            }
            Error::BadMagic => write!(f, "not an m3rt bundle (bad magic bytes)"),
            Error::UnsupportedVersion { found, supported } => {
                write!(f, "bundle format version {found} is not supported (this runtime reads {supported})")
            }
            Error::CrcMismatch { part, stored, computed } => {
                write!(f, "corrupted {part}: stored CRC {stored:#010x}, computed {computed:#010x}")
            }
            Error::Malformed { what } => write!(f, "malformed {what}"),
            Error::Inconsistent { what } => write!(f, "inconsistent bundle: {what}"),
            Error::TensorShape { index } => {
                write!(f, "weight tensor #{index} does not have the shape the model requires")
            }
            Error::UnsupportedDtype { code } => write!(f, "unsupported weight type code {code}"),
            Error::Misaligned { what, align } => {
                write!(f, "{what} must be aligned to {align} bytes")
            }
            Error::UnknownTask { task, tasks } if task == u32::MAX => {
                write!(f, "unknown task name (the model has {tasks} tasks)")
            }
            Error::UnknownTask { task, tasks } => {
                write!(f, "unknown task {task} (the model has tasks 0..{tasks})")
            }
            Error::ShapeMismatch { what, expected, found } => {
                write!(f, "{what} has {found} elements, expected {expected}")
            }
            Error::ScratchTooSmall { needed, have } => {
                write!(f, "scratch buffer too small: {needed} bytes needed, {have} given")
            }
            Error::NonFiniteInput => write!(f, "input contains NaN or infinite values"),
            Error::BadHyper { field } => write!(f, "invalid hyperparameter `{field}`"),
            Error::UnknownTensor { index, count } if index == u32::MAX => {
                write!(f, "the model has no such weight tensor (it has {count})")
            }
            Error::UnknownTensor { index, count } => {
                write!(f, "unknown weight tensor #{index} (the model has tensors 0..{count})")
            }
            Error::MissingTensor { index } => write!(f, "weight tensor #{index} was never added"),
            Error::FrameTooLong { len, max } => write!(f, "frame of {len} bytes exceeds the limit of {max}"),
            Error::BadCobs => write!(f, "frame is not valid COBS"),
            Error::Storage { what } => write!(f, "model storage failed: {what}"),
            Error::BadProfile { what } => write!(f, "invalid quantization profile: {what}"),
            Error::WrongDtype { index, code } => {
                write!(f, "weight tensor #{index} has type code {code}, which its bundle does not allow for it")
            }
            Error::BadScale { index, scale } => {
                write!(f, "weight tensor #{index}: int8 scale word {scale} does not decode")
            }
            Error::Unrepresentable { what } => write!(f, "not representable in fixed point: {what}"),
            Error::AccelTimeout { waited_us } => {
                write!(f, "accelerator timeout: no ap_done after {waited_us} µs")
            }
            Error::BusFault { what, offset } => write!(f, "bus fault: {what} at offset {offset:#x}"),
            Error::AccelStatus { code } => match crate::accel::Status::from_u32(code) {
                Some(s) => write!(f, "the accelerator refused the run: status {code} {} ({})", s.name(), s.doc()),
                None => write!(f, "the accelerator refused the run: unknown status {code}"),
            },
            Error::AccelBusy => write!(f, "the accelerator is still busy with an earlier run"),
            Error::AccelProtocol { what } => write!(f, "accelerator protocol violation: {what}"),
            Error::DmaTooSmall { needed, have } => {
                write!(f, "DMA memory too small for the accelerator: {needed} bytes needed, {have} given")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(feature = "defmt")]
impl defmt::Format for Error {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "{}", defmt::Debug2Format(self))
    }
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;
