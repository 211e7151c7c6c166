//! `cargo xtask bench-report`: runs every benchmark of `benches/` and its peers in one go on this machine
//! (criterion benches, onnxruntime and numpy's OpenBLAS through `benches/ort_bench.py`, peak resident memory
//! of `m3rt run`, tract and onnxruntime measured by `/usr/bin/time`) and writes `benches/REPORT.md`,
//! `benches/report.json` and `benches/report.svg`.

mod collect;
mod render;
mod svg;
mod targets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::models;
use crate::steps::{cargo, root, target_dir, timed};

/// The command that makes the report, as printed in it.
pub const COMMAND: &str = "cargo xtask bench-report";

/// SGEMM shapes timed for the peak: square, and the head's largest 3×3 convolution as a GEMM.
/// The head's conv3 (3×3, 256 → 256 channels on 64×128) is the GEMM 256×2304×8192.
pub const GEMM_SHAPES: [(usize, usize, usize); 2] = [(1024, 1024, 1024), (256, 2304, 8192)];

/// Every figure of one report run, keyed by a dotted name (`latency.m3vit-t.semseg.e2e.tract.ms`).
pub type Figures = BTreeMap<String, f64>;

/// Facts about the run printed beside the figures.
pub struct Machine {
    /// CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// UTC date and time the run started.
    pub date: String,
    /// Peer versions (onnxruntime, numpy and its BLAS).
    pub peers: String,
    /// `/proc/loadavg` (1, 5, 15 minutes) near the end of the timed part: other work sharing the cores.
    pub load: String,
}

/// Where the generated models are (`M3RT_TEST_MODELS` or `models/` in the target directory).
fn models_dir() -> PathBuf {
    std::env::var_os("M3RT_TEST_MODELS").map(PathBuf::from).unwrap_or_else(|| target_dir().join("models"))
}

/// Runs everything and writes the report; with `reuse`, renders the last run's timings again (peak memory
/// is measured anew) without running the benches.
pub fn run(reuse: bool) -> Result<()> {
    let models = models_dir();
    let m3vit = models.join("m3vit-t");
    if !m3vit.join("model.onnx").exists() {
        bail!("{} is missing: run `cargo xtask models` first", m3vit.join("model.onnx").display());
    }
    let work = target_dir().join("bench-report");
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin)?;
    let py = timed("python venv", models::venv)?;
    let ort_script = root().join("benches/ort_bench.py");
    let nodes = capture(Command::new(&py).arg(&ort_script).arg("--encoder-nodes").arg(m3vit.join("model.onnx")))?;
    let nodes: BTreeMap<String, String> = serde_json::from_str(&nodes).context("encoder nodes JSON")?;
    let criterion_home = work.join("criterion");
    let ort_json = work.join("ort.json");
    let date_file = work.join("date.txt");
    if !reuse {
        std::fs::write(&date_file, capture(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))?)?;
        measure(&py, &ort_script, &nodes, &m3vit, &models, &work)?;
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        std::fs::write(work.join("load.txt"), load.join(" "))?;
    } else if !criterion_home.exists() || !ort_json.exists() {
        bail!("--reuse: no earlier measurements in {}", work.display());
    }
    let date = std::fs::read_to_string(&date_file).unwrap_or_default().trim().to_string();
    let mut figures = collect::criterion(&criterion_home)?;
    collect::paired(&criterion_home, &mut figures)?;
    let peers = collect::ort(&ort_json, &mut figures)?;
    timed("peak resident memory", || memory(&bin, &py, &ort_script, &m3vit, &work, &mut figures))?;
    timed("f16 weights: error against f32", || {
        let text = capture(Command::new(bin.join("m3rt-bench-f16-error")).arg(&m3vit))?;
        for line in text.lines() {
            let v: Vec<&str> = line.split_whitespace().collect();
            if let [task, max_err, max_out, rms] = v.as_slice() {
                for (what, val) in [("max-abs-err", max_err), ("max-abs-f32-output", max_out), ("rms-err", rms)] {
                    figures.insert(format!("f16.m3vit-t.{task}.{what}"), val.parse().context("f16 error figure")?);
                }
            }
        }
        Ok(())
    })?;
    collect::derive(&mut figures, &nodes);
    let load = std::fs::read_to_string(work.join("load.txt")).unwrap_or_else(|_| "unknown".into());
    let machine = Machine { cpu: cpu_model(), date, peers, load: load.trim().to_string() };
    let out = root().join("benches");
    std::fs::write(out.join("report.json"), render::json(&figures, &machine)?)?;
    std::fs::write(out.join("REPORT.md"), render::markdown(&figures, &machine))?;
    std::fs::write(out.join("report.svg"), svg::latency_chart(&figures, &machine))?;
    println!("\nwrote benches/REPORT.md, benches/report.json and benches/report.svg");
    Ok(())
}

