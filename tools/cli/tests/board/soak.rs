//! The soak of the host board: a board process of its own (the child of `killed_process`, slot files in a
//! folder) serving the f32 micro model is sent `M3RT_SOAK_SWITCHES` task switches (default 1,000), every
//! tenth followed by an inference (the two golden inputs in turn), over a link that corrupts 1 % of the
//! frames each way (`m3rt_cli::board::Noisy`, seeded). Every answer is checked: each switch's task index
//! and output length, each output bit for bit against the host runtime's for that task and input, so a
//! corrupted frame can only cost a retry, never pass as a right answer. The board's resident memory
//! (`VmRSS` of `/proc/<pid>/status`) after the first round of every task must equal the one at the end.
//!
//! Ignored by plain `cargo test`: `cargo xtask soak` runs it with 10,000 switches, `cargo xtask ci` with
//! 1,000 (`cargo xtask soak --reduced`).

use std::time::{Duration, Instant};

use crate::common::*;
use crate::killed_process::{kill, spawn_board_stream};
use m3rt_cli::board::host::FileStorage;
use m3rt_cli::board::{Client, Noisy};
use m3rt_cli::convert::Precision;

/// The corruption's seed (any fixed value: the run is reproducible).
const SEED: u64 = 0x13;

/// Resident and peak resident memory of process `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name}"));
        line[name.len()..].trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
#[ignore = "the soak: `cargo xtask soak` (10,000 switches) or `cargo xtask soak --reduced` (in CI)"]
fn soak_host_board_with_corrupted_traffic() {
    let switches: usize = std::env::var("M3RT_SOAK_SWITCHES").map_or(1000, |v| v.parse().expect("a count"));
    let dir = model_dir("micro").unwrap();
    let bytes = bundle(&dir, Precision::F32).to_vec();
    let inputs: Vec<Vec<f32>> = (0..2).map(|i| npy_f32(&dir.join(format!("golden/input_{i}.npy"))).1).collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let reference: Vec<Vec<Vec<u32>>> =
        inputs.iter().map(|x| host_outputs(&bytes, x).into_iter().map(|(o, _)| bits(&o)).collect()).collect();
    let tasks = reference[0].len();
    assert!(tasks >= 2, "switching needs two tasks");

    let slots = std::env::temp_dir().join(format!("m3rt-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&slots);
    FileStorage::open(&slots, 64 << 20).unwrap().install(&bytes).unwrap();
    let (child, stream) = spawn_board_stream(&slots);
    let pid = child.id();
    // A lost (corrupted) response is noticed by this timeout, then the request is sent again.
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut c = Client::new(Noisy::new(stream, 100, SEED));
    c.retries = 10;
    c.hello().unwrap();
    assert_eq!(c.tasks().unwrap().0.len(), tasks);

    let check = |c: &mut Client<Noisy<_>>, task: usize, input: usize| {
        let (index, output_len) = c.select(&task.to_string()).unwrap();
        assert_eq!((index as usize, output_len as usize), (task, reference[input][task].len()));
        let (out, report) = c.infer(&inputs[input]).unwrap();
        assert_eq!(report.task as usize, task);
        assert!(bits(&out) == reference[input][task], "task {task}, input {input}: a wrong answer got through");
    };
    // Warm-up: every task once on each input, so the pages a run touches are resident.
    for t in 0..tasks {
        for i in 0..2 {
            check(&mut c, t, i);
        }
    }
    let before = memory_kib(pid);
    let start = Instant::now();
    let mut inferences = 0;
    for i in 0..switches {
        let task = (i + 1) % tasks;
        if i % 10 == 0 {
            check(&mut c, task, inferences % 2);
            inferences += 1;
        } else {
            let (index, output_len) = c.select(&task.to_string()).unwrap();
            assert_eq!((index as usize, output_len as usize), (task, reference[0][task].len()));
        }
    }
    let took = start.elapsed();
    let after = memory_kib(pid);
    let noise = c.io_mut().counts();
    println!(
        "soak: {switches} switches and {inferences} inferences in {:.1} s, every answer right; frames sent \
         {} ({} corrupted), received {} ({} corrupted), damaged frames seen by the client {}; board RSS \
         {} KiB before, {} KiB after (peak {} KiB, then {} KiB)",
        took.as_secs_f64(),
        noise.sent,
        noise.sent_corrupted,
        noise.received,
        noise.received_corrupted,
        c.damaged,
        before.0,
        after.0,
        before.1,
        after.1,
    );
    assert!(noise.sent_corrupted > 0 && noise.received_corrupted > 0, "the soak must corrupt both ways");
    assert_eq!(after.0, before.0, "the board's resident memory changed");
    kill(child);
    std::fs::remove_dir_all(&slots).unwrap();
}
