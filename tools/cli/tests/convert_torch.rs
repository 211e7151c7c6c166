//! Graphs written by PyTorch's exporter from the reference M³ViT modules (`../shared/fixtures/torch-export-mini`,
//! see its README): each converts, and the CPU backend's outputs match the reference modules' outputs stored
//! there, on every input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{host_outputs, max_rel_err, npy_f32, root};
use m3rt::backend::{Backend, CpuBackend};
use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::model::PostProcess;
use m3rt_cli::convert::{convert_onnx, convert_onnx_files, ConvertReport, Int8Scales, Precision};
use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

const TASKS: [(&str, usize); 2] = [("semseg", 7), ("depth", 1)];

/// The fixture folder, or `None` (said) when absent, unless `M3RT_REQUIRE_TEST_MODELS=1`.
fn fixture() -> Option<PathBuf> {
    let dir = root().join("../shared/fixtures/torch-export-mini");
    if dir.join("full_semseg.onnx").exists() {
        return Some(dir);
    }
    if std::env::var("M3RT_REQUIRE_TEST_MODELS").as_deref() == Ok("1") {
        panic!("{} is missing", dir.display());
    }
    eprintln!("skipping: {} is absent", dir.display());
    None
}

fn inputs(dir: &Path) -> Vec<Vec<f32>> {
    (0..).map(|i| dir.join(format!("input_{i}.npy"))).take_while(|p| p.exists()).map(|p| npy_f32(&p).1).collect()
}

#[test]
fn each_full_graph_matches_the_reference_modules() {
    let Some(dir) = fixture() else { return };
    let inputs = inputs(&dir);
    assert_eq!(inputs.len(), 3);
    for (task, channels) in TASKS {
        let (bytes, report) = convert_onnx(&dir.join(format!("full_{task}.onnx")), Precision::F32)
            .unwrap_or_else(|e| panic!("full_{task}.onnx: {e:#}"));
        assert_eq!(report.tasks, vec![("output".to_string(), channels as u32)]);
        let h = report.hyper;
        assert_eq!((h.dim, h.depth, h.heads, h.experts, h.top_k, h.expert_hidden), (32, 4, 2, 16, 2, 64));
        assert_eq!(h.moe_blocks, 0b1010);
        let bytes = AlignedBytes::from_slice(&bytes);
        for (i, x) in inputs.iter().enumerate() {
            let (shape, reference) = npy_f32(&dir.join(format!("output_{task}_{i}.npy")));
            assert_eq!(shape, [1, channels, 32, 64]);
            let out = &host_outputs(&bytes, x)[0].0;
            let err = max_rel_err(out, &reference);
            eprintln!("full_{task} input {i}: max |diff| / max(1, |ref|) = {err:.3e}");
            assert!(err <= 1e-4, "full_{task} input {i}: {err}");
        }
    }
}

fn path_list(dir: &Path) -> [PathBuf; 2] {
    [dir.join("full_semseg.onnx"), dir.join("full_depth.onnx")]
}

fn merged(dir: &Path, names: Option<&[String]>) -> anyhow::Result<(Vec<u8>, ConvertReport)> {
    let [a, b] = path_list(dir);
    convert_onnx_files(&[a.as_path(), b.as_path()], names, Precision::F32, Int8Scales::Channel)
}

fn task_names() -> Vec<String> {
    vec!["semseg".to_string(), "depth".to_string()]
}

#[test]
fn the_two_task_graphs_merge_into_one_bundle_with_the_same_outputs() {
    let Some(dir) = fixture() else { return };
    let (bytes, report) = merged(&dir, Some(&task_names())).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(report.tasks, vec![("semseg".to_string(), 7), ("depth".to_string(), 1)]);
    let bytes = AlignedBytes::from_slice(&bytes);
    let bundle = Bundle::parse(&bytes).expect("the merged bundle reads");
    let posts: Vec<(String, PostProcess)> = bundle.tasks().map(|t| (t.name.to_string(), t.post)).collect();
    assert_eq!(posts, [("semseg".to_string(), PostProcess::Argmax), ("depth".to_string(), PostProcess::Raw)]);
    let singles: Vec<AlignedBytes> = path_list(&dir)
        .iter()
        .map(|p| AlignedBytes::from_slice(&convert_onnx(p, Precision::F32).expect("converts").0))
        .collect();
    for (i, x) in inputs(&dir).iter().enumerate() {
        let outs = host_outputs(&bytes, x);
        for (t, (task, _)) in TASKS.iter().enumerate() {
            let (_, reference) = npy_f32(&dir.join(format!("output_{task}_{i}.npy")));
            let err = max_rel_err(&outs[t].0, &reference);
            eprintln!("merged {task} input {i}: max |diff| / max(1, |ref|) = {err:.3e}");
            assert!(err <= 1e-4, "merged {task} input {i}: {err}");
            assert_eq!(outs[t].0, host_outputs(&singles[t], x)[0].0, "merged {task} differs from the single bundle");
        }
    }
}

