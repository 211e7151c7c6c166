//! `m3rt convert` on ONNX files it must refuse: truncated or random bytes, a ResNet-like graph, and the
//! micro model with one node changed. Each error names the node it could not place; nothing panics.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use m3rt_cli::convert::{convert_onnx, Precision};
use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

fn micro_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/micro/model.onnx")
}

fn micro() -> pb::ModelProto {
    tract_onnx::onnx().proto_model_for_path(micro_path()).expect("micro ONNX reads")
}

/// Converts raw bytes written to a temporary file; returns the error text, or "OK".
fn convert_bytes(bytes: &[u8]) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("m3rt-convert-err-{}-{n}.onnx", std::process::id()));
    std::fs::write(&path, bytes).expect("temp file");
    let r = convert_onnx(&path, Precision::F32);
    let _ = std::fs::remove_file(&path);
    match r {
        Ok(_) => "OK".to_string(),
        Err(e) => format!("{e:#}"),
    }
}

fn convert_model(m: &pb::ModelProto) -> String {
    convert_bytes(&m.encode_to_vec())
}

fn nodes(m: &mut pb::ModelProto) -> &mut Vec<pb::NodeProto> {
    &mut m.graph.as_mut().expect("graph").node
}

fn ints_attr<'a>(n: &'a mut pb::NodeProto, name: &str) -> &'a mut Vec<i64> {
    &mut n.attribute.iter_mut().find(|a| a.name == name).expect("attribute").ints
}

#[test]
fn the_unmodified_micro_model_converts() {
    assert_eq!(convert_model(&micro()), "OK");
}

#[test]
fn truncated_random_and_missing_files_are_errors() {
    let bytes = std::fs::read(micro_path()).expect("micro");
    for len in [0, 1, 7, 100, 5000, bytes.len() / 2, bytes.len() - 1] {
        let e = convert_bytes(&bytes[..len]);
        assert_ne!(e, "OK", "truncated to {len}");
    }
    let e = convert_bytes(&bytes[..5000]);
    assert!(e.contains("ONNX"), "{e}");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_ne!(convert_bytes(&noise), "OK");
    assert!(convert_onnx(&PathBuf::from("/nonexistent/model.onnx"), Precision::F32).is_err());
}

#[test]
fn a_resnet_like_graph_names_its_first_conv() {
    let tensor = |name: &str, dims: &[i64]| pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 1,
        float_data: vec![0.0; dims.iter().product::<i64>() as usize],
        ..Default::default()
    };
    let ints = |name: &str, v: &[i64]| pb::AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: 7,
        ..Default::default()
    };
    let node = |op: &str, name: &str, ins: &[&str], out: &str, attribute: Vec<pb::AttributeProto>| pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        attribute,
        ..Default::default()
    };
    let value = |name: &str, dims: &[i64]| {
        use pb::tensor_shape_proto::{dimension::Value, Dimension};
        let dim = dims.iter().map(|&d| Dimension { value: Some(Value::DimValue(d)), ..Default::default() }).collect();
        let t = pb::type_proto::Tensor { elem_type: 1, shape: Some(pb::TensorShapeProto { dim }) };
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto { value: Some(pb::type_proto::Value::TensorType(t)), ..Default::default() }),
            ..Default::default()
        }
    };
    let conv_attrs = vec![ints("kernel_shape", &[7, 7]), ints("strides", &[2, 2]), ints("pads", &[3, 3, 3, 3])];
    let graph = pb::GraphProto {
        node: vec![
            node("Conv", "conv1", &["x", "w1", "b1"], "c1", conv_attrs),
            node("Relu", "relu1", &["c1"], "r1", vec![]),
            node("GlobalAveragePool", "pool", &["r1"], "p", vec![]),
            node("Flatten", "flat", &["p"], "f", vec![]),
            node("Gemm", "fc", &["f", "fw", "fb"], "logits", vec![]),
        ],
        initializer: vec![
            tensor("w1", &[64, 3, 7, 7]),
            tensor("b1", &[64]),
            tensor("fw", &[64, 10]),
            tensor("fb", &[10]),
        ],
        input: vec![value("x", &[1, 3, 224, 224])],
        output: vec![value("logits", &[1, 10])],
        ..Default::default()
    };
    let m = pb::ModelProto { ir_version: 8, graph: Some(graph), ..Default::default() };
    let e = convert_model(&m);
    assert!(e.contains("node #0 'Conv' (conv1)") && e.contains("stride"), "{e}");
}

