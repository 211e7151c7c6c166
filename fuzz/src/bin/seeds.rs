//! Writes the seed corpora `fuzz/corpus/<target>/` (a few small files each), from the same hand-built tiny
//! bundles the targets use: `cargo run --manifest-path fuzz/Cargo.toml --bin seeds` (or
//! `cargo xtask fuzz --seeds`). Deterministic: running it again rewrites the same bytes.

use std::fs;
use std::path::Path;

use m3rt::accel::regs;
use m3rt::bundle::Dtype;
use m3rt::fixed::Profile;
use m3rt::protocol::{Request, PROTOCOL_VERSION};
use m3rt_fuzz::{frame_payload, payload, tiny_bundle, tiny_quantized, IP_PROFILE};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus folder");
    fs::write(dir.join(name), bytes).expect("seed");
}

/// The serve target's framed mode: `mode` (bit 0 set) then each payload with its 2-byte length.
fn framed(mode: u8, requests: &[(u16, Request<'_>)]) -> Vec<u8> {
    let mut out = vec![mode | 1];
    for (tag, r) in requests {
        let p = payload(*tag, r);
        out.extend_from_slice(&(p.len() as u16).to_le_bytes());
        out.extend_from_slice(&p);
    }
    out
}

/// The same requests as wire frames.
fn wire(requests: &[(u16, Request<'_>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, r) in requests {
        frame_payload(&payload(*tag, r), &mut out);
    }
    out
}

fn main() {
    // Bundles: the tiny model in f32, f16, fixed16 (the IP's profile) and int8 per channel.
    let bundles = [
        ("tiny_f32.m3b", tiny_bundle(Dtype::F32)),
        ("tiny_f16.m3b", tiny_bundle(Dtype::F16)),
        ("tiny_q16.m3b", tiny_quantized(IP_PROFILE)),
        ("tiny_int8.m3b", tiny_quantized(Profile::INT8)),
    ];
    for (name, bytes) in &bundles {
        write("bundle", name, bytes);
        write("bundle_unchecked", name, bytes);
    }

    // A session: every request once, then an upload of the tiny bundle in 1 KiB chunks and a reboot.
    let tiny = &bundles[0].1;
    let input = [0u8; 48];
    let mut session = vec![
        (1, Request::Hello { protocol: PROTOCOL_VERSION }),
        (2, Request::Info),
        (3, Request::ListTasks),
        (4, Request::SelectTask { index: 1 }),
        (5, Request::SelectTaskByName { name: "depth" }),
        (6, Request::SendInput { offset: 0, data: &input }),
        (7, Request::Run),
        (8, Request::ReadOutput { offset: 0, len: 16 }),
        (9, Request::Stats),
        (10, Request::UploadBegin { len: tiny.len() as u32, crc: m3rt::bundle::layout::crc32(tiny) }),
    ];
    for (i, chunk) in tiny.chunks(1024).enumerate() {
        session.push((11 + i as u16, Request::UploadChunk { offset: (i * 1024) as u32, data: chunk }));
    }
    session.push((100, Request::UploadCommit));
    session.push((101, Request::Info));
    session.push((102, Request::Reboot));
    session.push((103, Request::Run));
    let short = &session[..9];

    write("frame", "session.bin", &wire(short));
    write("frame", "hello.bin", &wire(&session[..1]));
    write("frame", "upload_begin.bin", &wire(&session[9..10]));
    write("frame", "junk.bin", &[0, 0, 0x42, 0x13, 0, 1, 1, 1, 0]);

    write("serve", "framed_session.bin", &framed(0, short));
    write("serve", "framed_upload_empty.bin", &framed(2 | 8, &session));
    write("serve", "raw_session.bin", &[&[0u8][..], &wire(short)].concat());
    write("serve", "framed_upload_over_model.bin", &framed(16, &session[9..]));

    // Accelerator reads: each run reads CTRL idle (start), CTRL done (wait), then STATUS, EXPERT_LOADS and
    // WEIGHT_KIB, each as its ap_vld word then its value.
    let ok_run =
        [regs::CTRL_AP_IDLE, regs::CTRL_AP_DONE, regs::OUT_AP_VLD, 0, regs::OUT_AP_VLD, 2, regs::OUT_AP_VLD, 1];
    let words = |flags: u8, fault: u8, fill: u8, w: &[u32]| {
        let mut out = vec![flags, fault, fill];
        for x in w {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    };
    write("accel_status", "two_ok_runs.bin", &words(0, 0, 0, &[ok_run, ok_run].concat()));
    let mut timeout = vec![regs::CTRL_AP_IDLE];
    timeout.extend([0u32; 70]);
    write("accel_status", "timeout.bin", &words(0, 0, 0x5a, &timeout));
    let bad = [regs::CTRL_AP_IDLE, 0, 0, regs::CTRL_AP_DONE, regs::OUT_AP_VLD, 7, 0, 0];
    write("accel_status", "bad_status_then_busy.bin", &words(0, 0, 0xff, &[&bad[..], &[0, 0]].concat()));
    write("accel_status", "write_fault.bin", &words(0, 5, 0, &ok_run));
    let mut probed = vec![regs::CTRL_AP_IDLE];
    probed.extend(std::iter::repeat_n(0u32, m3rt::accel::probe::reserved_words().count()));
    probed.extend(ok_run);
    write("accel_status", "probe_then_run.bin", &words(1, 0, 0, &probed));
}
