//! The model as the accelerator runs it: the kernels in order, each with its cost on a design point, the
//! MoE layers from the input's actual routing, queue by queue (reordered) or token by token with an expert
//! cache ([`encoder_scheduled`]); then the schedule, which overlaps each
//! panel's execution with the next panel's weight load when the weight buffers are double buffered.

use m3rt::model::Hyper;

use crate::cycles::{self, Cost, Linear, Panel};
use crate::design::Design;
use crate::routes::Routing;
use crate::schedule::{lru_hits, Schedule};

/// Which part of the model a kernel belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Patch embedding and the blocks.
    Encoder,
    /// The task's head.
    Head,
}

/// What a kernel costs before scheduling.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    /// Column panels of the linear unit (weights to load, then execution).
    Linear(Vec<Panel>),
    /// A kernel without weights.
    Fixed(Cost),
}

/// One kernel call.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// The layer it is reported under (`embed`, `b3`, `head.conv1`, ...).
    pub layer: String,
    /// The kernel (`qkv`, `attn.pass1`, `e5.fc1`, ...).
    pub kernel: String,
    /// Encoder or head.
    pub part: Part,
    /// Its cost.
    pub work: Work,
    /// The expert it computes for, in an MoE layer: the expert's index and the rows (tokens) of this call
    /// (counted on its first kernel, fc1, and 0 on the others).
    pub expert: Option<ExpertCall>,
}

/// What an expert's kernel call carries for the per-expert report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpertCall {
    /// The expert's index in its layer.
    pub expert: u32,
    /// Tokens this call adds to the expert's count (the queue on fc1, 0 on fc2 and the scatter).
    pub tokens: u64,
}

/// Why the model cannot run on a design point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// The kernel.
    pub kernel: String,
    /// Its input width K.
    pub k: u64,
    /// The design's `linear.max_k`.
    pub max_k: u64,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: K = {} exceeds the design's linear.max_k = {}", self.kernel, self.k, self.max_k)
    }
}

impl std::error::Error for TooLarge {}

struct Builder<'d> {
    d: &'d Design,
    part: Part,
    ops: Vec<Op>,
    /// The expert the next ops compute for (set by [`Builder::expert`]).
    expert: Option<ExpertCall>,
}

impl Builder<'_> {
    fn linear(&mut self, layer: &str, kernel: &str, l: Linear) -> Result<(), TooLarge> {
        self.linear_resident(layer, kernel, l, false)
    }

    /// A linear whose weights are already on chip when `resident` (a token-order cache hit): its panels
    /// load nothing and read no weights from DDR.
    fn linear_resident(&mut self, layer: &str, kernel: &str, l: Linear, resident: bool) -> Result<(), TooLarge> {
        if l.k > u64::from(self.d.linear.max_k) {
            return Err(TooLarge { kernel: format!("{layer}.{kernel}"), k: l.k, max_k: self.d.linear.max_k.into() });
        }
        let mut panels = l.panels(self.d);
        if resident {
            for p in &mut panels {
                p.load = 0;
                p.exec.ddr_read -= p.exec.ddr_weight_read;
                p.exec.ddr_weight_read = 0;
            }
        }
        let (part, expert) = (self.part, self.take_expert());
        self.ops.push(Op { layer: layer.into(), kernel: kernel.into(), part, work: Work::Linear(panels), expert });
        Ok(())
    }

    fn fixed(&mut self, layer: &str, kernel: &str, c: Cost) {
        let (part, expert) = (self.part, self.take_expert());
        self.ops.push(Op { layer: layer.into(), kernel: kernel.into(), part, work: Work::Fixed(c), expert });
    }

    /// The expert tag of the op being pushed: the pending call's, after which its tokens are counted.
    fn take_expert(&mut self) -> Option<ExpertCall> {
        let tag = self.expert;
        if let Some(e) = &mut self.expert {
            e.tokens = 0;
        }
        tag
    }

    /// Expert `x` over `n` rows: fc1+GELU, fc2 (scatter-add fused or a separate pass), named
    /// `{name}.fc1+gelu`..., each op tagged with the expert.
    fn expert(&mut self, h: &Hyper, layer: &str, name: &str, x: u32, n: u64, resident: bool) -> Result<(), TooLarge> {
        self.expert = Some(ExpertCall { expert: x, tokens: n });
        let done = self.expert_ops(h, layer, name, n, resident);
        self.expert = None;
        done
    }

    fn expert_ops(&mut self, h: &Hyper, layer: &str, name: &str, n: u64, resident: bool) -> Result<(), TooLarge> {
        let (dim, dh) = (u64::from(h.dim), u64::from(h.expert_hidden));
        let fc1 = Linear { gelu: true, ..Linear::rows(n, dim, dh) };
        self.linear_resident(layer, &format!("{name}.fc1+gelu"), fc1, resident)?;
        let fused = self.d.misc.scatter_fused;
        let fc2 = Linear { read_modify_write: fused, ..Linear::rows(n, dh, dim) };
        self.linear_resident(layer, &format!("{name}.fc2"), fc2, resident)?;
        if !fused {
            let nd = n * dim * 4;
            self.fixed(layer, &format!("{name}.scatter"), cycles::elementwise(self.d, &[nd, nd], &[nd]));
        }
        Ok(())
    }
}

