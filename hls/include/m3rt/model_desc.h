// The model descriptor, gate table and head table (docs/accel-ip.md) read into a ModelInfo, checked
// against the profile and maxima of this build, and the working-memory layout derived from them.
#ifndef M3RT_MODEL_DESC_H
#define M3RT_MODEL_DESC_H

#include "../m3rt_regs.h"
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
  uint32_t d[M3RT_DESC_OFFSETS];
DESC_WORDS:
  for (uint32_t i = 0; i < M3RT_DESC_OFFSETS; i++) {
#pragma HLS PIPELINE II = 1
    d[i] = model[i];
  }
  if (d[M3RT_DESC_MAGIC] != M3RT_DESC_MAGIC_VALUE ||
      d[M3RT_DESC_VERSION] != (M3RT_NUMERICS_VERSION | M3RT_DESC_FORMAT_VERSION << 16))
    return M3RT_STATUS_BAD_MAGIC;
  if ((d[M3RT_DESC_WEIGHT_MODE] & 0xff) != (uint32_t)M3RT_WEIGHT_MODE ||
      (d[M3RT_DESC_ACT_FORMAT] & 0xffff) != format_word(M3RT_ACT_W, M3RT_ACT_I) ||
      (d[M3RT_DESC_WEIGHT_FORMAT] & 0xffff) != format_word(M3RT_WEIGHT_W, M3RT_WEIGHT_I) ||
      (d[M3RT_DESC_PATCH_WEIGHT_FORMAT] & 0xffff) != format_word(M3RT_PATCH_W, M3RT_PATCH_I) ||
      (d[M3RT_DESC_BIAS_FORMAT] & 0xffff) != format_word(M3RT_BIAS_W, M3RT_BIAS_I) ||
      (d[M3RT_DESC_ATTN_BIAS_FORMAT] & 0xffff) != format_word(M3RT_ABIAS_W, M3RT_ABIAS_I) ||
      (d[M3RT_DESC_PIXEL_FORMAT] & 0xffff) != format_word(M3RT_PIXEL_W, M3RT_PIXEL_I))
    return M3RT_STATUS_PROFILE;
  m.image_h = d[M3RT_DESC_IMAGE_H];
  m.image_w = d[M3RT_DESC_IMAGE_W];
  m.patch = d[M3RT_DESC_PATCH];
  m.dim = d[M3RT_DESC_DIM];
  m.depth = d[M3RT_DESC_DEPTH];
  m.heads = d[M3RT_DESC_HEADS];
  m.mlp_hidden = d[M3RT_DESC_MLP_HIDDEN];
  m.experts = d[M3RT_DESC_EXPERTS];
  m.top_k = d[M3RT_DESC_TOP_K];
  m.expert_hidden = d[M3RT_DESC_EXPERT_HIDDEN];
  m.head_kind = d[M3RT_DESC_HEAD_KIND];
  m.head_width = d[M3RT_DESC_HEAD_WIDTH];
  m.moe_blocks = (uint64_t)d[M3RT_DESC_MOE_BLOCKS_LO] | (uint64_t)d[M3RT_DESC_MOE_BLOCKS_HI] << 32;
  m.tokens = d[M3RT_DESC_TOKENS];
  for (int c = 0; c < 3; c++) {
    m.mean[c] = (int32_t)d[M3RT_DESC_MEAN + c];
    m.inv_std[c] = (int32_t)d[M3RT_DESC_INVSTD + c];
  }
  m.eps = d[M3RT_DESC_EPS];
  m.att_scale = d[M3RT_DESC_ATT_SCALE];
  m.work_words = d[M3RT_DESC_WORK_WORDS];
  const uint32_t n = d[M3RT_DESC_TENSOR_COUNT];
  const bool any_moe = m.moe_blocks != 0;
  if (m.image_h > M3RT_MAX_IMAGE || m.image_w > M3RT_MAX_IMAGE || m.patch > M3RT_MAX_PATCH ||
      m.dim > M3RT_MAX_DIM || m.depth > M3RT_MAX_DEPTH || m.heads > M3RT_MAX_HEADS ||
      m.mlp_hidden > M3RT_MAX_HIDDEN || m.head_width > M3RT_MAX_HEAD_WIDTH || m.tokens > M3RT_MAX_TOKENS ||
      (any_moe && (m.experts > M3RT_MAX_EXPERTS || m.top_k > M3RT_MAX_TOP_K || m.expert_hidden > M3RT_MAX_HIDDEN)))
    return M3RT_STATUS_TOO_LARGE;
  if (m.patch == 0 || m.dim == 0 || m.depth == 0 || m.heads == 0 || m.mlp_hidden == 0 || m.head_width == 0 ||
      m.image_h % m.patch != 0 || m.image_w % m.patch != 0 || m.dim % m.heads != 0 || m.head_kind > 1 ||
      m.tokens != (m.image_h / m.patch) * (m.image_w / m.patch) + 1 || m.tokens < 2 ||
      n != M3RT_TENSORS_BEFORE_BLOCKS + M3RT_TENSORS_PER_BLOCK * m.depth || (m.depth < 64 && (m.moe_blocks >> m.depth) != 0) ||
      (any_moe && (m.experts == 0 || m.top_k == 0 || m.top_k > m.experts || m.expert_hidden == 0)))
    return M3RT_STATUS_UNSUPPORTED;
  if (m.dim / m.heads > M3RT_MAX_HEAD_DIM) return M3RT_STATUS_TOO_LARGE;
  if (!any_moe) m.experts = m.top_k = m.expert_hidden = 0;
DESC_TENSORS:
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 16 max = 292
#pragma HLS PIPELINE II = 1
    m.tensor[i] = model[M3RT_DESC_OFFSETS + i];
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
  m.out_channels = m.head[M3RT_HEAD_CHANNELS];
  if (m.out_channels > M3RT_MAX_OUT_CHANNELS) return M3RT_STATUS_TOO_LARGE;
  const uint32_t gh = m.image_h / m.patch, gw = m.image_w / m.patch;
  // The final resize: x2 after PUP (back to the image only for 16-pixel patches), x patch after light.
  const uint32_t final_h = m.head_kind == 0 ? gh * 16 : gh * m.patch;
  const uint32_t final_w = m.head_kind == 0 ? gw * 16 : gw * m.patch;
  if (m.out_channels == 0 || m.out_channels > d[M3RT_DESC_OUT_CHANNELS] || final_h != m.image_h ||
      final_w != m.image_w || (m.head_kind == 1 && !pow2(m.patch)) || m.tokens % 48 == 0)
    return M3RT_STATUS_UNSUPPORTED;
  const uint64_t need = max64(work_layout(m).total, m.work_words);
  if (work_words < need) return M3RT_STATUS_WORK_TOO_SMALL;
  return M3RT_STATUS_OK;
}

}  // namespace m3rt

#endif
