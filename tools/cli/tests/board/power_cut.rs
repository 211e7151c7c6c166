//! Power loss during a model upload on the host board (`m3rt_linux::FileStorage`, slot files in a folder).
//! A board serving the f32 micro model is sent the f16 one and cut: after the upload's begin, at chunk
//! boundaries, and after each of the commit's file operations (`FileStorage::cut_commit_after`). A cut is
//! the board's command loop and storage dropped at that point; a fresh board is then started on the same
//! folder and must serve the old model or the complete new one, whole: its slot bytes equal one of the two
//! bundles, and every task's output is bit-identical to the host runtime's output for that bundle. Which
//! one is also pinned: the old one until the marker's rename (the commit's ninth file operation), the new
//! one after.
//!
//! `cargo test` cuts at a sample of the chunk boundaries (the first two, every 16th, the last two) and
//! after every commit operation; `M3RT_SOAK_FULL=1` (set by `cargo xtask soak`) cuts at every boundary.
//! Leftover temporary files of earlier cuts stay in the folder throughout, as they would on a board.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use m3rt::protocol::{ErrorCode, Request, MAX_CHUNK};
use m3rt_cli::board::host::{serve_listener, slots::COMMIT_STEPS, FileStorage, HostBuffers, FIRMWARE};
use m3rt_cli::board::{BoardError, Client};
use m3rt_cli::convert::Precision;

const CAPACITY: usize = 64 << 20;

/// Bitwise CRC-32/ISO-HDLC (independent of the runtime's table-driven one).
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

/// One model: its bytes and the host runtime's output of every task on the test input.
struct Known {
    name: &'static str,
    bytes: Vec<u8>,
    outputs: Vec<Vec<u32>>,
}

