//! The other dense-equivalent MoE forms of docs/onnx-form.md ("Graphs written by PyTorch's exporter"),
//! made by rewriting the PyTorch fixture graphs (`torch_rewrite`): the experts as a loop of matmuls summed
//! by Adds or one Sum, each expert's weight taken by Slice or Gather; the experts as one batched matmul; the
//! top-k weights by ScatterElements; and micro's own batched form with the comparison top-k. Each converts to the same bundle as the fixture's own form (the per-expert weights recovered exactly) and
//! matches the reference modules' outputs.

mod common;
mod torch_rewrite;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use common::{host_outputs, max_rel_err, npy_f32, root};
use m3rt::bundle::AlignedBytes;
use m3rt_cli::convert::{convert_onnx, Precision};
use prost::Message;
use torch_rewrite::{experts_as_loop, experts_batched, top_k_by_comparison, top_k_by_scatter, Column, Summed};
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

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

fn convert(m: &pb::ModelProto) -> anyhow::Result<Vec<u8>> {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("m3rt-torch-form-{}-{n}.onnx", std::process::id()));
    std::fs::write(&path, m.encode_to_vec()).expect("temp file");
    let r = convert_onnx(&path, Precision::F32);
    let _ = std::fs::remove_file(&path);
    Ok(r?.0)
}

/// Converts `task`'s graph rewritten by `rewrite`; checks the bundle equals the unrewritten one's and the
/// outputs match the reference modules' on every input.
fn check_form(dir: &Path, task: &str, what: &str, rewrite: impl Fn(&mut pb::ModelProto)) {
    let path = dir.join(format!("full_{task}.onnx"));
    let mut m = tract_onnx::onnx().proto_model_for_path(&path).expect("fixture reads");
    rewrite(&mut m);
    let bytes = convert(&m).unwrap_or_else(|e| panic!("{what} ({task}): {e:#}"));
    let plain = convert_onnx(&path, Precision::F32).expect("the fixture converts").0;
    assert!(bytes == plain, "{what} ({task}): the bundle differs from the fixture form's");
    let bytes = AlignedBytes::from_slice(&bytes);
    for i in 0..3 {
        let (_, x) = npy_f32(&dir.join(format!("input_{i}.npy")));
        let (_, reference) = npy_f32(&dir.join(format!("output_{task}_{i}.npy")));
        let err = max_rel_err(&host_outputs(&bytes, &x)[0].0, &reference);
        eprintln!("{what} ({task}) input {i}: max |diff| / max(1, |ref|) = {err:.3e}");
        assert!(err <= 1e-4, "{what} ({task}) input {i}: {err}");
    }
}

#[test]
fn experts_as_a_loop_of_matmuls_summed_by_adds() {
    let Some(dir) = fixture() else { return };
    for task in ["semseg", "depth"] {
        check_form(&dir, task, "loop, Slice, Adds", |m| experts_as_loop(m, Column::Slice, Summed::Adds));
    }
}

#[test]
fn experts_as_a_loop_of_matmuls_summed_by_one_sum() {
    let Some(dir) = fixture() else { return };
    check_form(&dir, "semseg", "loop, Gather, Sum", |m| experts_as_loop(m, Column::Gather, Summed::Sum));
}

#[test]
fn top_k_weights_by_scatter_elements() {
    let Some(dir) = fixture() else { return };
    check_form(&dir, "semseg", "ScatterElements, concatenated", top_k_by_scatter);
    check_form(&dir, "depth", "ScatterElements, loop", |m| {
        top_k_by_scatter(m);
        experts_as_loop(m, Column::Slice, Summed::Adds);
    });
}

#[test]
fn micro_with_the_comparison_top_k_in_its_batched_experts_form() {
    // The exporter's own 3-D form (experts as one batched MatMul, ReduceSum), gates rewritten to the comparison.
    let path = root().join("models/micro/model.onnx");
    let mut m = tract_onnx::onnx().proto_model_for_path(&path).expect("micro reads");
    top_k_by_comparison(&mut m);
    let bytes = convert(&m).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(bytes == convert_onnx(&path, Precision::F32).expect("micro converts").0, "the bundle differs");
    let bytes = AlignedBytes::from_slice(&bytes);
    let golden = root().join("models/micro/golden");
    for i in 0..2 {
        let (_, x) = npy_f32(&golden.join(format!("input_{i}.npy")));
        let outs = host_outputs(&bytes, &x);
        for (t, task) in ["semseg", "depth"].iter().enumerate() {
            let (_, ort) = npy_f32(&golden.join(format!("{task}_{i}.npy")));
            let err = max_rel_err(&outs[t].0, &ort);
            eprintln!("micro, comparison top-k, {task} input {i}: max |diff| / max(1, |onnxruntime|) = {err:.3e}");
            assert!(err <= 1e-4, "{task} input {i}: {err}");
        }
    }
}

#[test]
fn a_comparison_with_the_wrong_rank_names_the_slice() {
    let path = root().join("models/micro/model.onnx");
    let mut m = tract_onnx::onnx().proto_model_for_path(&path).expect("micro reads");
    top_k_by_comparison(&mut m);
    let g = m.graph.as_mut().unwrap();
    let start = g.initializer.iter_mut().find(|t| t.name == "cmp1_start").expect("the first threshold start");
    start.int64_data = vec![0];
    let e = convert(&m).map(|_| "OK".to_string()).unwrap_or_else(|e| format!("{e:#}"));
    assert!(e.contains("'Slice'") && e.contains("k-th largest probability"), "{e}");
}

#[test]
fn experts_as_one_batched_matmul_on_the_flattened_tokens() {
    let Some(dir) = fixture() else { return };
    for task in ["semseg", "depth"] {
        check_form(&dir, task, "batched, ReduceSum", experts_batched);
    }
}
