//! Constant folding before matching, done by tract: the graph is parsed into tract's inference model with
//! the image input's shape fixed to `[1, 3, H, W]`, tract's analysis runs (it infers every shape and
//! evaluates every node whose inputs are all known), and each ONNX node whose outputs all came out as known
//! values is folded away: its float32 / int64 outputs become constants for the matchers, and the node itself
//! stops counting as a producer or reader. This turns PyTorch's run-time shape chains (`Shape`, `Gather`,
//! `Slice`, `Unsqueeze`, `Concat`, `ConstantOfShape`, `Where`, `Expand` of a constant, ...) into the
//! constant `Reshape` targets, cls tokens and `Resize` sizes the matchers read.
//!
//! Folding is best effort: a graph tract cannot parse or analyse (or that makes it panic) is matched as
//! written, so the matchers still name the node they cannot place.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{self, tensor_shape_proto::dimension, type_proto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::graph::{Const, ConstData};

/// What folding found: constant values of node outputs, and the nodes all of whose outputs are constant.
#[derive(Debug, Default)]
pub struct Folded {
    /// Output tensor name → its value (float32 and int64 tensors; other types are folded but not kept).
    pub values: HashMap<String, Const>,
    /// Indices (file order) of the nodes folded away.
    pub nodes: HashSet<usize>,
}

/// The static `[1, 3, H, W]` shape of the one non-initializer graph input (tract's only source), if it has
/// one within the bundle format's image limit (a symbolic batch dimension is fixed to 1).
fn image_shape(g: &pb::GraphProto) -> Option<[usize; 4]> {
    let inits: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = g.input.iter().filter(|v| !inits.contains(v.name.as_str())).collect();
    let [input] = inputs.as_slice() else { return None };
    let Some(type_proto::Value::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return None;
    };
    let dims: Vec<Option<i64>> = t
        .shape
        .as_ref()?
        .dim
        .iter()
        .map(|d| match d.value {
            Some(dimension::Value::DimValue(v)) => Some(v),
            _ => None,
        })
        .collect();
    let side = |v: i64| (1..=i64::from(m3rt::bundle::MAX_IMAGE_SIDE)).contains(&v);
    match dims.as_slice() {
        [_, Some(3), Some(h), Some(w)] if side(*h) && side(*w) => Some([1, 3, *h as usize, *w as usize]),
        _ => None,
    }
}

/// A tract tensor as a matcher constant (float32, or integers as int64).
fn to_const(t: &Tensor) -> Option<Const> {
    let dims = t.shape().iter().map(|&d| d as i64).collect();
    let data = match t.datum_type() {
        DatumType::F32 => ConstData::F32(t.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.into()),
        // Shapes come out of tract's analysis as dimension expressions (all concrete here) or int32.
        DatumType::I64 | DatumType::TDim | DatumType::I32 => {
            let ints = t.cast_to::<i64>().ok()?;
            ConstData::I64(ints.try_as_plain_ram().ok()?.as_slice::<i64>().ok()?.into())
        }
        _ => return None,
    };
    Some(Const { dims, data })
}

/// Runs tract's analysis on `model` with its image input fixed; returns the folded values and nodes
/// (empty when tract cannot parse or analyse the graph). Some malformed graphs make tract panic (an
/// out-of-range Transpose permutation, for one): that is caught and counts as "cannot analyse".
pub fn fold(model: &pb::ModelProto) -> Folded {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| try_fold(model))).ok().flatten().unwrap_or_default()
}

/// Whether anything can fold: a node reading shapes (`Shape`, `Size`) or one (other than `Constant`)
/// whose inputs are all constants. A graph in the exporter's own form has neither and skips tract.
fn needs_folding(g: &pb::GraphProto) -> bool {
    let mut constants: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    constants
        .extend(g.node.iter().filter(|n| n.op_type == "Constant").flat_map(|n| n.output.iter().map(String::as_str)));
    g.node.iter().any(|n| {
        let all_const = n.input.iter().filter(|i| !i.is_empty()).all(|i| constants.contains(i.as_str()));
        matches!(n.op_type.as_str(), "Shape" | "Size") || (n.op_type != "Constant" && all_const)
    })
}

/// Whether the graph is sane enough to hand to tract: every input a node reads is defined, and every axis
/// or permutation attribute is a small integer (no accepted graph has a tensor of rank above 5). Tract's
/// analysis can run for minutes on a graph with, say, a LayerNormalization over axis -2^36; such a graph is
/// matched as written (and refused by the matchers).
fn sane_for_tract(g: &pb::GraphProto) -> bool {
    let mut defined: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    defined.extend(g.input.iter().map(|v| v.name.as_str()));
    defined.extend(g.node.iter().flat_map(|n| n.output.iter().map(String::as_str)));
    let small = |v: i64| (-8..=8).contains(&v);
    g.node.iter().all(|n| {
        let inputs_defined = n.input.iter().all(|i| i.is_empty() || defined.contains(i.as_str()));
        let axes_small = n
            .attribute
            .iter()
            .filter(|a| matches!(a.name.as_str(), "axis" | "axes" | "perm"))
            .all(|a| small(a.i) && a.ints.iter().all(|&v| small(v)));
        inputs_defined && axes_small
    })
}

fn try_fold(model: &pb::ModelProto) -> Option<Folded> {
    let g = model.graph.as_ref()?;
    if !needs_folding(g) || !sane_for_tract(g) {
        return None;
    }
    let shape = image_shape(g)?;
    let parsed = tract_onnx::onnx().parse(model, None).ok()?;
    let mut tm = parsed.model;
    tm.set_input_fact(0, f32::fact(shape).into()).ok()?;
    // An analysis error leaves the facts found so far, which are still right: fold what is known.
    let _ = tm.analyse(true);
    let mut folded = Folded::default();
    for (i, n) in g.node.iter().enumerate() {
        if n.op_type == "Constant" || n.output.iter().all(|o| o.is_empty()) {
            continue;
        }
        let mut values = Vec::new();
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            let Some(outlet) = parsed.outlets_by_name.get(o) else { break };
            let Some(value) = tm.outlet_fact(*outlet).ok().and_then(|f| f.value.concretize()) else { break };
            values.push((o.clone(), value));
        }
        if values.len() != n.output.iter().filter(|o| !o.is_empty()).count() {
            continue;
        }
        for (name, value) in values {
            if let Some(c) = to_const(&value) {
                folded.values.insert(name, c);
            }
        }
        folded.nodes.insert(i);
    }
    Some(folded)
}
