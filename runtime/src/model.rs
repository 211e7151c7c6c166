//! What a model is, independent of how its bytes are stored: the hyperparameters, the task table and the
//! canonical list of weight tensors with their shapes.
//!
//! This module is the contract between the converter (which fills a bundle), the bundle reader (which
//! validates one) and the engine (which computes with one). Every weight tensor has a [`TensorKey`]; the
//! bundle stores the tensors in [`canonical_keys`] order, so the engine finds any tensor by arithmetic,
//! without a search and without an allocation.
//!
//! Layout conventions (row-major, C order):
//! - Linear weights are stored `[in, out]`, so `y[T, out] = x[T, in] · W[in, out] + b[out]`.
//! - Convolution weights are stored `[out, in, k, k]` (as ONNX and PyTorch), BatchNorm already folded in.
//! - Expert weights are stacked over experts: `W1 [E, D, Dh]`, `b1 [E, Dh]`, `W2 [E, Dh, D]`, `b2 [E, D]`;
//!   expert `e` is the contiguous `e`-th slab of each.
//! - Gate weights are `[D, E]`, no bias.

/// The largest number of blocks a model may have (the MoE block set is a 64-bit mask).
pub const MAX_DEPTH: u32 = 64;
/// The largest number of tasks one bundle may hold.
pub const MAX_TASKS: usize = 16;
/// The longest task name, in bytes (UTF-8).
pub const MAX_TASK_NAME: usize = 32;
/// The largest number of experts per MoE layer.
pub const MAX_EXPERTS: u32 = 64;
/// The largest top-k.
pub const MAX_TOP_K: u32 = 8;

/// Which decoder head every task uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HeadKind {
    /// SETR-PUP: four 3×3 convs (each followed by ReLU, the first three by a bilinear ×2) then a 1×1 conv
    /// and a final bilinear ×2. Five convolutions, indices 0..=4.
    Pup = 0,
    /// The light variant: one 3×3 conv, ReLU, one 1×1 conv, bilinear resize to the image size.
    /// Two convolutions, indices 0..=1.
    Light = 1,
}

impl HeadKind {
    /// Number of convolutions in the head.
    pub const fn conv_count(self) -> u32 {
        match self {
            HeadKind::Pup => 5,
            HeadKind::Light => 2,
        }
    }

    /// Whether convolution `j`'s output (after its ReLU) is doubled by a bilinear resize before the next.
    pub const fn upsamples_after(self, j: u32) -> bool {
        matches!(self, HeadKind::Pup) && j < 3
    }

    /// Kernel size of convolution `j`.
    pub const fn conv_kernel(self, j: u32) -> u32 {
        if j + 1 == self.conv_count() {
            1
        } else {
            3
        }
    }

    /// Decodes the stored byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(HeadKind::Pup),
            1 => Some(HeadKind::Light),
            _ => None,
        }
    }
}

/// How a task's raw output is turned into a result a person reads (the runtime returns raw outputs;
/// post-processing is applied by tools that draw or decode them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PostProcess {
    /// Raw values (depth).
    Raw = 0,
    /// Per-pixel argmax over channels (semantic segmentation, human parts).
    Argmax = 1,
    /// Logistic sigmoid (edges, saliency).
    Sigmoid = 2,
    /// L2-normalise the channel vector (surface normals).
    L2Normalize = 3,
}

impl PostProcess {
    /// Decodes the stored byte.
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(PostProcess::Raw),
            1 => Some(PostProcess::Argmax),
            2 => Some(PostProcess::Sigmoid),
            3 => Some(PostProcess::L2Normalize),
            _ => None,
        }
    }
}

