//! How the engine carves its one caller-provided scratch buffer into named regions.
//!
//! The layout is a pure function of the hyperparameters (and the widest task head), so the converter can
//! state the size in the bundle and the engine can split the buffer without allocating. The residual stream
//! `x` lives for the whole run; the encoder's temporaries and the head's temporaries are never alive at
//! the same time and share one region.

use super::head::{stages, strips, StageKind};
use crate::kernels::conv::{self, ConvShape};
use crate::kernels::{attention, patch};
use crate::model::{head_conv_channels, Hyper};

/// Sizes, in f32 words, of every region of the scratch buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Residual stream `[T, D]`.
    pub x: usize,
    /// Widened weight matrix (bundles with any tensor that is not f32; empty otherwise): the largest
    /// matrix of the model, or the position embedding.
    pub wbuf: usize,
    /// Two widened weight vectors (same bundles): each the longest vector of the model.
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
    /// One strip of the fused last 3×3 convolution's output (0 when nothing is fused).
    pub strip: usize,
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
        self.ping + self.pong + self.strip + self.conv
    }
}

impl Layout {
    /// The layout for a model with hyperparameters `h` whose widest task head has `max_c` channels;
    /// `widens` when some tensor is not stored as f32 ([`Bundle::widens`](crate::bundle::Bundle::widens);
    /// else the widening buffers are empty). `h` must have
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
        // The final 1×1 weights share a vector buffer when the last 3×3 convolution is fused with it.
        let tail_1x1 = u(max_c) * u(h.head_width);
        let mut vbuf =
            [3 * d, u(h.mlp_hidden), u(h.expert_hidden), u(h.head_width), tail_1x1].into_iter().max().unwrap_or(0);
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

/// Head buffer sizes, following [`head::stages`](super::head::stages), the plan
/// [`head::decode`](super::head::decode) runs: every convolution reads `ping` and writes `pong` (a
/// resize writes back into `ping`; after a swap the two trade roles, so they then need the same size);
/// a fused tail reads `ping` (or resized strips of `pong` in `ping`) and writes strips and the final map.
fn head_sizes(h: &Hyper, max_c: u32) -> HeadSizes {
    let (gh, gw) = (h.grid_h() as usize, h.grid_w() as usize);
    let (mut ping, mut pong) = (h.dim as usize * gh * gw, h.dim as usize * gh * gw);
    let (mut strip, mut conv_scratch) = (0, 0);
    for st in stages(h, max_c) {
        let s = st.shape;
        let (map_in, map_out) = (s.cin * s.h * s.w, s.cout * s.h * s.w);
        conv_scratch = conv_scratch.max(conv::conv2d_scratch_len(&s));
        match st.kind {
            StageKind::Fused { rows, resized } => {
                if resized {
                    // Each strip convolves its own resized rows: a shorter map (with the full map's
                    // transformed filters where Winograd pays on it, else maybe another path).
                    for (_, input) in strips(s.h, rows) {
                        ping = ping.max(s.cin * input.len() * s.w);
                        let local = ConvShape { h: input.len(), ..s };
                        conv_scratch = conv_scratch.max(conv::conv2d_scratch_len(&local));
                    }
                } else {
                    ping = ping.max(map_in);
                }
                let (_, c) = head_conv_channels(h, st.j + 1, max_c);
                strip = s.cout * rows * s.w + c as usize * s.h * s.w;
            }
            StageKind::Resize => (ping, pong) = (ping.max(map_in).max(4 * map_out), pong.max(map_out)),
            StageKind::ResizeInNext => (ping, pong) = (ping.max(map_in), pong.max(map_out)),
            StageKind::Swap => {
                let both = ping.max(pong).max(map_in).max(map_out);
                (ping, pong) = (both, both);
            }
        }
    }
    HeadSizes { ping, pong, strip, conv: conv_scratch }
}

/// The f32 scratch words an engine needs for a model with hyperparameters `h` whose widest task head has
/// `max_out_channels` channels and, when `widens`, some tensors that are not f32 (f16, Q16 or Q8). The
/// converter stores this in the bundle.
pub fn scratch_floats(h: &Hyper, max_out_channels: u32, widens: bool) -> u64 {
    Layout::new(h, max_out_channels, widens).total() as u64
}