/// Starts a board on the slot folder `dir` (its commits cut after `cut` file operations, if set), lets
/// `host` talk to it over one TCP connection, then drops the board: its command loop and its storage.
fn board_session(dir: &Path, cut: Option<u32>, host: impl FnOnce(&mut Client<TcpStream>)) {
    let mut storage = FileStorage::open(dir, CAPACITY).expect("the slot folder opens after any cut");
    if let Some(steps) = cut {
        storage = storage.cut_commit_after(steps);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::scope(|s| {
        let board = s.spawn(|| {
            let mut buffers = HostBuffers::new(1 << 20, 1 << 16);
            serve_listener(&listener, &mut storage, &mut buffers, Some(1), FIRMWARE)
        });
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut client = Client::new(stream);
        host(&mut client);
        drop(client);
        board.join().unwrap().unwrap();
    });
}

/// Starts a fresh board on `dir` and checks it serves `want` (one of `models`), whole: the slot bytes, the
/// fingerprint it reports, and every task's output against the host runtime's.
fn check_serves(dir: &Path, models: &[&Known; 2], want: &Known, input: &[f32], at: &str) {
    let storage = FileStorage::open(dir, CAPACITY).expect("the slot folder opens");
    let active = storage.active_bytes().unwrap_or_else(|| panic!("{at}: no model at all"));
    let which = models.iter().find(|m| m.bytes == active).unwrap_or_else(|| panic!("{at}: neither model"));
    assert_eq!(which.name, want.name, "{at}: the wrong one of the two models is active");
    drop(storage);
    board_session(dir, None, |c| {
        let info = c.hello().unwrap().model.unwrap_or_else(|| panic!("{at}: the board reports no model"));
        assert_eq!(info.fingerprint, crc32(&want.bytes[..40]), "{at}: fingerprint");
        for (task, reference) in want.outputs.iter().enumerate() {
            c.select(&task.to_string()).unwrap();
            let (out, _) = c.infer(input).unwrap();
            let bits: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
            assert!(bits == *reference, "{at}: task {task} differs from the host runtime's {} output", want.name);
        }
    });
}

/// The temporary files in the slot folder.
fn temporaries(dir: &Path) -> Vec<String> {
    let names = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    names.filter(|n| n.ends_with(".tmp")).collect()
}

/// Puts `old` back as the active model (after a cut that let the new one through).
fn restore(dir: &Path, old: &Known) {
    let mut storage = FileStorage::open(dir, CAPACITY).unwrap();
    if storage.active_bytes() != Some(&old.bytes[..]) {
        storage.install(&old.bytes).unwrap();
    }
}

#[test]
fn an_upload_cut_anywhere_leaves_the_old_model_or_the_new_one() {
    let dir = model_dir("micro").unwrap();
    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let known = |name, precision| {
        let bytes = bundle(&dir, precision).to_vec();
        let outputs = host_outputs(&bytes, &input).into_iter().map(|(o, _)| o.iter().map(|v| v.to_bits()).collect());
        Known { name, bytes, outputs: outputs.collect() }
    };
    let (old, new) = (known("f32", Precision::F32), known("f16", Precision::F16));
    assert_ne!(old.outputs, new.outputs, "the two models must compute different bits to tell them apart");
    let models = [&old, &new];
    let slots = std::env::temp_dir().join(format!("m3rt-power-cut-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&slots);
    FileStorage::open(&slots, CAPACITY).unwrap().install(&old.bytes).unwrap();

    let len = new.bytes.len();
    let chunks = len.div_ceil(MAX_CHUNK);
    let full = std::env::var("M3RT_SOAK_FULL").as_deref() == Ok("1");
    let boundaries: Vec<usize> = (0..=chunks).filter(|&k| full || k < 2 || k % 16 == 0 || k + 2 > chunks).collect();
    let begin = |c: &mut Client<TcpStream>| {
        c.call(&Request::UploadBegin { len: len as u32, crc: crc32(&new.bytes) }).unwrap();
    };
    let start = Instant::now();
    for &k in &boundaries {
        board_session(&slots, None, |c| {
            c.hello().unwrap();
            begin(c);
            c.upload_chunks(&new.bytes, 0, (k * MAX_CHUNK).min(len), &mut |_| {}).unwrap();
        });
        check_serves(&slots, &models, &old, &input, &format!("cut after chunk {k} of {chunks}"));
    }
    let chunk_time = start.elapsed();

    let start = Instant::now();
    let mut leftovers = Vec::new();
    for steps in 0..=COMMIT_STEPS {
        board_session(&slots, Some(steps), |c| {
            c.hello().unwrap();
            begin(c);
            c.upload_chunks(&new.bytes, 0, len, &mut |_| {}).unwrap();
            let result = c.call(&Request::UploadCommit).map(|_| ());
            if steps < COMMIT_STEPS {
                let e = result.expect_err("a cut commit fails");
                assert_eq!(e.downcast_ref::<BoardError>().map(|b| b.code), Some(ErrorCode::Storage), "{e:#}");
            } else {
                result.expect("a commit of all its operations succeeds");
            }
        });
        // The marker's rename is the ninth operation: up to the eighth the old model stays.
        let want = if steps < 9 { &old } else { &new };
        check_serves(&slots, &models, want, &input, &format!("cut after {steps} of the commit's operations"));
        // Cut after the create and before the rename, the slot's temporary file is left behind.
        let tmp = temporaries(&slots);
        if (1..=3).contains(&steps) {
            assert!(tmp.contains(&"slot-b.tmp".to_string()), "cut after {steps}: {tmp:?}");
        }
        leftovers.push((steps, tmp));
        restore(&slots, &old);
    }
    let commit_time = start.elapsed();

    // After all those cuts and their leftovers, a whole upload still goes through and serves.
    board_session(&slots, None, |c| {
        c.hello().unwrap();
        c.upload(&new.bytes, |_| {}).unwrap();
    });
    check_serves(&slots, &models, &new, &input, "a whole upload after the cuts");
    println!(
        "power cut: {} of {} chunk boundaries in {:.1} s, {} commit cut points in {:.1} s; every restart served \
         the old model or the whole new one (temporary files after each commit cut: {leftovers:?})",
        boundaries.len(),
        chunks + 1,
        chunk_time.as_secs_f64(),
        COMMIT_STEPS + 1,
        commit_time.as_secs_f64(),
    );
    std::fs::remove_dir_all(&slots).unwrap();
}
