//! Reading the measurements: criterion's estimates, `ort_bench.py`'s JSON, `m3rt inspect`, and the derived
//! ratios.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{Figures, GEMM_SHAPES};

/// Work of the sparse `m3vit-t` per inference, in GMAC, as stated in issue #3 (encoder, end to end).
pub const M3VIT_GMAC: [(&str, f64); 2] = [("encoder", 0.783), ("e2e", 7.196)];

/// Work of `m3vit-t`'s task-independent prefix in GMAC: the patch embedding (128 patches · 768 · 192 =
/// 0.0189) and block 0, which is dense (qkv 129·192·576, attention 2·3·129·129·64, projection 129·192·192,
/// MLP 2·129·192·768: 0.0635).
pub const M3VIT_PREFIX_GMAC: f64 = 0.0824;

/// The paired multi-task measurement (`benches/benches/multi_task.rs`'s `multi-paired.json` in `home`):
/// medians of both, the median saving with its 95% interval, and the saving the prefix's share of the
/// work predicts (`(k − 1)/k` of the prefix over a run).
pub fn paired(home: &Path, figures: &mut Figures) -> Result<()> {
    let path = home.join("multi-paired.json");
    let Ok(v) = read_json(&path) else { return Ok(()) };
    let k = v["k"].as_f64().context("multi-paired.json has k")?;
    let name = format!("k{k}");
    for (key, field) in [("shared.ms", "shared_ms"), ("separate.ms", "separate_ms")] {
        if let Some(x) = v[field].as_f64() {
            figures.insert(format!("multi.m3vit-t.{name}.{key}"), x);
        }
    }
    for (key, field) in
        [("saving.pct", "saving_pct"), ("saving-low.pct", "saving_pct_low"), ("saving-high.pct", "saving_pct_high")]
    {
        if let Some(x) = v[field].as_f64() {
            figures.insert(format!("multi.m3vit-t.{key}"), x);
        }
    }
    if let Some(pairs) = v["pairs"].as_f64() {
        figures.insert("multi.m3vit-t.pairs".into(), pairs);
    }
    let e2e = M3VIT_GMAC[1].1;
    figures.insert("multi.m3vit-t.expected-saving.pct".into(), 100.0 * (k - 1.0) / k * M3VIT_PREFIX_GMAC / e2e);
    Ok(())
}

/// Every criterion benchmark under `home`: `<id with '/' → '.'>.ms` = median time.
pub fn criterion(home: &Path) -> Result<Figures> {
    let mut figures = Figures::new();
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.ends_with("new/benchmark.json") {
                let bench: Value = read_json(&path)?;
                let est: Value = read_json(&path.with_file_name("estimates.json"))?;
                let id = bench["full_id"].as_str().context("benchmark.json has a full_id")?;
                let ns = est["median"]["point_estimate"].as_f64().context("estimates.json has a median")?;
                figures.insert(format!("{}.ms", id.replace('/', ".")), ns / 1e6);
            }
        }
    }
    Ok(figures)
}

/// `ort_bench.py`'s timings into `figures`; returns the peer versions.
pub fn ort(path: &Path, figures: &mut Figures) -> Result<String> {
    let v: Value = read_json(path)?;
    for (model, times) in v["models"].as_object().context("ort JSON has models")? {
        for (key, ms) in times.as_object().context("model timings")? {
            let parts: Vec<&str> = key.split('/').collect();
            if let ([task, mode, threads], Some(ms)) = (parts.as_slice(), ms.as_f64()) {
                let t = threads.trim_start_matches('t');
                figures.insert(format!("latency.{model}.{task}.{mode}.ort-{t}t.ms"), ms);
            }
        }
    }
    for (shape, r) in v["sgemm"].as_object().context("ort JSON has sgemm")? {
        if let Some(ms) = r["ms"].as_f64() {
            figures.insert(format!("sgemm.{shape}.numpy-openblas.ms"), ms);
        }
    }
    let s = |k: &str| v[k].as_str().unwrap_or("?").to_string();
    Ok(format!("onnxruntime {}, numpy {} ({})", s("onnxruntime"), s("numpy"), s("blas")))
}

