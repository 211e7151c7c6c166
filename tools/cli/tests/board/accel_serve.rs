//! A board whose accelerator is the C-simulated IP, served over TCP as `m3rt serve --backend csim` serves it
//! and driven by the `m3rt board` client: every task's output is bit for bit the fixed-point backend's on
//! `micro` and `m3vit-t`, the stats carry the IP's counters; an accelerator that faults (a bus error on the
//! status register, an IP that never finishes) gives its typed error over the wire, the board falls back on
//! the fixed-point engine, says why in the hello exchange, and keeps answering with the same bits.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;
use m3rt::accel::bus::{BusFault, PollClock, RegisterBus};
use m3rt::accel::place::{Placement, WeightPlacement};
use m3rt::accel::regfile::ControlRegisters;
use m3rt::accel::regs;
use m3rt::backend::{AccelBackend, AccelConfig, Backend, Fallback, FixedBackend};
use m3rt::bundle::Bundle;
use m3rt::fixed::WeightMode;
use m3rt::protocol::ErrorCode;
use m3rt_cli::backends::csim_board_backend;
use m3rt_cli::board::host::{serve_line_on, FileStorage, HostBuffers, ListenerLine, FIRMWARE};
use m3rt_cli::board::{BoardError, Client};
use m3rt_cli::convert::Precision;
use m3rt_cli::golden::seeded_input;
use m3rt_hls::csim_bus::{csim_ip, ip_profile};

/// The fixed-point backend's output of every task of `bytes` on `input`, and the experts each run read.
fn fixed_outputs(bytes: &[u8], input: &[f32]) -> Vec<(Vec<f32>, u32)> {
    let b = Bundle::parse(bytes).unwrap();
    let mut scratch = vec![0f32; FixedBackend::new(&mut []).scratch_words(&b)];
    let mut backend = FixedBackend::new(&mut scratch);
    let mut m = backend.load(b).unwrap();
    (0..b.task_count())
        .map(|t| {
            m.select_task(t).unwrap();
            let mut out = vec![0f32; m.output_len().unwrap()];
            m.run(input, &mut out).unwrap();
            (out, m.counters().expert_loads.iter().sum())
        })
        .collect()
}