/// Every hyperparameter of an M³ViT model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    /// Input image height in pixels.
    pub image_h: u32,
    /// Input image width in pixels.
    pub image_w: u32,
    /// Input channels (3).
    pub in_chans: u32,
    /// Patch size (16 in the reference).
    pub patch: u32,
    /// Embedding width D.
    pub dim: u32,
    /// Number of blocks.
    pub depth: u32,
    /// Attention heads.
    pub heads: u32,
    /// Hidden width of the dense MLP blocks.
    pub mlp_hidden: u32,
    /// Experts per MoE layer (E).
    pub experts: u32,
    /// Experts chosen per token (k).
    pub top_k: u32,
    /// Hidden width of one expert (Dh).
    pub expert_hidden: u32,
    /// Bit `i` set: block `i`'s FFN is an MoE layer; clear: a dense MLP.
    pub moe_blocks: u64,
    /// The decoder head of every task.
    pub head_kind: HeadKind,
    /// Width of the head's convolutions (256 in the reference).
    pub head_width: u32,
    /// LayerNorm epsilon (1e-6 in the reference).
    pub ln_eps: f32,
    /// Per-channel input normalisation `(x - mean) / std`, applied by the runtime to the input image.
    /// Identity is mean 0, std 1.
    pub norm_mean: [f32; 3],
    /// See [`Hyper::norm_mean`].
    pub norm_std: [f32; 3],
    /// Number of tasks.
    pub tasks: u32,
}

impl Hyper {
    /// Patches along the height.
    pub const fn grid_h(&self) -> u32 {
        self.image_h / self.patch
    }
    /// Patches along the width.
    pub const fn grid_w(&self) -> u32 {
        self.image_w / self.patch
    }
    /// Number of patches N.
    pub const fn patches(&self) -> u32 {
        self.grid_h() * self.grid_w()
    }
    /// Number of tokens T = N + 1 (the cls token first).
    pub const fn tokens(&self) -> u32 {
        self.patches() + 1
    }
    /// Width of one attention head.
    pub const fn head_dim(&self) -> u32 {
        self.dim / self.heads
    }
    /// True when block `b` is an MoE block.
    pub const fn is_moe(&self, b: u32) -> bool {
        b < 64 && (self.moe_blocks >> b) & 1 == 1
    }
    /// Number of MoE blocks.
    pub const fn moe_count(&self) -> u32 {
        self.moe_blocks.count_ones()
    }
    /// Index of MoE block `b` among the MoE blocks (its gate index), if `b` is one.
    pub const fn moe_index(&self, b: u32) -> Option<u32> {
        if !self.is_moe(b) {
            return None;
        }
        let below = if b == 0 { 0 } else { self.moe_blocks & ((1u64 << b) - 1) };
        Some(below.count_ones())
    }

    /// Checks that the hyperparameters describe a model this runtime can compute.
    /// Returns the name of the first offending field.
    pub fn check(&self) -> Result<(), &'static str> {
        let nonzero = [
            (self.image_h, "image_h"),
            (self.image_w, "image_w"),
            (self.patch, "patch"),
            (self.dim, "dim"),
            (self.depth, "depth"),
            (self.heads, "heads"),
            (self.mlp_hidden, "mlp_hidden"),
            (self.head_width, "head_width"),
            (self.tasks, "tasks"),
        ];
        for (v, name) in nonzero {
            if v == 0 {
                return Err(name);
            }
        }
        if self.in_chans != 3 {
            return Err("in_chans");
        }
        if !self.image_h.is_multiple_of(self.patch) || !self.image_w.is_multiple_of(self.patch) {
            return Err("patch");
        }
        if !self.dim.is_multiple_of(self.heads) {
            return Err("heads");
        }
        if self.depth > MAX_DEPTH || (self.depth < 64 && self.moe_blocks >> self.depth != 0) {
            return Err("moe_blocks");
        }
        if self.tasks as usize > MAX_TASKS {
            return Err("tasks");
        }
        if self.moe_blocks != 0 {
            if self.experts == 0 || self.experts > MAX_EXPERTS {
                return Err("experts");
            }
            if self.top_k == 0 || self.top_k > MAX_TOP_K || self.top_k > self.experts {
                return Err("top_k");
            }
            if self.expert_hidden == 0 {
                return Err("expert_hidden");
            }
        }
        if self.tokens().is_multiple_of(48) {
            // The reference head keeps the cls token in that case; no published model does it.
            return Err("tokens");
        }
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if !positive(self.ln_eps) || !self.norm_std.iter().all(|s| positive(*s)) {
            return Err("ln_eps/norm_std");
        }
        if self.norm_mean.iter().any(|m| !m.is_finite()) {
            return Err("norm_mean");
        }
        Ok(())
    }
}

