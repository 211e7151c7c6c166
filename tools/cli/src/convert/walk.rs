//! A walk along the path from the graph input to one task's output: consumer selection restricted to that
//! output's ancestors, node and constant checks with errors that name the node, and what was found so far.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use anyhow::Result;
use m3rt::model::{HeadKind, TensorKey};
use tract_onnx::pb;

use super::graph::{Const, ConstData, Graph};

/// One weight tensor extracted from the graph, already in the runtime's layout and canonical shape.
#[derive(Clone, Debug)]
pub struct Weight {
    /// Canonical shape (see `m3rt::model::expected_shape`).
    pub shape: Vec<u32>,
    /// Values, row-major.
    pub data: Rc<[f32]>,
}

/// Everything one task's path says about the model.
#[derive(Debug, Default)]
pub struct Found {
    /// Image height and width.
    pub image: (u32, u32),
    /// Patch size P.
    pub patch: u32,
    /// Embedding width D.
    pub dim: u32,
    /// Patch grid (h, w).
    pub grid: (u32, u32),
    /// Normalisation mean and std.
    pub norm: ([f32; 3], [f32; 3]),
    /// Attention heads (every block agrees).
    pub heads: Option<u32>,
    /// Dense MLP hidden width.
    pub mlp_hidden: Option<u32>,
    /// Experts, top-k and expert hidden width.
    pub moe: Option<(u32, u32, u32)>,
    /// MoE block mask.
    pub moe_blocks: u64,
    /// Blocks seen.
    pub depth: u32,
    /// LayerNorm epsilon (every LayerNorm agrees).
    pub ln_eps: Option<f32>,
    /// Head kind, head width and output channels.
    pub head: Option<(HeadKind, u32, u32)>,
    /// Weights, keyed with task 0 (the caller assigns the task).
    pub weights: HashMap<TensorKey, Weight>,
}

/// The walk of one task output.
pub struct Walk<'g> {
    /// The graph.
    pub g: &'g Graph,
    anc: HashSet<usize>,
    /// The task (graph output) name.
    pub task: String,
    /// What has been found.
    pub found: Found,
}

impl<'g> Walk<'g> {
    /// Starts a walk towards graph output `task`.
    pub fn new(g: &'g Graph, task: &str) -> Self {
        Walk { g, anc: g.ancestors(task), task: task.to_string(), found: Found::default() }
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &'g pb::NodeProto {
        &self.g.nodes[i]
    }

    /// An error about node `i`.
    pub fn err(&self, i: usize, why: impl std::fmt::Display) -> anyhow::Error {
        self.g.err(i, why)
    }

    /// The consumers of `tensor` on the way to this task's output.
    pub fn consumers(&self, tensor: &str) -> Vec<usize> {
        self.g.consumers(tensor).iter().copied().filter(|i| self.anc.contains(i)).collect()
    }

    fn about(&self, tensor: &str) -> String {
        match self.g.producer(tensor) {
            Some(p) => self.g.describe(p),
            None => format!("graph input '{tensor}'"),
        }
    }

    /// The one consumer of `tensor` (on this task's path); `what` says what was expected there.
    pub fn next(&self, tensor: &str, what: &str) -> Result<usize> {
        match self.consumers(tensor).as_slice() {
            [one] => Ok(*one),
            [] => Err(anyhow::anyhow!(
                "{}: expected its output to feed {what} on the way to output '{}', but nothing reads it",
                self.about(tensor),
                self.task
            )),
            many => Err(anyhow::anyhow!(
                "{}: expected its output to feed only {what}, but {} nodes read it (first: {})",
                self.about(tensor),
                many.len(),
                self.g.describe(many[0])
            )),
        }
    }

    /// The one consumer of `tensor`, which must have one of `ops` as its type.
    pub fn next_op(&self, tensor: &str, ops: &[&str], what: &str) -> Result<usize> {
        let n = self.next(tensor, what)?;
        self.expect_op(n, ops, what)?;
        Ok(n)
    }

