// Multi-head attention on the qkv linear's output (docs/fixed-point.md, "Attention"). Per head and tile
// of ATT_QUERIES queries, a first pass over the keys computes the scores and their online softmax
// (running maximum and sum) and keeps the scores; a second pass over the values accumulates prob * v.
// Keys and values stream from memory once per query tile; each is used by all queries of the tile.
#ifndef M3RT_ATTENTION_H
#define M3RT_ATTENTION_H

#include "memory.h"
#include "softmax.h"
#include "trace.h"

namespace m3rt {

struct AttentionConfig {
  uint32_t tokens;    // T
  uint32_t dim;       // D
  uint32_t heads;     // H (head_dim = D / H)
  uint64_t qkv;       // word offset of the [T, 3D] qkv output (q, k, v column blocks, heads inside)
  uint64_t dst;       // word offset of the [T, D] output
  int64_t scale;      // ATT_SCALE at F = 16
};

static const int TQ = M3RT_ATT_QUERIES;
static const int AL = M3RT_ATT_LANES;

// The attention of queries q0 .. q0 + nq of head h.
static inline void attention_tile(const AttentionConfig &cfg, uint32_t h, uint32_t q0, uint32_t nq,
                                  int32_t *work) {
  static int32_t qt[M3RT_ATT_QUERIES][M3RT_MAX_HEAD_DIM];
#pragma HLS ARRAY_PARTITION variable = qt complete dim = 1
#pragma HLS ARRAY_PARTITION variable = qt cyclic factor = 8 dim = 2
  static int32_t score[M3RT_ATT_QUERIES][M3RT_MAX_TOKENS];
#pragma HLS ARRAY_PARTITION variable = score complete dim = 1
  int32_t kv[M3RT_MAX_HEAD_DIM];
#pragma HLS ARRAY_PARTITION variable = kv cyclic factor = 8
  uint64_t acc[M3RT_ATT_QUERIES][M3RT_MAX_HEAD_DIM];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 1
#pragma HLS ARRAY_PARTITION variable = acc cyclic factor = 8 dim = 2
  OnlineSoftmax sm[M3RT_ATT_QUERIES];
#pragma HLS ARRAY_PARTITION variable = sm complete
  const uint32_t T = cfg.tokens, D = cfg.dim, hd = D / cfg.heads, row = 3 * D;
  const uint64_t qcol = cfg.qkv + h * hd, kcol = qcol + D, vcol = qcol + 2 * D;
ATT_LOAD_Q:
  for (uint32_t q = 0; q < nq; q++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_ATT_QUERIES
    load_words(work, qcol + (uint64_t)(q0 + q) * row, qt[q], hd);
  }
ATT_KEYS:  // pass 1: scores and their online softmax
  for (uint32_t j = 0; j < T; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS
    load_words(work, kcol + (uint64_t)j * row, kv, hd);
    uint64_t dot[M3RT_ATT_QUERIES];
#pragma HLS ARRAY_PARTITION variable = dot complete
    for (int q = 0; q < TQ; q++) dot[q] = 0;
  ATT_DOT:
    for (uint32_t c = 0; c < hd; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_HEAD_DIM
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = 8
    ATT_DOT_QUERIES:
      for (int q = 0; q < TQ; q++) {
#pragma HLS UNROLL
        dot[q] += (uint64_t)((int64_t)qt[q][c] * kv[c]);  // wrapping sum of exact 62-bit products
      }
    }
  ATT_SCORES:
    for (uint32_t q = 0; q < nq; q++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_ATT_QUERIES
#pragma HLS UNROLL
      int32_t s = to_act(sar(w_mul(sar((int64_t)dot[q], FA), cfg.scale), 16));
      score[q][j] = s;
      if (j == 0)
        sm[q].start(s);
      else
        sm[q].push(s);
    }
  }
ATT_FINISH:
  for (uint32_t q = 0; q < nq; q++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_ATT_QUERIES
    sm[q].finish();
    for (uint32_t c = 0; c < hd; c++) acc[q][c] = 0;
  }
ATT_VALUES:  // pass 2: sum_j prob(j) * v_j
  for (uint32_t j = 0; j < T; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS
    load_words(work, vcol + (uint64_t)j * row, kv, hd);
    int64_t pr[M3RT_ATT_QUERIES];
#pragma HLS ARRAY_PARTITION variable = pr complete
  ATT_PROBS:
    for (uint32_t q = 0; q < nq; q++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_ATT_QUERIES
#pragma HLS UNROLL
      pr[q] = sm[q].prob(score[q][j]);
    }
  ATT_WEIGHTED:
    for (uint32_t c = 0; c < hd; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_HEAD_DIM
#pragma HLS PIPELINE II = 1
#pragma HLS UNROLL factor = 8
    ATT_WEIGHTED_QUERIES:
      for (uint32_t q = 0; q < nq; q++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_ATT_QUERIES
        acc[q][c] += (uint64_t)w_mul(pr[q], kv[c]);
      }
    }
  }
  M3RT_COUNT_MACS(2 * (uint64_t)nq * T * hd);
ATT_STORE:
  for (uint32_t q = 0; q < nq; q++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_ATT_QUERIES
    int32_t out[M3RT_MAX_HEAD_DIM];
    for (uint32_t c = 0; c < hd; c++) out[c] = to_act(sar((int64_t)acc[q][c], FA));
    store_words(work, cfg.dst + (uint64_t)(q0 + q) * D + h * hd, out, hd);
  }
}

static inline void attention(const AttentionConfig &cfg, int32_t *work) {
ATT_HEADS:
  for (uint32_t h = 0; h < cfg.heads; h++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_HEADS
  ATT_QUERY_TILES:
    for (uint32_t q0 = 0; q0 < cfg.tokens; q0 += TQ) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 80
      uint32_t nq = cfg.tokens - q0 < (uint32_t)TQ ? cfg.tokens - q0 : (uint32_t)TQ;
      attention_tile(cfg, h, q0, nq, work);
    }
  }
}

}  // namespace m3rt

#endif
