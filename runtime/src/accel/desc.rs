//! The memory the IP reads its model from (`docs/accel-ip.md`, "Model descriptor", "Working memory"): the
//! model descriptor, the per-task gate and head tables, and the working memory a model needs.
//!
//! The builders write little-endian-ready `u32` words into caller slices (no allocation); each has a
//! `*_words` function giving the length it needs. Tensor offsets are in bytes from the start of the bundle's
//! weight section ([`Bundle::weight_offset`]).

use crate::bundle::Bundle;
use crate::fixed::{Consts, Format, Profile, NUMERICS_VERSION};
use crate::model::{self, Hyper, TensorKey, TensorKind, TENSORS_BEFORE_BLOCKS, TENSORS_PER_BLOCK};
use crate::{Error, Result};

/// Word 0 of a model descriptor: `"M3IP"` as little-endian bytes.
pub const MAGIC: u32 = u32::from_le_bytes(*b"M3IP");
/// The descriptor layout's version (bits 16..32 of word 1).
pub const DESC_VERSION: u16 = 1;

/// Word indices of the model descriptor.
pub mod word {
    /// [`super::MAGIC`].
    pub const MAGIC: usize = 0;
    /// Numerics version in bits 0..16, descriptor version in bits 16..32.
    pub const VERSION: usize = 1;
    /// The profile's weight mode in bits 0..8 (0 fixed16, 1 int8 per tensor, 2 int8 per channel).
    pub const WEIGHT_MODE: usize = 2;
    /// Activation format: width in bits 0..8, integer bits (i8) in bits 8..16.
    pub const ACT_FORMAT: usize = 3;
    /// Weight format (same packing).
    pub const WEIGHT_FORMAT: usize = 4;
    /// Patch weight format.
    pub const PATCH_WEIGHT_FORMAT: usize = 5;
    /// Bias format.
    pub const BIAS_FORMAT: usize = 6;
    /// Attention bias format.
    pub const ATTN_BIAS_FORMAT: usize = 7;
    /// Pixel format (unsigned).
    pub const PIXEL_FORMAT: usize = 8;
    /// Image height.
    pub const IMAGE_H: usize = 9;
    /// Image width.
    pub const IMAGE_W: usize = 10;
    /// Patch size.
    pub const PATCH: usize = 11;
    /// Embedding width D.
    pub const DIM: usize = 12;
    /// Number of blocks.
    pub const DEPTH: usize = 13;
    /// Attention heads.
    pub const HEADS: usize = 14;
    /// Dense MLP hidden width.
    pub const MLP_HIDDEN: usize = 15;
    /// Experts per MoE layer E.
    pub const EXPERTS: usize = 16;
    /// Experts kept per token k.
    pub const TOP_K: usize = 17;
    /// Expert hidden width Dh.
    pub const EXPERT_HIDDEN: usize = 18;
    /// Head kind (0 PUP, 1 light).
    pub const HEAD_KIND: usize = 19;
    /// Head convolution width.
    pub const HEAD_WIDTH: usize = 20;
    /// MoE block mask, low word.
    pub const MOE_BLOCKS_LO: usize = 21;
    /// MoE block mask, high word.
    pub const MOE_BLOCKS_HI: usize = 22;
    /// Tokens T.
    pub const TOKENS: usize = 23;
    /// The widest task output C.
    pub const OUT_CHANNELS: usize = 24;
    /// `MEAN_c` (i32), three words.
    pub const MEAN: usize = 25;
    /// `INVSTD_c`, three words.
    pub const INVSTD: usize = 28;
    /// `EPS`.
    pub const EPS: usize = 31;
    /// `ATT_SCALE`.
    pub const ATT_SCALE: usize = 32;
    /// Working memory words the model needs ([`super::work_words`]).
    pub const WORK_WORDS: usize = 33;
    /// Backbone tensor count `n = 4 + 12·depth`.
    pub const TENSOR_COUNT: usize = 34;
    /// The byte offsets of the `n` backbone tensors, in canonical order.
    pub const OFFSETS: usize = 35;
}

/// Word indices of a head table.
pub mod head_word {
    /// The task's output channels C.
    pub const CHANNELS: usize = 0;
    /// Offset of the head LayerNorm gain.
    pub const LN_GAIN: usize = 1;
    /// Offset of the head LayerNorm shift.
    pub const LN_SHIFT: usize = 2;
    /// Offset of convolution 0's weight; convolution `j`'s weight is at `CONVS + 2j`, its bias right after.
    pub const CONVS: usize = 3;
}

