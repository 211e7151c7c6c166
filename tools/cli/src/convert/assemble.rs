//! From one [`Found`] per task to one bundle: cross-task agreement checks, the hyperparameters, and the
//! tensors written in canonical order.

use anyhow::{anyhow, bail, Result};
use m3rt::bundle::{BundleWriter, Dtype};
use m3rt::model::{self, Hyper, PostProcess, TensorKey, TensorKind, MAX_TASKS, MAX_TASK_NAME};

use super::walk::Found;
use super::Precision;

/// The metadata key prefix under which the exporter records each task's post-processing
/// (`m3rt.post.<task>` = `argmax` | `raw` | `sigmoid` | `l2norm`).
pub const POST_KEY_PREFIX: &str = "m3rt.post.";

/// Reads a post-processing name as written by the exporter.
pub fn parse_post(value: &str) -> Result<PostProcess> {
    Ok(match value {
        "argmax" => PostProcess::Argmax,
        "raw" => PostProcess::Raw,
        "sigmoid" => PostProcess::Sigmoid,
        "l2norm" => PostProcess::L2Normalize,
        other => bail!("post-processing '{other}' is not one of argmax, raw, sigmoid, l2norm"),
    })
}

/// The post-processing a task's name implies, for ONNX files without `m3rt.post.<task>` metadata.
pub fn post_for(name: &str) -> PostProcess {
    match name.to_ascii_lowercase().as_str() {
        "semseg" | "parts" | "human_parts" | "seg" => PostProcess::Argmax,
        "edge" | "edges" | "sal" | "saliency" => PostProcess::Sigmoid,
        "normals" | "normal" => PostProcess::L2Normalize,
        _ => PostProcess::Raw,
    }
}

/// Whether a tensor belongs to one task (gates and heads) rather than to the shared backbone.
pub fn per_task(kind: TensorKind) -> bool {
    use TensorKind::*;
    matches!(kind, Gate | HeadLnG | HeadLnB | HeadConvW | HeadConvB)
}

/// The scratch size stored in the bundle. The one call site of the engine's scratch computation.
fn scratch_floats(h: &Hyper, max_out_channels: u32, precision: Precision) -> u64 {
    m3rt::engine::scratch_floats(h, max_out_channels, precision == Precision::F16)
}

/// Checks that every task describes the same backbone and returns the hyperparameters.
pub fn hyper(tasks: &[(String, Found)]) -> Result<Hyper> {
    let Some((name0, f)) = tasks.first() else { bail!("the graph has no outputs (one per task expected)") };
    if tasks.len() > MAX_TASKS {
        bail!("{} tasks, at most {MAX_TASKS} are supported", tasks.len());
    }
    let (kind, width, _) = f.head.ok_or_else(|| anyhow!("task '{name0}': no head found"))?;
    let (experts, top_k, expert_hidden) = f.moe.unwrap_or((0, 0, 0));
    let h = Hyper {
        image_h: f.image.0,
        image_w: f.image.1,
        in_chans: 3,
        patch: f.patch,
        dim: f.dim,
        depth: f.depth,
        heads: f.heads.ok_or_else(|| anyhow!("task '{name0}': the model has no blocks"))?,
        mlp_hidden: f.mlp_hidden.unwrap_or(4 * f.dim),
        experts,
        top_k,
        expert_hidden,
        moe_blocks: f.moe_blocks,
        head_kind: kind,
        head_width: width,
        ln_eps: f.ln_eps.unwrap_or(1e-6),
        norm_mean: f.norm.0,
        norm_std: f.norm.1,
        tasks: tasks.len() as u32,
    };
    for (name, g) in &tasks[1..] {
        let same = |what: &str, a: String, b: String| -> Result<()> {
            if a == b {
                Ok(())
            } else {
                Err(anyhow!("tasks '{name0}' and '{name}' disagree on {what}: {a} vs {b}"))
            }
        };
        same("the image size", format!("{:?}", f.image), format!("{:?}", g.image))?;
        same("the patch size and width", format!("{:?}", (f.patch, f.dim)), format!("{:?}", (g.patch, g.dim)))?;
        same("the normalisation", format!("{:?}", f.norm), format!("{:?}", g.norm))?;
        same("the depth", f.depth.to_string(), g.depth.to_string())?;
        same("the heads", format!("{:?}", f.heads), format!("{:?}", g.heads))?;
        same("the MLP width", format!("{:?}", f.mlp_hidden), format!("{:?}", g.mlp_hidden))?;
        same("(experts, top-k, expert width)", format!("{:?}", f.moe), format!("{:?}", g.moe))?;
        same("the MoE blocks", format!("{:#b}", f.moe_blocks), format!("{:#b}", g.moe_blocks))?;
        same("the LayerNorm epsilon", format!("{:?}", f.ln_eps), format!("{:?}", g.ln_eps))?;
        let hk = |x: &Found| format!("{:?}", x.head.map(|(k, wd, _)| (k, wd)));
        same("the head kind and width", hk(f), hk(g))?;
        // In canonical (bundle) order, so that the error names the first tensor that differs.
        let shared = (0..model::tensor_count(&h)).filter_map(|i| model::canonical_key(&h, i));
        for key in shared.filter(|k| !per_task(k.kind)) {
            let Some(a) = f.weights.get(&key) else { continue };
            let b = g.weights.get(&key).ok_or_else(|| anyhow!("task '{name}' lacks the shared tensor {key:?}"))?;
            let bits_equal = a.data.len() == b.data.len()
                && a.data.iter().zip(b.data.iter()).all(|(x, y)| x.to_bits() == y.to_bits());
            if a.shape != b.shape || !bits_equal {
                bail!(
                    "tasks '{name0}' and '{name}' read different values for the shared tensor {:?} of block {} \
                     (only gates and heads may differ between tasks)",
                    key.kind,
                    key.index
                );
            }
        }
    }
    h.check().map_err(|field| anyhow!("the model's hyperparameters are not supported ({field}): {h:?}"))?;
    Ok(h)
}

