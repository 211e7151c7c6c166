//! `REPORT.md` and `report.json` from the figures of one run.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::{Figures, Machine, COMMAND, GEMM_SHAPES};

/// `report.json`: the machine, the command and every figure keyed by name.
pub fn json(f: &Figures, m: &Machine) -> Result<String> {
    let figures: Map<String, Value> = f.iter().map(|(k, v)| (k.clone(), json!(round(*v)))).collect();
    let doc = json!({
        "measured_on": { "cpu": m.cpu, "date": m.date, "threads": 1, "peers": m.peers, "loadavg": m.load },
        "command": COMMAND,
        "units": "keys end in their unit: ms, ns, mb (10^6 bytes), gflops, pct; ratio.* are peer / m3rt",
        "figures": figures,
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

fn round(v: f64) -> f64 {
    if v.abs() >= 100.0 {
        (v * 100.0).round() / 100.0
    } else {
        (v * 10000.0).round() / 10000.0
    }
}

/// A figure formatted with `prec` decimals, or a dash when it was not measured.
fn fig(f: &Figures, key: &str, prec: usize) -> String {
    f.get(key).map_or_else(|| "–".into(), |v| format!("{v:.prec$}"))
}

/// A ratio as `N.NN×`, or a dash.
fn ratio(f: &Figures, key: &str) -> String {
    f.get(key).map_or_else(|| "–".into(), |&v| times(v))
}

/// `N.NN×`, in scientific notation from 1000 up.
fn times(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.1e}×")
    } else {
        format!("{v:.2}×")
    }
}

/// `REPORT.md`: one main table of ratios against the peers, then a short table per subject.
pub fn markdown(f: &Figures, m: &Machine) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# M3RT CPU benchmark report\n");
    let _ = writeln!(
        w,
        "Measured on this machine: **{}**, **1 thread** for every engine (2-thread onnxruntime separately), \
         {}. Peers: {}, tract 0.23.9 (in process, optimized), matrixmultiply 0.3; onnxruntime and tract \
         both run the ONNX pruned to the task output. Made by `{COMMAND}` (criterion medians with few \
         samples, onnxruntime medians of 10 after 3 warm-ups). \
         Load average (1, 5, 15 min) near the end of the timed part: {} on {} logical CPUs. Figures move with \
         the machine's load (on a shared machine, 2-thread figures can even be slower than 1-thread ones); \
         ratios are within one run.\n",
        m.cpu,
        m.date,
        m.peers,
        m.load,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = writeln!(w, "![latency per engine](report.svg)\n");
    main_table(w, f);
    super::targets::table(w, f);
    latency_tables(w, f);
    let _ = writeln!(w, "\n## Single-core SGEMM (machine peak)\n");
    let _ = writeln!(
        w,
        "| shape M×K×N | numpy OpenBLAS GFLOP/s | matrixmultiply GFLOP/s | m3rt GFLOP/s | m3rt % of best |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    for (mm, k, n) in GEMM_SHAPES {
        let p = format!("sgemm.{mm}x{k}x{n}");
        let _ = writeln!(
            w,
            "| {mm}×{k}×{n} | {} | {} | {} | {}% |",
            fig(f, &format!("{p}.numpy-openblas.gflops"), 1),
            fig(f, &format!("{p}.matrixmultiply.gflops"), 1),
            fig(f, &format!("{p}.m3rt.gflops"), 1),
            fig(f, &format!("{p}.m3rt.pct-of-peak"), 0)
        );
    }
    let _ = writeln!(w, "\n## MoE ablation (one real m3vit-t MoE layer, semseg gate)\n");
    let _ = writeln!(w, "| pathway | ms | vs reordered |\n|---|---:|---:|");
    let _ =
        writeln!(w, "| expert-by-expert reordered (m3rt::moe) | {} | 1.00× |", fig(f, "moe.m3vit-t.reordered.ms", 3));
    for (name, key) in
        [("token-by-token (matrix-vector)", "token-by-token"), ("dense equivalent (every expert)", "dense")]
    {
        let _ = writeln!(
            w,
            "| {name} | {} | {} slower |",
            fig(f, &format!("moe.m3vit-t.{key}.ms"), 3),
            ratio(f, &format!("ratio.moe.m3vit-t.{key}-over-reordered"))
        );
    }
    let _ = writeln!(w, "\n## Task switching, multi-task, memory, f16 (m3vit-t)\n");
    let _ = writeln!(w, "| figure | value |\n|---|---:|");
    let rows = [
        ("m3rt `select_task` (ns; 0 heap allocations, asserted by the bench)", "switch.m3vit-t.m3rt-select-task.ns", 1),
        ("tract: load + optimize the ONNX for the other task (ms)", "switch.m3vit-t.tract-load-optimize.ms", 1),
        (
            "k = 2 tasks on one frame, `run_tasks` shared prefix, median of the pairs (ms)",
            "multi.m3vit-t.k2.shared.ms",
            1,
        ),
        ("k = 2 tasks, two separate runs, median of the pairs (ms)", "multi.m3vit-t.k2.separate.ms", 1),
        ("saving of the shared prefix, median of paired runs (%)", "multi.m3vit-t.saving.pct", 2),
        ("the same: 95% interval of that median, low end (%)", "multi.m3vit-t.saving-low.pct", 2),
        ("the same: 95% interval of that median, high end (%)", "multi.m3vit-t.saving-high.pct", 2),
        ("saving the prefix's share of the work predicts (%)", "multi.m3vit-t.expected-saving.pct", 2),
        ("peak RSS, `m3rt run` semseg, whole process (MB)", "memory.m3vit-t.m3rt.mb", 1),
        ("peak RSS, `m3rt run` semseg with the f16 bundle, whole process (MB)", "memory.m3vit-t.m3rt-f16.mb", 1),
        (
            "peak RSS, `m3rt run --repeat 2` semseg (weights kept resident between runs) (MB)",
            "memory.m3vit-t.m3rt-resident.mb",
            1,
        ),
        ("peak RSS, tract runner semseg (MB)", "memory.m3vit-t.tract.mb", 1),
        ("peak RSS, onnxruntime in Python semseg (MB)", "memory.m3vit-t.onnxruntime.mb", 1),
        ("peak RSS, Python importing numpy + onnx + onnxruntime only (MB)", "memory.m3vit-t.python-imports.mb", 1),
        ("m3rt scratch, `Bundle::scratch_floats()·4` (MB)", "memory.m3vit-t.m3rt-scratch.mb", 2),
        ("f16 weights, semseg: max abs error against f32 (logits)", "f16.m3vit-t.semseg.max-abs-err", 5),
        ("f16 weights, semseg: largest f32 output magnitude", "f16.m3vit-t.semseg.max-abs-f32-output", 3),
        ("f16 weights, depth: max abs error against f32", "f16.m3vit-t.depth.max-abs-err", 5),
        ("f16 weights, depth: largest f32 output magnitude", "f16.m3vit-t.depth.max-abs-f32-output", 3),
    ];
    for (name, key, prec) in rows {
        let _ = writeln!(w, "| {name} | {} |", fig(f, key, prec));
    }
    let _ = writeln!(
        w,
        "\nPeak RSS is `/usr/bin/time -f %M` of a fresh process doing one semseg inference (load, run, exit). \
         Rates in GFLOP/s for m3vit-t count the sparse model's work as stated in issue #3 (0.783 GMAC encoder, \
         7.196 GMAC end to end). All keys and more figures: `report.json`."
    );
    s
}

fn main_table(w: &mut String, f: &Figures) {
    let _ = writeln!(w, "## Main table (ratios > 1 mean m3rt is better)\n");
    let _ = writeln!(w, "| subject | m3rt | peer | ratio |\n|---|---:|---:|---:|");
    for task in ["semseg", "depth"] {
        for mode in ["encoder", "e2e"] {
            let p = format!("m3vit-t.{task}.{mode}");
            for (peer, label) in [("tract", "tract"), ("ort-1t", "onnxruntime 1 thread")] {
                let _ = writeln!(
                    w,
                    "| m3vit-t {task} {} latency vs {label} | {} ms | {} ms | {} |",
                    if mode == "e2e" { "end-to-end" } else { "encoder" },
                    fig(f, &format!("latency.{p}.m3rt-f32.ms"), 1),
                    fig(f, &format!("latency.{p}.{peer}.ms"), 1),
                    ratio(f, &format!("ratio.{p}.{peer}-over-m3rt"))
                );
            }
        }
    }
    for task in ["semseg", "depth"] {
        let p = format!("micro.{task}.e2e");
        let _ = writeln!(
            w,
            "| micro {task} end-to-end vs tract / onnxruntime | {} ms | {} / {} ms | {} / {} |",
            fig(f, &format!("latency.{p}.m3rt-f32.ms"), 3),
            fig(f, &format!("latency.{p}.tract.ms"), 3),
            fig(f, &format!("latency.{p}.ort-1t.ms"), 3),
            ratio(f, &format!("ratio.{p}.tract-over-m3rt")),
            ratio(f, &format!("ratio.{p}.ort-1t-over-m3rt"))
        );
    }
    let (sq, head) = ("sgemm.1024x1024x1024", "sgemm.256x2304x8192");
    for p in [sq, head] {
        let _ = writeln!(
            w,
            "| SGEMM {} GFLOP/s vs best library | {} | {} | {}% |",
            p.trim_start_matches("sgemm."),
            fig(f, &format!("{p}.m3rt.gflops"), 1),
            fig(f, &format!("{p}.peak.gflops"), 1),
            fig(f, &format!("{p}.m3rt.pct-of-peak"), 0)
        );
    }
    let rows = [
        (
            "MoE layer: reordered vs token-by-token",
            "moe.m3vit-t.reordered.ms",
            "moe.m3vit-t.token-by-token.ms",
            "ratio.moe.m3vit-t.token-by-token-over-reordered",
            "ms",
        ),
        (
            "MoE layer: sparse vs dense equivalent",
            "moe.m3vit-t.reordered.ms",
            "moe.m3vit-t.dense.ms",
            "ratio.moe.m3vit-t.dense-over-reordered",
            "ms",
        ),
        (
            "task switch: select_task vs tract reload",
            "switch.m3vit-t.m3rt-select-task.ns",
            "switch.m3vit-t.tract-load-optimize.ms",
            "ratio.switch.m3vit-t.tract-over-m3rt",
            "ns / ms",
        ),
        (
            "2 tasks on one frame: shared vs separate",
            "multi.m3vit-t.k2.shared.ms",
            "multi.m3vit-t.k2.separate.ms",
            "",
            "ms",
        ),
        (
            "peak RSS vs tract",
            "memory.m3vit-t.m3rt.mb",
            "memory.m3vit-t.tract.mb",
            "ratio.memory.m3vit-t.tract-over-m3rt",
            "MB",
        ),
        (
            "peak RSS, f16 bundle, vs tract (f32)",
            "memory.m3vit-t.m3rt-f16.mb",
            "memory.m3vit-t.tract.mb",
            "ratio.memory.m3vit-t.tract-over-m3rt-f16",
            "MB",
        ),
        (
            "peak RSS, weights kept resident (`--repeat 2`), vs tract",
            "memory.m3vit-t.m3rt-resident.mb",
            "memory.m3vit-t.tract.mb",
            "ratio.memory.m3vit-t.tract-over-m3rt-resident",
            "MB",
        ),
        (
            "peak RSS vs onnxruntime (Python)",
            "memory.m3vit-t.m3rt.mb",
            "memory.m3vit-t.onnxruntime.mb",
            "ratio.memory.m3vit-t.onnxruntime-over-m3rt",
            "MB",
        ),
    ];
    for (name, a, b, r, unit) in rows {
        let rv = if r.is_empty() {
            match (f.get(a), f.get(b)) {
                (Some(x), Some(y)) => times(y / x),
                _ => "–".into(),
            }
        } else {
            ratio(f, r)
        };
        let _ = writeln!(w, "| {name} ({unit}) | {} | {} | {rv} |", fig(f, a, 3), fig(f, b, 3));
    }
}

fn latency_tables(w: &mut String, f: &Figures) {
    let engines = ["m3rt-f32", "m3rt-f16", "tract", "ort-1t", "ort-2t"];
    let _ = writeln!(w, "\n## Latency per task (ms, medians)\n");
    let _ = writeln!(
        w,
        "| model | task | part | m3rt f32 | m3rt f16 | tract | onnxruntime 1t | onnxruntime 2t | m3rt f32 GFLOP/s |"
    );
    let _ = writeln!(w, "|---|---|---|---:|---:|---:|---:|---:|---:|");
    for model in ["m3vit-t", "micro"] {
        for task in ["semseg", "depth"] {
            for mode in ["encoder", "e2e"] {
                let p = format!("latency.{model}.{task}.{mode}");
                let cells: Vec<String> = engines.iter().map(|e| fig(f, &format!("{p}.{e}.ms"), 3)).collect();
                let rate = fig(f, &format!("rate.{model}.{task}.{mode}.m3rt-f32.gflops"), 1);
                let _ = writeln!(w, "| {model} | {task} | {mode} | {} | {rate} |", cells.join(" | "));
            }
        }
    }
}