/// The scratch size in bytes from `m3rt inspect`'s `scratch  N floats` line.
pub fn scratch_bytes(inspect: &str) -> Option<f64> {
    let line = inspect.lines().find(|l| l.starts_with("scratch"))?;
    let floats: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(floats * 4.0)
}

/// Ratios and rates derived from the raw figures (each only when its inputs were measured).
pub fn derive(f: &mut Figures, tasks: &BTreeMap<String, String>) {
    let mut add = BTreeMap::new();
    let get = |f: &Figures, k: &str| f.get(k).copied();
    for model in ["micro", "m3vit-t"] {
        for task in tasks.keys() {
            for mode in ["e2e", "encoder"] {
                let p = format!("latency.{model}.{task}.{mode}");
                let Some(base) = get(f, &format!("{p}.m3rt-f32.ms")) else { continue };
                for peer in ["tract", "ort-1t", "ort-2t"] {
                    if let Some(v) = get(f, &format!("{p}.{peer}.ms")) {
                        add.insert(format!("ratio.{model}.{task}.{mode}.{peer}-over-m3rt"), v / base);
                    }
                }
                if let Some(v) = get(f, &format!("{p}.m3rt-f16.ms")) {
                    add.insert(format!("ratio.{model}.{task}.{mode}.f16-over-f32"), v / base);
                }
                if model == "m3vit-t" {
                    if let Some(&(_, gmac)) = M3VIT_GMAC.iter().find(|(m, _)| *m == mode) {
                        add.insert(format!("rate.{model}.{task}.{mode}.m3rt-f32.gflops"), 2.0 * gmac * 1e3 / base);
                    }
                }
            }
        }
    }
    for (m, k, n) in GEMM_SHAPES {
        let shape = format!("{m}x{k}x{n}");
        let flop = 2.0 * (m * k * n) as f64;
        let mut best: f64 = 0.0;
        for lib in ["numpy-openblas", "matrixmultiply", "m3rt", "m3rt-conv"] {
            if let Some(ms) = get(f, &format!("sgemm.{shape}.{lib}.ms")) {
                let g = flop / (ms * 1e6);
                add.insert(format!("sgemm.{shape}.{lib}.gflops"), g);
                if !lib.starts_with("m3rt") {
                    best = best.max(g);
                }
            }
        }
        if best > 0.0 {
            add.insert(format!("sgemm.{shape}.peak.gflops"), best);
            for lib in ["m3rt", "m3rt-conv"] {
                if let Some(ms) = get(f, &format!("sgemm.{shape}.{lib}.ms")) {
                    add.insert(format!("sgemm.{shape}.{lib}.pct-of-peak"), 100.0 * flop / (ms * 1e6) / best);
                }
            }
        }
    }
    if let Some(reordered) = get(f, "moe.m3vit-t.reordered.ms") {
        for other in ["token-by-token", "dense"] {
            if let Some(v) = get(f, &format!("moe.m3vit-t.{other}.ms")) {
                add.insert(format!("ratio.moe.m3vit-t.{other}-over-reordered"), v / reordered);
            }
        }
    }
    if let (Some(sel), Some(tract)) =
        (get(f, "switch.m3vit-t.m3rt-select-task.ms"), get(f, "switch.m3vit-t.tract-load-optimize.ms"))
    {
        add.insert("switch.m3vit-t.m3rt-select-task.ns".into(), sel * 1e6);
        add.insert("ratio.switch.m3vit-t.tract-over-m3rt".into(), tract / sel);
    }
    for (ours, suffix) in [("m3rt", ""), ("m3rt-f16", "-f16"), ("m3rt-resident", "-resident")] {
        let Some(m3rt) = get(f, &format!("memory.m3vit-t.{ours}.mb")) else { continue };
        for peer in ["tract", "onnxruntime"] {
            if let Some(v) = get(f, &format!("memory.m3vit-t.{peer}.mb")) {
                add.insert(format!("ratio.memory.m3vit-t.{peer}-over-m3rt{suffix}"), v / m3rt);
            }
        }
    }
    f.extend(add);
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}
