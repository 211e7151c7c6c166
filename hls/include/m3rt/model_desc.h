// The model descriptor, gate table and head table (docs/accel-ip.md) read into a ModelInfo, checked
// against the profile and maxima of this build, and the working-memory layout derived from them.
#ifndef M3RT_MODEL_DESC_H
#define M3RT_MODEL_DESC_H

#include "desc_words.h"
#include "fx.h"

namespace m3rt {

struct ModelInfo {
  uint32_t image_h, image_w, patch, dim, depth, heads, mlp_hidden, experts, top_k, expert_hidden;
  uint32_t head_kind, head_width, tokens, out_channels;
  uint64_t moe_blocks;
  int32_t mean[3], inv_std[3];
  int64_t eps, att_scale;
  uint32_t work_words;  // the descriptor's word 33
  uint32_t tensor[4 + 12 * M3RT_MAX_DEPTH];  // byte offsets of the backbone tensors
  uint32_t gate[M3RT_MAX_DEPTH];             // the task's gates, one per MoE block
  uint32_t head[M3RT_MAX_HEAD_TABLE];        // the task's head table
};

// Working memory (words), in the order of the doc's formula.
struct WorkLayout {
  uint64_t x, ln, y, g, eo;  // [T, D] each: residual, LayerNorm output, attention/FFN output, attention
                             // output before the projection, expert output
  uint64_t qkv;              // [T, 3D]
  uint64_t hid;              // [T, max(mlp_hidden, Dh)]
  uint64_t routes;           // [T, 2k]
  uint64_t qtok, qprob;      // [T * k]
  uint64_t qoff;             // [E + 1]
  uint64_t map_a, map_b;     // [M]
  uint64_t total;
};

static inline bool is_moe(const ModelInfo &m, uint32_t b) { return b < 64 && ((m.moe_blocks >> b) & 1) != 0; }
static inline uint32_t head_conv_count(const ModelInfo &m) { return m.head_kind == 0 ? 5 : 2; }
static inline bool pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }
static inline uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

// M: the largest head feature map but the final one.
static inline uint64_t head_map_words(const ModelInfo &m) {
  uint64_t h = m.image_h / m.patch, w = m.image_w / m.patch, best = 0;
  const uint32_t convs = head_conv_count(m);
  for (uint32_t j = 0; j < convs; j++) {
    uint64_t cin = j == 0 ? m.dim : m.head_width, cout = j + 1 == convs ? m.out_channels : m.head_width;
    best = max64(best, max64(cin, cout) * h * w);
    if (m.head_kind == 0 && j < 3) {
      h *= 2;
      w *= 2;
      best = max64(best, cout * h * w);
    }
  }
  return best;
}

static inline WorkLayout work_layout(const ModelInfo &m) {
  const uint64_t T = m.tokens, D = m.dim, k = m.top_k, M = head_map_words(m);
  WorkLayout l;
  l.x = 0;
  l.ln = l.x + T * D;
  l.y = l.ln + T * D;
  l.g = l.y + T * D;
  l.eo = l.g + T * D;
  l.qkv = l.eo + T * D;
  l.hid = l.qkv + 3 * T * D;
  l.routes = l.hid + T * max64(m.mlp_hidden, m.expert_hidden);
  l.qtok = l.routes + 2 * T * k;
  l.qprob = l.qtok + T * k;
  l.qoff = l.qprob + T * k;
  l.map_a = l.qoff + m.experts + 1;
  l.map_b = l.map_a + M;
  l.total = l.map_b + M;
  return l;
}

static inline uint32_t format_word(int w, int i) { return (uint32_t)w | ((uint32_t)(uint8_t)(int8_t)i << 8); }