/// One field of the model descriptor, for the generated header and the layout test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name, upper case (`M3RT_DESC_<name>` in the header).
    pub name: &'static str,
    /// Its first word.
    pub index: usize,
    /// How many words it has (0: the rest of the descriptor).
    pub words: usize,
    /// What it holds.
    pub doc: &'static str,
}

const fn field(name: &'static str, index: usize, words: usize, doc: &'static str) -> Field {
    Field { name, index, words, doc }
}

/// Every field of the model descriptor, in word order.
pub const FIELDS: [Field; 32] = [
    field("MAGIC", word::MAGIC, 1, "0x5049334D (\"M3IP\")"),
    field("VERSION", word::VERSION, 1, "numerics version bits 0..16, descriptor version bits 16..32"),
    field("WEIGHT_MODE", word::WEIGHT_MODE, 1, "0 fixed16, 1 int8 per tensor, 2 int8 per channel"),
    field("ACT_FORMAT", word::ACT_FORMAT, 1, "activations: width bits 0..8, integer bits (i8) bits 8..16"),
    field("WEIGHT_FORMAT", word::WEIGHT_FORMAT, 1, "weights (same packing)"),
    field("PATCH_WEIGHT_FORMAT", word::PATCH_WEIGHT_FORMAT, 1, "patch weights"),
    field("BIAS_FORMAT", word::BIAS_FORMAT, 1, "biases"),
    field("ATTN_BIAS_FORMAT", word::ATTN_BIAS_FORMAT, 1, "attention biases"),
    field("PIXEL_FORMAT", word::PIXEL_FORMAT, 1, "pixels (unsigned)"),
    field("IMAGE_H", word::IMAGE_H, 1, "image height"),
    field("IMAGE_W", word::IMAGE_W, 1, "image width"),
    field("PATCH", word::PATCH, 1, "patch size"),
    field("DIM", word::DIM, 1, "embedding width D"),
    field("DEPTH", word::DEPTH, 1, "blocks"),
    field("HEADS", word::HEADS, 1, "attention heads"),
    field("MLP_HIDDEN", word::MLP_HIDDEN, 1, "dense MLP hidden width"),
    field("EXPERTS", word::EXPERTS, 1, "experts per MoE layer E"),
    field("TOP_K", word::TOP_K, 1, "experts kept per token k"),
    field("EXPERT_HIDDEN", word::EXPERT_HIDDEN, 1, "expert hidden width Dh"),
    field("HEAD_KIND", word::HEAD_KIND, 1, "0 PUP, 1 light"),
    field("HEAD_WIDTH", word::HEAD_WIDTH, 1, "head convolution width"),
    field("MOE_BLOCKS_LO", word::MOE_BLOCKS_LO, 1, "MoE block mask, low word"),
    field("MOE_BLOCKS_HI", word::MOE_BLOCKS_HI, 1, "MoE block mask, high word"),
    field("TOKENS", word::TOKENS, 1, "tokens T"),
    field("OUT_CHANNELS", word::OUT_CHANNELS, 1, "the widest task output C"),
    field("MEAN", word::MEAN, 3, "MEAN_c (i32)"),
    field("INVSTD", word::INVSTD, 3, "INVSTD_c"),
    field("EPS", word::EPS, 1, "EPS"),
    field("ATT_SCALE", word::ATT_SCALE, 1, "ATT_SCALE"),
    field("WORK_WORDS", word::WORK_WORDS, 1, "working memory words the model needs"),
    field("TENSOR_COUNT", word::TENSOR_COUNT, 1, "backbone tensor count n = 4 + 12 * depth"),
    field("OFFSETS", word::OFFSETS, 0, "byte offsets of the backbone tensors, canonical order"),
];

/// A format as a descriptor word: width in bits 0..8, integer bits (two's complement i8) in bits 8..16.
pub const fn format_word(f: Format) -> u32 {
    f.width as u32 | ((f.int as u8 as u32) << 8)
}

/// Word 1: [`NUMERICS_VERSION`] in bits 0..16, [`DESC_VERSION`] in bits 16..32.
pub const VERSION_WORD: u32 = NUMERICS_VERSION as u32 | ((DESC_VERSION as u32) << 16);

/// Words 2..=8 of a model computed in `profile` (what the IP compares with the profile it was built for).
pub const fn profile_words(profile: &Profile) -> [u32; 7] {
    [
        profile.weights as u32,
        format_word(profile.act),
        format_word(profile.weight),
        format_word(profile.patch_weight),
        format_word(profile.bias),
        format_word(profile.attn_bias),
        format_word(profile.pixel),
    ]
}

