//! How the engine carves its one caller-provided scratch buffer into named regions.
//!
//! The layout is a pure function of the hyperparameters (and the widest task head), so the converter can
//! state the size in the bundle and the engine can split the buffer without allocating. The residual stream
//! `x` lives for the whole run; the encoder's temporaries and the head's temporaries are never alive at
//! the same time and share one region.

use crate::kernels::{attention, conv, patch};
use crate::model::{head_conv_channels, HeadKind, Hyper};

/// Sizes, in f32 words, of every region of the scratch buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Residual stream `[T, D]`.
    pub x: usize,
    /// Widened weight matrix (f16 bundles; empty otherwise): the largest matrix of the model.
    pub wbuf: usize,
    /// Two widened weight vectors (f16 bundles): each the longest vector of the model.
    pub vbuf: usize,
    /// Encoder temporaries (see [`EncoderSizes`]), summed.
    pub encoder: EncoderSizes,
    /// Head temporaries (see [`HeadSizes`]), summed.
    pub head: HeadSizes,
}

/// Encoder temporaries, in f32 words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderSizes {
    /// Normalised image `[3, H, W]`.
    pub image: usize,
    /// Patch-embedding scratch.
    pub patch: usize,
    /// LayerNorm output `[T, D]`.
    pub a: usize,
    /// QKV `[T, 3D]`.
    pub qkv: usize,
    /// Attention output / FFN output `[T, D]`.
    pub att: usize,
    /// Attention kernel scratch.
    pub att_scratch: usize,
    /// FFN hidden activations `[T, max(mlp_hidden, Dh)]`.
    pub hidden: usize,
    /// Rows gathered for one expert `[T, D]`.
    pub gathered: usize,
    /// One expert's output rows `[T, D]`.
    pub expert_out: usize,
    /// Gate probabilities `[T, E]`.
    pub gate: usize,
    /// Queue probabilities, `T·k`.
    pub queue_probs: usize,
    /// Queue token indices (u32), `T·k`.
    pub queue_tokens: usize,
    /// Queue offsets (u32), `E + 1`.
    pub queue_offsets: usize,
}

/// Head temporaries, in f32 words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadSizes {
    /// Ping buffer of feature maps.
    pub ping: usize,
    /// Pong buffer of feature maps.
    pub pong: usize,
    /// Convolution scratch.
    pub conv: usize,
}

impl EncoderSizes {
    /// Sum of all encoder regions.
    pub const fn total(&self) -> usize {
        self.image
            + self.patch
            + self.a
            + self.qkv
            + self.att
            + self.att_scratch
            + self.hidden
            + self.gathered
            + self.expert_out
            + self.gate
            + self.queue_probs
            + self.queue_tokens
            + self.queue_offsets
    }
}

impl HeadSizes {
    /// Sum of all head regions.
    pub const fn total(&self) -> usize {
        self.ping + self.pong + self.conv
    }
}

impl Layout {
    /// The layout for a model with hyperparameters `h` whose widest task head has `max_c` channels;
    /// `widens` when some tensor is stored as f16 (else the widening buffers are empty). `h` must have
    /// passed [`Hyper::check`].
    pub fn new(h: &Hyper, max_c: u32, widens: bool) -> Self {
        let u = |v: u32| v as usize;
        let (t, d) = (u(h.tokens()), u(h.dim));
        let (hh, ww) = (u(h.image_h), u(h.image_w));
        let e = u(h.experts);
        let k = u(h.top_k);
        let encoder = EncoderSizes {
            image: 3 * hh * ww,
            patch: patch::patch_embed_scratch_len(3, hh, ww, u(h.patch), d),
            a: t * d,
            qkv: t * 3 * d,
            att: t * d,
            att_scratch: attention::attention_scratch_len(t, d, u(h.heads)),
            hidden: t * u(h.mlp_hidden).max(u(h.expert_hidden)),
            gathered: t * d,
            expert_out: t * d,
            gate: t * e,
            queue_probs: t * k,
            queue_tokens: t * k,
            queue_offsets: e + 1,
        };
        let head = head_sizes(h, max_c);
        let mut wbuf =
            [d * 3 * u(h.patch) * u(h.patch), t * d, d * 3 * d, d * u(h.mlp_hidden), d * u(h.expert_hidden), d * e]
                .into_iter()
                .max()
                .unwrap_or(0);
        for j in 0..h.head_kind.conv_count() {
            let (cin, cout) = head_conv_channels(h, j, max_c);
            let kk = u(h.head_kind.conv_kernel(j));
            wbuf = wbuf.max(u(cin) * u(cout) * kk * kk);
        }
        let mut vbuf =
            [3 * d, u(h.mlp_hidden), u(h.expert_hidden), u(h.head_width), u(max_c)].into_iter().max().unwrap_or(0);
        if !widens {
            (wbuf, vbuf) = (0, 0);
        }
        Layout { x: t * d, wbuf, vbuf, encoder, head }
    }

    /// Total f32 words needed.
    pub fn total(&self) -> usize {
        self.x + self.wbuf + 2 * self.vbuf + self.encoder.total().max(self.head.total())
    }
}

/// Head feature-map sizes: the largest map any stage produces, and the largest convolution scratch.
fn head_sizes(h: &Hyper, max_c: u32) -> HeadSizes {
    let u = |v: u32| v as usize;
    let (gh, gw) = (u(h.grid_h()), u(h.grid_w()));
    let (mut fh, mut fw) = (gh, gw);
    let mut largest = u(h.dim) * gh * gw;
    let mut conv_scratch = 0;
    let n = h.head_kind.conv_count();
    for j in 0..n {
        let (cin, cout) = head_conv_channels(h, j, max_c);
        let kk = u(h.head_kind.conv_kernel(j));
        let pad = kk / 2;
        conv_scratch = conv_scratch.max(conv::conv2d_scratch_len(u(cin), fh, fw, u(cout), kk, 1, pad));
        largest = largest.max(u(cout) * fh * fw);
        // PUP doubles the map after convs 0, 1 and 2; the final resize writes into the caller's output.
        if h.head_kind == HeadKind::Pup && j < 3 {
            fh *= 2;
            fw *= 2;
            largest = largest.max(u(cout) * fh * fw);
        }
    }
    HeadSizes { ping: largest, pong: largest, conv: conv_scratch }
}

/// The f32 scratch words an engine needs for a model with hyperparameters `h` whose widest task head has
/// `max_out_channels` channels and, when `widens`, some f16 tensors. The converter stores this in the bundle.
pub fn scratch_floats(h: &Hyper, max_out_channels: u32, widens: bool) -> u64 {
    Layout::new(h, max_out_channels, widens).total() as u64
}
