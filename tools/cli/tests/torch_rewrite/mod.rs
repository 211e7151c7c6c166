//! Rewrites of the PyTorch fixture graphs into the other dense-equivalent MoE forms the converter accepts
//! (the same computation, so the reference modules' outputs still apply): the experts as a loop of
//! per-expert matmuls summed by Adds or one Sum, and the top-k weights by ScatterElements.
#![allow(dead_code)]

use std::collections::HashSet;

use tract_onnx::pb;

/// How each expert's column of the top-k weights is taken in the loop form.
#[derive(Clone, Copy, Debug)]
pub enum Column {
    /// `Slice(w, [e], [e+1], [1])`.
    Slice,
    /// `Gather(w, [e], axis=1)`.
    Gather,
}

/// How the weighted expert outputs are summed in the loop form.
#[derive(Clone, Copy, Debug)]
pub enum Summed {
    /// A chain of Adds.
    Adds,
    /// One Sum node.
    Sum,
}

fn g(m: &mut pb::ModelProto) -> &mut pb::GraphProto {
    m.graph.as_mut().expect("graph")
}

fn producer<'a>(g: &'a pb::GraphProto, t: &str) -> Option<(usize, &'a pb::NodeProto)> {
    g.node.iter().enumerate().find(|(_, n)| n.output.iter().any(|o| o == t))
}

fn floats(g: &pb::GraphProto, name: &str) -> (Vec<i64>, Vec<f32>) {
    let t = g.initializer.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no initializer {name}"));
    let v = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    (t.dims.clone(), v)
}

/// Node indices `t` depends on (transitively), with the producer of `t`.
fn ancestors(g: &pb::GraphProto, t: &str) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut stack = vec![t.to_string()];
    while let Some(t) = stack.pop() {
        if let Some((i, n)) = producer(g, &t) {
            if seen.insert(i) {
                stack.extend(n.input.iter().filter(|s| !s.is_empty()).cloned());
            }
        }
    }
    seen
}

fn node(op: &str, ins: &[&str], outs: &[&str], attribute: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn int_attr(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), i, r#type: 2, ..Default::default() }
}

fn f32_init(name: &str, dims: &[i64], v: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto { name: name.into(), dims: dims.to_vec(), data_type: 1, float_data: v, ..Default::default() }
}

fn i64_init(name: &str, v: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: 7,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

/// Replaces `old` nodes by `new` ones, placed where the first removed node was.
fn splice(g: &mut pb::GraphProto, old: &HashSet<usize>, new: Vec<pb::NodeProto>) {
    let at = *old.iter().min().expect("something to replace");
    let mut nodes: Vec<pb::NodeProto> = Vec::with_capacity(g.node.len() + new.len());
    for (i, n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        if i == at {
            nodes.extend(new.iter().cloned());
        }
        if !old.contains(&i) {
            nodes.push(n);
        }
    }
    g.node = nodes;
}

/// The MoE layers of the fixture form: (top-k weights `w`, flattened tokens `m2`, the b2 MatMul).
fn moe_layers(g: &pb::GraphProto) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for n in g.node.iter().filter(|n| n.op_type == "MatMul") {
        let Some((_, mul)) = producer(g, &n.input[0]).filter(|(_, p)| p.op_type == "Mul") else { continue };
        let Some((_, sm)) = mul.input.iter().find_map(|i| producer(g, i).filter(|(_, p)| p.op_type == "Softmax"))
        else {
            continue;
        };
        let (_, gate) = producer(g, &sm.input[0]).expect("gate MatMul");
        out.push((n.input[0].clone(), gate.input[0].clone(), n.output[0].clone()));
    }
    out
}