#[test]
fn merging_needs_distinct_task_names() {
    let Some(dir) = fixture() else { return };
    let e = format!("{:#}", merged(&dir, None).expect_err("both outputs are named 'output'"));
    assert!(e.contains("two tasks are named 'output'") && e.contains("--task-names"), "{e}");
    let e = format!("{:#}", merged(&dir, Some(&["semseg".to_string()])).expect_err("one name for two tasks"));
    assert!(e.contains("1 task names given") && e.contains("2 task outputs"), "{e}");
}

#[test]
fn the_cli_merges_files_with_task_names() {
    let Some(dir) = fixture() else { return };
    let out = std::env::temp_dir().join(format!("m3rt-torch-merge-{}.m3b", std::process::id()));
    let [a, b] = path_list(&dir);
    let run = Command::new(env!("CARGO_BIN_EXE_m3rt"))
        .arg("convert")
        .args([&a, &b])
        .args(["--task-names", "semseg,depth", "-o"])
        .arg(&out)
        .output()
        .expect("m3rt runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("tasks: semseg (7 ch), depth (1 ch)"), "{stdout}");
    let bytes = AlignedBytes::from_slice(&std::fs::read(&out).expect("bundle written"));
    let _ = std::fs::remove_file(&out);
    assert_eq!(Bundle::parse(&bytes).expect("reads").task_count(), 2);
}

/// The fixture's semseg graph, for editing.
fn proto(dir: &Path, file: &str) -> pb::ModelProto {
    tract_onnx::onnx().proto_model_for_path(dir.join(file)).expect("fixture ONNX reads")
}

/// Converts an edited model (written to a temporary file); the error text, or "OK".
fn convert_edited(models: &[&pb::ModelProto]) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let paths: Vec<PathBuf> = models
        .iter()
        .map(|m| {
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("m3rt-torch-edit-{}-{n}.onnx", std::process::id()));
            std::fs::write(&p, m.encode_to_vec()).expect("temp file");
            p
        })
        .collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let names = task_names();
    let names = (models.len() == 2).then_some(names.as_slice());
    let r = convert_onnx_files(&refs, names, Precision::F32, Int8Scales::Channel);
    paths.iter().for_each(|p| drop(std::fs::remove_file(p)));
    match r {
        Ok(_) => "OK".to_string(),
        Err(e) => format!("{e:#}"),
    }
}

fn graph(m: &mut pb::ModelProto) -> &mut pb::GraphProto {
    m.graph.as_mut().expect("graph")
}

/// The index of the first node of type `op` for which `pred` holds.
fn find(m: &mut pb::ModelProto, op: &str, pred: impl Fn(&pb::GraphProto, &pb::NodeProto) -> bool) -> usize {
    let g = graph(m);
    g.node.iter().position(|n| n.op_type == op && pred(g, n)).unwrap_or_else(|| panic!("no such {op}"))
}

/// The MatMul nodes whose weight is an initializer of shape `dims`, in file order.
fn matmuls_with_weight(g: &pb::GraphProto, dims: &[i64]) -> Vec<usize> {
    let is_weight = |name: &str| g.initializer.iter().any(|t| t.name == name && t.dims == dims);
    (0..g.node.len()).filter(|&i| g.node[i].op_type == "MatMul" && is_weight(&g.node[i].input[1])).collect()
}

