//! The accepted alternatives of docs/onnx-form.md: the micro model rewritten with a decomposed LayerNorm,
//! another GELU arrangement, a Div attention scale, Constant nodes, q/k/v split by Slice or Split and
//! unfolded BatchNorms converts to the same bundle (bit-identical, or within rounding for BatchNorm folding).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use m3rt::bundle::{AlignedBytes, Bundle, TensorData};
use m3rt::model::TensorKind;
use m3rt_cli::convert::{convert_onnx, Precision};
use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

fn micro_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/micro/model.onnx")
}

fn convert(m: &pb::ModelProto) -> Vec<u8> {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("m3rt-convert-alt-{}-{n}.onnx", std::process::id()));
    std::fs::write(&path, m.encode_to_vec()).expect("temp file");
    let r = convert_onnx(&path, Precision::F32);
    let _ = std::fs::remove_file(&path);
    r.unwrap_or_else(|e| panic!("{e:#}")).0
}

/// Rewrites a model: `f` maps each node to its replacement nodes and may add initializers.
struct Rewrite {
    m: pb::ModelProto,
    fresh: u32,
}

impl Rewrite {
    fn new() -> Self {
        Rewrite { m: tract_onnx::onnx().proto_model_for_path(micro_path()).expect("micro"), fresh: 0 }
    }
    fn name(&mut self) -> String {
        self.fresh += 1;
        format!("alt_{}", self.fresh)
    }
    fn scalar(&mut self, v: f32) -> String {
        let name = self.name();
        let t = pb::TensorProto { name: name.clone(), data_type: 1, float_data: vec![v], ..Default::default() };
        self.m.graph.as_mut().unwrap().initializer.push(t);
        name
    }
    fn constant(&self, name: &str) -> Option<pb::TensorProto> {
        self.m.graph.as_ref().unwrap().initializer.iter().find(|t| t.name == name).cloned()
    }
    fn map(&mut self, mut f: impl FnMut(&mut Self, &pb::NodeProto) -> Option<Vec<pb::NodeProto>>) {
        let old = std::mem::take(&mut self.m.graph.as_mut().unwrap().node);
        let mut new = Vec::new();
        for n in &old {
            new.extend(f(self, n).unwrap_or_else(|| vec![n.clone()]));
        }
        self.m.graph.as_mut().unwrap().node = new;
    }
}

fn node(op: &str, ins: &[&str], out: &str) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        ..Default::default()
    }
}

