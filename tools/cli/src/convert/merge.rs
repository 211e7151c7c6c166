//! Reading the tasks of one ONNX file, and naming the tasks of several files merged into one bundle
//! (`m3rt convert a.onnx b.onnx --task-names x,y`). Whether the files describe one model (the same
//! shared tensors, bit for bit) is checked by `assemble::hyper`, as for the tasks of one file.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use m3rt::model::PostProcess;
use tract_onnx::prelude::Framework;

use super::walk::{Found, Walk};
use super::{assemble, fold, graph, walk_task};

/// Tasks and their post-processing: what one file describes (by graph output name, the post-processing
/// its metadata states), or the merged tasks of several files (by final task name).
pub struct FileTasks {
    /// One entry per task (graph output), in order.
    pub tasks: Vec<(String, Found)>,
    /// Post-processing stated in the metadata (`m3rt.post.<output>`), by task name.
    pub posts: HashMap<String, PostProcess>,
}

/// Reads an ONNX file, folds its constants and places every graph output as an M³ViT task.
pub fn read_tasks(onnx_path: &Path) -> Result<FileTasks> {
    let bytes = std::fs::read(onnx_path).with_context(|| format!("reading {}", onnx_path.display()))?;
    read_tasks_from(&bytes, &onnx_path.display().to_string())
}

/// [`read_tasks`] on the bytes of an ONNX file; `what` names it in errors.
pub fn read_tasks_from(bytes: &[u8], what: &str) -> Result<FileTasks> {
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| anyhow!("{what} is not a readable ONNX protobuf: {e}"))?;
    let mut posts = HashMap::new();
    for entry in &proto.metadata_props {
        if let Some(task) = entry.key.strip_prefix(assemble::POST_KEY_PREFIX) {
            let post = assemble::parse_post(&entry.value).with_context(|| format!("ONNX metadata '{}'", entry.key))?;
            posts.insert(task.to_string(), post);
        }
    }
    let folded = fold::fold(&proto);
    let g = graph::Graph::new(proto, folded)?;
    let mut tasks = Vec::with_capacity(g.outputs.len());
    for out in &g.outputs {
        let mut w = Walk::new(&g, out);
        walk_task(&mut w).with_context(|| format!("cannot place the graph as an M³ViT (task output '{out}')"))?;
        tasks.push((out.clone(), w.found));
    }
    if let Some(unknown) = posts.keys().find(|t| !tasks.iter().any(|(name, _)| name == *t)) {
        bail!("ONNX metadata names post-processing for '{unknown}', which is not an output of the graph");
    }
    Ok(FileTasks { tasks, posts })
}

/// The tasks of every file in order, renamed by `names` when given (exactly one name per task), with their
/// post-processing under the final names. Two tasks with one name are an error.
pub fn name_tasks(paths: &[&Path], files: Vec<FileTasks>, names: Option<&[String]>) -> Result<FileTasks> {
    let total: usize = files.iter().map(|f| f.tasks.len()).sum();
    if let Some(names) = names {
        if names.len() != total {
            bail!("{} task names given (--task-names) for {total} task outputs in the ONNX files", names.len());
        }
    }
    let mut tasks: Vec<(String, Found)> = Vec::with_capacity(total);
    let mut origin: Vec<&Path> = Vec::with_capacity(total);
    let mut posts = HashMap::new();
    for (file, path) in files.into_iter().zip(paths) {
        for (output, found) in file.tasks {
            let name = names.map_or_else(|| output.clone(), |n| n[tasks.len()].clone());
            if let Some(k) = tasks.iter().position(|(n, _)| *n == name) {
                bail!(
                    "two tasks are named '{name}' (outputs of {} and {}): give each task a name with --task-names",
                    origin[k].display(),
                    path.display()
                );
            }
            if let Some(&post) = file.posts.get(&output) {
                posts.insert(name.clone(), post);
            }
            tasks.push((name, found));
            origin.push(path);
        }
    }
    Ok(FileTasks { tasks, posts })
}