/// Backbone tensors: `4 + 12·depth` (saturating, for hyperparameters not checked yet).
fn backbone_tensors(h: &Hyper) -> usize {
    let per_block = TENSORS_PER_BLOCK as usize;
    (TENSORS_BEFORE_BLOCKS as usize).saturating_add(per_block.saturating_mul(h.depth as usize))
}

/// Words of the model descriptor: [`word::OFFSETS`] plus one per backbone tensor.
pub fn model_descriptor_words(h: &Hyper) -> usize {
    word::OFFSETS.saturating_add(backbone_tensors(h))
}

/// Words of a gate table: one per MoE block.
pub fn gate_table_words(h: &Hyper) -> usize {
    h.moe_count() as usize
}

/// Words of a head table: the channel count, the LayerNorm's two offsets and two per convolution.
pub fn head_table_words(h: &Hyper) -> usize {
    head_word::CONVS + 2 * h.head_kind.conv_count() as usize
}

/// `M`, the largest head feature map in words: the maximum over the head's convolutions of `cin·h·w` and
/// `cout·h·w` at each convolution's input size, and of each ×2 resize's output (PUP) — not the final map,
/// which goes to `output`. `max_out_channels` is the last convolution's `cout`. Saturating, never a panic.
pub fn head_max_map(h: &Hyper, max_out_channels: u32) -> u64 {
    let side = |image: u32| u64::from(image.checked_div(h.patch).unwrap_or(0));
    let (mut rows, mut cols) = (side(h.image_h), side(h.image_w));
    let mut m = 0u64;
    for j in 0..h.head_kind.conv_count() {
        let (cin, cout) = model::head_conv_channels(h, j, max_out_channels);
        let pixels = rows.saturating_mul(cols);
        m = m.max(u64::from(cin).saturating_mul(pixels)).max(u64::from(cout).saturating_mul(pixels));
        if h.head_kind.upsamples_after(j) {
            (rows, cols) = (rows.saturating_mul(2), cols.saturating_mul(2));
            m = m.max(u64::from(cout).saturating_mul(rows.saturating_mul(cols)));
        }
    }
    m
}

/// The working memory the IP needs for a model, in i32 words (`docs/accel-ip.md`, "Working memory"):
/// `5·T·D + 3·T·D + T·max(mlp_hidden, Dh) + 4·T·k + (E + 1) + 2·M` with `M` = [`head_max_map`].
/// Saturating, never a panic, whatever the hyperparameters.
pub fn work_words(h: &Hyper, max_out_channels: u32) -> u64 {
    let side = |image: u32| u64::from(image.checked_div(h.patch).unwrap_or(0));
    let t = side(h.image_h).saturating_mul(side(h.image_w)).saturating_add(1);
    let td = t.saturating_mul(u64::from(h.dim));
    let hidden = u64::from(h.mlp_hidden.max(h.expert_hidden));
    [
        td.saturating_mul(5),
        td.saturating_mul(3),
        t.saturating_mul(hidden),
        t.saturating_mul(u64::from(h.top_k)).saturating_mul(4),
        u64::from(h.experts).saturating_add(1),
        head_max_map(h, max_out_channels).saturating_mul(2),
    ]
    .iter()
    .fold(0u64, |a, &x| a.saturating_add(x))
}

/// The first `n` words of `out`, or [`Error::ShapeMismatch`] naming `what`.
fn prefix<'o>(out: &'o mut [u32], n: usize, what: &'static str) -> Result<&'o mut [u32]> {
    let found = out.len();
    out.get_mut(..n).ok_or(Error::ShapeMismatch { what, expected: n, found })
}

/// A tensor offset as a descriptor word, or [`Error::Unrepresentable`] past 4 GiB.
fn offset_word(bundle: &Bundle<'_>, index: u32) -> Result<u32> {
    let offset = bundle.weight_offset(index)?;
    u32::try_from(offset).map_err(|_| Error::Unrepresentable { what: "tensor offset: weight section past 4 GiB" })
}

/// The offset word of tensor `key`.
fn key_word(bundle: &Bundle<'_>, key: TensorKey) -> Result<u32> {
    let unknown = Error::UnknownTensor { index: u32::MAX, count: bundle.tensor_count() };
    offset_word(bundle, model::canonical_index(bundle.hyper(), key).ok_or(unknown)?)
}

