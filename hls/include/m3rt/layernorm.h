// LayerNorm of rows of activations in one pass over each row (sum and sum of squares together), gain and
// shift in format B (docs/fixed-point.md, "LayerNorm").
#ifndef M3RT_LAYERNORM_H
#define M3RT_LAYERNORM_H

#include "memory.h"

namespace m3rt {

struct LayerNormConfig {
  uint32_t rows;        // rows normalised
  uint32_t cols;        // D
  uint64_t src;         // word offset (in work) of the first row
  uint32_t src_stride;  // words from one row to the next
  uint64_t dst;         // word offset of the output
  bool transpose;       // false: dst[r * cols + c]; true: the [cols, rows] map dst[c * rows + r]
  uint64_t gain;        // byte offset of the gain in the weight section
  uint64_t shift;       // byte offset of the shift
  int64_t eps;          // EPS at F = 32
};

// Mean and 1/sd of one row (F = Fa and F = 20), from its sum and sum of squares.
static inline void layernorm_stats(int64_t sum, int64_t sq, uint32_t d, int64_t eps, int64_t &mean,
                                   int64_t &inv) {
  const unsigned S = FA - 16;
  mean = floor_div(sum, d);
  int64_t ex2 = floor_div(sq, d);
  int64_t m16 = sar(mean, S);
  int64_t var = w_sub(ex2, w_mul(m16, m16));
  if (var < 0) var = 0;
  int64_t sd = isqrt(w_add(var, eps));
  if (sd < 1) sd = 1;
  inv = floor_div((int64_t)1 << 36, sd);
}

// One normalised value.
static inline int32_t layernorm_value(int32_t x, int64_t mean, int64_t inv, int32_t g, int32_t b) {
  int64_t n = sar(w_mul(w_sub(x, mean), inv), 20);
  return to_act(w_add(sar(w_mul(n, g), FB), shl(b, FA - FB)));
}

// LayerNorm of one row held in x[0..d) into y.
static inline void layernorm_row(const int32_t *x, const int32_t *g, const int32_t *b, int32_t *y, uint32_t d,
                                 int64_t eps) {
  const unsigned S = FA - 16;
  int64_t sum = 0, sq = 0;
LN_SUMS:
  for (uint32_t c = 0; c < d; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_DIM
#pragma HLS PIPELINE II = 1
    int64_t xs = sar(x[c], S);
    sum = w_add(sum, x[c]);
    sq = w_add(sq, w_mul(xs, xs));
  }
  int64_t mean, inv;
  layernorm_stats(sum, sq, d, eps, mean, inv);
LN_APPLY:
  for (uint32_t c = 0; c < d; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_DIM
#pragma HLS PIPELINE II = 1
    y[c] = layernorm_value(x[c], mean, inv, g[c], b[c]);
  }
}

// LayerNorm of cfg.rows rows of work into work.
static inline void layernorm(const LayerNormConfig &cfg, const int16_t *wq16, int32_t *work, RunStats &st) {
  static int32_t g[M3RT_MAX_DIM], b[M3RT_MAX_DIM], x[M3RT_MAX_DIM], y[M3RT_MAX_DIM];
  load_i16(wq16, cfg.gain, 0, g, cfg.cols, st);
  load_i16(wq16, cfg.shift, 0, b, cfg.cols, st);
LN_ROWS:
  for (uint32_t r = 0; r < cfg.rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS
    load_words(work, cfg.src + (uint64_t)r * cfg.src_stride, x, cfg.cols);
    layernorm_row(x, g, b, y, cfg.cols, cfg.eps);
    if (!cfg.transpose) {
      store_words(work, cfg.dst + (uint64_t)r * cfg.cols, y, cfg.cols);
    } else {
    LN_STORE_T:
      for (uint32_t c = 0; c < cfg.cols; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_DIM
#pragma HLS PIPELINE II = 1
        work[cfg.dst + (uint64_t)c * cfg.rows + r] = y[c];
      }
    }
  }
}

}  // namespace m3rt

#endif