/// The encoder's kernels; `queues[j][e]` is the number of tokens MoE layer `j` sends to expert `e`
/// (the reordered schedule, expert by expert).
pub fn encoder(d: &Design, h: &Hyper, queues: &[Vec<u32>]) -> Result<Vec<Op>, TooLarge> {
    encoder_with(d, h, &mut |b, l, j| {
        let counts = queues.get(j).map(Vec::as_slice).unwrap_or(&[]);
        for (x, &n) in counts.iter().enumerate().filter(|(_, &n)| n > 0) {
            b.expert(h, l, &format!("e{x}"), x as u32, u64::from(n), false)?;
        }
        Ok(())
    })
}

/// The encoder's kernels under `schedule`, from the routes of every MoE layer (`routing.layers[j]`, token
/// `t`'s experts at `t·k..t·k+k`). Reordered: as [`encoder`] on the routing's queues. Token order: per
/// token, per expert of its route, fc1+GELU and fc2 over that one row (`t{t}.e{x}.fc1+gelu`, ...), the
/// weights loaded on an LRU miss only ([`crate::schedule::lru_hits`]; the cache starts empty at every MoE
/// layer). Check the schedule first ([`Schedule::check`]): a cache below `top_k` is costed as given.
pub fn encoder_scheduled(d: &Design, h: &Hyper, routing: &Routing, schedule: Schedule) -> Result<Vec<Op>, TooLarge> {
    match schedule {
        Schedule::Reordered => encoder(d, h, &routing.queues()),
        Schedule::TokenOrder { cache_experts } => {
            let k = routing.top_k.max(1) as usize;
            encoder_with(d, h, &mut |b, l, j| {
                let routes = routing.layers.get(j).map(Vec::as_slice).unwrap_or(&[]);
                let hits = lru_hits(routes, cache_experts);
                for (slot, (&x, &hit)) in routes.iter().zip(&hits).enumerate() {
                    b.expert(h, l, &format!("t{}.e{x}", slot / k), x, 1, hit)?;
                }
                Ok(())
            })
        }
    }
}

type Moe<'a> = dyn FnMut(&mut Builder<'_>, &str, usize) -> Result<(), TooLarge> + 'a;