/// One task of a multi-task model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskInfo<'a> {
    /// Name, as in the model's config (`semseg`, `depth`, ...).
    pub name: &'a str,
    /// Output channels C of the head.
    pub out_channels: u32,
    /// How the raw output is read.
    pub post: PostProcess,
}

/// What one weight tensor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// Patch embedding conv weight `[D, 3, P, P]`.
    PatchW,
    /// Patch embedding bias `[D]`.
    PatchB,
    /// Class token `[D]`.
    ClsToken,
    /// Position embedding `[T, D]`.
    PosEmbed,
    /// LayerNorm 1 gain `[D]`.
    Ln1G,
    /// LayerNorm 1 bias `[D]`.
    Ln1B,
    /// QKV projection `[D, 3D]`; output columns are q (heads × hd), then k, then v.
    QkvW,
    /// QKV bias `[3D]`.
    QkvB,
    /// Attention output projection `[D, D]`.
    ProjW,
    /// Attention output bias `[D]`.
    ProjB,
    /// LayerNorm 2 gain `[D]`.
    Ln2G,
    /// LayerNorm 2 bias `[D]`.
    Ln2B,
    /// Dense MLP fc1 `[D, mlp_hidden]`.
    Fc1W,
    /// Dense MLP fc1 bias `[mlp_hidden]`.
    Fc1B,
    /// Dense MLP fc2 `[mlp_hidden, D]`.
    Fc2W,
    /// Dense MLP fc2 bias `[D]`.
    Fc2B,
    /// Expert fc1, stacked `[E, D, Dh]`.
    ExpW1,
    /// Expert fc1 bias `[E, Dh]`.
    ExpB1,
    /// Expert fc2, stacked `[E, Dh, D]`.
    ExpW2,
    /// Expert fc2 bias `[E, D]`.
    ExpB2,
    /// A task's gate of one MoE block `[D, E]`.
    Gate,
    /// Head LayerNorm gain `[D]`.
    HeadLnG,
    /// Head LayerNorm bias `[D]`.
    HeadLnB,
    /// Head convolution `j` weight `[out, in, k, k]`, BatchNorm folded.
    HeadConvW,
    /// Head convolution `j` bias `[out]`, BatchNorm folded.
    HeadConvB,
}

/// Names one weight tensor of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TensorKey {
    /// What it is.
    pub kind: TensorKind,
    /// Block index for block tensors and gates, convolution index for head convs, else 0.
    pub index: u32,
    /// Task index for gates and head tensors, else 0.
    pub task: u32,
}

impl TensorKey {
    /// A backbone tensor that is not per block (patch, cls, pos).
    pub const fn global(kind: TensorKind) -> Self {
        Self { kind, index: 0, task: 0 }
    }
    /// A tensor of block `b`.
    pub const fn block(kind: TensorKind, b: u32) -> Self {
        Self { kind, index: b, task: 0 }
    }
    /// Task `t`'s gate of block `b`.
    pub const fn gate(task: u32, b: u32) -> Self {
        Self { kind: TensorKind::Gate, index: b, task }
    }
    /// A head tensor of task `t` (`index` = conv index for convs).
    pub const fn head(kind: TensorKind, task: u32, index: u32) -> Self {
        Self { kind, index, task }
    }
}

/// Largest tensor rank.
pub const MAX_RANK: usize = 4;

/// A tensor shape of rank ≤ 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Dimensions; only the first `rank` are meaningful, the rest are 1.
    pub dims: [u32; MAX_RANK],
    /// Number of dimensions.
    pub rank: u8,
}