fn produced_by<'a>(g: &'a pb::GraphProto, tensor: &str) -> Option<&'a pb::NodeProto> {
    g.node.iter().find(|n| n.output.iter().any(|o| o == tensor))
}

#[test]
fn the_unedited_fixture_graph_converts_through_the_edit_path() {
    let Some(dir) = fixture() else { return };
    assert_eq!(convert_edited(&[&proto(&dir, "full_semseg.onnx")]), "OK");
}

#[test]
fn a_threshold_at_the_wrong_rank_is_a_wrong_top_k() {
    let Some(dir) = fixture() else { return };
    let mut m = proto(&dir, "full_semseg.onnx");
    // The Slice taking the k-th largest probability from TopK's values: make it take the largest.
    let is_topk_slice =
        |g: &pb::GraphProto, n: &pb::NodeProto| produced_by(g, &n.input[0]).is_some_and(|p| p.op_type == "TopK");
    let s = find(&mut m, "Slice", is_topk_slice);
    let g = graph(&mut m);
    let start = g.node[s].input[1].clone();
    let c = g.node.iter_mut().find(|n| n.output.first() == Some(&start)).expect("the Slice start is a Constant");
    let t = c.attribute[0].t.as_mut().expect("tensor value");
    t.raw_data = 0i64.to_le_bytes().to_vec();
    let name = g.node[s].name.clone();
    let e = convert_edited(&[&m]);
    assert!(e.contains(&format!("'Slice' ({name})")) && e.contains("k-th largest"), "{e}");
}

#[test]
fn a_smallest_k_top_k_is_refused() {
    let Some(dir) = fixture() else { return };
    let mut m = proto(&dir, "full_semseg.onnx");
    let tk = find(&mut m, "TopK", |_, _| true);
    let n = &mut graph(&mut m).node[tk];
    n.attribute.iter_mut().find(|a| a.name == "largest").expect("largest").i = 0;
    let name = n.name.clone();
    let e = convert_edited(&[&m]);
    assert!(e.contains(&format!("'TopK' ({name})")) && e.contains("largest=1"), "{e}");
}

#[test]
fn a_gate_with_a_bias_is_refused() {
    let Some(dir) = fixture() else { return };
    let mut m = proto(&dir, "full_semseg.onnx");
    // The gate MatMul is the one whose output feeds a Softmax over 16 experts: put an Add of a bias between.
    let gate = find(&mut m, "MatMul", |g, n| {
        g.node.iter().any(|r| r.op_type == "Softmax" && r.input[0] == n.output[0])
            && g.initializer.iter().any(|t| t.name == n.input[1] && t.dims == [32, 16])
    });
    let g = graph(&mut m);
    let out = g.node[gate].output[0].clone();
    let biased = format!("{out}_biased");
    for n in g.node.iter_mut().filter(|n| n.op_type == "Softmax" && n.input[0] == out) {
        n.input[0] = biased.clone();
    }
    g.initializer.push(pb::TensorProto {
        name: "gate_bias".into(),
        dims: vec![16],
        data_type: 1,
        float_data: vec![0.01; 16],
        ..Default::default()
    });
    let add = pb::NodeProto {
        op_type: "Add".into(),
        name: "the_gate_bias_add".into(),
        input: vec![out, "gate_bias".into()],
        output: vec![biased],
        ..Default::default()
    };
    g.node.insert(gate + 1, add);
    let e = convert_edited(&[&m]);
    assert!(e.contains("'Add' (the_gate_bias_add)") && e.contains("gate Softmax"), "{e}");
}

#[test]
fn a_5x5_head_conv_is_refused() {
    let Some(dir) = fixture() else { return };
    let mut m = proto(&dir, "full_semseg.onnx");
    let conv = find(&mut m, "Conv", |_, n| n.attribute.iter().any(|a| a.name == "kernel_shape" && a.ints == [3, 3]));
    let g = graph(&mut m);
    let wname = g.node[conv].input[1].clone();
    let w = g.initializer.iter_mut().find(|t| t.name == wname).expect("head conv weight");
    let (o, i) = (w.dims[0] as usize, w.dims[1] as usize);
    w.dims = vec![o as i64, i as i64, 5, 5];
    w.raw_data = vec![0; o * i * 25 * 4];
    w.float_data.clear();
    let n = &mut g.node[conv];
    for a in n.attribute.iter_mut() {
        match a.name.as_str() {
            "kernel_shape" => a.ints = vec![5, 5],
            "pads" => a.ints = vec![2, 2, 2, 2],
            _ => {}
        }
    }
    let name = n.name.clone();
    let e = convert_edited(&[&m]);
    assert!(e.contains(&format!("'Conv' ({name})")) && e.contains("expected kernel 3x3, found 5x5"), "{e}");
}

