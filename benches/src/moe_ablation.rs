//! Three ways to run one MoE feed-forward layer, for the ablation bench: the runtime's expert-by-expert
//! reordered sparse pathway (`m3rt::moe`), token-by-token sparse execution (each token runs its k experts one
//! by one as matrix-vector products) and the dense equivalent (every expert over every token, mixed by the
//! top-k-masked gate, as the exported ONNX graph computes it). All three share the gate (linear + softmax).

use m3rt::bundle::{Bundle, TensorData};
use m3rt::engine::weights::widen_all;
use m3rt::engine::Counters;
use m3rt::kernels::{activation, gemm};
use m3rt::model::{TensorKey, TensorKind, MAX_TOP_K};
use m3rt::moe::{build_queues, run_experts, top_k, ExpertBuffers, ExpertWeights, Queues};
use m3rt::Result;

/// One MoE layer of a model, its weights widened to f32, and the token rows it runs on.
pub struct MoeLayer {
    /// Block index in the model.
    pub block: u32,
    /// Tokens `T`.
    pub t: usize,
    /// Model width `D`.
    pub d: usize,
    /// Expert hidden width `Dh`.
    pub dh: usize,
    /// Experts `E`.
    pub e: usize,
    /// Experts per token `k`.
    pub k: usize,
    /// Gate weights `[D, E]` of the chosen task.
    pub gate: Vec<f32>,
    /// fc1 `[E, D, Dh]`.
    pub w1: Vec<f32>,
    /// fc1 bias `[E, Dh]`.
    pub b1: Vec<f32>,
    /// fc2 `[E, Dh, D]`.
    pub w2: Vec<f32>,
    /// fc2 bias `[E, D]`.
    pub b2: Vec<f32>,
    /// The layer's input rows `[T, D]` (LayerNorm output).
    pub a: Vec<f32>,
}

/// Working memory of the three pathways, allocated once outside the timed loop.
pub struct MoeScratch {
    probs: Vec<f32>,
    q_tokens: Vec<u32>,
    q_probs: Vec<f32>,
    q_offsets: Vec<u32>,
    gathered: Vec<f32>,
    hidden: Vec<f32>,
    out: Vec<f32>,
    wbuf: Vec<f32>,
    vbuf: Vec<f32>,
    counters: Counters,
}

impl MoeLayer {
    /// Reads block `block`'s experts and task `task`'s gate from `bundle`; `a` are the `[T, D]` input rows.
    pub fn from_bundle(bundle: &Bundle<'_>, block: u32, task: u32, a: Vec<f32>) -> Result<Self> {
        let h = bundle.hyper();
        let widen = |key: TensorKey| -> Result<Vec<f32>> {
            let data = bundle.tensor(key)?;
            let mut buf = vec![0f32; data.len()];
            widen_all(data, &mut buf)?;
            Ok(buf)
        };
        let key = |kind| TensorKey::block(kind, block);
        let (t, d) = (h.tokens() as usize, h.dim as usize);
        if a.len() != t * d {
            return Err(m3rt::Error::ShapeMismatch { what: "MoE layer input", expected: t * d, found: a.len() });
        }
        Ok(Self {
            block,
            t,
            d,
            dh: h.expert_hidden as usize,
            e: h.experts as usize,
            k: h.top_k as usize,
            gate: widen(TensorKey::gate(task, block))?,
            w1: widen(key(TensorKind::ExpW1))?,
            b1: widen(key(TensorKind::ExpB1))?,
            w2: widen(key(TensorKind::ExpW2))?,
            b2: widen(key(TensorKind::ExpB2))?,
            a,
        })
    }

    /// Scratch for every pathway of this layer.
    pub fn scratch(&self) -> MoeScratch {
        let (t, d, dh, e, k) = (self.t, self.d, self.dh, self.e, self.k);
        MoeScratch {
            probs: vec![0.0; t * e],
            q_tokens: vec![0; t * k],
            q_probs: vec![0.0; t * k],
            q_offsets: vec![0; e + 1],
            gathered: vec![0.0; t * d],
            hidden: vec![0.0; t * dh],
            out: vec![0.0; t * d],
            wbuf: vec![0.0; d * dh],
            vbuf: vec![0.0; d.max(dh)],
            counters: Counters::default(),
        }
    }