/// Slots in a fresh temporary folder holding `bytes`.
fn slots_with(bytes: &[u8], name: &str) -> (PathBuf, FileStorage) {
    let dir = std::env::temp_dir().join(format!("m3rt-accel-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut storage = FileStorage::open(&dir, 128 << 20).unwrap();
    storage.install(bytes).unwrap();
    (dir, storage)
}

/// Host buffers big enough for the fixed-point fallback of `bytes` and its staging.
fn buffers_for(bytes: &[u8]) -> HostBuffers {
    let b = Bundle::parse(bytes).unwrap();
    let h = b.hyper();
    let staging = (b.max_out_channels().max(3) * h.image_h * h.image_w) as usize;
    HostBuffers::new(FixedBackend::new(&mut []).scratch_words(&b), staging)
}

fn connect(listener: &TcpListener) -> Client<TcpStream> {
    let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    Client::new(stream)
}

fn board_error(e: anyhow::Error) -> BoardError {
    *e.downcast_ref::<BoardError>().unwrap_or_else(|| panic!("not a board error: {e:#}"))
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn serves_the_fixed_bits(model: &str) {
    let Some(dir) = model_dir(model) else { return };
    let bytes = bundle(&dir, Precision::Fixed16).to_vec();
    let b = Bundle::parse(&bytes).unwrap();
    let input = seeded_input(3 * (b.hyper().image_h * b.hyper().image_w) as usize, 11);
    let want = fixed_outputs(&bytes, &input);
    let dma = Placement::new(&b, WeightPlacement::Copy).unwrap().total;
    let (slots, mut storage) = slots_with(&bytes, model);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut buffers = buffers_for(&bytes);
    std::thread::scope(|s| {
        let board = s.spawn(|| {
            let line = ListenerLine::new(&listener, Some(1));
            serve_line_on(line, &mut storage, &mut buffers, FIRMWARE, |scratch| {
                csim_board_backend(WeightMode::Fixed16, dma, scratch)
            })
        });
        let mut c = connect(&listener);
        let info = c.hello().unwrap();
        assert_eq!((info.backend.as_str(), info.fallback), ("accel", None));
        let (tasks, _) = c.tasks().unwrap();
        for (t, (want, experts)) in tasks.iter().zip(&want) {
            c.select(&t.name).unwrap();
            let (got, _) = c.infer(&input).unwrap();
            assert!(
                same_bits(&got, want),
                "{model} task {}: the served output differs from the fixed backend's",
                t.name
            );
            let accel = c.stats().unwrap().accel.expect("the accelerator's counters");
            assert_eq!(accel.expert_loads, *experts, "{model} task {}: experts fetched", t.name);
        }
        drop(c);
        board.join().unwrap().unwrap();
    });
    let _ = std::fs::remove_dir_all(slots);
}

#[test]
fn a_csim_board_serves_the_fixed_bits_on_micro() {
    serves_the_fixed_bits("micro");
}

#[test]
fn a_csim_board_serves_the_fixed_bits_on_m3vit_t() {
    serves_the_fixed_bits("m3vit-t");
}

/// The C-simulated IP with one fault: reads of `STATUS` fail, or (the control slave alone) it never finishes.
enum Faulty {
    Status(m3rt_hls::csim_bus::CsimBus),
    NeverDone(ControlRegisters),
}

impl RegisterBus for Faulty {
    fn read32(&mut self, offset: u32) -> Result<u32, BusFault> {
        match self {
            Faulty::Status(_) if offset == regs::STATUS => Err(BusFault),
            Faulty::Status(bus) => bus.read32(offset),
            Faulty::NeverDone(r) => r.read(offset),
        }
    }
    fn write32(&mut self, offset: u32, value: u32) -> Result<(), BusFault> {
        match self {
            Faulty::Status(bus) => bus.write32(offset, value),
            Faulty::NeverDone(r) => r.write(offset, value).map(|_| ()),
        }
    }
}

/// Serves `micro` on an accelerator whose bus is `bus`, falling back on the fixed-point engine; the first
/// run must fail with `code`/`detail`, then the board serves the fixed bits and says why.
fn falls_back(never_done: bool, clock: PollClock, code: ErrorCode, detail: u32, name: &str) {
    let bytes = bundle(&model_dir("micro").unwrap(), Precision::Fixed16).to_vec();
    let b = Bundle::parse(&bytes).unwrap();
    let input = seeded_input(3 * (b.hyper().image_h * b.hyper().image_w) as usize, 13);
    let want = fixed_outputs(&bytes, &input);
    let dma_len = Placement::new(&b, WeightPlacement::Copy).unwrap().total;
    let (csim, dma) = csim_ip(WeightMode::Fixed16, dma_len);
    let bus = if never_done { Faulty::NeverDone(ControlRegisters::new()) } else { Faulty::Status(csim) };
    let config = AccelConfig { timeout_us: 1000, ..AccelConfig::new(ip_profile(WeightMode::Fixed16)) };
    let (slots, mut storage) = slots_with(&bytes, name);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut buffers = buffers_for(&bytes);
    std::thread::scope(|s| {
        let board = s.spawn(|| {
            let line = ListenerLine::new(&listener, Some(1));
            serve_line_on(line, &mut storage, &mut buffers, FIRMWARE, |scratch| {
                Fallback::new(AccelBackend::new(bus, dma, clock, config), FixedBackend::new(scratch))
            })
        });
        let mut c = connect(&listener);
        assert_eq!(c.hello().unwrap().backend, "accel");
        let e = board_error(c.infer(&input).unwrap_err());
        assert_eq!((e.code, e.detail), (code, detail), "{name}: the fault arrives as itself ({e})");
        // The loop keeps answering, now on the fallback, and says why.
        let info = c.hello().unwrap();
        assert_eq!(info.backend, "fixed");
        assert_eq!(info.fallback, Some(BoardError { code, detail }));
        assert_eq!(info.model.map(|m| m.task), Some(0));
        let (got, _) = c.infer(&input).unwrap();
        assert!(same_bits(&got, &want[0].0), "{name}: the fallback's output differs from the fixed backend's");
        c.select("depth").unwrap();
        let (got, _) = c.infer(&input).unwrap();
        assert!(same_bits(&got, &want[1].0));
        assert_eq!(c.stats().unwrap().accel, None, "the fallback has no accelerator counters");
        drop(c);
        board.join().unwrap().unwrap();
    });
    let _ = std::fs::remove_dir_all(slots);
}

#[test]
fn a_bus_fault_falls_back_on_the_fixed_engine_and_the_board_keeps_answering() {
    falls_back(false, PollClock::new(), ErrorCode::BusFault, regs::STATUS, "bus-fault");
}

#[test]
fn an_accelerator_timeout_falls_back_on_the_fixed_engine() {
    // The poll clock counts a microsecond per poll: the bound of 1000 is passed at the 1001st.
    falls_back(true, PollClock::new(), ErrorCode::AccelTimeout, 1001, "timeout");
}

#[test]
fn m3rt_serve_backend_csim_serves_the_fixed_bits() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let bytes = bundle(&model_dir("micro").unwrap(), Precision::Fixed16).to_vec();
    let b = Bundle::parse(&bytes).unwrap();
    let input = seeded_input(3 * (b.hyper().image_h * b.hyper().image_w) as usize, 17);
    let want = fixed_outputs(&bytes, &input);
    let dir = std::env::temp_dir().join(format!("m3rt-serve-csim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("micro-q16.m3b");
    std::fs::write(&model, &bytes).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_m3rt"))
        .args(["serve", "--backend", "csim", "--tcp", "127.0.0.1:0", "--dma-mib", "64", "--model"])
        .arg(&model)
        .arg("--slots")
        .arg(dir.join("slots"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
    let addr = lines
        .filter_map(|l| l.split_once("listening on ").map(|(_, rest)| rest.split(' ').next().unwrap().to_string()))
        .next()
        .expect("m3rt serve prints its address");
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut c = Client::new(stream);
    let info = c.hello().unwrap();
    assert_eq!((info.backend.as_str(), info.fallback), ("accel", None));
    for (t, (want, _)) in c.tasks().unwrap().0.iter().zip(&want) {
        c.select(&t.name).unwrap();
        let (got, _) = c.infer(&input).unwrap();
        assert!(same_bits(&got, want), "task {}: m3rt serve --backend csim differs from the fixed backend", t.name);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