/// The experts of every MoE layer as a loop of per-expert matmuls (weights split from the concatenated
/// ones), each output weighted by its column of `w` and summed.
pub fn experts_as_loop(m: &mut pb::ModelProto, column: Column, summed: Summed) {
    let g = g(m);
    for (layer, (wts, m2, bias_mm_out)) in moe_layers(g).into_iter().enumerate() {
        let bias_mm = producer(g, &bias_mm_out).unwrap().1.clone();
        let (_, add) =
            g.node.iter().enumerate().find(|(_, n)| n.op_type == "Add" && n.input.contains(&bias_mm_out)).unwrap();
        let y = add.output[0].clone();
        let w2mm_out = add.input.iter().find(|i| **i != bias_mm_out).unwrap().clone();
        let w2cat = producer(g, &w2mm_out).unwrap().1.input[1].clone();
        let w1mm = g
            .node
            .iter()
            .find(|n| n.op_type == "MatMul" && n.input[0] == m2 && floats(g, &n.input[1]).0[1] > 16)
            .unwrap();
        let w1cat = w1mm.input[1].clone();
        let b1add = g.node.iter().find(|n| n.op_type == "Add" && n.input.contains(&w1mm.output[0])).unwrap();
        let b1cat = b1add.input.iter().find(|i| **i != w1mm.output[0]).unwrap().clone();
        let ((w1d, w1), (_, b1), (_, w2), (b2d, b2)) =
            (floats(g, &w1cat), floats(g, &b1cat), floats(g, &w2cat), floats(g, &bias_mm.input[1]));
        let (d, e, dh) = (w1d[0] as usize, b2d[0] as usize, w1d[1] as usize / b2d[0] as usize);
        let keep: HashSet<usize> = ancestors(g, &wts).union(&ancestors(g, &m2)).copied().collect();
        let old: HashSet<usize> = ancestors(g, &y).difference(&keep).copied().collect();
        let p = |s: &str| format!("loop{layer}_{s}");
        g.initializer.push(f32_init(&p("sqrt2"), &[], vec![std::f32::consts::SQRT_2]));
        g.initializer.push(f32_init(&p("one"), &[], vec![1.0]));
        g.initializer.push(f32_init(&p("half"), &[], vec![0.5]));
        let mut new = Vec::new();
        let mut zs = Vec::new();
        for x in 0..e {
            let q = |s: &str| format!("loop{layer}_e{x}_{s}");
            let w1x: Vec<f32> =
                (0..d).flat_map(|r| w1[r * e * dh + x * dh..r * e * dh + (x + 1) * dh].to_vec()).collect();
            g.initializer.push(f32_init(&q("w1"), &[d as i64, dh as i64], w1x));
            g.initializer.push(f32_init(&q("b1"), &[dh as i64], b1[x * dh..(x + 1) * dh].to_vec()));
            g.initializer.push(f32_init(&q("w2"), &[dh as i64, d as i64], w2[x * dh * d..(x + 1) * dh * d].to_vec()));
            g.initializer.push(f32_init(&q("b2"), &[d as i64], b2[x * d..(x + 1) * d].to_vec()));
            new.push(node("MatMul", &[&m2, &q("w1")], &[&q("mm1")], vec![]));
            new.push(node("Add", &[&q("mm1"), &q("b1")], &[&q("u")], vec![]));
            new.push(node("Div", &[&q("u"), &p("sqrt2")], &[&q("div")], vec![]));
            new.push(node("Erf", &[&q("div")], &[&q("erf")], vec![]));
            new.push(node("Add", &[&q("erf"), &p("one")], &[&q("erf1")], vec![]));
            new.push(node("Mul", &[&q("u"), &q("erf1")], &[&q("ue")], vec![]));
            new.push(node("Mul", &[&q("ue"), &p("half")], &[&q("h")], vec![]));
            new.push(node("MatMul", &[&q("h"), &q("w2")], &[&q("mm2")], vec![]));
            new.push(node("Add", &[&q("b2"), &q("mm2")], &[&q("y")], vec![]));
            match column {
                Column::Slice => {
                    for (s, v) in [("start", x as i64), ("end", x as i64 + 1), ("axis", 1)] {
                        g.initializer.push(i64_init(&q(s), &[v]));
                    }
                    new.push(node("Slice", &[&wts, &q("start"), &q("end"), &q("axis")], &[&q("col")], vec![]));
                }
                Column::Gather => {
                    g.initializer.push(i64_init(&q("index"), &[x as i64]));
                    new.push(node("Gather", &[&wts, &q("index")], &[&q("col")], vec![int_attr("axis", 1)]));
                }
            }
            new.push(node("Mul", &[&q("y"), &q("col")], &[&q("z")], vec![]));
            zs.push(q("z"));
        }
        match summed {
            Summed::Sum => {
                let ins: Vec<&str> = zs.iter().map(String::as_str).collect();
                new.push(node("Sum", &ins, &[&y], vec![]));
            }
            Summed::Adds => {
                let mut acc = zs[0].clone();
                for (x, z) in zs.iter().enumerate().skip(1) {
                    let out = if x == e - 1 { y.clone() } else { p(&format!("acc{x}")) };
                    new.push(node("Add", &[&acc, z], &[&out], vec![]));
                    acc = out;
                }
            }
        }
        splice(g, &old, new);
    }
}

