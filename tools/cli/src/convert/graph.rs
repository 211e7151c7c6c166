//! The ONNX graph as the pattern matchers see it: nodes, constant tensors (initializers and `Constant`
//! nodes) decoded to f32 / i64, producer and consumer maps, and node descriptions for error messages.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::rc::Rc;

use anyhow::{anyhow, bail, Result};
use tract_onnx::pb::{self, tensor_proto::DataType, tensor_shape_proto::dimension, type_proto};

use super::fold::Folded;

/// The decoded values of a constant tensor.
#[derive(Clone, Debug)]
pub enum ConstData {
    /// float32 values (row-major).
    F32(Rc<[f32]>),
    /// int64 values (row-major).
    I64(Rc<[i64]>),
}

/// A constant tensor: its dimensions and values.
#[derive(Clone, Debug)]
pub struct Const {
    /// ONNX dimensions (empty for a scalar).
    pub dims: Vec<i64>,
    /// The values.
    pub data: ConstData,
}

/// One graph, indexed for pattern matching.
pub struct Graph {
    /// The nodes, in file order (indices are the `#n` of error messages).
    pub nodes: Vec<pb::NodeProto>,
    consts: HashMap<String, Const>,
    producer: HashMap<String, usize>,
    consumers: HashMap<String, Vec<usize>>,
    /// Name of the one graph input that is not an initializer.
    pub input: String,
    /// Its static dimensions (`None` for a symbolic dimension).
    pub input_dims: Vec<Option<i64>>,
    /// Names of the graph outputs, in order.
    pub outputs: Vec<String>,
}

fn decode_tensor(t: &pb::TensorProto) -> Result<Const> {
    let what = || format!("initializer '{}'", t.name);
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        bail!("{}: external data is not supported (save the model with its weights inside)", what());
    }
    if t.segment.is_some() {
        bail!("{}: segmented tensors are not supported", what());
    }
    let dims = t.dims.clone();
    if dims.iter().any(|&d| d < 0) {
        bail!("{}: negative dimension in {:?}", what(), dims);
    }
    let numel = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d as usize));
    let numel = numel.ok_or_else(|| anyhow!("{}: shape {:?} overflows", what(), dims))?;
    let data = if t.data_type == DataType::Float as i32 {
        let v: Vec<f32> = if !t.raw_data.is_empty() {
            if t.raw_data.len() / 4 != numel || !t.raw_data.len().is_multiple_of(4) {
                bail!("{}: {} raw bytes for {} floats", what(), t.raw_data.len(), numel);
            }
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        } else {
            t.float_data.clone()
        };
        if v.len() != numel {
            bail!("{}: {} values for shape {:?}", what(), v.len(), dims);
        }
        ConstData::F32(v.into())
    } else if t.data_type == DataType::Int64 as i32 {
        let v: Vec<i64> = if !t.raw_data.is_empty() {
            if t.raw_data.len() / 8 != numel || !t.raw_data.len().is_multiple_of(8) {
                bail!("{}: {} raw bytes for {} int64s", what(), t.raw_data.len(), numel);
            }
            t.raw_data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect()
        } else {
            t.int64_data.clone()
        };
        if v.len() != numel {
            bail!("{}: {} values for shape {:?}", what(), v.len(), dims);
        }
        ConstData::I64(v.into())
    } else {
        bail!("{}: element type {} is not supported (float32 and int64 only)", what(), t.data_type);
    };
    Ok(Const { dims, data })
}

/// The value of a `Constant` node's attribute, as a constant tensor.
fn decode_constant_node(n: &pb::NodeProto) -> Result<Const> {
    let a = n.attribute.first().ok_or_else(|| anyhow!("Constant node without a value"))?;
    let f32s = |v: Vec<f32>, dims: Vec<i64>| Const { dims, data: ConstData::F32(v.into()) };
    let i64s = |v: Vec<i64>, dims: Vec<i64>| Const { dims, data: ConstData::I64(v.into()) };
    Ok(match a.name.as_str() {
        "value" => decode_tensor(a.t.as_ref().ok_or_else(|| anyhow!("Constant 'value' without a tensor"))?)?,
        "value_float" => f32s(vec![a.f], vec![]),
        "value_floats" => f32s(a.floats.clone(), vec![a.floats.len() as i64]),
        "value_int" => i64s(vec![a.i], vec![]),
        "value_ints" => i64s(a.ints.clone(), vec![a.ints.len() as i64]),
        other => bail!("Constant attribute '{other}' is not supported"),
    })
}

