// The patch embedding (docs/fixed-point.md, "Patch embedding"): each patch's normalised pixels through
// the linear unit with the patch weights (format Pw, stored [D, 3, P, P]) and bias (format B); then the
// cls token first and the position embedding added to every token.
#ifndef M3RT_PATCH_EMBED_H
#define M3RT_PATCH_EMBED_H

#include "linear.h"

namespace m3rt {

struct PatchEmbedConfig {
  uint32_t image_h, image_w, patch;
  uint32_t dim;          // D
  uint32_t tokens;       // T = patches + 1
  int32_t mean[3];       // MEAN_c
  int32_t inv_std[3];     // INVSTD_c
  uint64_t weight;       // byte offsets in the weight section: patch weight, bias, cls, pos
  uint64_t bias;
  uint64_t cls;
  uint64_t pos;
  uint64_t dst;          // word offset of x [T, D] in work
};

static inline void patch_embed(const PatchEmbedConfig &cfg, const WeightRef &next, LinearState &ls,
                               const int16_t *wq16, const int8_t *wq8, const uint8_t *input, int32_t *work,
                               RunStats &st) {
  const uint32_t P = cfg.patch, D = cfg.dim, K = 3 * P * P;
  LinearConfig lc = LinearConfig();
  lc.rows = cfg.tokens - 1;
  lc.cols_in = K;
  lc.cols_out = D;
  lc.w.valid = true;
  lc.w.tensor = cfg.weight;
  lc.w.elements = (uint64_t)D * K;
  lc.w.k = K;
  lc.w.n = D;
  lc.w.layout = W_OUT_IN;
  lc.w.frac = FPW;
  lc.w.has_bias = true;
  lc.w.bias = cfg.bias;
  lc.w.bias_frac = FB;
  lc.src = SRC_PATCH;
  lc.patch.image_h = cfg.image_h;
  lc.patch.image_w = cfg.image_w;
  lc.patch.patch = P;
  lc.patch.grid_w = cfg.image_w / P;
  for (int c = 0; c < 3; c++) {
    lc.patch.mean[c] = cfg.mean[c];
    lc.patch.inv_std[c] = cfg.inv_std[c];
  }
  lc.sink = SINK_ROWS;
  lc.act = ACT_NONE;
  lc.dst_off = cfg.dst + D;  // patch i is token 1 + i
  lc.dst_stride = D;
  linear(lc, next, ls, wq16, wq8, input, work, st);

  static int32_t pos[M3RT_MAX_DIM], x[M3RT_MAX_DIM];
EMBED_TOKENS:
  for (uint32_t t = 0; t < cfg.tokens; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS
    load_i16(wq16, cfg.pos, (uint64_t)t * D, pos, D, st);
    if (t == 0)
      load_i16(wq16, cfg.cls, 0, x, D, st);
    else
      load_words(work, cfg.dst + (uint64_t)t * D, x, D);
  EMBED_ADD:
    for (uint32_t c = 0; c < D; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_DIM
#pragma HLS PIPELINE II = 1
      int64_t base = t == 0 ? shl(x[c], FA - FB) : (int64_t)x[c];
      x[c] = to_act(w_add(base, shl(pos[c], FA - FB)));
    }
    store_words(work, cfg.dst + (uint64_t)t * D, x, D);
  }
}

}  // namespace m3rt

#endif