#[test]
fn a_5x5_patch_conv_is_named() {
    let mut m = micro();
    let conv = nodes(&mut m).iter_mut().find(|n| n.op_type == "Conv").expect("patch conv");
    *ints_attr(conv, "kernel_shape") = vec![5, 5];
    let e = convert_model(&m);
    assert!(e.contains("'Conv'") && e.contains("patch") && e.contains("[5, 5]"), "{e}");
}

#[test]
fn a_5x5_head_conv_is_named() {
    let mut m = micro();
    let g = m.graph.as_mut().unwrap();
    let idx = g.node.iter().enumerate().filter(|(_, n)| n.op_type == "Conv").nth(1).expect("head conv").0;
    let wname = g.node[idx].input[1].clone();
    let w = g.initializer.iter_mut().find(|t| t.name == wname).expect("head conv weight");
    let (o, i) = (w.dims[0] as usize, w.dims[1] as usize);
    w.dims = vec![o as i64, i as i64, 5, 5];
    w.raw_data = vec![0; o * i * 25 * 4];
    w.float_data.clear();
    let n = &mut g.node[idx];
    *ints_attr(n, "kernel_shape") = vec![5, 5];
    *ints_attr(n, "pads") = vec![2, 2, 2, 2];
    let name = n.name.clone();
    let e = convert_model(&m);
    let want = format!("node #{idx} 'Conv' ({name})");
    assert!(e.contains(&want) && e.contains("expected kernel 3x3, found 5x5"), "{e}");
}

#[test]
fn a_swapped_op_type_is_named() {
    let mut m = micro();
    let (idx, relu) = nodes(&mut m).iter_mut().enumerate().find(|(_, n)| n.op_type == "Relu").expect("relu");
    relu.op_type = "Sigmoid".into();
    let e = convert_model(&m);
    assert!(e.contains(&format!("node #{idx} 'Sigmoid'")) && e.contains("Relu"), "{e}");
}

#[test]
fn a_deleted_node_is_reported_where_the_pattern_breaks() {
    let mut m = micro();
    let ns = nodes(&mut m);
    let idx = ns.iter().position(|n| n.op_type == "Erf").expect("erf");
    let removed = ns.remove(idx);
    for n in ns.iter_mut() {
        for i in n.input.iter_mut().filter(|i| **i == removed.output[0]) {
            *i = removed.input[0].clone();
        }
    }
    let e = convert_model(&m);
    assert!(e.contains("Erf") && e.contains("node #"), "{e}");
}

#[test]
fn tasks_that_disagree_on_a_shared_weight_are_refused() {
    let mut m = micro();
    let outputs: Vec<String> = m.graph.as_ref().unwrap().output.iter().map(|o| o.name.clone()).collect();
    let g = m.graph.as_mut().unwrap();
    // The last block LayerNorm before the last task's head Slice is a per-task copy (blocks after the first
    // MoE gate are copied per task) of a shared tensor; give the last task's copy its own values.
    let last_slice = g.node.iter().rposition(|n| n.op_type == "Slice").expect("head slice");
    let idx = (0..last_slice).rev().find(|&i| g.node[i].op_type == "LayerNormalization").expect("block LN");
    let gain = g.node[idx].input[1].clone();
    let mut copy = g.initializer.iter().find(|t| t.name == gain).unwrap().clone();
    copy.name = format!("{gain}.copy");
    if copy.raw_data.is_empty() {
        copy.float_data[0] += 1.0;
    } else {
        copy.raw_data[3] ^= 0x40;
    }
    g.initializer.push(copy);
    g.node[idx].input[1] = format!("{gain}.copy");
    let e = convert_model(&m);
    assert!(e.contains("shared tensor") && e.contains(outputs.last().unwrap()), "{e}");
}

#[test]
fn deleting_any_single_node_never_panics() {
    let base = micro();
    let count = base.graph.as_ref().unwrap().node.len();
    for idx in (0..count).step_by(3) {
        let mut m = base.clone();
        let ns = nodes(&mut m);
        let removed = ns.remove(idx);
        if let (Some(out), Some(inp)) = (removed.output.first(), removed.input.first()) {
            for n in ns.iter_mut() {
                for i in n.input.iter_mut().filter(|i| *i == out) {
                    *i = inp.clone();
                }
            }
        }
        let e = convert_model(&m);
        assert_ne!(e, "OK", "deleting node #{idx} ({}) still converts", removed.op_type);
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let bytes = std::fs::read(micro_path()).expect("micro");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Flip bytes in the graph structure (the first part of the file holds the nodes).
    let structure = bytes.len().min(12_000);
    for _ in 0..300 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % structure;
            b[at] ^= 1 << (next() % 8);
        }
        let _ = convert_bytes(&b);
    }
}
