// The shared linear unit: y[t][n] = sum_c a[t][c] * W[c][n] (+ bias[n]), quantized as
// docs/fixed-point.md, "Linear unit". Every matrix product of the model runs here: qkv, proj, fc1/fc2,
// experts, gates (with the router in the epilogue), the patch embedding and the head convolutions
// (row gathers of 9 * cin or cin values per pixel).
//
// Tiling: a weight matrix is split into column panels that fit one on-chip weight buffer (most matrices
// of m3vit-t are one panel). For each panel, the rows stream through in tiles of TILE_ROWS; each tile is
// multiplied with the panel's TILE_COLS-column groups by a TILE_ROWS x TILE_COLS MAC array that takes one
// input element per cycle (256 MAC/cycle). Two weight buffers ping-pong: while a panel computes from one,
// the next panel -- or the first panel of the next matrix, `next` -- loads into the other.
#ifndef M3RT_LINEAR_H
#define M3RT_LINEAR_H

#include "gelu.h"
#include "linear_load.h"
#include "trace.h"

namespace m3rt {

// The quantized output of one accumulator (before the activation).
static inline int32_t linear_out(int64_t acc, int64_t bias, uint32_t scale, int frac) {
  if (!INT8_WEIGHTS) return to_act(sar(w_add(acc, bias), (unsigned)frac));
  const unsigned s = (scale >> 16) & 0x3f;  // a valid scale word has s <= 63
  return to_act(w_add(mul_shift_u16(acc, scale & 0xffff, s), bias));
}

static inline int32_t activate(int32_t y, uint8_t act) {
  if (act == ACT_GELU) return gelu(y);
  if (act == ACT_RELU) return y > 0 ? y : 0;
  return y;
}

// Computes panel p of cfg from the weights in buf.
static inline void compute_panel(const LinearConfig &cfg, const Panel &p,
                                 const wt_t buf[M3RT_WBUF_DEPTH][M3RT_TILE_COLS], const PanelAux &aux,
                                 const uint8_t *input, int32_t *work) {
  static int32_t a[M3RT_TILE_ROWS][M3RT_MAX_K];
#pragma HLS ARRAY_PARTITION variable = a complete dim = 1
#pragma HLS BIND_STORAGE variable = a type = ram_2p impl = uram
  static int32_t logits[M3RT_TILE_ROWS][M3RT_MAX_EXPERTS];
#pragma HLS ARRAY_PARTITION variable = logits complete dim = 1
  int64_t acc[M3RT_TILE_ROWS][M3RT_TILE_COLS];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
  const uint32_t k = cfg.cols_in, groups = (p.np + TC - 1) / TC;
  // Row tiles: whole map rows for the 3x3 convolution (its gathers shift along a row), else flat.
  const bool lines = cfg.src == SRC_CONV3;
  const uint32_t nlines = lines ? cfg.map_h : 1, line_len = lines ? cfg.map_w : cfg.rows;
  const uint32_t tiles = (line_len + TR - 1) / TR;
LIN_LINES:
  for (uint32_t y = 0; y < nlines; y++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 512
  LIN_ROW_TILES:
    for (uint32_t t = 0; t < tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 80
      const uint32_t x0 = t * TR, r0 = y * line_len + x0;
      const uint32_t nr = line_len - x0 < (uint32_t)TR ? line_len - x0 : (uint32_t)TR;
      load_a_tile(cfg, y, x0, r0, nr, a, input, work);
    LIN_GROUPS:
      for (uint32_t g = 0; g < groups; g++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 96
      LIN_CLEAR:
        for (int r = 0; r < TR; r++) {
#pragma HLS UNROLL
          for (int j = 0; j < TC; j++) acc[r][j] = 0;
        }
        const wt_t(*wg)[M3RT_TILE_COLS] = buf + (uint64_t)g * k;
      LIN_MAC:
        for (uint32_t c = 0; c < k; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_K
#pragma HLS PIPELINE II = 1
        LIN_MAC_ROWS:
          for (int r = 0; r < TR; r++) {
#pragma HLS UNROLL
            const int64_t ar = a[r][c];
          LIN_MAC_COLS:
            for (int j = 0; j < TC; j++) {
#pragma HLS UNROLL
              acc[r][j] += ar * wg[c][j];  // |sum| < 2^31 * 2^15 * M3RT_MAX_K: no overflow
            }
          }
        }
        const uint32_t jn = p.np - g * TC < (uint32_t)TC ? p.np - g * TC : (uint32_t)TC;
        M3RT_COUNT_MACS((uint64_t)nr * jn * k);
      LIN_OUT_ROWS:
        for (uint32_t r = 0; r < nr; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_TILE_ROWS
        LIN_OUT_COLS:
          for (uint32_t j = 0; j < jn; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_TILE_COLS
#pragma HLS PIPELINE II = 1
            const uint32_t pj = g * TC + j, col = p.n0 + pj, row = r0 + r;
            int32_t v = activate(linear_out(acc[r][j], aux.bias[pj], aux.scale[pj], p.w.frac), cfg.act);
            if (cfg.sink == SINK_ROWS)
              work[cfg.dst_off + (uint64_t)row * cfg.dst_stride + col] = v;
            else if (cfg.sink == SINK_MAP)
              work[cfg.dst_off + (uint64_t)col * cfg.rows + row] = v;
            else
              logits[r][col] = v;
          }
        }
      }
      if (cfg.sink == SINK_ROUTER) {  // the gate is one panel: every logit of these tokens is here
        const uint32_t kk = cfg.router.top_k;
      LIN_ROUTE:
        for (uint32_t r = 0; r < nr; r++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_TILE_ROWS
          int32_t kept[M3RT_MAX_TOP_K], prob[M3RT_MAX_TOP_K];
          route_token(logits[r], cfg.router, kept, prob);
          uint64_t off = cfg.dst_off + (uint64_t)(r0 + r) * 2 * kk;
          store_words(work, off, kept, kk);
          store_words(work, off + kk, prob, kk);
        }
      }
    }
  }
}

// One step of the ping-pong: the next panel loads into one buffer while this one computes from the
// other. The two processes share no data, so the dataflow region runs them concurrently.
static inline void panel_step(const LinearConfig &cfg, const Panel &load, wt_t lbuf[M3RT_WBUF_DEPTH][M3RT_TILE_COLS],
                              PanelAux &laux, const Panel &comp, const wt_t cbuf[M3RT_WBUF_DEPTH][M3RT_TILE_COLS],
                              const PanelAux &caux, const int16_t *wq16, const int8_t *wq8, const uint8_t *input,
                              int32_t *work, RunStats &st) {
#pragma HLS DATAFLOW
  load_panel(load, lbuf, laux, wq16, wq8, st);
  compute_panel(cfg, comp, cbuf, caux, input, work);
}

// Runs cfg on the linear unit; while its last panel computes, the first panel of `next` (if valid)
// loads into the free buffer. One instance serves every call (ALLOCATION limit=1 in the top function).
static void linear(const LinearConfig &cfg, const WeightRef &next, LinearState &ls, const int16_t *wq16,
                   const int8_t *wq8, const uint8_t *input, int32_t *work, RunStats &st) {
#pragma HLS INLINE off
  static wt_t w0[M3RT_WBUF_DEPTH][M3RT_TILE_COLS], w1[M3RT_WBUF_DEPTH][M3RT_TILE_COLS];
  // Each buffer row is one 256-bit word of 16 weights (8 bits per lane unused in int8 builds).
#pragma HLS ARRAY_RESHAPE variable = w0 complete dim = 2
#pragma HLS ARRAY_RESHAPE variable = w1 complete dim = 2
#pragma HLS BIND_STORAGE variable = w0 type = ram_2p impl = uram
#pragma HLS BIND_STORAGE variable = w1 type = ram_2p impl = uram
  static PanelAux aux0, aux1;
  const uint32_t width = panel_width(cfg.w.k, cfg.w.n);
  const uint32_t panels = (cfg.w.n + width - 1) / width;
  Panel first = panel_of(cfg.w, 0);
  if (!(ls.ready && same_panel(ls.held, first))) {
    if (ls.cur == 0)
      load_panel(first, w0, aux0, wq16, wq8, st);
    else
      load_panel(first, w1, aux1, wq16, wq8, st);
  }
LIN_PANELS:
  for (uint32_t p = 0; p < panels; p++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 16
    Panel comp = panel_of(cfg.w, p);
    Panel load = p + 1 < panels ? panel_of(cfg.w, p + 1) : panel_of(next, 0);
    if (ls.cur == 0)
      panel_step(cfg, load, w1, aux1, comp, w0, aux0, wq16, wq8, input, work, st);
    else
      panel_step(cfg, load, w0, aux0, comp, w1, aux1, wq16, wq8, input, work, st);
    ls.cur ^= 1;
  }
  ls.ready = next.valid;
  ls.held = panel_of(next, 0);
}

static inline WeightRef no_weights() {
  WeightRef w = WeightRef();
  w.valid = false;
  return w;
}

}  // namespace m3rt

#endif
