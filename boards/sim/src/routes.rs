//! The input's actual routing: the fixed-point engine (the IP's golden model) runs the image with a trace,
//! and each MoE layer's `Kind::Route` item (per token its k experts, then their k probabilities) is kept:
//! per layer every token's k experts in token order ([`Routing`], what the token-order schedule needs) and
//! the queue lengths derived from them ([`Queues`], the same queues the IP builds).

use m3rt::bundle::Bundle;
use m3rt::fixed::trace::{Kind, Point};
use m3rt::fixed::FixedEngine;

/// `queues[j][e]`: tokens MoE layer `j` (in block order) sends to expert `e`.
pub type Queues = Vec<Vec<u32>>;

/// Every MoE layer's routes: `layers[j][t·top_k + i]` is the `i`-th expert token `t` of MoE layer `j` (in
/// block order) goes to, in the router's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    /// Experts per MoE layer.
    pub experts: u32,
    /// Experts per token.
    pub top_k: u32,
    /// Per MoE layer, the tokens' experts, `top_k` per token.
    pub layers: Vec<Vec<u32>>,
}

impl Routing {
    /// The queue lengths: `queues()[j][e]` tokens of layer `j` go to expert `e`. An expert number out of
    /// range is not counted ([`routing`] refuses such a trace).
    pub fn queues(&self) -> Queues {
        self.layers
            .iter()
            .map(|routes| {
                let mut counts = vec![0u32; self.experts as usize];
                for &x in routes {
                    if let Some(c) = counts.get_mut(x as usize) {
                        *c += 1;
                    }
                }
                counts
            })
            .collect()
    }
}

/// Runs task `task` of the quantized `bundle` on `input` (`[3, H, W]` f32, quantized to pixels as the
/// engine does) and returns every MoE layer's routes.
pub fn routing(bundle: &Bundle<'_>, task: u32, input: &[f32]) -> anyhow::Result<Routing> {
    let h = *bundle.hyper();
    let mut scratch = vec![0f32; FixedEngine::scratch_words(bundle)];
    let mut engine = FixedEngine::new(*bundle, &mut scratch).map_err(|e| anyhow::anyhow!("fixed-point engine: {e}"))?;
    engine.select_task(task).map_err(|e| anyhow::anyhow!("task {task}: {e}"))?;
    if input.len() != engine.input_len() {
        anyhow::bail!("input has {} values, the model takes {}", input.len(), engine.input_len());
    }
    let pixels: Vec<u8> = input.iter().map(|&x| engine.pixel(x)).collect();
    let mut out = vec![0i32; engine.output_len().map_err(|e| anyhow::anyhow!("{e}"))?];
    let k = h.top_k as usize;
    let mut layers: Vec<Vec<u32>> = Vec::new();
    let mut bad = None;
    let mut trace = |p: Point, data: &[i32]| {
        if p.kind != Kind::Route {
            return;
        }
        let mut routes = Vec::with_capacity(data.len() / 2);
        for token in data.chunks_exact(2 * k) {
            for &x in &token[..k] {
                match u32::try_from(x) {
                    Ok(x) if x < h.experts => routes.push(x),
                    _ => bad = Some(x),
                }
            }
        }
        layers.push(routes);
    };
    engine.run_pixels(&pixels, &mut out, &mut trace).map_err(|e| anyhow::anyhow!("fixed-point run: {e}"))?;
    if let Some(x) = bad {
        anyhow::bail!("a route names expert {x} of {}", h.experts);
    }
    if layers.len() != h.moe_count() as usize {
        anyhow::bail!("{} route traces for {} MoE layers", layers.len(), h.moe_count());
    }
    Ok(Routing { experts: h.experts, top_k: h.top_k, layers })
}

/// The queue lengths of every MoE layer for task `task` on `input` ([`routing`]'s, counted).
pub fn queues(bundle: &Bundle<'_>, task: u32, input: &[f32]) -> anyhow::Result<Queues> {
    Ok(routing(bundle, task, input)?.queues())
}