/// The top-k weights of every MoE layer by `ScatterElements(zeros, TopK indices, TopK values, axis=1)`
/// instead of the comparison with the k-th largest probability.
pub fn top_k_by_scatter(m: &mut pb::ModelProto) {
    let g = g(m);
    for (layer, (wts, _, _)) in moe_layers(g).into_iter().enumerate() {
        // Mul(p, Cast(GreaterOrEqual(p, Slice(TopK values)))): back from w to the TopK.
        let (_, mul) = producer(g, &wts).unwrap();
        let cast = mul.input.iter().find_map(|i| producer(g, i).filter(|(_, n)| n.op_type == "Cast")).unwrap().1;
        let ge = producer(g, &cast.input[0]).unwrap().1;
        let slice = producer(g, &ge.input[1]).unwrap().1;
        let topk = producer(g, &slice.input[0]).unwrap().1.clone();
        let (_, sm) = producer(g, &topk.input[0]).unwrap();
        let p = sm.output[0].clone();
        let e = floats(g, &producer(g, &sm.input[0]).unwrap().1.input[1]).0[1];
        let keep = ancestors(g, &topk.output[0]);
        let old: HashSet<usize> = ancestors(g, &wts).difference(&keep).copied().collect();
        let old: HashSet<usize> = old.into_iter().filter(|&i| !ancestors(g, &p).contains(&i)).collect();
        let zeros = format!("scatter{layer}_zeros");
        g.initializer.push(f32_init(&zeros, &[9, e], vec![0.0; 9 * e as usize]));
        let sc =
            node("ScatterElements", &[&zeros, &topk.output[1], &topk.output[0]], &[&wts], vec![int_attr("axis", 1)]);
        splice(g, &old, vec![sc]);
    }
}

