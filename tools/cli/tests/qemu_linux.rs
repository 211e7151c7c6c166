//! The Linux userspace board (`boards/zcu104-linux`'s `m3rt-board`, cross-built for
//! `aarch64-unknown-linux-gnu`) run under `qemu-aarch64` user-mode emulation and driven through the protocol
//! client: over TCP, hello, tasks, 100 task switches, inference on every task bit-identical to the host
//! runtime with the portable kernels forced (aarch64 has no AVX2/FMA path), a complete upload that switches
//! slots, then `kill -9` in the middle of an upload and right after a committed one: each restart serves the
//! last committed model. Over a pseudo-terminal pair: the serial path (`--port`, raw mode via serialport).
//!
//! Ignored by plain `cargo test` (it needs the cross build and `qemu-user`): `cargo xtask qemu` runs it with
//! `--ignored`, passing `M3RT_QEMU_MODEL` (the f32 micro bundle) and `M3RT_LINUX_BOARD` (the binary). Every
//! emulated process is killed when its handle drops; every wait has a timeout.

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use m3rt::bundle::layout::crc32;
use m3rt::protocol::{Request, Slot};
use m3rt_cli::board::host::FileStorage;
use m3rt_cli::board::Client;
use m3rt_cli::convert::Precision;
use serialport::SerialPort;

/// Longest wait for the emulated board to say where it serves.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Read timeout of every exchange (the emulated A53 runs micro in well under a second).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run `cargo xtask qemu`")))
}

