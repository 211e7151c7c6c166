//! Trace points: every kernel output the golden vectors hold (`docs/accel-ip.md`, "Golden vectors"), in
//! the order the model computes them. The C simulation of the IP is compared with these, item by item.

use core::fmt;

/// Which kernel output a trace item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The token sequence after the patch embedding.
    Embed,
    /// A block's first LayerNorm.
    Ln1,
    /// The qkv linear.
    Qkv,
    /// The attention, before the projection.
    Attn,
    /// The projection.
    Proj,
    /// The residual stream after the attention.
    Res1,
    /// The second LayerNorm.
    Ln2,
    /// Dense fc1 after GELU.
    Fc1,
    /// Dense fc2.
    Fc2,
    /// Per token the kept experts then their probabilities.
    Route,
    /// One expert's hidden rows after GELU.
    ExpertHidden,
    /// One expert's output rows.
    ExpertOut,
    /// The MoE layer's output.
    Moe,
    /// The residual stream after the FFN.
    Res2,
    /// The head's LayerNorm, as a `[D, h, w]` map.
    HeadLn,
    /// A head convolution (after its ReLU, before a resize).
    HeadConv,
    /// A head resize.
    HeadUp,
    /// The output map.
    HeadOut,
}

/// One trace item's name: its kind, the block (or convolution) and the expert it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// What it is.
    pub kind: Kind,
    /// Block index (or convolution index for `HeadConv`/`HeadUp`).
    pub index: u32,
    /// Expert index for the expert kinds.
    pub expert: u32,
}

impl Point {
    /// A point of block (or convolution) `index`.
    pub const fn at(kind: Kind, index: u32) -> Self {
        Self { kind, index, expert: 0 }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, e) = (self.index, self.expert);
        match self.kind {
            Kind::Embed => write!(f, "embed"),
            Kind::Ln1 => write!(f, "b{b}.ln1"),
            Kind::Qkv => write!(f, "b{b}.qkv"),
            Kind::Attn => write!(f, "b{b}.attn"),
            Kind::Proj => write!(f, "b{b}.proj"),
            Kind::Res1 => write!(f, "b{b}.res1"),
            Kind::Ln2 => write!(f, "b{b}.ln2"),
            Kind::Fc1 => write!(f, "b{b}.fc1"),
            Kind::Fc2 => write!(f, "b{b}.fc2"),
            Kind::Route => write!(f, "b{b}.route"),
            Kind::ExpertHidden => write!(f, "b{b}.e{e}.hidden"),
            Kind::ExpertOut => write!(f, "b{b}.e{e}.out"),
            Kind::Moe => write!(f, "b{b}.moe"),
            Kind::Res2 => write!(f, "b{b}.res2"),
            Kind::HeadLn => write!(f, "head.ln"),
            Kind::HeadConv => write!(f, "head.conv{b}"),
            Kind::HeadUp => write!(f, "head.up{b}"),
            Kind::HeadOut => write!(f, "head.out"),
        }
    }
}

/// Receives trace items.
pub trait Trace {
    /// Item `point` holds `data`.
    fn record(&mut self, point: Point, data: &[i32]);
}

/// A trace that keeps nothing (every normal run).
pub struct NoTrace;

impl Trace for NoTrace {
    #[inline(always)]
    fn record(&mut self, _: Point, _: &[i32]) {}
}

impl<F: FnMut(Point, &[i32])> Trace for F {
    fn record(&mut self, point: Point, data: &[i32]) {
        self(point, data)
    }
}
