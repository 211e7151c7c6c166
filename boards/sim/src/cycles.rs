//! Cycles and action counts of each kernel, from a design point's parameters (simulated: a model, never a
//! measurement). Each formula is checked by a unit test on a case worked by hand in the test's comment.

use std::ops::{Add, AddAssign};

use crate::design::{Design, TileRows};

/// Cycles and the actions the energy model charges, for one kernel (or a sum of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Accelerator cycles.
    pub cycles: u64,
    /// Multiply-accumulates of the linear unit.
    pub linear_macs: u64,
    /// Multiply-accumulates of the attention unit.
    pub attention_macs: u64,
    /// Bytes read from DDR (activations and weights).
    pub ddr_read: u64,
    /// Of `ddr_read`, the weight (and bias) bytes.
    pub ddr_weight_read: u64,
    /// Bytes written to DDR.
    pub ddr_write: u64,
    /// 72-bit word reads of the on-chip weight buffers.
    pub weight_buffer_reads: u64,
    /// 72-bit word reads of the other on-chip buffers (activation tiles, queries, scores).
    pub buffer_reads: u64,
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            cycles: self.cycles + o.cycles,
            linear_macs: self.linear_macs + o.linear_macs,
            attention_macs: self.attention_macs + o.attention_macs,
            ddr_read: self.ddr_read + o.ddr_read,
            ddr_weight_read: self.ddr_weight_read + o.ddr_weight_read,
            ddr_write: self.ddr_write + o.ddr_write,
            weight_buffer_reads: self.weight_buffer_reads + o.weight_buffer_reads,
            buffer_reads: self.buffer_reads + o.buffer_reads,
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

fn words72(bits: u64) -> u64 {
    ceil_div(bits, 72)
}

/// Cycles to move activation streams over the design's activation ports: each stream at one port's
/// rate, the reads (and, on their own AXI channel, the writes) spread over `activation_ports` ports,
/// everything within the DDR controller's bandwidth.
pub fn stream_cycles(d: &Design, reads: &[u64], writes: &[u64]) -> u64 {
    let port = d.port_bytes_per_cycle();
    let ports = f64::from(d.memory.activation_ports);
    let side = |s: &[u64]| {
        let max = s.iter().copied().max().unwrap_or(0) as f64;
        let sum = s.iter().sum::<u64>() as f64;
        (max / port).max(sum / (port * ports))
    };
    let total = (reads.iter().sum::<u64>() + writes.iter().sum::<u64>()) as f64 / d.ddr_bytes_per_cycle();
    side(reads).max(side(writes)).max(total).ceil() as u64
}

/// Cycles to load `bytes` of weights over the weight master.
pub fn load_cycles(d: &Design, bytes: u64) -> u64 {
    (bytes as f64 / d.port_bytes_per_cycle()).ceil() as u64
}

/// One column panel of a linear: the cycles its weights take to load and its execution once loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Panel {
    /// Cycles to load the panel's weights and biases.
    pub load: u64,
    /// The panel's execution (its weight bytes are counted in `exec.ddr_read`).
    pub exec: Cost,
}

/// A matrix product `[m, k] × [k, n]` on the linear unit, and the activation traffic around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    /// Rows (tokens, pixels, queue entries).
    pub m: u64,
    /// Input width.
    pub k: u64,
    /// Output width.
    pub n: u64,
    /// Bytes of activations read per panel (usually `m·k·4`).
    pub read_bytes: u64,
    /// Bytes written per output column (usually `m·4`); a fused scatter-add also reads as many.
    pub write_bytes_per_col: u64,
    /// Whether the output stream also reads what it adds to (fused scatter-add).
    pub read_modify_write: bool,
    /// Whether GELU runs in the epilogue (fused: its table lookup adds `misc.pipeline_depth` per panel).
    pub gelu: bool,
}

impl Linear {
    /// A plain linear reading `m·k` and writing `m·n` 32-bit activations.
    pub fn rows(m: u64, k: u64, n: u64) -> Self {
        Linear { m, k, n, read_bytes: m * k * 4, write_bytes_per_col: m * 4, read_modify_write: false, gelu: false }
    }

    /// Panel widths: `min(n, tile_cols · floor(words / (tile_cols · k)))`, at least one column group.
    pub fn panel_width(&self, d: &Design) -> u64 {
        let tc = u64::from(d.linear.tile_cols);
        let groups = (u64::from(d.linear.weight_buffer_words) / (tc * self.k.max(1))).max(1);
        self.n.min(tc * groups).max(1)
    }