/// Writes the model descriptor of `bundle` computed in `profile` into the first
/// [`model_descriptor_words`] words of `out` and returns that count.
///
/// Errors: [`Error::ShapeMismatch`] when `out` is shorter; [`Error::BadProfile`] or
/// [`Error::Unrepresentable`] from [`Consts::new`]; [`Error::Unrepresentable`] when the working memory needs
/// 2^32 words or more, or a tensor offset is past 4 GiB.
pub fn model_descriptor(bundle: &Bundle<'_>, profile: &Profile, out: &mut [u32]) -> Result<usize> {
    let h = bundle.hyper();
    let n = model_descriptor_words(h);
    let out = prefix(out, n, "model descriptor buffer")?;
    let c = Consts::new(h, profile)?;
    let work = u32::try_from(work_words(h, bundle.max_out_channels()))
        .map_err(|_| Error::Unrepresentable { what: "work_words: the model needs 2^32 words or more" })?;
    let tensors = u32::try_from(backbone_tensors(h)).map_err(|_| Error::BadHyper { field: "depth" })?;
    let mut w = [0u32; word::OFFSETS];
    w[word::MAGIC] = MAGIC;
    w[word::VERSION] = VERSION_WORD;
    w[word::WEIGHT_MODE..=word::PIXEL_FORMAT].copy_from_slice(&profile_words(profile));
    let hyper = [
        h.image_h,
        h.image_w,
        h.patch,
        h.dim,
        h.depth,
        h.heads,
        h.mlp_hidden,
        h.experts,
        h.top_k,
        h.expert_hidden,
        h.head_kind as u32,
        h.head_width,
    ];
    w[word::IMAGE_H..=word::HEAD_WIDTH].copy_from_slice(&hyper);
    w[word::MOE_BLOCKS_LO] = h.moe_blocks as u32;
    w[word::MOE_BLOCKS_HI] = (h.moe_blocks >> 32) as u32;
    w[word::TOKENS] = h.tokens();
    w[word::OUT_CHANNELS] = bundle.max_out_channels();
    // `Consts::new` keeps each constant in its word's range; the conversions only restate it.
    let range = Error::Unrepresentable { what: "a derived constant does not fit its descriptor word" };
    for (o, m) in w[word::MEAN..word::MEAN + 3].iter_mut().zip(c.mean) {
        *o = i32::try_from(m).map_err(|_| range)? as u32;
    }
    let unsigned = |v: i64| u32::try_from(v).map_err(|_| range);
    for (o, s) in w[word::INVSTD..word::INVSTD + 3].iter_mut().zip(c.inv_std) {
        *o = unsigned(s)?;
    }
    w[word::EPS] = unsigned(c.eps)?;
    w[word::ATT_SCALE] = unsigned(c.att_scale)?;
    w[word::WORK_WORDS] = work;
    w[word::TENSOR_COUNT] = tensors;
    let (head, offsets) = out.split_at_mut(word::OFFSETS);
    head.copy_from_slice(&w);
    for (i, o) in (0..tensors).zip(offsets.iter_mut()) {
        *o = offset_word(bundle, i)?;
    }
    Ok(n)
}

/// Writes task `task`'s gate table (the offset of its gate `[D, E]` for each MoE block, in block order) into
/// the first [`gate_table_words`] words of `out` and returns that count.
///
/// Errors: [`Error::UnknownTask`], [`Error::ShapeMismatch`] when `out` is shorter, [`Error::Unrepresentable`]
/// for an offset past 4 GiB.
pub fn gate_table(bundle: &Bundle<'_>, task: u32, out: &mut [u32]) -> Result<usize> {
    bundle.task(task)?;
    let h = bundle.hyper();
    let n = gate_table_words(h);
    let out = prefix(out, n, "gate table buffer")?;
    for (o, b) in out.iter_mut().zip((0..h.depth).filter(|&b| h.is_moe(b))) {
        *o = key_word(bundle, TensorKey::gate(task, b))?;
    }
    Ok(n)
}