/// Writes the bundle; returns its bytes and the parameter count.
/// Writes the bundle; `posts` holds the post-processing stated in the ONNX metadata (tasks missing from
/// it get [`post_for`] their name).
pub fn write(
    h: &Hyper,
    tasks: &[(String, Found)],
    posts: &std::collections::HashMap<String, PostProcess>,
    precision: Precision,
) -> Result<(Vec<u8>, u64)> {
    let channels: Vec<u32> = tasks.iter().map(|(_, f)| f.head.map_or(0, |x| x.2)).collect();
    let max_c = channels.iter().copied().max().unwrap_or(0);
    let bw = |e: m3rt::Error| anyhow!("bundle writer: {e}");
    let mut writer = BundleWriter::new(*h, scratch_floats(h, max_c, precision)).map_err(bw)?;
    for ((name, _), &c) in tasks.iter().zip(&channels) {
        if name.is_empty() || name.len() > MAX_TASK_NAME {
            bail!("task name '{name}' must be 1 to {MAX_TASK_NAME} bytes long");
        }
        writer.add_task(name, c, posts.get(name).copied().unwrap_or_else(|| post_for(name))).map_err(bw)?;
    }
    let mut params = 0u64;
    for i in 0..model::tensor_count(h) {
        let key = model::canonical_key(h, i).ok_or_else(|| anyhow!("no canonical tensor #{i}"))?;
        let (t, lookup) = if per_task(key.kind) { (key.task as usize, TensorKey { task: 0, ..key }) } else { (0, key) };
        let (name, found) = &tasks[t];
        let wgt = found.weights.get(&lookup).ok_or_else(|| anyhow!("task '{name}': no {key:?} found in the graph"))?;
        let want = model::expected_shape(h, key, channels[t]);
        if want.as_slice() != wgt.shape.as_slice() || want.numel() != wgt.data.len() as u64 {
            bail!("task '{name}': {key:?} has shape {:?}, expected {:?}", wgt.shape, want.as_slice());
        }
        if let Some(bad) = wgt.data.iter().find(|x| !x.is_finite()) {
            bail!("task '{name}': {key:?} holds a non-finite value ({bad})");
        }
        if precision == Precision::F16 && wgt.shape.len() >= 2 {
            if let Some(big) = wgt.data.iter().find(|x| half::f16::from_f32(**x).is_infinite()) {
                bail!("{key:?} holds {big}, beyond the f16 range: convert with --precision f32");
            }
        }
        let dtype = match precision {
            Precision::F16 if wgt.shape.len() >= 2 => Dtype::F16,
            _ => Dtype::F32,
        };
        writer.add_tensor(key, &wgt.shape, &wgt.data, dtype).map_err(bw)?;
        params += wgt.data.len() as u64;
    }
    Ok((writer.finish().map_err(bw)?, params))
}