    /// Compute cycles of `w` output columns: tokens tiling `ceil(m/TR)·ceil(w/TC)·k`, inputs tiling
    /// `m·ceil(w/TC)·ceil(k/TR)`.
    pub fn compute_cycles(&self, d: &Design, w: u64) -> u64 {
        let (tr, tc) = (u64::from(d.linear.tile_rows), u64::from(d.linear.tile_cols));
        match d.linear.rows_are {
            TileRows::Tokens => ceil_div(self.m, tr) * ceil_div(w, tc) * self.k,
            TileRows::Inputs => self.m * ceil_div(w, tc) * ceil_div(self.k, tr),
        }
    }

    /// The panels, in order.
    pub fn panels(&self, d: &Design) -> Vec<Panel> {
        let l = &d.linear;
        let (tr, tc, wb) = (u64::from(l.tile_rows), u64::from(l.tile_cols), d.precision.weight_bytes());
        // Per compute cycle the array reads its weights (TC, or TR·TC for the inputs tiling) and TR activations.
        let weights_per_cycle = match l.rows_are {
            TileRows::Tokens => tc,
            TileRows::Inputs => tr * tc,
        };
        let depth = u64::from(l.pipeline_depth) + if self.gelu { u64::from(d.misc.pipeline_depth) } else { 0 };
        let pw = self.panel_width(d);
        let mut out = Vec::new();
        let mut col = 0;
        while col < self.n {
            let w = pw.min(self.n - col);
            col += w;
            let weight_bytes = self.k * w * wb + w * 2;
            let compute = self.compute_cycles(d, w);
            let write = self.write_bytes_per_col * w;
            let rmw = if self.read_modify_write { write } else { 0 };
            let streams = stream_cycles(d, &[self.read_bytes, rmw], &[write]);
            let busy = if l.activations_overlapped {
                compute.max(streams)
            } else {
                (compute + stream_cycles(d, &[self.read_bytes, rmw], &[])).max(streams)
            };
            let exec = Cost {
                cycles: busy + depth,
                linear_macs: self.m * self.k * w,
                ddr_read: self.read_bytes + rmw + weight_bytes,
                ddr_weight_read: weight_bytes,
                ddr_write: write,
                weight_buffer_reads: compute * words72(weights_per_cycle * wb * 8),
                buffer_reads: compute * words72(tr * 32),
                ..Cost::default()
            };
            out.push(Panel { load: load_cycles(d, weight_bytes), exec });
        }
        out
    }
}

/// The two attention passes of one block over `t` tokens of width `dim` in `heads` heads: pass 1 streams
/// every key once per query tile (online softmax), pass 2 every value once per query tile.
pub fn attention(d: &Design, t: u64, dim: u64, heads: u64) -> [Cost; 2] {
    let a = &d.attention;
    let (q, lanes) = (u64::from(a.queries), u64::from(a.lanes));
    let tiles = ceil_div(t, q);
    let hd = dim / heads.max(1);
    let compute = tiles * t * heads * ceil_div(hd, lanes);
    let kv = tiles * t * dim * 4;
    let scores = if a.scores_on_chip { 0 } else { tiles * q * t * heads * 4 };
    let act = t * dim * 4;
    let pass = |reads: &[u64], writes: &[u64]| Cost {
        cycles: compute.max(stream_cycles(d, reads, writes)) + u64::from(a.pipeline_depth),
        attention_macs: t * t * dim,
        ddr_read: reads.iter().sum(),
        ddr_write: writes.iter().sum(),
        buffer_reads: compute * words72(q * lanes * 32),
        ..Cost::default()
    };
    [pass(&[act, kv], &[scores]), pass(&[kv, scores], &[act])]
}

/// An element-wise kernel (LayerNorm in one pass, a residual add, a resize) reading and writing the given
/// streams at one beat per cycle.
pub fn elementwise(d: &Design, reads: &[u64], writes: &[u64]) -> Cost {
    Cost {
        cycles: stream_cycles(d, reads, writes) + u64::from(d.misc.pipeline_depth),
        ddr_read: reads.iter().sum(),
        ddr_write: writes.iter().sum(),
        ..Cost::default()
    }
}

/// LayerNorm of `t` rows of width `dim`, single pass: read once, write once.
pub fn layernorm(d: &Design, t: u64, dim: u64) -> Cost {
    elementwise(d, &[t * dim * 4], &[t * dim * 4])
}

/// The router's softmax and top-k over `e` logits for `t` tokens (`router_tokens` at a time, one logit per
/// cycle), writing `k` experts and probabilities per token; then the queues, two passes over the routes.
pub fn router(d: &Design, t: u64, e: u64, k: u64) -> Cost {
    let softmax = ceil_div(t, u64::from(d.misc.router_tokens)) * e;
    let queues = 2 * t * k;
    Cost {
        cycles: softmax + queues + 2 * u64::from(d.misc.pipeline_depth),
        ddr_write: t * 2 * k * 4,
        ..Cost::default()
    }
}
