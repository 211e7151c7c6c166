//! `m3rt convert` on the committed micro model: hyperparameters against models/micro/config.toml, weights
//! against the ONNX initializers (read independently), f16 precision, determinism and `inspect`.

use std::collections::HashMap;
use std::path::PathBuf;

use half::f16;
use m3rt::bundle::{AlignedBytes, Bundle, TensorData};
use m3rt::model::{HeadKind, PostProcess, TensorKey, TensorKind};
use m3rt_cli::convert::{convert_file, convert_onnx, Precision};
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

fn micro_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/micro")
}

/// The top-level `key = value` pairs, `[normalize]` and `[[tasks]]` of a config TOML (a tiny parser for the
/// subset the exporter writes).
struct Config {
    top: HashMap<String, String>,
    normalize: HashMap<String, String>,
    tasks: Vec<HashMap<String, String>>,
}

fn parse_config(text: &str) -> Config {
    let mut c = Config { top: HashMap::new(), normalize: HashMap::new(), tasks: Vec::new() };
    let mut section = String::new();
    for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()) {
        if line == "[[tasks]]" {
            c.tasks.push(HashMap::new());
            section = "tasks".into();
        } else if line.starts_with('[') {
            section = line.trim_matches(|ch| ch == '[' || ch == ']').to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            let (k, v) = (k.trim().to_string(), v.trim().trim_matches('"').to_string());
            match section.as_str() {
                "" => c.top.insert(k, v),
                "normalize" => c.normalize.insert(k, v),
                "tasks" => c.tasks.last_mut().expect("a [[tasks]] table").insert(k, v),
                _ => None,
            };
        }
    }
    c
}

fn num(c: &HashMap<String, String>, k: &str) -> u32 {
    c[k].parse().unwrap_or_else(|_| panic!("{k} = {}", c[k]))
}

fn list(v: &str) -> Vec<f64> {
    v.trim_matches(|ch| ch == '[' || ch == ']')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().expect("a number"))
        .collect()
}

/// Every float initializer of the ONNX file, decoded here without the converter.
fn initializers() -> HashMap<String, (Vec<i64>, Vec<f32>)> {
    let proto: pb::ModelProto =
        tract_onnx::onnx().proto_model_for_path(micro_dir().join("model.onnx")).expect("micro ONNX reads");
    let graph = proto.graph.expect("a graph");
    graph
        .initializer
        .iter()
        .filter(|t| t.data_type == 1)
        .map(|t| {
            let v = if t.raw_data.is_empty() {
                t.float_data.clone()
            } else {
                t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
            };
            (t.name.clone(), (t.dims.clone(), v))
        })
        .collect()
}

fn f32s(d: TensorData<'_>) -> Vec<f32> {
    match d {
        TensorData::F32(v) => v.to_vec(),
        TensorData::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
        other => panic!("{:?} in an f32/f16 bundle", other.dtype()),
    }
}

