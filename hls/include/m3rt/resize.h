// Bilinear resize of a [C, h, w] map by a power-of-two factor s on both axes, align_corners = false
// (docs/fixed-point.md, "Bilinear resize"): with L = 2s = 2^l, the source position of output index o is
// i0 + lambda / L where num = 2o + 1 - s, i0 = num div L, lambda = num mod L (0 and 0 for num < 0).
#ifndef M3RT_RESIZE_H
#define M3RT_RESIZE_H

#include "fx.h"
#include "memory.h"

namespace m3rt {

struct ResizeConfig {
  uint32_t channels;  // C
  uint32_t h_in, w_in;
  uint32_t factor;    // s, a power of two
};

// log2 of a power of two.
static inline unsigned log2_pow2(uint32_t v) {
  unsigned l = 0;
LOG2:
  for (int i = 0; i < 32; i++) {
    if (((uint32_t)1 << i) == v) l = (unsigned)i;
  }
  return l;
}

// Source indices and weight of output index o along an axis of n_in inputs.
static inline void resize_axis(uint32_t o, uint32_t s, unsigned l, uint32_t n_in, uint32_t &i0, uint32_t &i1,
                               uint32_t &lambda) {
  int64_t num = 2 * (int64_t)o + 1 - (int64_t)s;
  if (num < 0) {
    i0 = 0;
    lambda = 0;
  } else {
    i0 = (uint32_t)(num >> l);
    lambda = (uint32_t)(num & (((int64_t)1 << l) - 1));
  }
  i1 = i0 + 1 < n_in - 1 ? i0 + 1 : n_in - 1;
  i0 = i0 < n_in - 1 ? i0 : n_in - 1;
}

// Resizes the map at src[src_off..] into dst[dst_off..] ([C, h_in * s, w_in * s]).
static inline void resize(const ResizeConfig &cfg, const int32_t *src, uint64_t src_off, int32_t *dst,
                          uint64_t dst_off) {
  static int32_t top[M3RT_MAX_IMAGE], bot[M3RT_MAX_IMAGE], out[M3RT_MAX_IMAGE];
  const uint32_t s = cfg.factor, h = cfg.h_in, w = cfg.w_in, ho = h * s, wo = w * s;
  const unsigned l = log2_pow2(s) + 1;  // L = 2s
  const int64_t L = (int64_t)1 << l;
RESIZE_CHANNELS:
  for (uint32_t c = 0; c < cfg.channels; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_HEAD_WIDTH
  RESIZE_ROWS:
    for (uint32_t oy = 0; oy < ho; oy++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_IMAGE
      uint32_t y0, y1, ly;
      resize_axis(oy, s, l, h, y0, y1, ly);
      const uint64_t plane = src_off + (uint64_t)c * h * w;
      load_words(src, plane + (uint64_t)y0 * w, top, w);
      load_words(src, plane + (uint64_t)y1 * w, bot, w);
    RESIZE_COLS:
      for (uint32_t ox = 0; ox < wo; ox++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_IMAGE
#pragma HLS PIPELINE II = 1
        uint32_t x0, x1, lx;
        resize_axis(ox, s, l, w, x0, x1, lx);
        int64_t wy0 = L - ly, wx0 = L - lx;
        int64_t sum = wy0 * wx0 * top[x0] + wy0 * (int64_t)lx * top[x1] + (int64_t)ly * wx0 * bot[x0] +
                      (int64_t)ly * lx * bot[x1];
        out[ox] = (int32_t)sar(sum, 2 * l);
      }
      store_words(dst, dst_off + ((uint64_t)c * ho + oy) * wo, out, wo);
    }
  }
}

}  // namespace m3rt

#endif
