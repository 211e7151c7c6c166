//! The host simulator (`boards/sim`) on m3vit-t: configured as Edge-MoE it must predict the published
//! 34.64 ms per image within ±15% and 0.504 J within ±25% (../shared/docs/anchors.md), and the per-layer
//! tables of both design points are printed. Every figure here is SIMULATED. The test lives here because
//! the quantized bundle comes from the ONNX converter (tract), which m3rt-sim does not depend on.

mod common;

use common::{bundle, model_dir, npy_f32};
use m3rt::bundle::Bundle;
use m3rt_cli::convert::Precision;
use m3rt_sim::{profile, routes, Design};

/// Edge-MoE's published latency and energy per image on the ZCU102 (anchors.md).
const EDGE_MOE_MS: f64 = 34.64;
const EDGE_MOE_J: f64 = 0.504;

#[test]
fn edge_moe_calibration_and_both_design_points() {
    let Some(dir) = model_dir("m3vit-t") else { return };
    let bytes = bundle(&dir, Precision::Fixed16);
    let (_, input) = npy_f32(&dir.join("golden/input_0.npy"));
    let b = Bundle::parse(&bytes).unwrap();
    let h = *b.hyper();

    // The routing is the input's own: every MoE layer's queues hold T·k token slots.
    let q = routes::queues(&b, 0, &input).unwrap();
    assert_eq!(q.len(), h.moe_count() as usize);
    for layer in &q {
        assert_eq!(layer.iter().sum::<u32>(), h.tokens() * h.top_k);
    }
    println!(
        "experts run per MoE layer (semseg, input 0): {:?}",
        q.iter().map(|l| l.iter().filter(|&&n| n > 0).count()).collect::<Vec<_>>()
    );

    let edge = Design::edge_moe_zcu102();
    let r = profile(&edge, &bytes, 0, &input).unwrap();
    println!("{r}");
    let (ms, j) = (r.encoder.seconds * 1e3, r.encoder.energy.total_j());
    println!(
        "SIMULATED Edge-MoE encoder: {ms:.2} ms ({:+.1}% vs {EDGE_MOE_MS} ms), {j:.3} J ({:+.1}% vs {EDGE_MOE_J} J)",
        (ms / EDGE_MOE_MS - 1.0) * 100.0,
        (j / EDGE_MOE_J - 1.0) * 100.0
    );
    assert!((ms / EDGE_MOE_MS - 1.0).abs() <= 0.15, "simulated {ms:.2} ms is not within 15% of {EDGE_MOE_MS} ms");
    assert!((j / EDGE_MOE_J - 1.0).abs() <= 0.25, "simulated {j:.3} J is not within 25% of {EDGE_MOE_J} J");
    assert!(r.head.is_err(), "Edge-MoE's published design has no head (its linear.max_k is 768)");

    let ours = Design::zcu104();
    for task in 0..b.task_count() {
        let r = profile(&ours, &bytes, task, &input).unwrap();
        println!("task {} ({}):\n{r}", task, b.task(task).unwrap().name);
        assert!(r.head.is_ok());
        let gmac = (r.encoder.cost.linear_macs + r.encoder.cost.attention_macs) as f64 / 1e9;
        assert!((0.75..0.82).contains(&gmac), "encoder {gmac} GMAC, m3vit-model.md says ~0.78");
    }
}