/// Writes task `task`'s head table (its output channels, then the offsets of the head LayerNorm gain and
/// shift and of each convolution's weight and bias) into the first [`head_table_words`] words of `out` and
/// returns that count.
///
/// Errors: [`Error::UnknownTask`], [`Error::ShapeMismatch`] when `out` is shorter, [`Error::Unrepresentable`]
/// for an offset past 4 GiB.
pub fn head_table(bundle: &Bundle<'_>, task: u32, out: &mut [u32]) -> Result<usize> {
    let info = bundle.task(task)?;
    let h = bundle.hyper();
    let n = head_table_words(h);
    let out = prefix(out, n, "head table buffer")?;
    let (channels, offsets) = out.split_at_mut(head_word::LN_GAIN);
    channels.fill(info.out_channels);
    let convs = (0..h.head_kind.conv_count()).flat_map(|j| {
        [TensorKey::head(TensorKind::HeadConvW, task, j), TensorKey::head(TensorKind::HeadConvB, task, j)]
    });
    let ln = [TensorKey::head(TensorKind::HeadLnG, task, 0), TensorKey::head(TensorKind::HeadLnB, task, 0)];
    for (o, key) in offsets.iter_mut().zip(ln.into_iter().chain(convs)) {
        *o = key_word(bundle, key)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HeadKind;

    #[test]
    fn fields_tile_the_descriptor() {
        let mut next = 0;
        for f in FIELDS {
            assert_eq!(f.index, next, "{} does not follow the field before it", f.name);
            next += f.words;
        }
        assert_eq!(FIELDS.last().map(|f| (f.index, f.words)), Some((word::OFFSETS, 0)));
        assert_eq!(MAGIC, 0x5049_334D);
        assert_eq!(VERSION_WORD, 0x0001_0001);
        // Q(32, 10): 32 | 10 << 8; Q(16, -3): the integer bits as a two's complement byte, 0xFD.
        assert_eq!(format_word(Format::signed(32, 10)), 0x0A20);
        assert_eq!(format_word(Format::signed(16, -3)), 0xFD10);
        assert_eq!(profile_words(&Profile::EDGE_MOE), [0, 0x0A20, 0x0210, 0x0010, 0x0510, 0x0710, 0x0008]);
        assert_eq!(profile_words(&Profile::INT8)[0], 2);
    }

    fn pup() -> Hyper {
        Hyper {
            image_h: 32,
            image_w: 48,
            in_chans: 3,
            patch: 16,
            dim: 8,
            depth: 2,
            heads: 2,
            mlp_hidden: 16,
            experts: 4,
            top_k: 2,
            expert_hidden: 12,
            moe_blocks: 0b10,
            head_kind: HeadKind::Pup,
            head_width: 4,
            ln_eps: 1e-6,
            norm_mean: [0.0; 3],
            norm_std: [1.0; 3],
            tasks: 3,
        }
    }

    #[test]
    fn work_words_by_hand() {
        // Grid 2×3, T = 7, D = 8, C = 21. Head maps: conv0 in 8·6 = 48, out 4·6 = 24, ×2 → 4·24 = 96;
        // conv1 at 4×6: 96 in and out, ×2 → 4·96 = 384; conv2 at 8×12: 384, ×2 → 4·384 = 1536; conv3 at
        // 16×24: 1536; conv4 (1×1) out 21·384 = 8064 — the largest; its ×2 (32×48) goes to output.
        let h = pup();
        assert_eq!(head_max_map(&h, 21), 8064);
        // 5·56 + 3·56 + 7·16 + 4·7·2 + 5 + 2·8064 = 280 + 168 + 112 + 56 + 5 + 16128.
        assert_eq!(work_words(&h, 21), 16_749);
        // One output channel: the largest map is then conv3's input 1536.
        assert_eq!(head_max_map(&h, 1), 1536);
        // Light head, grid 2×3: conv0 in 8·6 = 48, out 4·6, conv1 out 21·6 = 126; no resize counted.
        let light = Hyper { head_kind: HeadKind::Light, ..h };
        assert_eq!(head_max_map(&light, 21), 126);
        assert_eq!(work_words(&light, 21), 280 + 168 + 112 + 56 + 5 + 252);
        // Nonsense hyperparameters give a number, not a panic.
        // patch 0: no patches, T = 1, no head map: 5·8 + 3·8 + 16 + 4·2 + 5.
        let zero = Hyper { patch: 0, ..h };
        assert_eq!(work_words(&zero, 21), 40 + 24 + 16 + 8 + 5);
        let huge = Hyper { image_h: u32::MAX, image_w: u32::MAX, patch: 1, dim: u32::MAX, ..h };
        assert_eq!(work_words(&huge, u32::MAX), u64::MAX);
        assert_eq!(model_descriptor_words(&Hyper { depth: u32::MAX, ..h }), 35 + 4 + 12 * u32::MAX as usize);
    }

    #[test]
    fn table_sizes() {
        let h = pup();
        assert_eq!(model_descriptor_words(&h), 35 + 4 + 24);
        assert_eq!(gate_table_words(&h), 1);
        assert_eq!(head_table_words(&h), 1 + 2 + 10);
        assert_eq!(head_table_words(&Hyper { head_kind: HeadKind::Light, ..h }), 1 + 2 + 4);
    }
}