    /// Multiply-accumulates of the sparse work (k experts per token, two matrices each).
    pub fn sparse_macs(&self) -> u64 {
        (self.t * self.k * 2 * self.d * self.dh) as u64
    }

    /// Gate logits and softmax into `s.probs`.
    fn route(&self, s: &mut MoeScratch) -> Result<()> {
        gemm::linear(&self.a, self.t, &self.gate, self.d, self.e, None, &mut s.probs)?;
        activation::softmax_rows_inplace(&mut s.probs, self.t, self.e)
    }

    /// (a) The runtime's pathway: per-expert token queues, each expert once over its whole queue.
    pub fn run_reordered(&self, s: &mut MoeScratch, y: &mut [f32]) -> Result<()> {
        self.route(s)?;
        let mut q = Queues { tokens: &mut s.q_tokens, probs: &mut s.q_probs, offsets: &mut s.q_offsets };
        build_queues(&s.probs, self.t, self.e, self.k, &mut q)?;
        let weights = ExpertWeights {
            w1: TensorData::F32(&self.w1),
            b1: TensorData::F32(&self.b1),
            w2: TensorData::F32(&self.w2),
            b2: TensorData::F32(&self.b2),
            after: &[],
        };
        let mut bufs = ExpertBuffers {
            gathered: &mut s.gathered,
            hidden: &mut s.hidden,
            out: &mut s.out,
            wbuf: &mut s.wbuf,
            vbuf: &mut s.vbuf,
        };
        y.fill(0.0);
        s.counters.start_run();
        let (d, dh, e, b) = (self.d, self.dh, self.e, self.block as usize);
        run_experts(&self.a, d, dh, e, &weights, &q, &mut bufs, y, b, &mut s.counters)
    }

    /// (b) Token by token: each token's k experts run one after another as matrix-vector products, so every
    /// expert's weights are streamed once per token that picked it.
    pub fn run_token_by_token(&self, s: &mut MoeScratch, y: &mut [f32]) -> Result<()> {
        self.route(s)?;
        let (d, dh, k) = (self.d, self.dh, self.k);
        let mut pick = [0u32; MAX_TOP_K as usize];
        let hidden = &mut s.hidden[..dh];
        let out = &mut s.out[..d];
        for ((x, p), yrow) in self.a.chunks_exact(d).zip(s.probs.chunks_exact(self.e)).zip(y.chunks_exact_mut(d)) {
            yrow.fill(0.0);
            top_k(p, k, &mut pick)?;
            for &ex in &pick[..k] {
                let ex = ex as usize;
                let w1 = &self.w1[ex * d * dh..(ex + 1) * d * dh];
                gemm::linear(x, 1, w1, d, dh, Some(&self.b1[ex * dh..(ex + 1) * dh]), hidden)?;
                activation::gelu_inplace(hidden);
                let w2 = &self.w2[ex * dh * d..(ex + 1) * dh * d];
                gemm::linear(hidden, 1, w2, dh, d, Some(&self.b2[ex * d..(ex + 1) * d]), out)?;
                for (o, v) in yrow.iter_mut().zip(out.iter()) {
                    *o += p[ex] * v;
                }
            }
        }
        Ok(())
    }

