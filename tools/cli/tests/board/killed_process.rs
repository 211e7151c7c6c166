//! The host board's file-backed A/B slots survive a killed process: a child process serves the slots, is
//! killed with SIGKILL in the middle of an upload, and the old model is the one that loads afterwards; a
//! complete upload survives the same kill.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use m3rt::bundle::layout::crc32;
use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::engine::Engine;
use m3rt::protocol::{Request, Slot};
use m3rt_cli::board::host::{serve_listener, FileStorage, HostBuffers, FIRMWARE};
use m3rt_cli::board::Client;
use m3rt_cli::convert::Precision;

const SLOTS_ENV: &str = "M3RT_TEST_HOST_BOARD_SLOTS";

/// Not a test of its own: the child process of `slots_survive_a_killed_process` (run with `--ignored`).
#[test]
#[ignore = "child process of slots_survive_a_killed_process"]
fn child_host_board() {
    let dir = PathBuf::from(std::env::var(SLOTS_ENV).expect("run by slots_survive_a_killed_process"));
    let mut storage = FileStorage::open(&dir, 64 << 20).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("LISTENING {}", listener.local_addr().unwrap());
    serve_listener(&listener, &mut storage, &mut HostBuffers::new(1 << 20, 1 << 16), None, FIRMWARE).unwrap();
}

/// Starts the child board on `dir`; returns it and a connected client.
fn spawn_board(dir: &Path) -> (Child, Client<TcpStream>) {
    let (child, stream) = spawn_board_stream(dir);
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    (child, Client::new(stream))
}

/// Starts the child board (a process of its own) on the slot folder `dir`; returns it and a connection.
pub(crate) fn spawn_board_stream(dir: &Path) -> (Child, TcpStream) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "killed_process::child_host_board", "--nocapture", "--test-threads=1"])
        .env(SLOTS_ENV, dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest may print "test child_host_board ... " on the same line first.
        .find_map(|l| l.split_once("LISTENING ").map(|(_, addr)| addr.trim().to_string()))
        .expect("the child board prints its address");
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    (child, stream)
}

pub(crate) fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL: no destructor, no flush runs in the child
    child.wait().unwrap();
}

fn fingerprint(b: &[u8]) -> u32 {
    crc32(&b[..40])
}

#[test]
fn slots_survive_a_killed_process() {
    let dir = model_dir("micro").unwrap();
    let f32_bytes = bundle(&dir, Precision::F32).to_vec();
    let f16_bytes = bundle(&dir, Precision::F16).to_vec();
    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let slots = std::env::temp_dir().join(format!("m3rt-host-board-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&slots);
    FileStorage::open(&slots, 64 << 20).unwrap().install(&f32_bytes).unwrap();

    // Killed halfway through an upload of the f16 model.
    let (child, mut c) = spawn_board(&slots);
    assert_eq!(c.hello().unwrap().model.unwrap().fingerprint, fingerprint(&f32_bytes));
    c.call(&Request::UploadBegin { len: f16_bytes.len() as u32, crc: crc32(&f16_bytes) }).unwrap();
    c.upload_chunks(&f16_bytes, 0, f16_bytes.len() / 2, &mut |_| {}).unwrap();
    kill(child);
    let storage = FileStorage::open(&slots, 64 << 20).unwrap();
    assert_eq!(storage.active_bytes(), Some(&f32_bytes[..]), "the old model must stay active");

    // The next process runs the old model, bit-identical to the host engine; a full upload then survives
    // the same kill.
    let (child, mut c) = spawn_board(&slots);
    let m = c.hello().unwrap().model.unwrap();
    assert_eq!((m.slot, m.fingerprint), (Slot::A, fingerprint(&f32_bytes)));
    let (out, _) = c.infer(&input).unwrap();
    let aligned = AlignedBytes::from_slice(&f32_bytes);
    let host = Bundle::parse(&aligned).unwrap();
    let mut scratch = vec![0f32; host.scratch_floats()];
    let mut engine = Engine::new(host, &mut scratch).unwrap();
    let mut reference = vec![0f32; engine.output_len().unwrap()];
    engine.run(&input, &mut reference).unwrap();
    assert_eq!(
        out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        reference.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let (slot, fp) = c.upload(&f16_bytes, |_| {}).unwrap();
    assert_eq!((slot, fp), (Slot::B, fingerprint(&f16_bytes)));
    kill(child);
    let storage = FileStorage::open(&slots, 64 << 20).unwrap();
    assert_eq!(storage.active_bytes(), Some(&f16_bytes[..]));
    let (child, mut c) = spawn_board(&slots);
    let m = c.hello().unwrap().model.unwrap();
    assert_eq!((m.slot, m.fingerprint), (Slot::B, fingerprint(&f16_bytes)));
    kill(child);
    std::fs::remove_dir_all(&slots).unwrap();
}