// Reads the descriptor and the task's tables into m; returns the status code.
static inline uint32_t read_model(const uint32_t *model, const uint32_t *gates, const uint32_t *head,
                                  uint32_t work_words, ModelInfo &m) {
  uint32_t d[desc::TENSORS];
DESC_WORDS:
  for (uint32_t i = 0; i < desc::TENSORS; i++) {
#pragma HLS PIPELINE II = 1
    d[i] = model[i];
  }
  if (d[desc::MAGIC] != desc::MAGIC_VALUE ||
      d[desc::VERSION] != (desc::NUMERICS_VERSION | desc::DESC_VERSION << 16))
    return STATUS_BAD_MAGIC;
  if ((d[desc::WEIGHT_MODE] & 0xff) != (uint32_t)M3RT_WEIGHT_MODE ||
      (d[desc::ACT_FORMAT] & 0xffff) != format_word(M3RT_ACT_W, M3RT_ACT_I) ||
      (d[desc::WEIGHT_FORMAT] & 0xffff) != format_word(M3RT_WEIGHT_W, M3RT_WEIGHT_I) ||
      (d[desc::PATCH_FORMAT] & 0xffff) != format_word(M3RT_PATCH_W, M3RT_PATCH_I) ||
      (d[desc::BIAS_FORMAT] & 0xffff) != format_word(M3RT_BIAS_W, M3RT_BIAS_I) ||
      (d[desc::ATTN_BIAS_FORMAT] & 0xffff) != format_word(M3RT_ABIAS_W, M3RT_ABIAS_I) ||
      (d[desc::PIXEL_FORMAT] & 0xffff) != format_word(M3RT_PIXEL_W, M3RT_PIXEL_I))
    return STATUS_PROFILE;
  m.image_h = d[desc::IMAGE_H];
  m.image_w = d[desc::IMAGE_W];
  m.patch = d[desc::PATCH];
  m.dim = d[desc::DIM];
  m.depth = d[desc::DEPTH];
  m.heads = d[desc::HEADS];
  m.mlp_hidden = d[desc::MLP_HIDDEN];
  m.experts = d[desc::EXPERTS];
  m.top_k = d[desc::TOP_K];
  m.expert_hidden = d[desc::EXPERT_HIDDEN];
  m.head_kind = d[desc::HEAD_KIND];
  m.head_width = d[desc::HEAD_WIDTH];
  m.moe_blocks = (uint64_t)d[desc::MOE_BLOCKS_LO] | (uint64_t)d[desc::MOE_BLOCKS_HI] << 32;
  m.tokens = d[desc::TOKENS];
  for (int c = 0; c < 3; c++) {
    m.mean[c] = (int32_t)d[desc::MEAN + c];
    m.inv_std[c] = (int32_t)d[desc::INVSTD + c];
  }
  m.eps = d[desc::EPS];
  m.att_scale = d[desc::ATT_SCALE];
  m.work_words = d[desc::WORK_WORDS];
  const uint32_t n = d[desc::TENSOR_COUNT];
  const bool any_moe = m.moe_blocks != 0;
  if (m.image_h > M3RT_MAX_IMAGE || m.image_w > M3RT_MAX_IMAGE || m.patch > M3RT_MAX_PATCH ||
      m.dim > M3RT_MAX_DIM || m.depth > M3RT_MAX_DEPTH || m.heads > M3RT_MAX_HEADS ||
      m.mlp_hidden > M3RT_MAX_HIDDEN || m.head_width > M3RT_MAX_HEAD_WIDTH || m.tokens > M3RT_MAX_TOKENS ||
      (any_moe && (m.experts > M3RT_MAX_EXPERTS || m.top_k > M3RT_MAX_TOP_K || m.expert_hidden > M3RT_MAX_HIDDEN)))
    return STATUS_TOO_LARGE;
  if (m.patch == 0 || m.dim == 0 || m.depth == 0 || m.heads == 0 || m.mlp_hidden == 0 || m.head_width == 0 ||
      m.image_h % m.patch != 0 || m.image_w % m.patch != 0 || m.dim % m.heads != 0 || m.head_kind > 1 ||
      m.tokens != (m.image_h / m.patch) * (m.image_w / m.patch) + 1 || m.tokens < 2 ||
      n != desc::T_BLOCKS + desc::T_PER_BLOCK * m.depth || (m.depth < 64 && (m.moe_blocks >> m.depth) != 0) ||
      (any_moe && (m.experts == 0 || m.top_k == 0 || m.top_k > m.experts || m.expert_hidden == 0)))
    return STATUS_UNSUPPORTED;
  if (m.dim / m.heads > M3RT_MAX_HEAD_DIM) return STATUS_TOO_LARGE;
  if (!any_moe) m.experts = m.top_k = m.expert_hidden = 0;
DESC_TENSORS:
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 16 max = 292
#pragma HLS PIPELINE II = 1
    m.tensor[i] = model[desc::TENSORS + i];
  }
  uint32_t moe_index = 0;
GATE_TABLE:
  for (uint32_t b = 0; b < m.depth; b++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_DEPTH
    if (is_moe(m, b)) m.gate[b] = gates[moe_index++];
  }
  const uint32_t convs = head_conv_count(m);
HEAD_TABLE:
  for (uint32_t i = 0; i < 3 + 2 * convs; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 7 max = M3RT_MAX_HEAD_TABLE
    m.head[i] = head[i];
  }
  m.out_channels = m.head[desc::HEAD_CHANNELS];
  if (m.out_channels > M3RT_MAX_OUT_CHANNELS) return STATUS_TOO_LARGE;
  const uint32_t gh = m.image_h / m.patch, gw = m.image_w / m.patch;
  // The final resize: x2 after PUP (back to the image only for 16-pixel patches), x patch after light.
  const uint32_t final_h = m.head_kind == 0 ? gh * 16 : gh * m.patch;
  const uint32_t final_w = m.head_kind == 0 ? gw * 16 : gw * m.patch;
  if (m.out_channels == 0 || m.out_channels > d[desc::OUT_CHANNELS] || final_h != m.image_h ||
      final_w != m.image_w || (m.head_kind == 1 && !pow2(m.patch)) || m.tokens % 48 == 0)
    return STATUS_UNSUPPORTED;
  const uint64_t need = max64(work_layout(m).total, m.work_words);
  if (work_words < need) return STATUS_WORK_TOO_SMALL;
  return STATUS_OK;
}

}  // namespace m3rt

#endif