    /// (c) Dense equivalent: every expert over every token, mixed by the gate probability masked to each
    /// token's top k (zero elsewhere), as the exported dense-equivalent graph does.
    pub fn run_dense(&self, s: &mut MoeScratch, y: &mut [f32]) -> Result<()> {
        self.route(s)?;
        let (t, d, dh, e, k) = (self.t, self.d, self.dh, self.e, self.k);
        let mut pick = [0u32; MAX_TOP_K as usize];
        for row in s.probs.chunks_exact_mut(e) {
            top_k(row, k, &mut pick)?;
            let mut mask = 0u64;
            for &p in &pick[..k] {
                mask |= 1 << p;
            }
            for (i, v) in row.iter_mut().enumerate() {
                if mask & (1 << i) == 0 {
                    *v = 0.0;
                }
            }
        }
        y.fill(0.0);
        let hidden = &mut s.hidden[..t * dh];
        let out = &mut s.out[..t * d];
        for ex in 0..e {
            let w1 = &self.w1[ex * d * dh..(ex + 1) * d * dh];
            gemm::linear(&self.a, t, w1, d, dh, Some(&self.b1[ex * dh..(ex + 1) * dh]), hidden)?;
            activation::gelu_inplace(hidden);
            let w2 = &self.w2[ex * dh * d..(ex + 1) * dh * d];
            gemm::linear(hidden, t, w2, dh, d, Some(&self.b2[ex * d..(ex + 1) * d]), out)?;
            for ((yrow, orow), p) in y.chunks_exact_mut(d).zip(out.chunks_exact(d)).zip(s.probs.chunks_exact(e)) {
                let g = p[ex];
                for (o, v) in yrow.iter_mut().zip(orow) {
                    *o += g * v;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded layer small enough for a fast test: 37 tokens, D = 24, Dh = 40, 6 experts, top-2.
    fn seeded_layer() -> MoeLayer {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
                })
                .collect()
        };
        let (t, d, dh, e, k) = (37, 24, 40, 6, 2);
        MoeLayer {
            block: 1,
            t,
            d,
            dh,
            e,
            k,
            gate: next(d * e, 2.0),
            w1: next(e * d * dh, 0.4),
            b1: next(e * dh, 0.2),
            w2: next(e * dh * d, 0.4),
            b2: next(e * d, 0.2),
            a: next(t * d, 2.0),
        }
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn token_by_token_and_dense_match_the_reordered_pathway() {
        let layer = seeded_layer();
        let mut s = layer.scratch();
        let n = layer.t * layer.d;
        let (mut ya, mut yb, mut yc) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        layer.run_reordered(&mut s, &mut ya).unwrap();
        layer.run_token_by_token(&mut s, &mut yb).unwrap();
        layer.run_dense(&mut s, &mut yc).unwrap();
        assert!(ya.iter().any(|v| v.abs() > 0.01), "the layer produces a non-trivial output");
        assert!(max_abs_diff(&ya, &yb) < 1e-4, "token-by-token differs: {}", max_abs_diff(&ya, &yb));
        assert!(max_abs_diff(&ya, &yc) < 1e-4, "dense differs: {}", max_abs_diff(&ya, &yc));
    }

    #[test]
    fn a_hand_worked_token_matches() {
        // One token, D = 1, Dh = 1, two experts, top-1: the gate prefers expert 1 (logit 2 vs 0), so
        // y = softmax([0, 2])[1] · (w2 · gelu(w1 · x + b1) + b2) with x = 1, w1 = 3, b1 = 0, w2 = 0.5, b2 = 1.
        let layer = MoeLayer {
            block: 0,
            t: 1,
            d: 1,
            dh: 1,
            e: 2,
            k: 1,
            gate: vec![0.0, 2.0],
            w1: vec![9.0, 3.0],
            b1: vec![0.0, 0.0],
            w2: vec![9.0, 0.5],
            b2: vec![9.0, 1.0],
            a: vec![1.0],
        };
        let p1 = 2f32.exp() / (1.0 + 2f32.exp());
        let gelu3 = 3.0 * 0.5 * (1.0 + libm_erf(3.0 / 2f32.sqrt()));
        let expected = p1 * (0.5 * gelu3 + 1.0);
        let mut s = layer.scratch();
        for run in [MoeLayer::run_reordered, MoeLayer::run_token_by_token, MoeLayer::run_dense] {
            let mut y = [0f32];
            run(&layer, &mut s, &mut y).unwrap();
            assert!((y[0] - expected).abs() < 1e-3, "{} vs {expected}", y[0]);
        }
    }

    /// erf by its Abramowitz–Stegun 7.1.26 approximation (error below 1.5e-7), independent of the runtime.
    fn libm_erf(x: f32) -> f32 {
        let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
        let poly = t * (0.254_829_6 + t * (-0.284_496_7 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
        (1.0 - poly * (-x * x).exp()).copysign(x)
    }
}
