//! The serial protocol's wire bytes, pinned: the expected frames below were worked out by hand (postcard
//! varints, COBS blocks) with the CRC-32 of each payload taken from Python's `zlib.crc32`; they are also the
//! tables of `docs/serial-protocol.md`. Then round trips on random messages, and damaged frames.

use m3rt::protocol::{
    frame, AccelStats, Deframer, ErrorCode, Fault, Feed, Info, LayerStats, ModelInfo, Request, Response, Slot, Stats,
    TaskEntry, MAX_CHUNK, MAX_FRAME,
};
use m3rt::Error;
use proptest::prelude::*;

fn encoded<T: serde::Serialize>(tag: u16, message: &T) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    let n = frame::encode(tag, message, &mut out).expect("encodes");
    out[..n].to_vec()
}

/// Encodes, compares with the expected bytes, decodes back.
fn pin_request(tag: u16, request: Request<'_>, expected: &[u8]) {
    let bytes = encoded(tag, &request);
    assert_eq!(bytes, expected, "{request:?}");
    let mut body = bytes[..bytes.len() - 1].to_vec();
    let (t, back): (u16, Request<'_>) = frame::decode(&mut body).expect("decodes");
    assert_eq!((t, back), (tag, request));
}

fn pin_response(tag: u16, response: Response<'_>, expected: &[u8]) {
    let bytes = encoded(tag, &response);
    assert_eq!(bytes, expected, "{response:?}");
    let mut body = bytes[..bytes.len() - 1].to_vec();
    let (t, back): (u16, Response<'_>) = frame::decode(&mut body).expect("decodes");
    assert_eq!((t, back), (tag, response));
}

#[test]
fn request_frames_are_pinned() {
    // payload 01 00 01 (tag 1, Hello, protocol 1), CRC 0x898483B3.
    pin_request(1, Request::Hello { protocol: 1 }, &[0x02, 0x01, 0x06, 0x01, 0xB3, 0x83, 0x84, 0x89, 0x00]);
    // payload 02 01 (tag 2, Info), CRC 0x04E840EB.
    pin_request(2, Request::Info, &[0x07, 0x02, 0x01, 0xEB, 0x40, 0xE8, 0x04, 0x00]);
    // payload 03 03 01 (tag 3, SelectTask, index 1), CRC 0xA12D041E.
    pin_request(3, Request::SelectTask { index: 1 }, &[0x08, 0x03, 0x03, 0x01, 0x1E, 0x04, 0x2D, 0xA1, 0x00]);
    // payload 04 04 05 "depth" (tag 4, SelectTaskByName), CRC 0x796B8F47.
    pin_request(
        4,
        Request::SelectTaskByName { name: "depth" },
        &[0x0D, 0x04, 0x04, 0x05, 0x64, 0x65, 0x70, 0x74, 0x68, 0x47, 0x8F, 0x6B, 0x79, 0x00],
    );
    // payload AC 02 05 00 04 00 00 80 3F (tag 300 as a two-byte varint, SendInput at 0 of 1.0f32):
    // three zeros inside, so four COBS blocks. CRC 0x8CE15E3A.
    pin_request(
        300,
        Request::SendInput { offset: 0, data: &1.0f32.to_le_bytes() },
        &[0x04, 0xAC, 0x02, 0x05, 0x02, 0x04, 0x01, 0x07, 0x80, 0x3F, 0x3A, 0x5E, 0xE1, 0x8C, 0x00],
    );
}

#[test]
fn response_frames_are_pinned() {
    // payload 03 02 01 80 10 (tag 3, TaskSelected, index 1, output_len 2048), CRC 0x0C7DA75E.
    pin_response(
        3,
        Response::TaskSelected { index: 1, output_len: 2048 },
        &[0x0A, 0x03, 0x02, 0x01, 0x80, 0x10, 0x5E, 0xA7, 0x7D, 0x0C, 0x00],
    );
    // payload 00 0B 00 00 (no tag, Error, BadCrc, detail 0), CRC 0x2D1130FD.
    pin_response(
        0,
        Response::Error { code: ErrorCode::BadCrc, detail: 0 },
        &[0x01, 0x02, 0x0B, 0x01, 0x05, 0xFD, 0x30, 0x11, 0x2D, 0x00],
    );
    // payload 01 00 01 02 "fw" 03 "cpu" 00 00 (tag 1, Info, protocol 1, no model, no fallback), CRC 0x7F0CFB35.
    pin_response(
        1,
        Response::Info(Info { protocol: 1, firmware: "fw", backend: "cpu", model: None, fallback: None }),
        &[0x02, 0x01, 0x09, 0x01, 0x02, 0x66, 0x77, 0x03, 0x63, 0x70, 0x75, 0x01, 0x05, 0x35, 0xFB, 0x0C, 0x7F, 0x00],
    );
    // payload 01 00 02 02 "fw" 05 "fixed" 00 01 15 78 (Info, protocol 2, no model, fallback because of
    // BusFault = 21 at register 0x78), CRC 0x56C60945.
    let fallback = Some(Fault { code: ErrorCode::BusFault, detail: 0x78 });
    pin_response(
        1,
        Response::Info(Info { protocol: 2, firmware: "fw", backend: "fixed", model: None, fallback }),
        &[
            0x02, 0x01, 0x0B, 0x02, 0x02, 0x66, 0x77, 0x05, 0x66, 0x69, 0x78, 0x65, 0x64, 0x08, 0x01, 0x15, 0x78, 0x45,
            0x09, 0xC6, 0x56, 0x00,
        ],
    );
    // payload 05 0B 14 81 89 7A (tag 5, Error, AccelTimeout = 20, detail 2 000 001 µs as a varint),
    // CRC 0xF3C20B5E.
    pin_response(
        5,
        Response::Error { code: ErrorCode::AccelTimeout, detail: 2_000_001 },
        &[0x0B, 0x05, 0x0B, 0x14, 0x81, 0x89, 0x7A, 0x5E, 0x0B, 0xC2, 0xF3, 0x00],
    );
}

#[test]
fn largest_messages_fit_a_frame() {
    let chunk = [0u8; MAX_CHUNK];
    for r in
        [Request::SendInput { offset: u32::MAX, data: &chunk }, Request::UploadChunk { offset: u32::MAX, data: &chunk }]
    {
        assert!(encoded(u16::MAX, &r).len() <= MAX_FRAME);
    }
    let names = ["abcdefghijklmnopqrstuvwxyz012345"; 16];
    let tasks = names.iter().map(|n| TaskEntry { name: n, channels: u32::MAX, post: 3 }).collect();
    assert!(encoded(u16::MAX, &Response::Tasks { selected: u32::MAX, tasks }).len() <= MAX_FRAME);
    let layers = (0..64).map(|_| LayerStats { experts_read: u64::MAX, expert_loads: u32::MAX }).collect();
    let stats = Stats {
        runs: u64::MAX,
        task: u32::MAX,
        expert_bytes: u64::MAX,
        micros: Some(u32::MAX),
        layers,
        accel: Some(AccelStats { expert_loads: u32::MAX, weight_kib: u32::MAX }),
    };
    assert!(encoded(u16::MAX, &Response::Stats(stats)).len() <= MAX_FRAME);
    // Anything larger is refused with a typed error, not cut.
    let mut out = [0u8; MAX_FRAME];
    let big = [0u8; MAX_FRAME];
    assert!(matches!(
        frame::encode(1, &Request::UploadChunk { offset: 0, data: &big }, &mut out),
        Err(Error::FrameTooLong { .. })
    ));
}

fn any_request(data: &[u8], name: &str, pick: u8, a: u32, b: u32) -> Request<'static> {
    let data: &'static [u8] = Box::leak(data.to_vec().into_boxed_slice());
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    match pick % 13 {
        0 => Request::Hello { protocol: a as u16 },
        1 => Request::Info,
        2 => Request::ListTasks,
        3 => Request::SelectTask { index: a },
        4 => Request::SelectTaskByName { name },
        5 => Request::SendInput { offset: a, data },
        6 => Request::Run,
        7 => Request::ReadOutput { offset: a, len: b as u16 },
        8 => Request::Stats,
        9 => Request::UploadBegin { len: a, crc: b },
        10 => Request::UploadChunk { offset: a, data },
        11 => Request::UploadCommit,
        _ => Request::Reboot,
    }
}

fn any_response(data: &[u8], pick: u8, a: u32, b: u32) -> Response<'static> {
    let data: &'static [u8] = Box::leak(data.to_vec().into_boxed_slice());
    let model = ModelInfo { slot: Slot::B, bytes: a, fingerprint: b, tasks: 2, task: 1, image_h: 32, image_w: 64 };
    match pick % 12 {
        0 => Response::Info(Info {
            protocol: 1,
            firmware: "m3rt-host",
            backend: "cpu",
            model: Some(model),
            fallback: None,
        }),
        1 => Response::Tasks {
            selected: a,
            tasks: [TaskEntry { name: "semseg", channels: b, post: 1 }].into_iter().collect(),
        },
        2 => Response::TaskSelected { index: a, output_len: b },
        3 => Response::InputStored { next: a },
        4 => Response::Ran { task: a, output_len: b, micros: a.is_multiple_of(2).then_some(b) },
        5 => Response::Output { offset: a, data },
        6 => Response::Stats(Stats {
            runs: u64::from(a) << 20,
            task: b,
            expert_bytes: u64::from(b) * 3,
            micros: None,
            layers: [LayerStats { experts_read: u64::from(a) << 31, expert_loads: b }].into_iter().collect(),
            accel: a.is_multiple_of(3).then_some(AccelStats { expert_loads: b, weight_kib: a }),
        }),
        7 => Response::UploadReady { slot: Slot::A, len: a },
        8 => Response::UploadProgress { next: a },
        9 => Response::UploadCommitted { slot: Slot::B, fingerprint: b },
        10 => Response::Rebooting,
        _ => Response::Error { code: ErrorCode::OutOfOrder, detail: a },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn requests_round_trip(tag in 1u16.., pick in 0u8..13, a in any::<u32>(), b in any::<u32>(),
                           data in proptest::collection::vec(any::<u8>(), 0..MAX_CHUNK), name in "[a-z_]{0,32}") {
        let request = any_request(&data, &name, pick, a, b);
        let bytes = encoded(tag, &request);
        prop_assert!(bytes.len() <= MAX_FRAME);
        prop_assert_eq!(bytes.iter().position(|&x| x == 0), Some(bytes.len() - 1));
        let mut deframer = Deframer::new();
        let mut got = None;
        for &x in &bytes {
            if let Feed::Frame(n) = deframer.push(x) {
                got = Some(n);
            }
        }
        prop_assert_eq!(got, Some(bytes.len() - 1));
        let (t, back): (u16, Request<'_>) = frame::decode(deframer.frame()).unwrap();
        prop_assert_eq!((t, back), (tag, request));
    }

    #[test]
    fn responses_round_trip(tag in any::<u16>(), pick in 0u8..12, a in any::<u32>(), b in any::<u32>(),
                            data in proptest::collection::vec(any::<u8>(), 0..MAX_CHUNK)) {
        let response = any_response(&data, pick, a, b);
        let bytes = encoded(tag, &response);
        let mut body = bytes[..bytes.len() - 1].to_vec();
        let (t, back): (u16, Response<'_>) = frame::decode(&mut body).unwrap();
        prop_assert_eq!((t, back), (tag, response));
    }

    /// Every truncation and every single flipped byte of a frame gives a typed error, never a panic and
    /// never a wrong message.
    #[test]
    fn damage_is_a_typed_error(pick in 0u8..13, a in any::<u32>(), b in any::<u32>(),
                               data in proptest::collection::vec(any::<u8>(), 0..64), flip in 1u8..,
                               at in any::<prop::sample::Index>()) {
        let request = any_request(&data, "depth", pick, a, b);
        let bytes = encoded(7, &request);
        let body = &bytes[..bytes.len() - 1];
        for cut in 0..body.len() {
            let mut short = body[..cut].to_vec();
            prop_assert!(frame::decode::<Request<'_>>(&mut short).is_err());
        }
        let i = at.index(body.len());
        let mut damaged = body.to_vec();
        damaged[i] ^= flip;
        match frame::decode::<Request<'_>>(&mut damaged) {
            Err(Error::BadCobs | Error::CrcMismatch { .. } | Error::Truncated { .. } | Error::Malformed { .. }) => {}
            other => prop_assert!(false, "flipped byte {} gave {:?}", i, other),
        }
    }
}

#[test]
fn garbage_and_oversized_frames_are_typed_errors() {
    let mut deframer = Deframer::new();
    let mut results = Vec::new();
    for _ in 0..MAX_FRAME + 10 {
        results.push(deframer.push(0x55));
    }
    results.push(deframer.push(0));
    assert_eq!(results.iter().filter(|r| **r == Feed::TooLong).count(), 1);
    assert_eq!(results.last(), Some(&Feed::TooLong));
    // The deframer recovers at the next delimiter.
    let good = encoded(9, &Request::Run);
    let mut last = Feed::Pending;
    for &x in &good {
        last = deframer.push(x);
    }
    assert_eq!(last, Feed::Frame(good.len() - 1));
    assert_eq!(frame::decode::<Request<'_>>(deframer.frame()).unwrap(), (9, Request::Run));
    // A lone delimiter is skipped; random bytes are errors.
    assert_eq!(deframer.push(0), Feed::Pending);
    for seed in 0u32..2000 {
        let mut x = seed.wrapping_mul(2_654_435_761);
        let mut junk: Vec<u8> = (0..(seed % 40))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as u8) | 1
            })
            .collect();
        assert!(frame::decode::<Request<'_>>(&mut junk).is_err());
    }
    // An unknown variant with a good CRC is Malformed, and its tag can still be read.
    let payload = [0x05, 0x63];
    let crc = crc32(&payload);
    let mut raw = payload.to_vec();
    raw.extend_from_slice(&crc.to_le_bytes());
    let mut cobs = vec![0u8; 16];
    let n = m3rt::protocol::cobs::encode(&raw, &mut cobs).unwrap();
    let opened = frame::open(&mut cobs[..n]).unwrap();
    assert_eq!(frame::tag_of(opened), Some(5));
    assert!(matches!(frame::parse::<Request<'_>>(opened), Err(Error::Malformed { .. })));
}

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32/ISO-HDLC, written out here as an independent reference.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