/// `m3rt-board` under `qemu-aarch64`; killed with SIGKILL when dropped.
struct Board(Child);

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the board on the slot folder `slots` with `args`; returns it and the line saying where it serves.
fn start(slots: &Path, args: &[&str]) -> (Board, String) {
    let mut child = Command::new("qemu-aarch64")
        .arg(env_path("M3RT_LINUX_BOARD"))
        .arg("--slots")
        .arg(slots)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting qemu-aarch64 (apt-get install qemu-user)");
    let stdout = child.stdout.take().expect("piped stdout");
    let board = Board(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("  [m3rt-board] {line}");
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(START_TIMEOUT).expect("the board prints where it serves, then keeps running");
    (board, line)
}

/// Starts the board on TCP (any free port) and connects a client.
fn start_tcp(slots: &Path, model: Option<&Path>) -> (Board, Client<TcpStream>) {
    let model = model.map(|m| m.to_str().expect("a UTF-8 model path"));
    let mut args = vec!["--tcp", "127.0.0.1:0"];
    args.extend(model.iter().flat_map(|m| ["--model", m]));
    let (board, line) = start(slots, &args);
    let addr = line.split_once("listening on ").and_then(|(_, rest)| rest.split(' ').next()).expect("an address");
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    (board, Client::new(stream))
}

fn fingerprint(b: &[u8]) -> u32 {
    crc32(&b[..40])
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Runs every task on the board and compares with `reference`, bit for bit.
fn check_all_tasks<T: std::io::Read + std::io::Write>(c: &mut Client<T>, input: &[f32], reference: &[Vec<f32>]) {
    for (t, want) in reference.iter().enumerate() {
        c.select(&t.to_string()).unwrap();
        let t0 = Instant::now();
        let (out, report) = c.infer(input).unwrap();
        assert_eq!(bits(&out), bits(want), "task {t}: the board differs from the host runtime's portable build");
        println!(
            "task {t}: {} values bit-identical to the host; board run {}, round trip {:.1} ms",
            out.len(),
            report.micros.map_or("time not reported (no board timer)".to_string(), |us| format!("{us} µs")),
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// The models of the test: the f32 bundle the board is given, an f16 one to upload, the input, and the
/// host references (portable kernels) of every task of each.
struct Models {
    f32_path: PathBuf,
    f32: Vec<u8>,
    f16: Vec<u8>,
    input: Vec<f32>,
    ref32: Vec<Vec<f32>>,
    ref16: Vec<Vec<f32>>,
}

fn models() -> Models {
    // The board runs the portable kernels (no AVX2 on aarch64); the host reference runs them too.
    m3rt::kernels::simd::set_portable(true);
    let f32_path = env_path("M3RT_QEMU_MODEL");
    let micro = model_dir("micro").unwrap();
    let f32 = std::fs::read(&f32_path).unwrap();
    let f16 = bundle(&micro, Precision::F16).to_vec();
    let (_, input) = npy_f32(&micro.join("golden/input_0.npy"));
    let outputs = |b: &[u8]| -> Vec<Vec<f32>> {
        let aligned = m3rt::bundle::AlignedBytes::from_slice(b);
        host_outputs(&aligned, &input).into_iter().map(|(o, _)| o).collect()
    };
    let (ref32, ref16) = (outputs(&f32), outputs(&f16));
    assert_ne!(bits(&ref32[0]), bits(&ref16[0]), "the two models must differ for a switch to show");
    Models { f32_path, f32, f16, input, ref32, ref16 }
}

fn slot_folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("m3rt-linux-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
#[ignore = "needs the aarch64 cross build and qemu-user: run by `cargo xtask qemu`"]
fn qemu_aarch64_board_serves_uploads_and_survives_kill_9() {
    let m = models();
    let slots = slot_folder("tcp");
    let started = Instant::now();
    let (board, mut c) = start_tcp(&slots, Some(&m.f32_path));
    let info = c.hello().unwrap();
    println!("hello {:.2} s after the start: {info:?}", started.elapsed().as_secs_f64());
    assert!(info.firmware.starts_with("m3rt-zcu104-linux "), "firmware {:?}", info.firmware);
    assert_eq!(info.backend, "cpu");
    let model = info.model.expect("--model installed a model");
    assert_eq!((model.slot, model.fingerprint, model.tasks as usize), (Slot::A, fingerprint(&m.f32), m.ref32.len()));
    let (tasks, selected) = c.tasks().unwrap();
    let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
    assert_eq!((names.len(), selected), (m.ref32.len(), 0));

    let t0 = Instant::now();
    for i in 0..100 {
        let t = (i + 1) % names.len();
        assert_eq!(c.select(&names[t]).unwrap(), (t as u32, m.ref32[t].len() as u32));
    }
    println!("task switch round trip {:.3} ms (mean of 100, by name)", t0.elapsed().as_secs_f64() * 1e3 / 100.0);
    check_all_tasks(&mut c, &m.input, &m.ref32);

    // A complete upload (m3rt flash's path through the client) switches slots.
    let t0 = Instant::now();
    let (slot, fp) = c.upload(&m.f16, |_| {}).unwrap();
    println!("uploaded f16 micro ({} bytes) in {:.2} s", m.f16.len(), t0.elapsed().as_secs_f64());
    assert_eq!((slot, fp), (Slot::B, fingerprint(&m.f16)));
    check_all_tasks(&mut c, &m.input, &m.ref16);

    // kill -9 halfway through the next upload: the slot files still hold the committed model.
    c.call(&Request::UploadBegin { len: m.f32.len() as u32, crc: crc32(&m.f32) }).unwrap();
    c.upload_chunks(&m.f32, 0, m.f32.len() / 2, &mut |_| {}).unwrap();
    drop(board);
    let on_disk = FileStorage::open(&slots, 64 << 20).unwrap();
    assert_eq!(on_disk.active_bytes(), Some(&m.f16[..]), "a cut upload must leave the committed model");

    // The restarted board serves it; a complete upload then survives kill -9 right after its commit.
    let (board, mut c) = start_tcp(&slots, None);
    let model = c.hello().unwrap().model.expect("the committed model");
    assert_eq!((model.slot, model.fingerprint), (Slot::B, fingerprint(&m.f16)), "after kill -9 mid-upload");
    check_all_tasks(&mut c, &m.input, &m.ref16[..1]);
    assert_eq!(c.upload(&m.f32, |_| {}).unwrap(), (Slot::A, fingerprint(&m.f32)));
    drop(board);

    // Restarted with `--model` naming the active model: nothing is rewritten, slot A stays active.
    let (_board, mut c) = start_tcp(&slots, Some(&m.f32_path));
    let model = c.hello().unwrap().model.expect("the committed model");
    assert_eq!((model.slot, model.fingerprint), (Slot::A, fingerprint(&m.f32)), "after kill -9 post-commit");
    check_all_tasks(&mut c, &m.input, &m.ref32);
    drop((_board, c));
    std::fs::remove_dir_all(&slots).unwrap();
}

#[test]
#[ignore = "needs the aarch64 cross build and qemu-user: run by `cargo xtask qemu`"]
fn qemu_aarch64_board_serves_a_serial_tty() {
    let m = models();
    let slots = slot_folder("tty");
    // The host keeps the pty's master; the board opens the slave by name, as it opens /dev/ttyPS1.
    let (mut master, slave) = serialport::TTYPort::pair().expect("a pseudo-terminal pair");
    master.set_timeout(READ_TIMEOUT).unwrap();
    let device = slave.name().expect("the slave side has a device name");
    let model = m.f32_path.to_str().expect("a UTF-8 model path");
    let (board, line) = start(&slots, &["--port", &device, "--baud", "115200", "--model", model]);
    assert!(line.contains(&format!("serving on {device} at 115200 baud")), "{line}");
    let mut c = Client::new(master);
    let info = c.hello().unwrap();
    assert!(info.firmware.starts_with("m3rt-zcu104-linux "), "firmware {:?}", info.firmware);
    assert_eq!(info.model.map(|i| (i.slot, i.fingerprint)), Some((Slot::A, fingerprint(&m.f32))));
    assert_eq!(c.tasks().unwrap().0.len(), m.ref32.len());
    check_all_tasks(&mut c, &m.input, &m.ref32);
    drop(board);
    drop((c, slave));
    std::fs::remove_dir_all(&slots).unwrap();
}
