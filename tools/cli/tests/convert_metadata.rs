//! Post-processing from the ONNX metadata (`m3rt.post.<task>`, docs/onnx-form.md "Metadata"): it overrides
//! the name-based guess, and a bad value or a key for a task the graph lacks is an error.

use std::path::PathBuf;

use m3rt::bundle::{AlignedBytes, Bundle};
use m3rt::model::PostProcess;
use m3rt_cli::convert::{convert_onnx, Precision};
use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

/// The micro model with `props` as its metadata, converted.
fn convert_with(props: &[(&str, &str)], tag: &str) -> anyhow::Result<Vec<u8>> {
    let micro = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/micro/model.onnx");
    let mut m = tract_onnx::onnx().proto_model_for_path(micro).expect("micro");
    m.metadata_props =
        props.iter().map(|(k, v)| pb::StringStringEntryProto { key: k.to_string(), value: v.to_string() }).collect();
    let path = std::env::temp_dir().join(format!("m3rt-convert-meta-{}-{tag}.onnx", std::process::id()));
    std::fs::write(&path, m.encode_to_vec()).expect("temp file");
    let r = convert_onnx(&path, Precision::F32);
    let _ = std::fs::remove_file(&path);
    r.map(|(bytes, _)| bytes)
}

fn posts(bytes: &[u8]) -> Vec<(String, PostProcess)> {
    let aligned = AlignedBytes::from_slice(bytes);
    let b = Bundle::parse(&aligned).expect("bundle");
    b.tasks().map(|t| (t.name.to_string(), t.post)).collect()
}

#[test]
fn metadata_sets_each_tasks_post_processing() {
    let bytes = convert_with(&[("m3rt.post.depth", "sigmoid"), ("other.key", "ignored")], "set").unwrap();
    assert_eq!(posts(&bytes), [("semseg".into(), PostProcess::Argmax), ("depth".into(), PostProcess::Sigmoid)]);
    let bytes = convert_with(&[("m3rt.post.semseg", "l2norm"), ("m3rt.post.depth", "raw")], "all").unwrap();
    assert_eq!(posts(&bytes), [("semseg".into(), PostProcess::L2Normalize), ("depth".into(), PostProcess::Raw)]);
}

#[test]
fn bad_metadata_is_an_error() {
    let e = convert_with(&[("m3rt.post.depth", "softmax")], "bad").unwrap_err();
    assert!(format!("{e:#}").contains("'softmax' is not one of argmax, raw, sigmoid, l2norm"), "{e:#}");
    let e = convert_with(&[("m3rt.post.normals", "l2norm")], "unknown").unwrap_err();
    assert!(format!("{e:#}").contains("'normals', which is not an output"), "{e:#}");
}