impl Shape {
    /// Builds a shape from its dimensions (at most [`MAX_RANK`]; extra ones are ignored).
    pub fn new(d: &[u32]) -> Self {
        let mut dims = [1u32; MAX_RANK];
        let rank = d.len().min(MAX_RANK);
        dims[..rank].copy_from_slice(&d[..rank]);
        Self { dims, rank: rank as u8 }
    }
    /// The meaningful dimensions.
    pub fn as_slice(&self) -> &[u32] {
        &self.dims[..self.rank as usize]
    }
    /// Number of elements (saturating: a shape too large for memory is rejected elsewhere).
    pub fn numel(&self) -> u64 {
        self.as_slice().iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
    }
}

/// The shape tensor `key` must have in a model with hyperparameters `h` and output channels
/// `out_channels(task)`.
pub fn expected_shape(h: &Hyper, key: TensorKey, task_channels: u32) -> Shape {
    use TensorKind::*;
    let d = h.dim;
    let (e, dh) = (h.experts, h.expert_hidden);
    match key.kind {
        PatchW => Shape::new(&[d, h.in_chans, h.patch, h.patch]),
        PatchB | ClsToken | Ln1G | Ln1B | ProjB | Ln2G | Ln2B | Fc2B | HeadLnG | HeadLnB => Shape::new(&[d]),
        PosEmbed => Shape::new(&[h.tokens(), d]),
        QkvW => Shape::new(&[d, 3 * d]),
        QkvB => Shape::new(&[3 * d]),
        ProjW => Shape::new(&[d, d]),
        Fc1W => Shape::new(&[d, h.mlp_hidden]),
        Fc1B => Shape::new(&[h.mlp_hidden]),
        Fc2W => Shape::new(&[h.mlp_hidden, d]),
        ExpW1 => Shape::new(&[e, d, dh]),
        ExpB1 => Shape::new(&[e, dh]),
        ExpW2 => Shape::new(&[e, dh, d]),
        ExpB2 => Shape::new(&[e, d]),
        Gate => Shape::new(&[d, e]),
        HeadConvW => {
            let (cin, cout) = head_conv_channels(h, key.index, task_channels);
            let k = h.head_kind.conv_kernel(key.index);
            Shape::new(&[cout, cin, k, k])
        }
        HeadConvB => Shape::new(&[head_conv_channels(h, key.index, task_channels).1]),
    }
}

/// Input and output channels of head convolution `j` for a task with `c` output channels.
pub fn head_conv_channels(h: &Hyper, j: u32, c: u32) -> (u32, u32) {
    let last = h.head_kind.conv_count() - 1;
    let cin = if j == 0 { h.dim } else { h.head_width };
    let cout = if j == last { c } else { h.head_width };
    (cin, cout)
}

const BLOCK_COMMON: [TensorKind; 8] = [
    TensorKind::Ln1G,
    TensorKind::Ln1B,
    TensorKind::QkvW,
    TensorKind::QkvB,
    TensorKind::ProjW,
    TensorKind::ProjB,
    TensorKind::Ln2G,
    TensorKind::Ln2B,
];
const BLOCK_DENSE: [TensorKind; 4] = [TensorKind::Fc1W, TensorKind::Fc1B, TensorKind::Fc2W, TensorKind::Fc2B];
const BLOCK_MOE: [TensorKind; 4] = [TensorKind::ExpW1, TensorKind::ExpB1, TensorKind::ExpW2, TensorKind::ExpB2];
/// Tensors per block (common part plus dense or MoE FFN).
pub const TENSORS_PER_BLOCK: u32 = 12;
/// Tensors before the first block: patch weight, patch bias, cls, pos.
pub const TENSORS_BEFORE_BLOCKS: u32 = 4;

/// Tensors per task: one gate per MoE block, the head LayerNorm pair and two per conv.
pub const fn tensors_per_task(h: &Hyper) -> u32 {
    h.moe_count() + 2 + 2 * h.head_kind.conv_count()
}

