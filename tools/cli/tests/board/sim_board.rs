//! The host simulator's virtual board (`m3rt serve --board sim`) passes the serial exchanges the QEMU boards
//! pass — hello, tasks, switch, infer, stats — over TCP with the `m3rt board` client: the outputs are the
//! fixed-point backend's bit for bit (the C-simulated IP computes them), and the run time the board reports
//! is the simulator's latency for that input, as `m3rt_sim::profile` computes it on its own (the routes of
//! the fixed-point engine; the board's come from the IP's trace). Times are SIMULATED.

use std::net::{TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::*;
use m3rt::accel::place::{Placement, WeightPlacement};
use m3rt::backend::{Backend, FixedBackend};
use m3rt::bundle::Bundle;
use m3rt::fixed::WeightMode;
use m3rt_cli::backends::sim_board_backend;
use m3rt_cli::board::host::{serve_line_on, FileStorage, HostBuffers, ListenerLine};
use m3rt_cli::board::Client;
use m3rt_cli::convert::Precision;
use m3rt_cli::golden::seeded_input;
use m3rt_sim::board::{virtual_board, LastRun};
use m3rt_sim::Design;

static BOARD: OnceLock<LastRun> = OnceLock::new();

fn sim_micros() -> u64 {
    BOARD.get().map_or(0, |b| b.now_us())
}

#[test]
fn the_virtual_board_serves_hello_tasks_switch_infer_and_stats() {
    let bytes = bundle(&model_dir("micro").unwrap(), Precision::Fixed16).to_vec();
    let b = Bundle::parse(&bytes).unwrap();
    let h = *b.hyper();
    let input = seeded_input(3 * (h.image_h * h.image_w) as usize, 19);
    // The fixed-point backend's outputs, and the simulator's own latency per task on this input.
    let mut scratch = vec![0f32; FixedBackend::new(&mut []).scratch_words(&b)];
    let mut fb = FixedBackend::new(&mut scratch);
    let mut fixed = fb.load(Bundle::parse(&bytes).unwrap()).unwrap();
    let design = Design::zcu104();
    let mut want = Vec::new();
    for t in 0..b.task_count() {
        fixed.select_task(t).unwrap();
        let mut out = vec![0f32; fixed.output_len().unwrap()];
        fixed.run(&input, &mut out).unwrap();
        let r = m3rt_sim::profile(&design, &bytes, t, &input).unwrap();
        want.push((out, r.end_to_end().seconds * 1e6));
    }

    let dir = std::env::temp_dir().join(format!("m3rt-sim-board-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut storage = FileStorage::open(&dir, 64 << 20).unwrap();
    storage.install(&bytes).unwrap();
    let dma = Placement::new(&b, WeightPlacement::Copy).unwrap().total;
    let (bus, mem, clock, last) = virtual_board(design, WeightMode::Fixed16, dma);
    BOARD.set(last.clone()).ok().expect("one virtual board in this test binary");
    let staging = (b.max_out_channels().max(3) * h.image_h * h.image_w) as usize;
    let mut buffers = HostBuffers::new(FixedBackend::new(&mut []).scratch_words(&b), staging).with_clock(sim_micros);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    std::thread::scope(|s| {
        let board = s.spawn(|| {
            serve_line_on(ListenerLine::new(&listener, Some(1)), &mut storage, &mut buffers, "virtual", |scratch| {
                sim_board_backend(bus, mem, clock, WeightMode::Fixed16, scratch)
            })
        });
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Client::new(stream);
        let info = c.hello().unwrap();
        assert_eq!((info.backend.as_str(), info.fallback), ("accel", None));
        assert_eq!(info.model.map(|m| (m.tasks, m.image_h, m.image_w)), Some((2, h.image_h, h.image_w)));
        let (tasks, selected) = c.tasks().unwrap();
        assert_eq!((tasks.len(), selected), (2, 0));
        for (t, (want_out, want_us)) in tasks.iter().zip(&want).rev() {
            let (index, len) = c.select(&t.name).unwrap();
            assert_eq!(len as usize, want_out.len());
            let (got, report) = c.infer(&input).unwrap();
            assert!(got.iter().zip(want_out).all(|(a, b)| a.to_bits() == b.to_bits()), "task {}: bits", t.name);
            // The board's clock counts whole simulated microseconds at both ends of the run.
            let us = f64::from(report.micros.expect("the virtual board times its runs"));
            assert!((us - want_us).abs() <= 1.0, "task {}: board {us} µs, simulator {want_us:.1} µs", t.name);
            let stats = c.stats().unwrap();
            assert_eq!((stats.task, stats.micros), (index, report.micros));
            assert!(stats.accel.is_some_and(|a| a.expert_loads > 0 && a.weight_kib > 0));
            let sim = last.report().expect("the board's profile of the run");
            assert!((sim.end_to_end().seconds * 1e6 - want_us).abs() < 1e-6, "the board costs what profile costs");
        }
        drop(c);
        board.join().unwrap().unwrap();
    });
    let _ = std::fs::remove_dir_all(dir);
}
