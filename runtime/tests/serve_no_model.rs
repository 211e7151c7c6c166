//! The command loop without a model, over a scripted byte stream: it still answers hello, refuses model
//! requests with `NoModel`, checks uploads (order, size, CRC, bundle validity) and never switches to a bad
//! one. Expected answers are written out by hand from the protocol's rules.

use m3rt::backend::CpuBackend;
use m3rt::protocol::{frame, ErrorCode, Info, Request, Response, Slot, MAX_FRAME, PROTOCOL_VERSION};
use m3rt::serve::{ActiveMarker, ModelStorage, Server, SliceStorage, Stopped};

/// A byte stream that yields a fixed script and records what is written.
struct Script {
    input: Vec<u8>,
    at: usize,
    output: Vec<u8>,
}

impl embedded_io::ErrorType for Script {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        // Odd-sized reads, so frames straddle reads.
        let n = buf.len().min(7).min(self.input.len() - self.at);
        buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl embedded_io::Write for Script {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn push(script: &mut Vec<u8>, tag: u16, r: &Request<'_>) {
    let mut f = [0u8; MAX_FRAME];
    let n = frame::encode(tag, r, &mut f).unwrap();
    script.extend_from_slice(&f[..n]);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn err(code: ErrorCode, detail: u32) -> Response<'static> {
    Response::Error { code, detail }
}

#[test]
fn without_a_model_the_loop_serves_hello_and_checks_uploads() {
    let garbage: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) | 1).collect();
    let mut s = Vec::new();
    push(&mut s, 1, &Request::Hello { protocol: PROTOCOL_VERSION });
    push(&mut s, 2, &Request::Hello { protocol: PROTOCOL_VERSION + 1 });
    push(&mut s, 3, &Request::ListTasks);
    push(&mut s, 4, &Request::Run);
    push(&mut s, 5, &Request::UploadChunk { offset: 0, data: &garbage });
    push(&mut s, 6, &Request::UploadBegin { len: 64, crc: crc32(&garbage) });
    push(&mut s, 7, &Request::UploadChunk { offset: 0, data: &garbage[..32] });
    push(&mut s, 8, &Request::UploadChunk { offset: 40, data: &garbage[40..] });
    push(&mut s, 9, &Request::UploadCommit);
    push(&mut s, 10, &Request::UploadChunk { offset: 32, data: &garbage[32..] });
    push(&mut s, 11, &Request::UploadChunk { offset: 60, data: &garbage });
    push(&mut s, 12, &Request::UploadCommit);
    push(&mut s, 13, &Request::UploadBegin { len: 4096, crc: 0 });
    s.extend_from_slice(&[0, 0, 0x42, 0x13, 0]); // empty frames are skipped, junk gets BadFrame
    push(&mut s, 14, &Request::Reboot);
    push(&mut s, 15, &Request::Info);

    let (mut a, mut b) = ([0u8; 256], [0u8; 256]);
    let mut marker = ActiveMarker::default();
    let storage = SliceStorage::new(&mut a, &mut b, &mut marker);
    let mut scratch = [0f32; 16];
    let (mut input, mut output) = ([0f32; 16], [0f32; 16]);
    let io = Script { input: s, at: 0, output: Vec::new() };
    let mut server = Server::new(io, storage, CpuBackend::new(&mut scratch), &mut input, &mut output, "test fw");
    assert_eq!(server.run(), Ok(Stopped::Reboot));
    assert_eq!(server.run(), Ok(Stopped::Disconnected));
    assert_eq!(server.storage().active(), None, "nothing valid was ever committed");

    let no_model = Response::Info(Info {
        protocol: PROTOCOL_VERSION,
        firmware: "test fw",
        backend: "cpu",
        model: None,
        fallback: None,
    });
    let expected: Vec<(u16, Response<'_>)> = vec![
        (1, no_model.clone()),
        (2, err(ErrorCode::VersionMismatch, u32::from(PROTOCOL_VERSION))),
        (3, err(ErrorCode::NoModel, 0)),
        (4, err(ErrorCode::NoModel, 0)),
        (5, err(ErrorCode::UploadNotStarted, 0)),
        (6, Response::UploadReady { slot: Slot::A, len: 64 }),
        (7, Response::UploadProgress { next: 32 }),
        (8, err(ErrorCode::OutOfOrder, 32)),
        (9, err(ErrorCode::UploadIncomplete, 32)),
        (10, Response::UploadProgress { next: 64 }),
        (11, err(ErrorCode::BadSize, 64)),
        (12, err(ErrorCode::BadBundle, 0)),
        (13, err(ErrorCode::UploadTooLarge, 256)),
        (0, err(ErrorCode::BadFrame, 0)),
        (14, Response::Rebooting),
        (15, no_model),
    ];
    let out = &mut server.io_mut().output;
    let mut got = Vec::new();
    for f in out.split_mut(|&b| b == 0).filter(|f| !f.is_empty()) {
        got.push(frame::decode::<Response<'_>>(f).unwrap());
    }
    assert_eq!(got, expected);
}
