//! What the fuzz targets share: hand-built tiny bundles (no converter, no tract), the bundle CRC fix-up, the
//! bundle check every bundle target runs, and the in-memory byte stream and frame encoding of the `serve`
//! target. The targets are in `fuzz_targets/`; `src/bin/seeds.rs` writes the seed corpora from these too.

use std::sync::OnceLock;

use m3rt::backend::{Backend, CpuBackend, FixedBackend, Inference};
use m3rt::bundle::layout::crc32;
use m3rt::bundle::{testing, AlignedBytes, Bundle, Dtype};
use m3rt::fixed::{FixedEngine, Profile, WeightMode};

use m3rt::protocol::{frame, Request, MAX_FRAME};

/// The largest working memory a fuzzed bundle may ask for before it is skipped (16 MiB of 4-byte words).
pub const MAX_SCRATCH_WORDS: usize = 4 << 20;

/// The largest input image a fuzzed bundle may declare before it is skipped (64×64), so runs stay fast.
pub const MAX_PIXELS: usize = 64 * 64;

/// The accelerator IP's profile on the boards (`m3rt_linux::accel::IP_PROFILE`): Edge-MoE, fixed16 weights.
pub const IP_PROFILE: Profile = Profile { weights: WeightMode::Fixed16, ..Profile::EDGE_MOE };

/// The tiny two-task model (`m3rt::bundle::testing`: 2×2 image, D = 2, one MoE block of 2 experts, the
/// light head, tasks of 1 and 3 channels) as an f32 (`Dtype::F32`) or f16 bundle, simple values.
pub fn tiny_bundle(dtype: Dtype) -> Vec<u8> {
    testing::tiny_two_task_bundle(dtype).expect("tiny bundle")
}

/// The tiny f32 bundle quantized in `profile`.
pub fn tiny_quantized(profile: Profile) -> Vec<u8> {
    testing::quantized(&tiny_bundle(Dtype::F32), profile).expect("quantize")
}

/// [`tiny_quantized`] in the IP's profile, built once, 64-byte aligned.
pub fn tiny_ip_bundle() -> &'static AlignedBytes {
    static BYTES: OnceLock<AlignedBytes> = OnceLock::new();
    BYTES.get_or_init(|| AlignedBytes::from_slice(&tiny_quantized(IP_PROFILE)))
}

/// The tiny f32 bundle, built once.
pub fn tiny_f32_bundle() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| tiny_bundle(Dtype::F32))
}

/// Recomputes the three CRCs of a bundle in place (`m3rt::bundle::testing::try_recrc`); `false`, nothing
/// changed, when the preamble does not decode or its sections are not all in `bytes`.
pub fn recrc(bytes: &mut [u8]) -> bool {
    testing::try_recrc(bytes)
}

/// Parses `bytes` (copied to 64-byte aligned memory) as a bundle and, when it parses and is small enough,
/// loads it on the f32 engine (an f32/f16 bundle) or the fixed-point engine (a quantized one) and runs the
/// first and the last task on a constant image. Errors are fine; a panic is the bug the fuzzer looks for.
pub fn check_bundle(bytes: &[u8]) {
    let aligned = AlignedBytes::from_slice(bytes);
    let Ok(bundle) = Bundle::parse(&aligned) else { return };
    let _ = bundle.task_index("depth");
    let _ = bundle.span(0..bundle.tensor_count());
    let h = *bundle.hyper();
    if (h.image_h as usize).saturating_mul(h.image_w as usize) > MAX_PIXELS {
        return;
    }
    if bundle.profile().is_some() {
        let words = FixedEngine::scratch_words(&bundle);
        if words > MAX_SCRATCH_WORDS {
            return;
        }
        let mut scratch = vec![0f32; words];
        let mut backend = FixedBackend::new(&mut scratch);
        if let Ok(mut model) = backend.load(bundle) {
            run_tasks(&mut model);
        }
    } else {
        let words = CpuBackend::new(&mut []).scratch_words(&bundle);
        if words > MAX_SCRATCH_WORDS {
            return;
        }
        let mut scratch = vec![0f32; words];
        let mut backend = CpuBackend::new(&mut scratch);
        if let Ok(mut model) = backend.load(bundle) {
            run_tasks(&mut model);
        }
    }
}

/// Runs task 0, then the last task, on a constant image.
fn run_tasks(model: &mut dyn Inference) {
    let input = vec![0.5f32; model.input_len()];
    let last = model.bundle().task_count().saturating_sub(1);
    for task in [0, last] {
        if model.select_task(task).is_err() {
            continue;
        }
        let Ok(n) = model.output_len() else { continue };
        let mut output = vec![0f32; n];
        let _ = model.run(&input, &mut output);
    }
}

/// A byte stream that yields its input in reads of at most `step` bytes, then the end of the stream; what
/// is written is counted and dropped.
pub struct MemIo<'a> {
    input: &'a [u8],
    step: usize,
    /// Bytes written so far.
    pub written: usize,
}

impl<'a> MemIo<'a> {
    /// A stream of `input` read `step` bytes at a time (at least 1).
    pub fn new(input: &'a [u8], step: usize) -> Self {
        Self { input, step: step.max(1), written: 0 }
    }
}

impl embedded_io::ErrorType for MemIo<'_> {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for MemIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = buf.len().min(self.step).min(self.input.len());
        let (now, rest) = self.input.split_at(n);
        buf[..n].copy_from_slice(now);
        self.input = rest;
        Ok(n)
    }
}

impl embedded_io::Write for MemIo<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The `serve` target's input format, mode byte first:
/// - bit 0 clear: the rest is the raw byte stream;
/// - bit 0 set: the rest is payloads, each a 2-byte little-endian length and that many bytes, each sent as
///   one frame (CRC-32 appended, COBS, delimiter) so the fuzzer reaches the messages past the frame CRC;
/// - bit 1 set: both slots start empty (else slot A holds the tiny f32 bundle);
/// - bits 2..5: reads return at most 1 + that many × 8 bytes.
pub fn serve_stream(input: &[u8]) -> (u8, Vec<u8>) {
    let Some((&mode, rest)) = input.split_first() else { return (0, Vec::new()) };
    if mode & 1 == 0 {
        return (mode, rest.to_vec());
    }
    let mut out = Vec::with_capacity(rest.len() * 2);
    let mut at = rest;
    while let [lo, hi, tail @ ..] = at {
        let n = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (payload, next) = tail.split_at(n);
        frame_payload(payload, &mut out);
        at = next;
    }
    (mode, out)
}

/// Appends `payload ‖ CRC-32` COBS-encoded and a delimiter to `out` (a payload too long for a frame is
/// still sent: the board must answer it as too long).
pub fn frame_payload(payload: &[u8], out: &mut Vec<u8>) {
    let mut body = payload.to_vec();
    body.extend_from_slice(&crc32(payload).to_le_bytes());
    let mut enc = vec![0u8; m3rt::protocol::cobs::max_encoded_len(body.len())];
    if let Ok(n) = m3rt::protocol::cobs::encode(&body, &mut enc) {
        out.extend_from_slice(&enc[..n]);
    }
    out.push(0);
}

/// A request's payload (postcard of the tag and the request), for seeds.
pub fn payload(tag: u16, request: &Request<'_>) -> Vec<u8> {
    let mut f = [0u8; MAX_FRAME];
    let n = frame::encode(tag, request, &mut f).expect("encode");
    let mut body = f[..n - 1].to_vec();
    let len = m3rt::protocol::cobs::decode_in_place(&mut body).expect("cobs");
    body.truncate(len - 4);
    body
}
