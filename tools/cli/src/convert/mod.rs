//! `m3rt convert`: recognise the M³ViT computation in an ONNX graph (the form of `docs/onnx-form.md`) and
//! write a bundle.
//!
//! The graph is read with tract-onnx's protobuf types, and tract folds its constant subgraphs first
//! (`fold.rs`: PyTorch's run-time shape chains become constants). For each graph output (one per task) the
//! converter walks from the image input to that output through the output's ancestor nodes, matching each
//! stage (normalisation, patch embedding, blocks with their MoE layers in any accepted form, head) from op
//! types, attributes and constant shapes, never from names. The per-task findings must agree on every
//! shared hyperparameter and shared weight; the bundle then holds the backbone once and one gate set plus
//! head per task. Several files (one graph per task) merge the same way (`merge.rs`).

mod assemble;
mod block;
mod embed;
mod fold;
mod gate_topk;
mod graph;
mod head;
mod merge;
mod moe;
mod moe_cat;
mod moe_loop;
mod norm;
mod ops;
mod qkv;
mod summary;
mod walk;

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use m3rt::bundle::{AlignedBytes, Bundle, QuantReport};
use m3rt::fixed::{Profile, WeightMode};
use m3rt::model::Hyper;

pub use assemble::{parse_post, post_for, POST_KEY_PREFIX};
pub use summary::quant_summary;

/// Weight precision in the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// Every tensor as f32.
    F32,
    /// Matrices (rank ≥ 2) as f16; vectors (biases, LayerNorm, cls token) stay f32.
    F16,
    /// A quantized bundle of Edge-MoE's W16A32 profile: every tensor 16-bit fixed point (docs/fixed-point.md).
    #[value(name = "fixed16")]
    Fixed16,
    /// A quantized bundle of the int8 profile: matrices int8 with scales, every other tensor 16-bit fixed point.
    #[value(name = "int8")]
    Int8,
}

/// How the matrices of an int8 bundle are scaled (`--int8-scales`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Int8Scales {
    /// One scale per output channel.
    #[default]
    Channel,
    /// One scale per tensor.
    Tensor,
}

impl Precision {
    /// The fixed-point profile a quantized precision writes (`None` for f32 and f16): `Profile::EDGE_MOE`
    /// for fixed16, `Profile::INT8` with `scales` for int8.
    pub fn profile(self, scales: Int8Scales) -> Option<Profile> {
        let mode = match scales {
            Int8Scales::Channel => WeightMode::Int8PerChannel,
            Int8Scales::Tensor => WeightMode::Int8PerTensor,
        };
        match self {
            Precision::F32 | Precision::F16 => None,
            Precision::Fixed16 => Some(Profile::EDGE_MOE),
            Precision::Int8 => Some(Profile { weights: mode, ..Profile::INT8 }),
        }
    }
}

/// What a conversion produced.
#[derive(Clone, Debug)]
pub struct ConvertReport {
    /// The model's hyperparameters.
    pub hyper: Hyper,
    /// Every task: name and output channels, in graph output order.
    pub tasks: Vec<(String, u32)>,
    /// Size of the bundle in bytes.
    pub bytes: usize,
    /// Number of weights (parameters) in the bundle.
    pub params: u64,
    /// What quantization did to every tensor (fixed16 and int8 precisions).
    pub quant: Option<QuantReport>,
}

/// Reads the ONNX with tract-onnx, recognises the M³ViT computation, returns the bundle bytes.
pub fn convert_onnx(onnx_path: &Path, precision: Precision) -> Result<(Vec<u8>, ConvertReport)> {
    convert_onnx_with(onnx_path, precision, Int8Scales::Channel)
}

/// [`convert_onnx`] with the int8 scaling chosen. A quantized precision writes the f32 bundle, then
/// re-encodes it with `m3rt::bundle::quantize` (the report's `quant`).
pub fn convert_onnx_with(
    onnx_path: &Path,
    precision: Precision,
    scales: Int8Scales,
) -> Result<(Vec<u8>, ConvertReport)> {
    convert_onnx_files(&[onnx_path], None, precision, scales)
}

