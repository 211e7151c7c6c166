//! The input's actual routing: the fixed-point engine (the IP's golden model) runs the image with a trace,
//! and each MoE layer's `Kind::Route` item (per token its k experts, then their k probabilities) becomes
//! that layer's queue lengths, the same queues the IP builds.

use m3rt::bundle::Bundle;
use m3rt::fixed::trace::{Kind, Point};
use m3rt::fixed::FixedEngine;

/// `queues[j][e]`: tokens MoE layer `j` (in block order) sends to expert `e`.
pub type Queues = Vec<Vec<u32>>;

/// Runs task `task` of the quantized `bundle` on `input` (`[3, H, W]` f32, quantized to pixels as the
/// engine does) and returns the queue lengths of every MoE layer.
pub fn queues(bundle: &Bundle<'_>, task: u32, input: &[f32]) -> anyhow::Result<Queues> {
    let h = *bundle.hyper();
    let mut scratch = vec![0f32; FixedEngine::scratch_words(bundle)];
    let mut engine = FixedEngine::new(*bundle, &mut scratch).map_err(|e| anyhow::anyhow!("fixed-point engine: {e}"))?;
    engine.select_task(task).map_err(|e| anyhow::anyhow!("task {task}: {e}"))?;
    if input.len() != engine.input_len() {
        anyhow::bail!("input has {} values, the model takes {}", input.len(), engine.input_len());
    }
    let pixels: Vec<u8> = input.iter().map(|&x| engine.pixel(x)).collect();
    let mut out = vec![0i32; engine.output_len().map_err(|e| anyhow::anyhow!("{e}"))?];
    let (e, k) = (h.experts as usize, h.top_k as usize);
    let mut queues: Queues = Vec::new();
    let mut bad = None;
    let mut trace = |p: Point, data: &[i32]| {
        if p.kind != Kind::Route {
            return;
        }
        let mut counts = vec![0u32; e];
        for token in data.chunks_exact(2 * k) {
            for &x in &token[..k] {
                match counts.get_mut(x as usize) {
                    Some(c) => *c += 1,
                    None => bad = Some(x),
                }
            }
        }
        queues.push(counts);
    };
    engine.run_pixels(&pixels, &mut out, &mut trace).map_err(|e| anyhow::anyhow!("fixed-point run: {e}"))?;
    if let Some(x) = bad {
        anyhow::bail!("a route names expert {x} of {e}");
    }
    if queues.len() != h.moe_count() as usize {
        anyhow::bail!("{} route traces for {} MoE layers", queues.len(), h.moe_count());
    }
    Ok(queues)
}
