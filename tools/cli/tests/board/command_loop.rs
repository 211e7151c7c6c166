//! The firmware command loop (`m3rt::serve`) on the host, driven by the `m3rt board` client over TCP on
//! 127.0.0.1, with in-memory A/B slots. The reference for every output is `Engine::run` on the host with
//! the same bundle; fingerprints are checked against an independent CRC-32.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::*;
use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::protocol::{frame, ErrorCode, Request, Slot, MAX_FRAME, NO_TAG};
use m3rt::serve::{ActiveMarker, SliceStorage};
use m3rt_cli::board::host::{serve_listener, HostBuffers, FIRMWARE};
use m3rt_cli::board::{BoardError, Client};
use m3rt_cli::convert::Precision;

/// Bitwise CRC-32/ISO-HDLC, an independent reference for fingerprints.
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

fn fingerprint(bundle: &[u8]) -> u32 {
    crc32(&bundle[..40])
}

fn connect(addr: std::net::SocketAddr) -> Client<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    Client::new(s)
}

fn board_code(e: &anyhow::Error) -> ErrorCode {
    e.downcast_ref::<BoardError>().unwrap_or_else(|| panic!("not a board error: {e:#}")).code
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn command_loop_serves_switches_inference_corruption_and_uploads() {
    let dir = model_dir("micro").unwrap();
    let f32_bytes = bundle(&dir, Precision::F32).to_vec();
    let f16_bytes = bundle(&dir, Precision::F16).to_vec();
    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let ref32 = host_outputs(&f32_bytes, &input);
    let ref16 = host_outputs(&f16_bytes, &input);
    assert_ne!(bits(&ref32[0].0), bits(&ref16[0].0), "the two models must differ for the switch to show");

    let cap = f32_bytes.len().max(f16_bytes.len()) + 4096;
    let (mut a, mut b) = (AlignedBytes::zeroed(cap), AlignedBytes::zeroed(cap));
    let mut marker = ActiveMarker::default();
    let mut storage = SliceStorage::new(a.as_mut_slice(), b.as_mut_slice(), &mut marker);
    storage.install(&f32_bytes).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut buffers = HostBuffers::new(1 << 20, 1 << 16);

    std::thread::scope(|s| {
        s.spawn(|| serve_listener(&listener, &mut storage, &mut buffers, Some(3), FIRMWARE).unwrap());

        // Connection 1: hello, tasks, switches, inference, bad requests, corruption, a cut upload.
        let mut c = connect(addr);
        let info = c.hello().unwrap();
        assert_eq!(info.backend, "cpu");
        let model = info.model.expect("a model is active");
        assert_eq!((model.slot, model.fingerprint, model.tasks), (Slot::A, fingerprint(&f32_bytes), 2));
        assert_eq!((model.image_h, model.image_w), (32, 64));
        let (tasks, selected) = c.tasks().unwrap();
        let host = Bundle::parse(&f32_bytes).unwrap();
        let expected: Vec<(String, u32)> = host.tasks().map(|t| (t.name.to_string(), t.out_channels)).collect();
        assert_eq!(tasks.iter().map(|t| (t.name.clone(), t.channels)).collect::<Vec<_>>(), expected);
        assert_eq!(selected, 0);

        let mut rtt = Vec::new();
        for i in 0..100u32 {
            let t = i % 2;
            let name = if i % 4 < 2 { expected[t as usize].0.clone() } else { t.to_string() };
            let start = Instant::now();
            let (index, out_len) = c.select(&name).unwrap();
            rtt.push(start.elapsed());
            assert_eq!((index, out_len as usize), (t, ref32[t as usize].0.len()));
        }
        rtt.sort();
        eprintln!("task switch round trip over TCP: median {:?}, max {:?}", rtt[50], rtt[99]);

        for (t, (reference, counters)) in ref32.iter().enumerate() {
            c.select(&t.to_string()).unwrap();
            let (out, report) = c.infer(&input).unwrap();
            assert_eq!(report.task, t as u32);
            assert!(report.micros.is_some());
            assert_eq!(bits(&out), bits(reference), "task {t}: board output differs from Engine::run");
            let stats = c.stats().unwrap();
            assert_eq!(stats.task, t as u32);
            assert_eq!(stats.expert_bytes, counters.expert_bytes);
            let masks: Vec<u64> = stats.layers.iter().map(|l| l.experts_read).collect();
            assert_eq!(masks, counters.experts_read[..4].to_vec());
        }

        // Bad requests: typed error responses, and the loop keeps serving.
        assert_eq!(board_code(&c.select("nope").unwrap_err()), ErrorCode::UnknownTask);
        assert_eq!(board_code(&c.select("7").unwrap_err()), ErrorCode::UnknownTask);
        let too_far = Request::SendInput { offset: (input.len() * 4) as u32, data: &[0; 8] };
        assert_eq!(board_code(&c.call(&too_far).unwrap_err()), ErrorCode::BadSize);
        let skip = Request::SendInput { offset: 4096, data: &[0; 8] };
        c.reboot().unwrap(); // a fresh session: nothing staged, so any offset > 0 skips ahead
        assert_eq!(board_code(&c.call(&skip).unwrap_err()), ErrorCode::OutOfOrder);
        assert_eq!(board_code(&c.call(&Request::Run).unwrap_err()), ErrorCode::InputIncomplete);
        assert_eq!(board_code(&c.call(&Request::UploadCommit).unwrap_err()), ErrorCode::UploadNotStarted);
        let unknown = raw_frame(&[0x2A, 0x63]); // tag 42, variant 99
        c.send_raw(&unknown).unwrap();
        assert_eq!(c.next_error().unwrap(), Some((42, ErrorCode::UnknownCommand, 0)));
        c.send_raw(&vec![0x55; MAX_FRAME + 100]).unwrap();
        c.send_raw(&[0]).unwrap();
        assert_eq!(c.next_error().unwrap(), Some((NO_TAG, ErrorCode::FrameTooLong, MAX_FRAME as u32)));

        // 1,000 requests, every tenth one corrupted: each corrupted frame gets a no-tag error, each good
        // one its correct answer.
        c.send_input(&input).unwrap();
        c.select("0").unwrap();
        c.run().unwrap();
        let out_bytes: Vec<u8> = ref32[0].0.iter().flat_map(|v| v.to_le_bytes()).collect();
        let (mut good, mut bad) = (0, 0);
        for i in 0..1000u32 {
            if i % 10 == 7 {
                let mut f = [0u8; MAX_FRAME];
                let n = frame::encode(60000, &Request::SelectTask { index: 1 }, &mut f).unwrap();
                let at = 1 + (i as usize / 10) % (n - 2);
                f[at] ^= if f[at] == 0x5A { 0xA5 } else { 0x5A };
                c.send_raw(&f[..n]).unwrap();
                let (tag, code, _) = c.next_error().unwrap().expect("an error response");
                assert_eq!(tag, NO_TAG);
                assert!(matches!(code, ErrorCode::BadCrc | ErrorCode::BadFrame), "{code:?}");
                bad += 1;
                continue;
            }
            match i % 3 {
                0 => assert_eq!(c.info().unwrap().model.unwrap().fingerprint, fingerprint(&f32_bytes)),
                1 => {
                    let offset = (i as usize * 4) % (out_bytes.len() - 64);
                    let got = c.call(&Request::ReadOutput { offset: offset as u32, len: 64 }).unwrap();
                    let m3rt::protocol::Response::Output { data, .. } = got else { panic!("{got:?}") };
                    assert_eq!(data, &out_bytes[offset..offset + 64]);
                }
                _ => assert_eq!(c.tasks().unwrap().0.len(), 2),
            }
            good += 1;
        }
        assert_eq!((good, bad), (900, 100));
        assert_eq!(c.damaged, 0, "no good exchange needed a retry");

        // An upload cut halfway by a warm reboot, then by a dropped connection: the old model stays.
        let half = f16_bytes.len() / 2;
        begin_upload(&mut c, &f16_bytes, half);
        c.reboot().unwrap();
        assert_eq!(c.hello().unwrap().model.unwrap().fingerprint, fingerprint(&f32_bytes));
        assert_eq!(board_code(&c.call(&Request::UploadCommit).unwrap_err()), ErrorCode::UploadNotStarted);
        begin_upload(&mut c, &f16_bytes, half);
        drop(c);

        // Connection 2 (the same serial line, as after a host program died): still the old model, the cut
        // upload cannot be committed, also not after a reboot; a bad CRC is refused; a full upload switches.
        let mut c = connect(addr);
        assert_eq!(c.hello().unwrap().model.unwrap().fingerprint, fingerprint(&f32_bytes));
        let incomplete = c.call(&Request::UploadCommit).unwrap_err();
        assert_eq!(
            incomplete.downcast_ref::<BoardError>().map(|e| (e.code, e.detail as usize)),
            Some((ErrorCode::UploadIncomplete, half))
        );
        c.reboot().unwrap();
        let m = c.hello().unwrap().model.unwrap();
        assert_eq!((m.slot, m.fingerprint), (Slot::A, fingerprint(&f32_bytes)));
        let (out, _) = c.infer(&input).unwrap();
        assert_eq!(bits(&out), bits(&ref32[0].0));
        let len = f16_bytes.len() as u32;
        c.call(&Request::UploadBegin { len, crc: crc32(&f16_bytes) ^ 1 }).unwrap();
        c.upload_chunks(&f16_bytes, 0, f16_bytes.len(), &mut |_| {}).unwrap();
        assert_eq!(board_code(&c.call(&Request::UploadCommit).unwrap_err()), ErrorCode::UploadBadCrc);
        assert_eq!(c.info().unwrap().model.unwrap().fingerprint, fingerprint(&f32_bytes));
        let mut seen = 0;
        let (slot, fp) = c.upload(&f16_bytes, |n| seen = n).unwrap();
        assert_eq!((slot, fp, seen), (Slot::B, fingerprint(&f16_bytes), f16_bytes.len()));
        let m = c.info().unwrap().model.unwrap();
        assert_eq!((m.slot, m.fingerprint), (Slot::B, fingerprint(&f16_bytes)));
        for (t, (reference, _)) in ref16.iter().enumerate() {
            c.select(&t.to_string()).unwrap();
            let (out, _) = c.infer(&input).unwrap();
            assert_eq!(bits(&out), bits(reference), "f16 task {t}: board output differs from Engine::run");
        }
        c.reboot().unwrap();
        assert_eq!(c.hello().unwrap().model.unwrap().fingerprint, fingerprint(&f16_bytes));
        drop(c);

        // Connection 3: the new model is still active.
        let mut c = connect(addr);
        let m = c.hello().unwrap().model.unwrap();
        assert_eq!((m.slot, m.fingerprint), (Slot::B, fingerprint(&f16_bytes)));
    });
    assert_eq!(storage_active(&marker), Some(Slot::B));
}

fn storage_active(marker: &ActiveMarker) -> Option<Slot> {
    marker.get().map(|(s, _)| s)
}

/// Starts an upload of `bundle` and sends its first `upto` bytes.
fn begin_upload(c: &mut Client<TcpStream>, bundle: &[u8], upto: usize) {
    c.call(&Request::UploadBegin { len: bundle.len() as u32, crc: crc32(bundle) }).unwrap();
    c.upload_chunks(bundle, 0, upto, &mut |_| {}).unwrap();
}

/// A frame around a raw payload (for messages no encoder would make).
fn raw_frame(payload: &[u8]) -> Vec<u8> {
    let mut raw = payload.to_vec();
    raw.extend_from_slice(&crc32(payload).to_le_bytes());
    let mut out = vec![0u8; raw.len() + 8];
    let n = m3rt::protocol::cobs::encode(&raw, &mut out).unwrap();
    out.truncate(n);
    out.push(0);
    out
}
