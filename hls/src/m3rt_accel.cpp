// Top function of the M3RT accelerator IP: a whole fixed-point M3ViT (encoder and one task's head) from
// DDR to DDR (docs/accel-ip.md). The task is known only through the `gates` and `head` table addresses.
#include <stdint.h>

#include "m3rt/block.h"
#include "m3rt/head.h"
#include "m3rt/patch_embed.h"

using namespace m3rt;

static WeightRef head_first_conv(const ModelInfo &m) {
  HeadConfig h = HeadConfig();
  h.kind = (uint8_t)m.head_kind;
  h.dim = m.dim;
  h.width = m.head_width;
  h.out_channels = m.out_channels;
  h.conv_w[0] = m.head[desc::HEAD_CONV0];
  h.conv_b[0] = m.head[desc::HEAD_CONV0 + 1];
  return head_conv_weights(h, 0);
}

static void run_model(const ModelInfo &m, const int16_t *wq16, const int8_t *wq8, const uint8_t *input,
                      int32_t *output, int32_t *work, RunStats &st) {
  const WorkLayout l = work_layout(m);
  LinearState ls;
  linear_reset(ls);
  PatchEmbedConfig pe;
  pe.image_h = m.image_h;
  pe.image_w = m.image_w;
  pe.patch = m.patch;
  pe.dim = m.dim;
  pe.tokens = m.tokens;
  for (int c = 0; c < 3; c++) {
    pe.mean[c] = m.mean[c];
    pe.inv_std[c] = m.inv_std[c];
  }
  pe.weight = m.tensor[desc::T_PATCH_W];
  pe.bias = m.tensor[desc::T_PATCH_B];
  pe.cls = m.tensor[desc::T_CLS];
  pe.pos = m.tensor[desc::T_POS];
  pe.dst = l.x;
  patch_embed(pe, block_weights(m, 0, M_QKV), ls, wq16, wq8, input, work, st);
  M3RT_TRACE(work, l.x, (uint64_t)m.tokens * m.dim, "embed");
ENCODER_BLOCKS:
  for (uint32_t b = 0; b < m.depth; b++) {
#pragma HLS LOOP_TRIPCOUNT min = 12 max = M3RT_MAX_DEPTH
    WeightRef after = b + 1 < m.depth ? block_weights(m, b + 1, M_QKV) : head_first_conv(m);
    block(m, l, b, after, ls, wq16, wq8, input, work, st);
  }
  HeadConfig h;
  h.kind = (uint8_t)m.head_kind;
  h.dim = m.dim;
  h.width = m.head_width;
  h.out_channels = m.out_channels;
  h.grid_h = m.image_h / m.patch;
  h.grid_w = m.image_w / m.patch;
  h.image_h = m.image_h;
  h.image_w = m.image_w;
  h.ln_gain = m.head[desc::HEAD_LN_G];
  h.ln_shift = m.head[desc::HEAD_LN_B];
  for (uint32_t j = 0; j < head_conv_count(m); j++) {
    h.conv_w[j] = m.head[desc::HEAD_CONV0 + 2 * j];
    h.conv_b[j] = m.head[desc::HEAD_CONV0 + 2 * j + 1];
  }
  h.x = l.x;
  h.map_a = l.map_a;
  h.map_b = l.map_b;
  h.eps = m.eps;
  head(h, m.tokens, ls, wq16, wq8, input, work, output, st);
}

void m3rt_accel(const uint32_t *model, const uint32_t *gates, const uint32_t *head, const int16_t *wq16,
                const int8_t *wq8, const uint8_t *input, int32_t *output, int32_t *work, uint32_t work_words,
                uint32_t *status, uint32_t *expert_loads, uint32_t *weight_kib) {
  M3RT_INTERFACE_PRAGMAS
#pragma HLS ALLOCATION function instances = linear limit = 1
  static ModelInfo m;
  RunStats st;
  st.weight_bytes = 0;
  st.expert_loads = 0;
  uint32_t s = read_model(model, gates, head, work_words, m);
  if (s == STATUS_OK) run_model(m, wq16, wq8, input, output, work, st);
  *status = s;
  *expert_loads = st.expert_loads;
  *weight_kib = (uint32_t)((st.weight_bytes + 1023) / 1024);
}