/// `m3rt profile` prints the simulated table of a quantized micro bundle and refuses an f32 one.
#[test]
fn m3rt_profile_prints_the_simulated_table() {
    let dir = model_dir("micro").unwrap();
    let tmp = std::env::temp_dir().join(format!("m3rt-profile-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (q16, f32) = (tmp.join("micro-q16.m3b"), tmp.join("micro-f32.m3b"));
    std::fs::write(&q16, &*bundle(&dir, Precision::Fixed16)).unwrap();
    std::fs::write(&f32, &*bundle(&dir, Precision::F32)).unwrap();
    let run = |model: &std::path::Path, board: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_m3rt"))
            .args(["profile", "--task", "depth", "--board", board, "--model"])
            .arg(model)
            .arg("--json")
            .arg(tmp.join("p.json"))
            .arg("--csv")
            .arg(tmp.join("p.csv"))
            .arg("--trace")
            .arg(tmp.join("p.trace.json"))
            .arg("--plot")
            .arg(tmp.join("p.svg"))
            .output()
            .unwrap()
    };
    let out = run(&q16, "zcu104");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("SIMULATED profile on zcu104"), "{text}");
    for row in ["embed", "b0", "b3", "head.conv0", "encoder", "head", "end to end", "task switch: 4"] {
        assert!(text.contains(row), "no '{row}' row in:\n{text}");
    }
    check_outputs(&tmp);
    // The PNG chart: its size follows the layers, and the first layer's latency bar is the encoder's blue.
    let png_path = tmp.join("p.png");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_m3rt"))
        .args(["profile", "--task", "depth", "--model"])
        .arg(&q16)
        .arg("--plot")
        .arg(&png_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let layers = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(tmp.join("p.json")).unwrap())
        .unwrap()["layers"]
        .as_array()
        .unwrap()
        .len();
    // Bars, then the roofline panel.
    assert_eq!((info.width, info.height), (120 + 2 * 330 + 190, 76 + 20 * layers as u32 + 400));
    let at = |x: usize, y: usize| &buf[(y * info.width as usize + x) * 3..][..3];
    assert_eq!(at(121, 60), [78, 121, 167], "the first layer's latency bar");
    let out = run(&f32, "zcu104");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("quantized bundles"));
    let _ = std::fs::remove_dir_all(tmp);
}

/// The four files of `m3rt profile`: the JSON report, the CSV, the trace in the Chrome trace event format
/// (JSON object form: `traceEvents` of complete events `ph: "X"` with `name`, `ts`, `dur` in µs, `pid`,
/// `tid`; metadata events `ph: "M"`), and the SVG chart, all consistent with each other.
fn check_outputs(dir: &std::path::Path) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let report: serde_json::Value = serde_json::from_str(&read("p.json")).unwrap();
    assert_eq!(report["simulated"], true);
    let layers = report["layers"].as_array().unwrap();
    assert!(layers.len() >= 6);
    let total_ms = report["end_to_end"]["ms"].as_f64().unwrap();
    let sum_ms: f64 = layers.iter().map(|l| l["ms"].as_f64().unwrap()).sum();
    assert!((sum_ms - total_ms).abs() <= 1e-9 * total_ms.max(1.0) + 1e-6, "{sum_ms} vs {total_ms}");

    let csv = read("p.csv");
    assert!(csv.starts_with("# SIMULATED"));
    assert_eq!(csv.lines().count(), layers.len() + 2);

    let trace: serde_json::Value = serde_json::from_str(&read("p.trace.json")).unwrap();
    let events = trace["traceEvents"].as_array().expect("traceEvents is an array");
    let mut next_ts = 0.0;
    let mut complete = 0;
    for e in events {
        let ph = e["ph"].as_str().expect("every event has a phase");
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
        assert!(e["name"].is_string(), "{e}");
        if ph == "M" {
            continue;
        }
        assert_eq!(ph, "X", "{e}");
        let (ts, dur) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
        assert!(dur >= 0.0 && (ts - next_ts).abs() < 1e-6, "events back to back: {e}");
        next_ts = ts + dur;
        complete += 1;
    }
    assert_eq!(complete, layers.len());
    assert!((next_ts - total_ms * 1e3).abs() < 1e-3, "the trace spans the end-to-end latency");

    let svg = read("p.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<rect").count(),
        2 + 2 * layers.len(),
        "a background, two bars a layer, the roofline's box"
    );
    assert!(svg.contains("roofline:") && svg.contains("<polyline"), "the roofline panel");
}