/// The timed part: builds the binaries, runs the criterion benches and `ort_bench.py`.
fn measure(
    py: &Path,
    ort_script: &Path,
    nodes: &BTreeMap<String, String>,
    m3vit: &Path,
    models: &Path,
    work: &Path,
) -> Result<()> {
    let bin = work.join("bin");
    let criterion_home = work.join("criterion");
    let ort_json = work.join("ort.json");
    let nodes_env = nodes.iter().map(|(t, n)| format!("{t}={n}")).collect::<Vec<_>>().join(",");
    timed("build m3rt and the tract runner (release)", || {
        cargo(&["build", "--release", "-p", "m3rt-cli", "-p", "m3rt-benches", "--bins"], &[])?;
        for name in ["m3rt", "m3rt-bench-tract-run", "m3rt-bench-f16-error"] {
            std::fs::copy(target_dir().join("release").join(name), bin.join(name))
                .with_context(|| format!("copy {name}"))?;
        }
        Ok(())
    })?;
    let _ = std::fs::remove_dir_all(&criterion_home);
    let models_env = models.to_string_lossy().into_owned();
    let home_env = criterion_home.to_string_lossy().into_owned();
    timed("criterion benches (m3rt, tract, matrixmultiply)", || {
        cargo(
            &["bench", "-p", "m3rt-benches", "--benches"],
            &[
                ("CRITERION_HOME", home_env.as_str()),
                ("M3RT_TEST_MODELS", models_env.as_str()),
                ("M3RT_BENCH_ENCODER_NODES", nodes_env.as_str()),
            ],
        )
    })?;
    let micro = root().join("models/micro");
    timed("onnxruntime and numpy (benches/ort_bench.py)", || {
        let mut cmd = Command::new(py);
        cmd.arg(ort_script);
        for (name, dir) in [("micro", micro.as_path()), ("m3vit-t", m3vit)] {
            cmd.arg("--model").arg(model_spec(name, dir));
        }
        for (m, k, n) in GEMM_SHAPES {
            cmd.arg("--gemm").arg(format!("{m}x{k}x{n}"));
        }
        cmd.args(["--runs", "10", "--out"]).arg(&ort_json);
        crate::steps::run(&mut cmd)
    })?;
    Ok(())
}

/// `NAME=ONNX:INPUT` for `ort_bench.py`.
fn model_spec(name: &str, dir: &Path) -> String {
    format!("{name}={}:{}", dir.join("model.onnx").display(), dir.join("golden/input_0.npy").display())
}

/// Peak resident memory (MB) of one semseg inference per engine, each a fresh process under `/usr/bin/time`
/// (and of two m3rt runs, which keep the weights resident), and the runtime's scratch size from
/// `m3rt inspect`.
fn memory(bin: &Path, py: &Path, script: &Path, m3vit: &Path, work: &Path, figures: &mut Figures) -> Result<()> {
    let bundle = work.join("m3vit-t.m3b");
    let onnx = m3vit.join("model.onnx");
    let input = m3vit.join("golden/input_0.npy");
    crate::steps::run(Command::new(bin.join("m3rt")).arg("convert").arg(&onnx).arg("-o").arg(&bundle))?;
    let inspect = capture(Command::new(bin.join("m3rt")).arg("inspect").arg(&bundle))?;
    if let Some(bytes) = collect::scratch_bytes(&inspect) {
        figures.insert("memory.m3vit-t.m3rt-scratch.mb".into(), bytes / 1e6);
    }
    let bundle_f16 = work.join("m3vit-t-f16.m3b");
    crate::steps::run(
        Command::new(bin.join("m3rt"))
            .arg("convert")
            .arg(&onnx)
            .arg("-o")
            .arg(&bundle_f16)
            .args(["--precision", "f16"]),
    )?;
    let m3rt_run = |bundle: &Path| {
        let mut cmd = Command::new(bin.join("m3rt"));
        cmd.arg("run").arg("--model").arg(bundle).args(["--task", "semseg", "--input"]).arg(&input);
        cmd
    };
    let (m3rt, m3rt_f16) = (m3rt_run(&bundle), m3rt_run(&bundle_f16));
    // Two runs keep every weight page mapped between them (a single run releases each stage's pages).
    let mut resident = m3rt_run(&bundle);
    resident.args(["--repeat", "2"]);
    let mut tract = Command::new(bin.join("m3rt-bench-tract-run"));
    tract.arg(&onnx).arg("semseg").arg(&input);
    let mut ort = Command::new(py);
    ort.arg(script).arg("--model").arg(model_spec("m3vit-t", m3vit)).args(["--once", "semseg"]);
    let mut python = Command::new(py);
    python.args(["-c", "import numpy, onnx, onnxruntime"]);
    let runs = [
        ("m3rt", m3rt),
        ("m3rt-f16", m3rt_f16),
        ("m3rt-resident", resident),
        ("tract", tract),
        ("onnxruntime", ort),
        ("python-imports", python),
    ];
    for (name, cmd) in runs {
        let kb = max_rss_kb(cmd)?;
        figures.insert(format!("memory.m3vit-t.{name}.mb"), kb * 1024.0 / 1e6);
    }
    Ok(())
}

/// Runs `cmd` under `/usr/bin/time -f %M` and returns its peak resident set in KiB.
fn max_rss_kb(cmd: Command) -> Result<f64> {
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "maxrss_kb=%M"]).arg(cmd.get_program()).args(cmd.get_args());
    let out = timed.current_dir(root()).output().context("could not start /usr/bin/time")?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{:?} failed: {err}", cmd.get_program());
    }
    err.lines()
        .rev()
        .find_map(|l| l.strip_prefix("maxrss_kb=")?.trim().parse().ok())
        .with_context(|| format!("no maxrss in {err}"))
}

/// Runs a command and returns its standard output; fails on a non-zero exit.
fn capture(cmd: &mut Command) -> Result<String> {
    let out = cmd.current_dir(root()).output().with_context(|| format!("could not start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The CPU model name from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
