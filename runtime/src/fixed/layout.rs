//! How the fixed-point engine carves its scratch (i32 words) into regions: a pure function of the
//! hyperparameters, so the working-memory need is known before a model is loaded.

use crate::model::{head_conv_channels, Hyper};

/// Sizes, in 32-bit words, of every region of the fixed-point engine's scratch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedLayout {
    /// Residual stream `[T, D]`.
    pub x: usize,
    /// Input pixels `[3, H, W]`, four to a word.
    pub pixels: usize,
    /// Normalised image `[3, H, W]`.
    pub image: usize,
    /// One patch, `3·P·P`.
    pub patch_row: usize,
    /// LayerNorm output `[T, D]`.
    pub a: usize,
    /// qkv `[T, 3D]`.
    pub qkv: usize,
    /// Attention output `[T, D]`.
    pub att: usize,
    /// Projection / FFN output `[T, D]`.
    pub y: usize,
    /// One query's scores `[T]`.
    pub scores: usize,
    /// FFN hidden `[T, max(mlp_hidden, Dh)]`.
    pub hidden: usize,
    /// Gate logits `[T, E]`.
    pub logits: usize,
    /// Routes `[T, 2k]`.
    pub route: usize,
    /// Queue tokens and probabilities, `T·k` each.
    pub queue: usize,
    /// Queue boundaries `E + 1`.
    pub offsets: usize,
    /// Gathered rows and expert output rows, `[T, D]` each.
    pub rows: usize,
    /// Head feature maps (two, each the largest map).
    pub map: usize,
    /// One pixel's convolution inputs, `9·max(cin)`.
    pub col: usize,
    /// One pixel's convolution outputs, `max(cout)`.
    pub conv_row: usize,
}

impl FixedLayout {
    /// The layout for hyperparameters `h` (passed `Hyper::check`) whose widest head has `max_c` channels.
    pub fn new(h: &Hyper, max_c: u32) -> Self {
        let u = |v: u32| v as usize;
        let (t, d) = (u(h.tokens()), u(h.dim));
        let plane = u(h.image_h) * u(h.image_w);
        let k = u(h.top_k);
        let (mut map, mut cin_max, mut cout_max) = (0usize, 0usize, 0usize);
        let (mut fh, mut fw) = (u(h.grid_h()), u(h.grid_w()));
        let convs = h.head_kind.conv_count();
        for j in 0..convs {
            let (cin, cout) = head_conv_channels(h, j, max_c);
            let (cin, cout) = (u(cin), u(cout));
            map = map.max(cin * fh * fw).max(cout * fh * fw);
            cin_max = cin_max.max(cin);
            cout_max = cout_max.max(cout);
            if h.head_kind.upsamples_after(j) {
                (fh, fw) = (2 * fh, 2 * fw);
                map = map.max(cout * fh * fw);
            }
        }
        FixedLayout {
            x: t * d,
            pixels: (3 * plane).div_ceil(4),
            image: 3 * plane,
            patch_row: 3 * u(h.patch) * u(h.patch),
            a: t * d,
            qkv: 3 * t * d,
            att: t * d,
            y: t * d,
            scores: t,
            hidden: t * u(h.mlp_hidden).max(u(h.expert_hidden)),
            logits: t * u(h.experts),
            route: 2 * t * k,
            queue: 2 * t * k,
            offsets: u(h.experts) + 1,
            rows: 2 * t * d,
            map: 2 * map,
            col: 9 * cin_max,
            conv_row: cout_max,
        }
    }

    /// Words of the encoder's temporaries.
    pub fn encoder(&self) -> usize {
        self.image
            + self.patch_row
            + self.a
            + self.qkv
            + self.att
            + self.y
            + self.scores
            + self.hidden
            + self.logits
            + self.route
            + self.queue
            + self.offsets
            + self.rows
    }

    /// Words of the head's temporaries.
    pub fn head(&self) -> usize {
        self.map + self.col + self.conv_row
    }

    /// Total words: the residual stream, the pixels, and the larger of the two temporaries (never alive
    /// together).
    pub fn total(&self) -> usize {
        self.x + self.pixels + self.encoder().max(self.head())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HeadKind;

    #[test]
    fn m3vit_t_by_hand() {
        let h = Hyper {
            image_h: 128,
            image_w: 256,
            in_chans: 3,
            patch: 16,
            dim: 192,
            depth: 12,
            heads: 3,
            mlp_hidden: 768,
            experts: 16,
            top_k: 2,
            expert_hidden: 384,
            moe_blocks: 0b1010_1010_1010,
            head_kind: HeadKind::Pup,
            head_width: 256,
            ln_eps: 1e-6,
            norm_mean: [0.0; 3],
            norm_std: [1.0; 3],
            tasks: 2,
        };
        let l = FixedLayout::new(&h, 7);
        // conv3's input (the third resize's output) is the largest map: 256 × 64 × 128.
        assert_eq!(l.map, 2 * 256 * 64 * 128);
        assert_eq!((l.col, l.conv_row), (9 * 256, 256));
        assert_eq!(l.hidden, 129 * 768);
        assert_eq!(l.total(), 129 * 192 + 3 * 128 * 256 / 4 + l.head());
    }
}