/// The top-k weights of every gate written with `ScatterElements(zeros, TopK indices, TopK values)`
/// rewritten as `Mul(p, Cast(GreaterOrEqual(p, Slice(values, [k-1], [k], [-1]))))`.
pub fn top_k_by_comparison(m: &mut pb::ModelProto) {
    let g = g(m);
    let mut layer = 0;
    while let Some(at) = g.node.iter().position(|n| n.op_type == "ScatterElements") {
        layer += 1;
        let sc = g.node[at].clone();
        let (_, topk) = producer(g, &sc.input[2]).expect("TopK values");
        let (p, k_name) = (topk.input[0].clone(), topk.input[1].clone());
        let t = g.initializer.iter().find(|t| t.name == k_name).expect("k is an initializer");
        let k = if t.int64_data.is_empty() {
            i64::from_le_bytes(t.raw_data[..8].try_into().unwrap())
        } else {
            t.int64_data[0]
        };
        let q = |s: &str| format!("cmp{layer}_{s}");
        for (s, v) in [("start", k - 1), ("end", k), ("axis", -1)] {
            g.initializer.push(i64_init(&q(s), &[v]));
        }
        let to_float = pb::AttributeProto { name: "to".into(), i: 1, r#type: 2, ..Default::default() };
        let new = vec![
            node("Slice", &[&sc.input[2], &q("start"), &q("end"), &q("axis")], &[&q("kth")], vec![]),
            node("GreaterOrEqual", &[&p, &q("kth")], &[&q("ge")], vec![]),
            node("Cast", &[&q("ge")], &[&q("mask")], vec![to_float]),
            node("Mul", &[&p, &q("mask")], &[&sc.output[0]], vec![]),
        ];
        splice(g, &HashSet::from([at]), new);
    }
}

/// The experts of every MoE layer as one batched matmul on the flattened tokens: `MatMul(m2, W1[E, D, Dh])`,
/// `+ b1[E, 1, Dh]`, GELU, `MatMul(·, W2[E, Dh, D])`, `+ b2[E, 1, D]`, times
/// `Unsqueeze(Transpose(w, [1, 0]), [-1])`, `ReduceSum(axes=[0], keepdims=0)`.
pub fn experts_batched(m: &mut pb::ModelProto) {
    let g = g(m);
    for (layer, (wts, m2, bias_mm_out)) in moe_layers(g).into_iter().enumerate() {
        let bias_mm = producer(g, &bias_mm_out).unwrap().1.clone();
        let (_, add) =
            g.node.iter().enumerate().find(|(_, n)| n.op_type == "Add" && n.input.contains(&bias_mm_out)).unwrap();
        let y = add.output[0].clone();
        let w2mm_out = add.input.iter().find(|i| **i != bias_mm_out).unwrap().clone();
        let w2cat = producer(g, &w2mm_out).unwrap().1.input[1].clone();
        let w1mm = g
            .node
            .iter()
            .find(|n| n.op_type == "MatMul" && n.input[0] == m2 && floats(g, &n.input[1]).0[1] > 16)
            .unwrap();
        let w1cat = w1mm.input[1].clone();
        let b1add = g.node.iter().find(|n| n.op_type == "Add" && n.input.contains(&w1mm.output[0])).unwrap();
        let b1cat = b1add.input.iter().find(|i| **i != w1mm.output[0]).unwrap().clone();
        let ((w1d, w1), (_, b1), (_, w2), (b2d, b2)) =
            (floats(g, &w1cat), floats(g, &b1cat), floats(g, &w2cat), floats(g, &bias_mm.input[1]));
        let (d, e) = (w1d[0] as usize, b2d[0] as usize);
        let dh = w1d[1] as usize / e;
        let w1x: Vec<f32> = (0..e)
            .flat_map(|x| (0..d).flat_map(move |r| (0..dh).map(move |h| r * e * dh + x * dh + h)))
            .map(|i| w1[i])
            .collect();
        let keep: HashSet<usize> = ancestors(g, &wts).union(&ancestors(g, &m2)).copied().collect();
        let old: HashSet<usize> = ancestors(g, &y).difference(&keep).copied().collect();
        let q = |s: &str| format!("bmm{layer}_{s}");
        let (ei, di, hi) = (e as i64, d as i64, dh as i64);
        g.initializer.push(f32_init(&q("w1"), &[ei, di, hi], w1x));
        g.initializer.push(f32_init(&q("b1"), &[ei, 1, hi], b1));
        g.initializer.push(f32_init(&q("w2"), &[ei, hi, di], w2));
        g.initializer.push(f32_init(&q("b2"), &[ei, 1, di], b2));
        g.initializer.push(f32_init(&q("sqrt2"), &[], vec![std::f32::consts::SQRT_2]));
        g.initializer.push(f32_init(&q("one"), &[], vec![1.0]));
        g.initializer.push(f32_init(&q("half"), &[], vec![0.5]));
        g.initializer.push(i64_init(&q("last"), &[-1]));
        g.initializer.push(i64_init(&q("experts_axis"), &[0]));
        let perm = pb::AttributeProto { name: "perm".into(), ints: vec![1, 0], r#type: 7, ..Default::default() };
        let new = vec![
            node("MatMul", &[&m2, &q("w1")], &[&q("mm1")], vec![]),
            node("Add", &[&q("mm1"), &q("b1")], &[&q("u")], vec![]),
            node("Div", &[&q("u"), &q("sqrt2")], &[&q("div")], vec![]),
            node("Erf", &[&q("div")], &[&q("erf")], vec![]),
            node("Add", &[&q("erf"), &q("one")], &[&q("erf1")], vec![]),
            node("Mul", &[&q("u"), &q("erf1")], &[&q("ue")], vec![]),
            node("Mul", &[&q("ue"), &q("half")], &[&q("h")], vec![]),
            node("MatMul", &[&q("h"), &q("w2")], &[&q("mm2")], vec![]),
            node("Add", &[&q("mm2"), &q("b2")], &[&q("ys")], vec![]),
            node("Transpose", &[&wts], &[&q("wt2")], vec![perm]),
            node("Unsqueeze", &[&q("wt2"), &q("last")], &[&q("wt")], vec![]),
            node("Mul", &[&q("ys"), &q("wt")], &[&q("weighted")], vec![]),
            node("ReduceSum", &[&q("weighted"), &q("experts_axis")], &[&y], vec![int_attr("keepdims", 0)]),
        ];
        splice(g, &old, new);
    }
}