/// Converts one or several ONNX files into one bundle: every graph output of every file is a task, in
/// file then output order, named by `task_names` when given (one name per task) or else by its output.
/// The files must describe one model: every tensor but the gates and heads bit-identical across them.
pub fn convert_onnx_files(
    onnx_paths: &[&Path],
    task_names: Option<&[String]>,
    precision: Precision,
    scales: Int8Scales,
) -> Result<(Vec<u8>, ConvertReport)> {
    let mut files = Vec::with_capacity(onnx_paths.len());
    for path in onnx_paths {
        files.push(merge::read_tasks(path)?);
    }
    assemble_files(onnx_paths, files, task_names, precision, scales)
}

/// Converts the bytes of one ONNX file, as [`convert_onnx_with`] does a file (the reader the fuzz target
/// `onnx` drives).
pub fn convert_onnx_bytes(bytes: &[u8], precision: Precision, scales: Int8Scales) -> Result<(Vec<u8>, ConvertReport)> {
    let path = Path::new("the ONNX bytes");
    let files = vec![merge::read_tasks_from(bytes, "the ONNX bytes")?];
    assemble_files(&[path], files, None, precision, scales)
}

fn assemble_files(
    onnx_paths: &[&Path],
    files: Vec<merge::FileTasks>,
    task_names: Option<&[String]>,
    precision: Precision,
    scales: Int8Scales,
) -> Result<(Vec<u8>, ConvertReport)> {
    let merge::FileTasks { tasks, posts } = merge::name_tasks(onnx_paths, files, task_names)?;
    let hyper = assemble::hyper(&tasks).with_context(|| {
        if onnx_paths.len() > 1 {
            let list: Vec<String> = onnx_paths.iter().map(|p| p.display().to_string()).collect();
            format!("the graphs {} do not describe one model", list.join(", "))
        } else {
            "the graph's tasks do not describe one model".to_string()
        }
    })?;
    let base = if precision == Precision::F16 { Precision::F16 } else { Precision::F32 };
    let (mut bundle, params) = assemble::write(&hyper, &tasks, &posts, base)?;
    let mut quant = None;
    if let Some(profile) = precision.profile(scales) {
        let aligned = AlignedBytes::from_slice(&bundle);
        let parsed = Bundle::parse(&aligned).map_err(|e| anyhow!("the f32 bundle does not read back: {e}"))?;
        let (bytes, report) = m3rt::bundle::quantize(&parsed, profile).map_err(|e| anyhow!("quantizing: {e}"))?;
        (bundle, quant) = (bytes, Some(report));
    }
    let report = ConvertReport {
        hyper,
        tasks: tasks.iter().map(|(n, f)| (n.clone(), f.head.map_or(0, |h| h.2))).collect(),
        bytes: bundle.len(),
        params,
        quant,
    };
    Ok((bundle, report))
}

fn walk_task(w: &mut walk::Walk<'_>) -> Result<()> {
    let x = embed::embedding(w)?;
    let x = block::blocks(w, x)?;
    head::head(w, x)
}

/// Same, then writes the bundle file.
pub fn convert_file(onnx_path: &Path, out: &Path, precision: Precision) -> Result<ConvertReport> {
    convert_file_with(onnx_path, out, precision, Int8Scales::Channel)
}

/// [`convert_onnx_files`], then writes the bundle file.
pub fn convert_files(
    onnx_paths: &[&Path],
    task_names: Option<&[String]>,
    out: &Path,
    precision: Precision,
    scales: Int8Scales,
) -> Result<ConvertReport> {
    let (bytes, report) = convert_onnx_files(onnx_paths, task_names, precision, scales)?;
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(report)
}

/// [`convert_onnx_with`], then writes the bundle file.
pub fn convert_file_with(
    onnx_path: &Path,
    out: &Path,
    precision: Precision,
    scales: Int8Scales,
) -> Result<ConvertReport> {
    let (bytes, report) = convert_onnx_with(onnx_path, precision, scales)?;
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(report)
}