/// `m3rt profile sweep` on micro: every variant of the default grid listed, the 32×32 W16A32 ones refused
/// on DSP (2560 of the XCZU7EV's 1728, by the estimate), a Pareto front, a CSV row and a chart point each.
#[test]
fn m3rt_profile_sweep_lists_every_variant_and_the_front() {
    let dir = model_dir("micro").unwrap();
    let tmp = std::env::temp_dir().join(format!("m3rt-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let q16 = tmp.join("micro-q16.m3b");
    std::fs::write(&q16, &*bundle(&dir, Precision::Fixed16)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_m3rt"))
        .args(["profile", "sweep", "--task", "semseg", "--model"])
        .arg(&q16)
        .arg("--csv")
        .arg(tmp.join("s.csv"))
        .arg("--plot")
        .arg(tmp.join("s.svg"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("SIMULATED design-space sweep"));
    let variants: Vec<&str> = text.lines().filter(|l| l.get(2..).is_some_and(|r| r.starts_with("zcu104-"))).collect();
    assert_eq!(variants.len(), 5 * 3 * 2, "{text}");
    let refused = variants.iter().filter(|l| l.contains("does not fit") && l.contains("2560 Dsp")).count();
    // 32×32 = 1024 linear MACs at two DSP48E2 each (32-bit activations, whatever the weight width) plus
    // 16×8 attention MACs at four: 2048 + 512 = 2560 > 1728, for both precisions and all three clocks.
    assert_eq!(refused, 6, "every 32x32 variant: {text}");
    assert!(variants.iter().any(|l| l.starts_with('*')), "a Pareto front: {text}");
    let csv = std::fs::read_to_string(tmp.join("s.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2 + 30);
    let svg = std::fs::read_to_string(tmp.join("s.svg")).unwrap();
    assert_eq!(svg.matches("<circle").count(), 30 - refused, "one point per simulated variant");
    let _ = std::fs::remove_dir_all(tmp);
}

/// `m3rt profile --schedule token-order --compare` on micro: the token-order run and the comparison table.
#[test]
fn m3rt_profile_compares_the_schedules() {
    let dir = model_dir("micro").unwrap();
    let tmp = std::env::temp_dir().join(format!("m3rt-schedules-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let q16 = tmp.join("micro-q16.m3b");
    std::fs::write(&q16, &*bundle(&dir, Precision::Fixed16)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_m3rt"))
        .args(["profile", "--task", "semseg", "--schedule", "token-order", "--cache-experts", "2", "--compare"])
        .args(["--frames", "3"])
        .arg("--model")
        .arg(&q16)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("SIMULATED schedule comparison"), "{text}");
    assert!(text.contains("over 3 frames: end to end"), "{text}");
    for row in ["latency ms", "DRAM weights KiB", "on-chip weights KiB", "expert loads", "energy mJ"] {
        assert!(text.contains(row), "no '{row}' in:\n{text}");
    }
    // A cache smaller than top-k cannot hold one token's experts.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_m3rt"))
        .args(["profile", "--task", "semseg", "--schedule", "token-order", "--cache-experts", "1", "--model"])
        .arg(&q16)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(tmp);
}

/// `m3rt profile --board cpu` on micro's f32 bundle: a measured row per stage (patch embedding, 4 blocks, the
/// head) and the total; the patch embedding's MACs by hand: 2 × 4 patches × D 64 × (3 · 16 · 16) inputs =
/// 393 216 = 0.39 MMAC. A quantized bundle is refused.
#[test]
fn m3rt_profile_board_cpu_measures_the_stages() {
    let dir = model_dir("micro").unwrap();
    let tmp = std::env::temp_dir().join(format!("m3rt-profile-cpu-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (f32, q16) = (tmp.join("micro.m3b"), tmp.join("micro-q16.m3b"));
    std::fs::write(&f32, &*bundle(&dir, Precision::F32)).unwrap();
    std::fs::write(&q16, &*bundle(&dir, Precision::Fixed16)).unwrap();
    let run = |model: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_m3rt"))
            .args(["profile", "--board", "cpu", "--repeat", "2", "--task", "depth", "--model"])
            .arg(model)
            .output()
            .unwrap()
    };
    let out = run(&f32);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("CPU fallback: MEASURED on this host"), "{text}");
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    let stage = |name: &str| rows.iter().find(|r| r.first() == Some(&name)).unwrap_or_else(|| panic!("{name}: {text}"));
    assert_eq!(stage("embed")[1], "0.39");
    for name in ["b0", "b1", "b2", "b3", "head", "total"] {
        let r = stage(name);
        assert!(r[2].parse::<f64>().unwrap() > 0.0, "{name} has a measured time: {text}");
    }
    assert!(text.contains("[estimate]"));
    let out = run(&q16);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("f32 or f16 bundle"));
    let _ = std::fs::remove_dir_all(tmp);
}