#[test]
fn micro_f32_matches_config_and_initializers() {
    let (bytes, report) = convert_onnx(&micro_dir().join("model.onnx"), Precision::F32).expect("converts");
    let aligned = AlignedBytes::from_slice(&bytes);
    let b = Bundle::parse(&aligned).expect("the bundle parses");
    let cfg = parse_config(&std::fs::read_to_string(micro_dir().join("config.toml")).expect("config.toml"));
    let h = *b.hyper();
    assert_eq!(h, report.hyper);
    let t = &cfg.top;
    assert_eq!((h.image_h, h.image_w), (num(t, "image_h"), num(t, "image_w")));
    assert_eq!((h.patch, h.dim, h.depth, h.heads), (num(t, "patch"), num(t, "dim"), num(t, "depth"), num(t, "heads")));
    assert_eq!(h.mlp_hidden, num(t, "mlp_ratio") * h.dim);
    assert_eq!((h.experts, h.top_k, h.expert_hidden), (num(t, "experts"), num(t, "top_k"), num(t, "expert_hidden")));
    let mask = list(&t["moe_blocks"]).iter().fold(0u64, |m, &i| m | 1 << (i as u32));
    assert_eq!(h.moe_blocks, mask);
    let kind = if t["head"] == "pup" { HeadKind::Pup } else { HeadKind::Light };
    assert_eq!((h.head_kind, h.head_width), (kind, num(t, "head_width")));
    assert_eq!(h.ln_eps, t["ln_eps"].parse::<f32>().unwrap());
    if let Some(mean) = cfg.normalize.get("mean") {
        let mean: Vec<f32> = list(mean).iter().map(|&x| x as f32).collect();
        let std: Vec<f32> = list(&cfg.normalize["std"]).iter().map(|&x| x as f32).collect();
        assert_eq!((h.norm_mean.to_vec(), h.norm_std.to_vec()), (mean, std));
    }
    assert_eq!(b.task_count() as usize, cfg.tasks.len());
    for (i, task) in cfg.tasks.iter().enumerate() {
        let info = b.task(i as u32).expect("task");
        assert_eq!((info.name, info.out_channels), (task["name"].as_str(), num(task, "channels")));
        let post = match task["post"].as_str() {
            "argmax" => PostProcess::Argmax,
            "sigmoid" => PostProcess::Sigmoid,
            "l2" | "l2norm" | "normalize" => PostProcess::L2Normalize,
            _ => PostProcess::Raw,
        };
        assert_eq!(info.post, post, "task {}", info.name);
        assert_eq!(report.tasks[i], (info.name.to_string(), info.out_channels));
    }

    // Weights, bit for bit, against the initializers (named by the exporter).
    let inits = initializers();
    let last_task = cfg.tasks.len() as u32 - 1;
    let last_name = cfg.tasks.last().unwrap()["name"].clone();
    let checks = [
        ("w.patch_w", TensorKey::global(TensorKind::PatchW)),
        ("w.cls", TensorKey::global(TensorKind::ClsToken)),
        ("w.pos", TensorKey::global(TensorKind::PosEmbed)),
        ("w.b0.qkv_w", TensorKey::block(TensorKind::QkvW, 0)),
        ("w.b0.fc1_b", TensorKey::block(TensorKind::Fc1B, 0)),
        ("w.b2.proj_w", TensorKey::block(TensorKind::ProjW, 2)),
        ("w.b3.ln2_g", TensorKey::block(TensorKind::Ln2G, 3)),
        ("w.b1.ex1_w", TensorKey::block(TensorKind::ExpW1, 1)),
        ("w.b1.ex1_b", TensorKey::block(TensorKind::ExpB1, 1)),
        ("w.b3.ex2_w", TensorKey::block(TensorKind::ExpW2, 3)),
    ];
    let mut checks: Vec<(String, TensorKey)> = checks.iter().map(|(n, k)| (n.to_string(), *k)).collect();
    checks.push((format!("w.b3.gate.{last_name}"), TensorKey::gate(last_task, 3)));
    checks.push((format!("w.head.{last_name}.conv4_w"), TensorKey::head(TensorKind::HeadConvW, last_task, 4)));
    checks.push((format!("w.head.{last_name}.norm_b"), TensorKey::head(TensorKind::HeadLnB, last_task, 0)));
    for (name, key) in &checks {
        let (_, want) = inits.get(name).unwrap_or_else(|| panic!("initializer {name}"));
        let got = f32s(b.tensor(*key).unwrap_or_else(|e| panic!("{key:?}: {e}")));
        assert!(got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()) && got.len() == want.len(), "{name}");
    }
    // Different tasks' gates differ (each task has its own).
    let g0 = f32s(b.tensor(TensorKey::gate(0, 1)).unwrap());
    assert_ne!(g0, f32s(b.tensor(TensorKey::gate(last_task, 1)).unwrap()));

    // Deterministic, and convert_file writes the same bytes.
    let out = std::env::temp_dir().join(format!("m3rt-convert-micro-{}.m3b", std::process::id()));
    let r2 = convert_file(&micro_dir().join("model.onnx"), &out, Precision::F32).expect("convert_file");
    let written = std::fs::read(&out).expect("written bundle");
    let _ = std::fs::remove_file(&out);
    assert_eq!(written, bytes);
    assert_eq!((r2.bytes, r2.params), (report.bytes, report.params));
    assert_eq!(report.bytes, bytes.len());
}

#[test]
fn micro_f16_is_about_half_and_rounds_matrices_only() {
    let path = micro_dir().join("model.onnx");
    let (b32, r32) = convert_onnx(&path, Precision::F32).expect("f32");
    let (b16, r16) = convert_onnx(&path, Precision::F16).expect("f16");
    assert_eq!(r32.params, r16.params);
    let ratio = b16.len() as f64 / b32.len() as f64;
    assert!((0.45..0.6).contains(&ratio), "f16/f32 size ratio {ratio}");
    let (a32, a16) = (AlignedBytes::from_slice(&b32), AlignedBytes::from_slice(&b16));
    let (x, y) = (Bundle::parse(&a32).unwrap(), Bundle::parse(&a16).unwrap());
    let n = m3rt::model::tensor_count(x.hyper());
    for i in 0..n {
        let ((k, full), (k2, half)) = (x.tensor_at(i).unwrap(), y.tensor_at(i).unwrap());
        assert_eq!(k, k2);
        let (TensorData::F32(full), rank) = (full, m3rt::model::expected_shape(x.hyper(), k, 1).rank) else {
            panic!("f32 bundle holds f16");
        };
        match half {
            TensorData::F16(h) => {
                assert!(rank >= 2, "{k:?} is a vector stored as f16");
                assert!(full.iter().zip(h).all(|(a, b)| f16::from_f32(*a) == *b), "{k:?}");
            }
            TensorData::F32(v) => {
                assert!(rank < 2, "{k:?} is a matrix stored as f32");
                assert_eq!(v, full);
            }
            other => panic!("{k:?} stored as {:?}", other.dtype()),
        }
    }
}

#[test]
fn inspect_reports_the_micro_bundle() {
    let (bytes, report) = convert_onnx(&micro_dir().join("model.onnx"), Precision::F16).expect("converts");
    let text = m3rt_cli::inspect::inspect(&bytes).expect("inspects");
    for want in ["format version", "f16", "semseg", "depth", "experts", "gates", "heads", "scratch", "MiB"] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(text.contains(&report.params.to_string()), "{text}");
    assert!(m3rt_cli::inspect::inspect(&bytes[..bytes.len() / 2]).is_err());
    assert!(m3rt_cli::inspect::inspect(b"not a bundle").is_err());
}