/// The canonical indices of the tensors one stage of a run reads, so a host can release their pages
/// when the stage is done ([`crate::engine::Engine::run_releasing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Patch embedding: `PatchW, PatchB, ClsToken, PosEmbed`.
    Embed,
    /// Block `b`'s own tensors (not the tasks' gates, which are tiny and read by every run).
    Block(u32),
    /// Task `t`'s head (its LayerNorm and convolutions).
    Head(u32),
}

/// The canonical index range of `stage`'s tensors (empty for a block or task the model does not have).
pub const fn stage_tensors(h: &Hyper, stage: Stage) -> core::ops::Range<u32> {
    let blocks_end = TENSORS_BEFORE_BLOCKS + TENSORS_PER_BLOCK * h.depth;
    match stage {
        Stage::Embed => 0..TENSORS_BEFORE_BLOCKS,
        Stage::Block(b) if b < h.depth => {
            let start = TENSORS_BEFORE_BLOCKS + TENSORS_PER_BLOCK * b;
            start..start + TENSORS_PER_BLOCK
        }
        Stage::Head(t) if t < h.tasks => {
            let task = blocks_end + tensors_per_task(h) * t;
            task + h.moe_count()..task + tensors_per_task(h)
        }
        _ => 0..0,
    }
}

/// Total number of tensors in a model.
pub const fn tensor_count(h: &Hyper) -> u32 {
    TENSORS_BEFORE_BLOCKS + TENSORS_PER_BLOCK * h.depth + h.tasks * tensors_per_task(h)
}

/// The `i`-th tensor in canonical order, or `None` past the end.
///
/// Order: `PatchW, PatchB, ClsToken, PosEmbed`; then per block `Ln1G, Ln1B, QkvW, QkvB, ProjW, ProjB,
/// Ln2G, Ln2B` followed by `Fc1W, Fc1B, Fc2W, Fc2B` (dense) or `ExpW1, ExpB1, ExpW2, ExpB2` (MoE); then per
/// task its gates in block order, `HeadLnG, HeadLnB`, and `HeadConvW, HeadConvB` per convolution.
pub fn canonical_key(h: &Hyper, i: u32) -> Option<TensorKey> {
    use TensorKind::*;
    const FIRST: [TensorKind; 4] = [PatchW, PatchB, ClsToken, PosEmbed];
    if i < TENSORS_BEFORE_BLOCKS {
        return Some(TensorKey::global(FIRST[i as usize]));
    }
    let i = i - TENSORS_BEFORE_BLOCKS;
    if i < TENSORS_PER_BLOCK * h.depth {
        let (b, j) = (i / TENSORS_PER_BLOCK, (i % TENSORS_PER_BLOCK) as usize);
        let kind = if j < 8 {
            BLOCK_COMMON[j]
        } else if h.is_moe(b) {
            BLOCK_MOE[j - 8]
        } else {
            BLOCK_DENSE[j - 8]
        };
        return Some(TensorKey::block(kind, b));
    }
    let i = i - TENSORS_PER_BLOCK * h.depth;
    let per = tensors_per_task(h);
    if i >= per * h.tasks {
        return None;
    }
    let (t, j) = (i / per, i % per);
    if j < h.moe_count() {
        // The j-th set bit of moe_blocks.
        let mut seen = 0;
        for b in 0..h.depth {
            if h.is_moe(b) {
                if seen == j {
                    return Some(TensorKey::gate(t, b));
                }
                seen += 1;
            }
        }
        return None;
    }
    let j = j - h.moe_count();
    Some(match j {
        0 => TensorKey::head(HeadLnG, t, 0),
        1 => TensorKey::head(HeadLnB, t, 0),
        _ => {
            let c = (j - 2) / 2;
            let kind = if (j - 2).is_multiple_of(2) { HeadConvW } else { HeadConvB };
            TensorKey::head(kind, t, c)
        }
    })
}