    /// Checks node `n`'s type.
    pub fn expect_op(&self, n: usize, ops: &[&str], what: &str) -> Result<()> {
        let node = self.node(n);
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(self.err(n, format!("expected {what}, found an op of domain '{}'", node.domain)));
        }
        if ops.contains(&node.op_type.as_str()) {
            Ok(())
        } else {
            Err(self.err(n, format!("expected {what} ({})", ops.join(" or "))))
        }
    }

    /// Output `k` of node `n`.
    pub fn out(&self, n: usize, k: usize) -> Result<&'g str> {
        match self.node(n).output.get(k) {
            Some(o) if !o.is_empty() => Ok(o),
            _ => Err(self.err(n, format!("expected an output #{k}"))),
        }
    }

    /// Input `k` of node `n` (an empty name counts as absent).
    pub fn input(&self, n: usize, k: usize) -> Option<&'g str> {
        self.node(n).input.get(k).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// For a two-input node reading `tensor`, the other input.
    pub fn other(&self, n: usize, tensor: &str) -> Result<&'g str> {
        let ins = &self.node(n).input;
        match ins.as_slice() {
            [a, b] if a == tensor => Ok(b),
            [a, b] if b == tensor => Ok(a),
            _ => Err(self.err(n, format!("expected two inputs, one of them '{tensor}'"))),
        }
    }

    /// The constant `name` read by node `n`, with a float type.
    pub fn const_f32(&self, n: usize, name: &str, what: &str) -> Result<(&'g [i64], Rc<[f32]>)> {
        match self.g.constant(name) {
            Some(Const { dims, data: ConstData::F32(v) }) => Ok((dims, v.clone())),
            Some(_) => Err(self.err(n, format!("expected {what} to be a float32 constant"))),
            None => Err(self.err(n, format!("expected {what} to be a constant (initializer), '{name}' is not"))),
        }
    }

    /// The integer constant `name` read by node `n`.
    pub fn const_i64(&self, n: usize, name: &str, what: &str) -> Result<&'g [i64]> {
        match self.g.constant(name) {
            Some(Const { data: ConstData::I64(v), .. }) => Ok(v),
            _ => Err(self.err(n, format!("expected {what} to be an int64 constant"))),
        }
    }

    /// A float constant with one element (any rank), read by node `n`.
    pub fn scalar(&self, n: usize, name: &str, what: &str) -> Result<f32> {
        let (_, v) = self.const_f32(n, name, what)?;
        match *v {
            [x] => Ok(x),
            _ => Err(self.err(n, format!("expected {what} to be a scalar, found {} values", v.len()))),
        }
    }

    /// Records a weight; the shape is the canonical one.
    pub fn put(&mut self, key: TensorKey, shape: &[u32], data: Rc<[f32]>) {
        self.found.weights.insert(key, Weight { shape: shape.to_vec(), data });
    }

    /// Records a hyperparameter every block must agree on.
    pub fn agree<T: PartialEq + Copy + std::fmt::Debug>(
        &self,
        slot: &mut Option<T>,
        value: T,
        n: usize,
        what: &str,
    ) -> Result<()> {
        match *slot {
            Some(prev) if prev != value => {
                Err(self.err(n, format!("{what} is {value:?} here but {prev:?} in an earlier block")))
            }
            _ => {
                *slot = Some(value);
                Ok(())
            }
        }
    }
}

/// Whether `dims` equals `want` (as i64).
pub fn dims_are(dims: &[i64], want: &[u32]) -> bool {
    dims.len() == want.len() && dims.iter().zip(want).all(|(&a, &b)| a == i64::from(b))
}

/// Converts a dimension to u32 (None if negative or too large).
pub fn dim_u32(d: i64) -> Option<u32> {
    u32::try_from(d).ok()
}

/// Resolves a Reshape target: at most one -1, which takes whatever makes the element count `total`.
pub fn resolve_reshape(shape: &[i64], total: u64) -> Option<Vec<u64>> {
    let known: u64 =
        shape.iter().filter(|&&d| d != -1).try_fold(1u64, |a, &d| a.checked_mul(u64::try_from(d).ok()?))?;
    let wild = shape.iter().filter(|&&d| d == -1).count();
    match wild {
        0 if known == total => Some(shape.iter().map(|&d| d as u64).collect()),
        1 if known != 0 && total.is_multiple_of(known) => {
            Some(shape.iter().map(|&d| if d == -1 { total / known } else { d as u64 }).collect())
        }
        _ => None,
    }
}

/// Whether `a` is within a relative tolerance of `b`.
pub fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * b.abs().max(1e-6)
}