fn encoder_with(d: &Design, h: &Hyper, moe: &mut Moe<'_>) -> Result<Vec<Op>, TooLarge> {
    let (t, dim, p) = (u64::from(h.tokens()), u64::from(h.dim), u64::from(h.patch));
    let td = t * dim * 4;
    let mut b = Builder { d, part: Part::Encoder, ops: Vec::new(), expert: None };
    let pixels = u64::from(h.in_chans) * u64::from(h.image_h) * u64::from(h.image_w);
    let k = u64::from(h.in_chans) * p * p;
    let embed = Linear { read_bytes: pixels, ..Linear::rows(u64::from(h.patches()), k, dim) };
    b.linear("embed", "patch", embed)?;
    b.fixed("embed", "cls+pos", cycles::elementwise(d, &[t * dim * 2], &[td]));
    for blk in 0..h.depth {
        let l = format!("b{blk}");
        b.fixed(&l, "ln1", cycles::layernorm(d, t, dim));
        b.linear(&l, "qkv", Linear::rows(t, dim, 3 * dim))?;
        let [p1, p2] = cycles::attention(d, t, dim, u64::from(h.heads));
        b.fixed(&l, "attn.pass1", p1);
        b.fixed(&l, "attn.pass2", p2);
        b.linear(&l, "proj", Linear::rows(t, dim, dim))?;
        b.fixed(&l, "res1", cycles::elementwise(d, &[td, td], &[td]));
        b.fixed(&l, "ln2", cycles::layernorm(d, t, dim));
        match h.moe_index(blk) {
            None => {
                let hid = u64::from(h.mlp_hidden);
                b.linear(&l, "fc1+gelu", Linear { gelu: true, ..Linear::rows(t, dim, hid) })?;
                b.linear(&l, "fc2", Linear::rows(t, hid, dim))?;
            }
            Some(j) => {
                let e = u64::from(h.experts);
                b.linear(&l, "gate", Linear { write_bytes_per_col: 0, ..Linear::rows(t, dim, e) })?;
                b.fixed(&l, "router", cycles::router(d, t, e, u64::from(h.top_k)));
                moe(&mut b, &l, j as usize)?;
            }
        }
        b.fixed(&l, "res2", cycles::elementwise(d, &[td, td], &[td]));
    }
    Ok(b.ops)
}

/// The head's kernels for a task of `channels` output channels: LayerNorm into a map, the convolutions
/// through the linear unit (a 3×3 gather reads three bursts of 18 words per channel and 16 pixels), the
/// resizes.
pub fn head(d: &Design, h: &Hyper, channels: u32) -> Result<Vec<Op>, TooLarge> {
    let mut b = Builder { d, part: Part::Head, ops: Vec::new(), expert: None };
    let (dim, hw, c) = (u64::from(h.dim), u64::from(h.head_width), u64::from(channels));
    let (mut fh, mut fw) = (u64::from(h.grid_h()), u64::from(h.grid_w()));
    b.fixed("head.ln", "ln", cycles::layernorm(d, fh * fw, dim));
    let convs = h.head_kind.conv_count();
    for j in 0..convs {
        let layer = format!("head.conv{j}");
        let cin = if j == 0 { dim } else { hw };
        let cout = if j + 1 == convs { c } else { hw };
        let kk = u64::from(h.head_kind.conv_kernel(j));
        let m = fh * fw;
        let read = if kk == 3 { m * cin * 4 * 54 / 16 } else { m * cin * 4 };
        b.linear(&layer, "conv", Linear { read_bytes: read, ..Linear::rows(m, kk * kk * cin, cout) })?;
        if h.head_kind.upsamples_after(j) {
            b.fixed(&layer, "up2", cycles::elementwise(d, &[cout * m * 4], &[cout * m * 16]));
            fh *= 2;
            fw *= 2;
        }
    }
    let out = c * u64::from(h.image_h) * u64::from(h.image_w) * 4;
    b.fixed("head.out", "resize", cycles::elementwise(d, &[c * fh * fw * 4], &[out]));
    Ok(b.ops)
}

/// Each op's cost once scheduled. Double buffered: the first panel's load is exposed, then each panel
/// takes `max(its execution, the next panel's load)` — the next panel may belong to a later linear, as the
/// IP prefetches across the kernels in between. Single buffered: every load precedes its execution.
pub fn schedule(d: &Design, ops: &[Op]) -> Vec<Cost> {
    let loads: Vec<u64> = ops
        .iter()
        .flat_map(|op| match &op.work {
            Work::Linear(p) => p.iter().map(|p| p.load).collect(),
            Work::Fixed(_) => Vec::new(),
        })
        .collect();
    let mut next = 0;
    ops.iter()
        .map(|op| match &op.work {
            Work::Fixed(c) => *c,
            Work::Linear(panels) => {
                let mut total = Cost::default();
                for p in panels {
                    let mut c = p.exec;
                    if d.linear.double_buffered {
                        let exposed = if next == 0 { loads[0] } else { 0 };
                        let following = loads.get(next + 1).copied().unwrap_or(0);
                        c.cycles = exposed + c.cycles.max(following);
                    } else {
                        c.cycles += p.load;
                    }
                    next += 1;
                    total += c;
                }
                total
            }
        })
        .collect()
}