/// Position of `key` in canonical order, or `None` if the model has no such tensor.
pub fn canonical_index(h: &Hyper, key: TensorKey) -> Option<u32> {
    use TensorKind::*;
    let block_base = |b: u32| TENSORS_BEFORE_BLOCKS + TENSORS_PER_BLOCK * b;
    let task_base = |t: u32| TENSORS_BEFORE_BLOCKS + TENSORS_PER_BLOCK * h.depth + tensors_per_task(h) * t;
    let in_block = |b: u32, j: u32| (b < h.depth).then(|| block_base(b) + j);
    match key.kind {
        PatchW => Some(0),
        PatchB => Some(1),
        ClsToken => Some(2),
        PosEmbed => Some(3),
        Ln1G | Ln1B | QkvW | QkvB | ProjW | ProjB | Ln2G | Ln2B => {
            let j = BLOCK_COMMON.iter().position(|k| *k == key.kind)? as u32;
            in_block(key.index, j)
        }
        Fc1W | Fc1B | Fc2W | Fc2B => {
            if h.is_moe(key.index) {
                return None;
            }
            let j = BLOCK_DENSE.iter().position(|k| *k == key.kind)? as u32;
            in_block(key.index, 8 + j)
        }
        ExpW1 | ExpB1 | ExpW2 | ExpB2 => {
            if !h.is_moe(key.index) {
                return None;
            }
            let j = BLOCK_MOE.iter().position(|k| *k == key.kind)? as u32;
            in_block(key.index, 8 + j)
        }
        Gate => {
            if key.task >= h.tasks {
                return None;
            }
            Some(task_base(key.task) + h.moe_index(key.index)?)
        }
        HeadLnG | HeadLnB | HeadConvW | HeadConvB => {
            if key.task >= h.tasks {
                return None;
            }
            let base = task_base(key.task) + h.moe_count();
            match key.kind {
                HeadLnG => Some(base),
                HeadLnB => Some(base + 1),
                _ if key.index < h.head_kind.conv_count() => {
                    Some(base + 2 + 2 * key.index + u32::from(key.kind == HeadConvB))
                }
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micro() -> Hyper {
        Hyper {
            image_h: 32,
            image_w: 64,
            in_chans: 3,
            patch: 16,
            dim: 64,
            depth: 4,
            heads: 2,
            mlp_hidden: 256,
            experts: 4,
            top_k: 2,
            expert_hidden: 128,
            moe_blocks: 0b1010,
            head_kind: HeadKind::Light,
            head_width: 32,
            ln_eps: 1e-6,
            norm_mean: [0.0; 3],
            norm_std: [1.0; 3],
            tasks: 2,
        }
    }

    #[test]
    fn canonical_order_round_trips() {
        let h = micro();
        let n = tensor_count(&h);
        // 4 + 12·4 + 2·(2 gates + 2 + 2·2 convs) = 68, counted by hand.
        assert_eq!(n, 68);
        for i in 0..n {
            let key = canonical_key(&h, i).unwrap();
            assert_eq!(canonical_index(&h, key), Some(i), "{key:?}");
        }
        assert_eq!(canonical_key(&h, n), None);
        assert_eq!(canonical_key(&h, 52), Some(TensorKey::gate(0, 1)));
        assert_eq!(canonical_key(&h, 53), Some(TensorKey::gate(0, 3)));
        assert_eq!(canonical_index(&h, TensorKey::block(TensorKind::Fc1W, 1)), None);
        assert_eq!(canonical_index(&h, TensorKey::gate(2, 1)), None);
    }

    #[test]
    fn shapes_follow_the_layout() {
        let h = micro();
        assert_eq!(h.tokens(), 9);
        let s = expected_shape(&h, TensorKey::head(TensorKind::HeadConvW, 0, 1), 7);
        assert_eq!(s.as_slice(), &[7, 32, 1, 1]);
        let s = expected_shape(&h, TensorKey::block(TensorKind::ExpW2, 1), 7);
        assert_eq!(s.as_slice(), &[4, 128, 64]);
        assert_eq!(h.moe_index(3), Some(1));
        assert_eq!(h.check(), Ok(()));
    }
}