impl Graph {
    /// Indexes a decoded model whose constant subgraphs were folded (`fold::fold`): the folded nodes are
    /// neither producers nor readers, their outputs are constants. Fails on a graph without exactly one
    /// non-constant input.
    pub fn new(model: pb::ModelProto, folded: Folded) -> Result<Self> {
        let g = model.graph.ok_or_else(|| anyhow!("the ONNX model has no graph"))?;
        let mut consts = HashMap::new();
        for t in &g.initializer {
            consts.insert(t.name.clone(), decode_tensor(t)?);
        }
        consts.extend(folded.values);
        let mut producer = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in g.node.iter().enumerate() {
            if folded.nodes.contains(&i) {
                continue;
            }
            if n.op_type == "Constant" && n.domain.is_empty() {
                let c = decode_constant_node(n).map_err(|e| anyhow!("{}: {e}", describe(i, n)))?;
                if let Some(o) = n.output.first() {
                    consts.insert(o.clone(), c);
                }
            }
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                if producer.insert(o.clone(), i).is_some() {
                    bail!("{}: tensor '{o}' is produced twice", describe(i, n));
                }
            }
            for inp in n.input.iter().filter(|s| !s.is_empty()) {
                let list = consumers.entry(inp.clone()).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        let inputs: Vec<&pb::ValueInfoProto> = g.input.iter().filter(|v| !consts.contains_key(&v.name)).collect();
        let [input] = inputs.as_slice() else {
            bail!("expected one graph input (the image), found {}", inputs.len());
        };
        let input_dims = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(t)) => t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(dimension::Value::DimValue(v)) => Some(v),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let outputs = g.output.iter().map(|o| o.name.clone()).collect();
        Ok(Graph { nodes: g.node, consts, producer, consumers, input: input.name.clone(), input_dims, outputs })
    }

    /// `node #i 'Op' (name) → 'output'`, for error messages.
    pub fn describe(&self, i: usize) -> String {
        describe(i, &self.nodes[i])
    }

    /// An error about node `i`.
    pub fn err(&self, i: usize, why: impl Display) -> anyhow::Error {
        anyhow!("{}: {why}", self.describe(i))
    }

    /// The constant tensor called `name`, if it is one.
    pub fn constant(&self, name: &str) -> Option<&Const> {
        self.consts.get(name)
    }

    /// The node producing `tensor`, if any.
    pub fn producer(&self, tensor: &str) -> Option<usize> {
        self.producer.get(tensor).copied()
    }

    /// Every node reading `tensor`.
    pub fn consumers(&self, tensor: &str) -> &[usize] {
        self.consumers.get(tensor).map_or(&[], Vec::as_slice)
    }

    /// The nodes `output` depends on (transitively).
    pub fn ancestors(&self, output: &str) -> HashSet<usize> {
        let mut seen = HashSet::new();
        let mut stack: Vec<usize> = self.producer(output).into_iter().collect();
        while let Some(i) = stack.pop() {
            if seen.insert(i) {
                stack.extend(self.nodes[i].input.iter().filter_map(|t| self.producer(t)));
            }
        }
        seen
    }
}

fn describe(i: usize, n: &pb::NodeProto) -> String {
    let name = if n.name.is_empty() { String::new() } else { format!(" ({})", n.name) };
    let out = n.output.first().map_or(String::new(), |o| format!(" -> '{o}'"));
    format!("node #{i} '{}'{name}{out}", n.op_type)
}

/// Reads an attribute of a node.
pub fn attr<'a>(n: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

/// An integer attribute, or `default` when absent.
pub fn attr_i(n: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

/// A float attribute, or `default` when absent.
pub fn attr_f(n: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).map_or(default, |a| a.f)
}

/// An integer-list attribute, if present.
pub fn attr_ints<'a>(n: &'a pb::NodeProto, name: &str) -> Option<&'a [i64]> {
    attr(n, name).map(|a| a.ints.as_slice())
}

/// A string attribute, or `default` when absent.
pub fn attr_s(n: &pb::NodeProto, name: &str, default: &str) -> String {
    attr(n, name).map_or(default.to_string(), |a| String::from_utf8_lossy(&a.s).into_owned())
}
