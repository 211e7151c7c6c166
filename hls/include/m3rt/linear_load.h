// The two loaders of the linear unit: a column panel of weights (gmem0) into a ping-pong buffer, and a
// tile of TILE_ROWS input rows (gmem1) gathered from the configured source.
#ifndef M3RT_LINEAR_LOAD_H
#define M3RT_LINEAR_LOAD_H

#include "linear_types.h"
#include "memory.h"

namespace m3rt {

static const int TR = M3RT_TILE_ROWS;
static const int TC = M3RT_TILE_COLS;

// Per-column data of a panel: the bias aligned to the accumulator, and the int8 scale word.
struct PanelAux {
  int64_t bias[M3RT_MAX_PANEL];
  uint32_t scale[M3RT_MAX_PANEL];
};

// The bias shift that aligns a bias of format F_b to the accumulator (F = Fa + F_w, or Fa for int8).
static inline unsigned bias_shift(const WeightRef &w) {
  return (unsigned)(INT8_WEIGHTS ? FA - w.bias_frac : FA + w.frac - w.bias_frac);
}

// Loads panel p (its np columns, zero-padded to whole TILE_COLS groups) into buf: column j of the panel
// is lane j % TC of rows (j / TC) * k .. + k. Nothing happens for an invalid panel.
static inline void load_panel(const Panel &p, wt_t buf[M3RT_WBUF_DEPTH][M3RT_TILE_COLS], PanelAux &aux,
                              const int16_t *wq16, const int8_t *wq8, RunStats &st) {
  if (!p.w.valid || p.np == 0) return;
  const WeightRef &w = p.w;
  const uint32_t groups = (p.np + TC - 1) / TC, padded = groups * TC;  // OUT_IN: lane by lane
  const uint64_t base = INT8_WEIGHTS ? w.tensor + w.start : w.tensor / 2 + w.start;
  if (w.layout == W_IN_OUT) {  // row c of [k, n]: a group's 16 columns are consecutive, one buffer word
  PANEL_ROWS:
    for (uint32_t c = 0; c < w.k; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_K
    PANEL_ROW_GROUPS:
      for (uint32_t g = 0; g < groups; g++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 96
#pragma HLS PIPELINE II = 1
        const uint64_t e0 = base + (uint64_t)c * w.n + p.n0 + g * TC;
      PANEL_LANES:
        for (int t = 0; t < TC; t++) {
#pragma HLS UNROLL
          const uint32_t j = g * TC + t;
          wt_t v = 0;
          if (j < p.np) v = INT8_WEIGHTS ? (wt_t)wq8[e0 + t] : (wt_t)wq16[e0 + t];
          buf[g * w.k + c][t] = v;
        }
      }
    }
  } else {  // row n of [n, k]: one output column's k weights are consecutive
  PANEL_COLS:
    for (uint32_t j = 0; j < padded; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 16 max = M3RT_MAX_PANEL
    PANEL_COL_ROWS:
      for (uint32_t c = 0; c < w.k; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_K
#pragma HLS PIPELINE II = 1
        uint64_t e = base + (uint64_t)(p.n0 + j) * w.k + c;
        wt_t v = 0;
        if (j < p.np) v = INT8_WEIGHTS ? (wt_t)wq8[e] : (wt_t)wq16[e];
        buf[(j / TC) * w.k + c][j % TC] = v;
      }
    }
  }
  st.weight_bytes += (uint64_t)p.np * w.k * sizeof(wt_t);
  const unsigned sh = bias_shift(w);
  const uint64_t scales = w.tensor + ((w.elements + 3) & ~(uint64_t)3);  // byte offset of the scale words
PANEL_AUX:
  for (uint32_t j = 0; j < p.np; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 16 max = M3RT_MAX_PANEL
#pragma HLS PIPELINE II = 1
    aux.bias[j] = w.has_bias ? shl(wq16[w.bias / 2 + w.bias_start + p.n0 + j], sh) : 0;
    if (WEIGHT_MODE == 2) aux.scale[j] = read_word(wq16, scales + 4 * (uint64_t)(w.channel0 + p.n0 + j), st);
  }
  if (WEIGHT_MODE == 1) {
    uint32_t s = read_word(wq16, scales, st);
  PANEL_SCALE:
    for (uint32_t j = 0; j < p.np; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 16 max = M3RT_MAX_PANEL
#pragma HLS PIPELINE II = 1
      aux.scale[j] = s;
    }
  }
  if (w.has_bias) st.weight_bytes += 2 * (uint64_t)p.np;
}

// Gathers the A tile: rows r0 .. r0 + nr of the source (for SRC_CONV3 the pixels x0 .. x0 + nr of map
// row y, r0 = y * w + x0). Rows past nr are left as they are (their outputs are never stored).
static inline void load_a_tile(const LinearConfig &cfg, uint32_t y, uint32_t x0, uint32_t r0, uint32_t nr,
                               int32_t a[M3RT_TILE_ROWS][M3RT_MAX_K], const uint8_t *input,
                               const int32_t *work) {
  const uint32_t k = cfg.cols_in;
  if (cfg.src == SRC_ROWS || cfg.src == SRC_GATHER) {
  A_ROWS:
    for (uint32_t r = 0; r < nr; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_TILE_ROWS
      uint64_t row = cfg.src == SRC_GATHER ? (uint64_t)(uint32_t)work[cfg.index_off + r0 + r] : r0 + r;
      uint64_t off = cfg.src_off + row * cfg.src_stride;
    A_ROW_COLS:
      for (uint32_t c = 0; c < k; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_K
#pragma HLS PIPELINE II = 1
        a[r][c] = work[off + c];
      }
    }
  } else if (cfg.src == SRC_PATCH) {
    const PatchSource &ps = cfg.patch;
    const uint32_t P = ps.patch;
  A_PATCHES:
    for (uint32_t r = 0; r < nr; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_TILE_ROWS
      uint32_t py = (r0 + r) / ps.grid_w, px = (r0 + r) % ps.grid_w;
    A_PATCH_LINES:
      for (uint32_t ch = 0; ch < 3; ch++) {
        for (uint32_t ky = 0; ky < P; ky++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_PATCH
          uint64_t off = ((uint64_t)ch * ps.image_h + py * P + ky) * ps.image_w + px * P;
        A_PATCH_PIXELS:
          for (uint32_t kx = 0; kx < P; kx++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_PATCH
#pragma HLS PIPELINE II = 1
            a[r][(ch * P + ky) * P + kx] = normalize_pixel(input[off + kx], ps.mean[ch], ps.inv_std[ch]);
          }
        }
      }
    }
  } else if (cfg.src == SRC_CONV1) {
    const uint64_t plane = (uint64_t)cfg.map_h * cfg.map_w;
  A_CONV1_CHANNELS:
    for (uint32_t c = 0; c < k; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_HEAD_WIDTH
    A_CONV1_PIXELS:
      for (uint32_t r = 0; r < nr; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_TILE_ROWS
#pragma HLS PIPELINE II = 1
        a[r][c] = work[cfg.src_off + c * plane + r0 + r];
      }
    }
  } else {  // SRC_CONV3: one segment of nr + 2 values per (channel, kernel row), shifted three ways
    const uint32_t h = cfg.map_h, wd = cfg.map_w, cin = k / 9;
    int32_t seg[M3RT_TILE_ROWS + 2];
#pragma HLS ARRAY_PARTITION variable = seg complete
  A_CONV3_CHANNELS:
    for (uint32_t ci = 0; ci < cin; ci++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_DIM
    A_CONV3_ROWS:
      for (uint32_t ky = 0; ky < 3; ky++) {
        int64_t yy = (int64_t)y + ky - 1;
        bool row_in = yy >= 0 && yy < (int64_t)h;
        uint64_t off = cfg.src_off + ((uint64_t)ci * h + (row_in ? yy : 0)) * wd;
      A_CONV3_SEGMENT:
        for (uint32_t i = 0; i < nr + 2; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 3 max = M3RT_TILE_ROWS + 2
#pragma HLS PIPELINE II = 1
          int64_t xx = (int64_t)x0 + i - 1;
          seg[i] = (row_in && xx >= 0 && xx < (int64_t)wd) ? work[off + xx] : 0;
        }
      A_CONV3_SHIFT:
        for (uint32_t r = 0; r < nr; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_TILE_ROWS
#pragma HLS PIPELINE II = 1
          for (uint32_t kx = 0; kx < 3; kx++) {
#pragma HLS UNROLL
            a[r][ci * 9 + ky * 3 + kx] = seg[r + kx];
          }
        }
      }
    }
  }
}

}  // namespace m3rt

#endif