#[test]
fn merging_graphs_with_a_different_shared_weight_names_the_first_one() {
    let Some(dir) = fixture() else { return };
    let semseg = proto(&dir, "full_semseg.onnx");
    let mut depth = proto(&dir, "full_depth.onnx");
    // Change one value of block 2's attention projection weight and of block 3's qkv weight: the error names
    // the first of the two in bundle order.
    let proj2 = matmuls_with_weight(graph(&mut depth), &[32, 32])[2];
    let qkv3 = matmuls_with_weight(graph(&mut depth), &[32, 96])[3];
    let g = graph(&mut depth);
    for node in [qkv3, proj2] {
        let wname = g.node[node].input[1].clone();
        let t = g.initializer.iter_mut().find(|t| t.name == wname).expect("weight");
        t.raw_data[0] ^= 1;
    }
    let e = convert_edited(&[&semseg, &depth]);
    assert!(e.contains("shared tensor ProjW of block 2") && e.contains("'semseg' and 'depth'"), "{e}");
    assert!(e.contains("do not describe one model"), "{e}");
}

#[test]
fn an_encoder_only_graph_is_refused_with_what_it_is() {
    let Some(dir) = fixture() else { return };
    for task in ["semseg", "depth"] {
        let e = format!("{:#}", convert_onnx(&dir.join(format!("encoder_{task}.onnx")), Precision::F32).unwrap_err());
        assert!(e.contains("encoder-only graph") && e.contains("[1, 9, 32] after block 3"), "{e}");
    }
}

#[test]
fn the_merged_bundles_backbone_matches_the_reference_last_block_tokens() {
    let Some(dir) = fixture() else { return };
    let (bytes, _) = merged(&dir, Some(&task_names())).unwrap_or_else(|e| panic!("{e:#}"));
    let bytes = AlignedBytes::from_slice(&bytes);
    let bundle = Bundle::parse(&bytes).expect("reads");
    let mut scratch = vec![0f32; CpuBackend::new(&mut []).scratch_words(&bundle)];
    let mut cpu = CpuBackend::new(&mut scratch);
    let mut engine = cpu.load(bundle).expect("loads");
    for (i, x) in inputs(&dir).iter().enumerate() {
        for (t, (task, _)) in TASKS.iter().enumerate() {
            engine.select_task(t as u32).expect("task");
            let tokens = engine.encode(x).expect("encodes").to_vec();
            let (shape, reference) = npy_f32(&dir.join(format!("encoder_{task}_{i}.npy")));
            assert_eq!(shape, [1, 9, 32]);
            let err = max_rel_err(&tokens, &reference);
            eprintln!("tokens after block 3, {task} routing, input {i}: max |diff| / max(1, |ref|) = {err:.3e}");
            assert!(err <= 1e-4, "{task} input {i}: {err}");
        }
    }
}

#[test]
fn corrupted_fixture_bytes_never_panic_or_hang() {
    let Some(dir) = fixture() else { return };
    let bytes = std::fs::read(dir.join("full_semseg.onnx")).expect("fixture");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Flip bits in the graph structure (the nodes come first in the file), where folding runs tract.
    let structure = bytes.len().min(40_000);
    let start = std::time::Instant::now();
    for _ in 0..300 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % structure;
            b[at] ^= 1 << (next() % 8);
        }
        let path = std::env::temp_dir().join(format!("m3rt-torch-corrupt-{}.onnx", std::process::id()));
        std::fs::write(&path, &b).expect("temp file");
        let _ = convert_onnx(&path, Precision::F32);
        let _ = std::fs::remove_file(&path);
    }
    assert!(start.elapsed().as_secs() < 120, "300 corrupted conversions took {:?}", start.elapsed());
}