fn with_ints(mut n: pb::NodeProto, name: &str, v: &[i64]) -> pb::NodeProto {
    n.attribute.push(pb::AttributeProto { name: name.into(), ints: v.to_vec(), r#type: 7, ..Default::default() });
    n
}

fn scalar_of(t: &pb::TensorProto) -> Option<f32> {
    match (t.data_type, t.raw_data.as_slice(), t.float_data.as_slice()) {
        (1, [a, b, c, d], _) => Some(f32::from_le_bytes([*a, *b, *c, *d])),
        (1, [], [v]) => Some(*v),
        _ => None,
    }
}

#[test]
fn decomposed_layer_norms_give_the_same_bundle() {
    let reference = convert(&Rewrite::new().m);
    let mut r = Rewrite::new();
    r.map(|r, n| {
        if n.op_type != "LayerNormalization" {
            return None;
        }
        let eps = n.attribute.iter().find(|a| a.name == "epsilon").map_or(1e-5, |a| a.f);
        let (two, eps) = (r.scalar(2.0), r.scalar(eps));
        let (x, g, b) = (n.input[0].as_str(), n.input[1].as_str(), n.input[2].as_str());
        let t: Vec<String> = (0..8).map(|_| r.name()).collect();
        Some(vec![
            with_ints(node("ReduceMean", &[x], &t[0]), "axes", &[-1]),
            node("Sub", &[x, &t[0]], &t[1]),
            node("Pow", &[&t[1], &two], &t[2]),
            with_ints(node("ReduceMean", &[&t[2]], &t[3]), "axes", &[-1]),
            node("Add", &[&t[3], &eps], &t[4]),
            node("Sqrt", &[&t[4]], &t[5]),
            node("Div", &[&t[1], &t[5]], &t[6]),
            node("Mul", &[&t[6], g], &t[7]),
            node("Add", &[&t[7], b], &n.output[0]),
        ])
    });
    assert_eq!(convert(&r.m), reference);
}

#[test]
fn other_gelu_forms_div_scale_and_constant_nodes_give_the_same_bundle() {
    let reference = convert(&Rewrite::new().m);
    let mut r = Rewrite::new();
    let producers: std::collections::HashMap<String, pb::NodeProto> =
        r.m.graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .flat_map(|n| n.output.iter().map(move |o| (o.clone(), n.clone())))
            .collect();
    let value = |r: &Rewrite, name: &str| r.constant(name).and_then(|t| scalar_of(&t));
    let mut counts = [0u32; 3];
    r.map(|r, n| {
        let c = n.input.get(1).and_then(|i| value(r, i));
        match (n.op_type.as_str(), c) {
            // u / √2  →  u · (1/√2)
            ("Div", Some(c)) if (c - std::f32::consts::SQRT_2).abs() < 1e-5 => {
                let k = r.scalar(std::f32::consts::FRAC_1_SQRT_2);
                counts[0] += 1;
                Some(vec![node("Mul", &[&n.input[0], &k], &n.output[0])])
            }
            // scores · hd^-0.5  →  scores / √hd
            ("Mul", Some(c)) if c < 0.5 && c > 0.0 => {
                let k = r.scalar(1.0 / c);
                counts[1] += 1;
                Some(vec![node("Div", &[&n.input[0], &k], &n.output[0])])
            }
            // Mul(Mul(u, 0.5), e)  →  Mul(u, Mul(0.5, e))
            ("Mul", None) => {
                let half = producers.get(&n.input[0]).filter(|p| p.op_type == "Mul")?;
                if value(r, &half.input[1]) != Some(0.5) {
                    return None;
                }
                let (h, k) = (r.name(), r.scalar(0.5));
                counts[2] += 1;
                Some(vec![node("Mul", &[&k, &n.input[1]], &h), node("Mul", &[&half.input[0], &h], &n.output[0])])
            }
            _ => None,
        }
    });
    // The micro graph holds 7 GELUs and 6 attentions (blocks after the first MoE gate are per task).
    assert!(counts[0] >= 4 && counts[1] >= 4 && counts[2] >= 4, "{counts:?}");
    // int64 initializers as Constant nodes.
    let g = r.m.graph.as_mut().unwrap();
    let (ints, floats): (Vec<_>, Vec<_>) =
        std::mem::take(&mut g.initializer).into_iter().partition(|t| t.data_type == 7);
    g.initializer = floats;
    for t in ints.into_iter().rev() {
        let a = pb::AttributeProto { name: "value".into(), r#type: 4, t: Some(t.clone()), ..Default::default() };
        let c = pb::NodeProto {
            op_type: "Constant".into(),
            output: vec![t.name],
            attribute: vec![a],
            ..Default::default()
        };
        g.node.insert(0, c);
    }
    assert_eq!(convert(&r.m), reference);
}

fn int64s(r: &mut Rewrite, v: &[i64]) -> String {
    let name = r.name();
    let t = pb::TensorProto {
        name: name.clone(),
        dims: vec![v.len() as i64],
        data_type: 7,
        int64_data: v.to_vec(),
        ..Default::default()
    };
    r.m.graph.as_mut().unwrap().initializer.push(t);
    name
}

/// The index a q/k/v Gather selects.
fn gather_index(r: &Rewrite, n: &pb::NodeProto) -> Option<i64> {
    let t = r.constant(n.input.get(1)?)?;
    match (t.dims.is_empty(), t.raw_data.as_slice(), t.int64_data.as_slice()) {
        (true, [], [j]) => Some(*j),
        (true, raw, _) if raw.len() == 8 => Some(i64::from_le_bytes(raw.try_into().ok()?)),
        _ => None,
    }
}

#[test]
fn qkv_split_by_slices_or_split_gives_the_same_bundle() {
    let reference = convert(&Rewrite::new().m);
    // Slice(starts=[j], ends=[j+1], axes=[0]) + Squeeze(axes=[0]) per Gather.
    let mut r = Rewrite::new();
    let mut count = 0;
    r.map(|r, n| {
        let j = gather_index(r, n).filter(|_| n.op_type == "Gather")?;
        let (s, e, a) = (int64s(r, &[j]), int64s(r, &[j + 1]), int64s(r, &[0]));
        let tmp = r.name();
        count += 1;
        Some(vec![node("Slice", &[&n.input[0], &s, &e, &a], &tmp), node("Squeeze", &[&tmp, &a], &n.output[0])])
    });
    assert_eq!(count, 18);
    assert_eq!(convert(&r.m), reference);

    // One Split(axis=0) + three Squeezes per attention, in place of the index-0 Gather.
    let mut r = Rewrite::new();
    let mut outs: std::collections::HashMap<String, [String; 3]> = Default::default();
    for n in &r.m.graph.as_ref().unwrap().node {
        if let Some(j) = gather_index(&r, n).filter(|_| n.op_type == "Gather") {
            outs.entry(n.input[0].clone()).or_default()[j as usize] = n.output[0].clone();
        }
    }
    r.map(|r, n| {
        let j = gather_index(r, n).filter(|_| n.op_type == "Gather")?;
        if j != 0 {
            return Some(vec![]);
        }
        let axes = int64s(r, &[0]);
        let parts: Vec<String> = (0..3).map(|_| r.name()).collect();
        let mut split = node("Split", &[&n.input[0]], &parts[0]);
        split.output = parts.clone();
        let mut v = vec![split];
        for (p, o) in parts.iter().zip(&outs[&n.input[0]]) {
            v.push(node("Squeeze", &[p, &axes], o));
        }
        Some(v)
    });
    assert_eq!(convert(&r.m), reference);
}

fn floats(t: &pb::TensorProto) -> Vec<f32> {
    if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    }
}

#[test]
fn gemm_with_trans_b_gives_the_same_bundle() {
    // Structural only: ONNX Gemm is 2-D, the converter reads its weight layout the same way anyway.
    let reference = convert(&Rewrite::new().m);
    let mut r = Rewrite::new();
    let g = r.m.graph.as_ref().unwrap();
    let mut bias_add: std::collections::HashMap<String, pb::NodeProto> = Default::default();
    for n in &g.node {
        let w = g.initializer.iter().find(|t| Some(&t.name) == n.input.get(1));
        if n.op_type == "MatMul" && w.is_some_and(|t| t.dims.len() == 2) {
            let readers: Vec<&pb::NodeProto> = g.node.iter().filter(|a| a.input.contains(&n.output[0])).collect();
            if let [add] = readers.as_slice() {
                if add.op_type == "Add" {
                    bias_add.insert(n.output[0].clone(), (*add).clone());
                }
            }
        }
    }
    let mut count = 0;
    r.map(|r, n| {
        if n.op_type == "Add" && n.input.iter().any(|i| bias_add.contains_key(i)) {
            return Some(vec![]);
        }
        let add = bias_add.get(n.output.first()?)?;
        let w = r.constant(&n.input[1])?;
        let (i, o) = (w.dims[0] as usize, w.dims[1] as usize);
        let v = floats(&w);
        let t: Vec<f32> = (0..i * o).map(|k| v[(k % i) * o + k / i]).collect();
        let name = r.name();
        let wt = pb::TensorProto {
            name: name.clone(),
            dims: vec![o as i64, i as i64],
            data_type: 1,
            float_data: t,
            ..Default::default()
        };
        r.m.graph.as_mut().unwrap().initializer.push(wt);
        let bias = add.input.iter().find(|x| **x != n.output[0])?;
        let mut gemm = node("Gemm", &[&n.input[0], &name, bias], &add.output[0]);
        gemm.attribute.push(pb::AttributeProto { name: "transB".into(), i: 1, r#type: 2, ..Default::default() });
        count += 1;
        Some(vec![gemm])
    });
    assert_eq!(count, 18, "6 attentions × (qkv, proj) + 3 dense MLPs × 2");
    assert_eq!(convert(&r.m), reference);
}

#[test]
fn batch_norms_after_head_convs_are_folded() {
    let reference = convert(&Rewrite::new().m);
    let mut r = Rewrite::new();
    let mut folded = 0;
    r.map(|r, n| {
        if n.op_type != "Conv" {
            return None;
        }
        let w = r.constant(n.input.get(1)?)?;
        if w.dims[1] == 3 {
            return None;
        }
        // Conv(x, W) → BN(gamma 1, beta = bias, mean 0, var 1 - eps): the same function.
        let cout = w.dims[0] as usize;
        let vecs: Vec<String> = [1.0f32, 0.0, 1.0 - 1e-5]
            .iter()
            .map(|&v| {
                let name = r.name();
                let t = pb::TensorProto {
                    name: name.clone(),
                    dims: vec![cout as i64],
                    data_type: 1,
                    float_data: vec![v; cout],
                    ..Default::default()
                };
                r.m.graph.as_mut().unwrap().initializer.push(t);
                name
            })
            .collect();
        let mut conv = n.clone();
        let bias = conv.input.pop()?;
        let tmp = r.name();
        conv.output = vec![tmp.clone()];
        let mut bn = node("BatchNormalization", &[&tmp, &vecs[0], &bias, &vecs[1], &vecs[2]], &n.output[0]);
        bn.attribute.push(pb::AttributeProto { name: "epsilon".into(), f: 1e-5, r#type: 1, ..Default::default() });
        folded += 1;
        Some(vec![conv, bn])
    });
    assert!(folded >= 10, "{folded}");
    let bytes = convert(&r.m);
    let (a, b) = (AlignedBytes::from_slice(&reference), AlignedBytes::from_slice(&bytes));
    let (a, b) = (Bundle::parse(&a).unwrap(), Bundle::parse(&b).unwrap());
    for i in 0..a.tensor_count() {
        let ((k, x), (_, y)) = (a.tensor_at(i).unwrap(), b.tensor_at(i).unwrap());
        let (TensorData::F32(x), TensorData::F32(y)) = (x, y) else { panic!("f32 expected") };
        let tol = if matches!(k.kind, TensorKind::HeadConvW | TensorKind::HeadConvB) { 1e-5 } else { 0.0 };
        assert!(x.iter().zip(y).all(|(p, q)| (p - q).abs() <= tol * p.abs().max(1.0)), "{k:?}");
    }
}
