// The MoE layer with Edge-MoE's reordering (docs/fixed-point.md, "MoE layer"): the router routes every
// token in the gate linear's epilogue; tokens go into per-expert queues; then only experts with a
// non-empty queue run, in increasing index order, each over its whole queue: gather -> fc1 + GELU ->
// fc2 -> score-weighted scatter-add. Unselected experts are never fetched. Expert weights are
// double-buffered: while one matrix computes, the next one -- fc2 of this expert, or fc1 of the next
// non-empty expert -- loads into the linear unit's other weight buffer.
#ifndef M3RT_MOE_H
#define M3RT_MOE_H

#include "linear.h"
#include "trace.h"

namespace m3rt {

struct MoeConfig {
  uint32_t tokens, dim;  // T, D
  uint32_t experts;      // E
  uint32_t top_k;        // k
  uint32_t hidden;       // Dh
  uint64_t gate;         // byte offsets in the weight section: the task's gate [D, E]
  uint64_t w1, b1, w2, b2;  // stacked experts [E, D, Dh], [E, Dh], [E, Dh, D], [E, D]
  uint64_t src;          // word offsets in work: the LayerNorm output [T, D]
  uint64_t routes;       // [T, 2k]: per token k experts then k probabilities
  uint64_t qtok, qprob;  // [T * k] queue tokens and probabilities, queue after queue
  uint64_t qoff;         // [E + 1] queue offsets
  uint64_t hid;          // [T, Dh] an expert's hidden rows
  uint64_t eout;         // [T, D] an expert's output rows
  uint64_t dst;          // [T, D] the layer's output y
  uint32_t block;        // block index (trace names)
};

static inline WeightRef expert_fc1(const MoeConfig &m, uint32_t e) {
  WeightRef w = WeightRef();
  w.valid = true;
  w.tensor = m.w1;
  w.start = (uint64_t)e * m.dim * m.hidden;
  w.elements = (uint64_t)m.experts * m.dim * m.hidden;
  w.channel0 = e * m.hidden;
  w.k = m.dim;
  w.n = m.hidden;
  w.layout = W_IN_OUT;
  w.frac = FW;
  w.has_bias = true;
  w.bias = m.b1;
  w.bias_start = (uint64_t)e * m.hidden;
  w.bias_frac = FB;
  return w;
}

static inline WeightRef expert_fc2(const MoeConfig &m, uint32_t e) {
  WeightRef w = expert_fc1(m, e);
  w.tensor = m.w2;
  w.channel0 = e * m.dim;
  w.k = m.hidden;
  w.n = m.dim;
  w.bias = m.b2;
  w.bias_start = (uint64_t)e * m.dim;
  return w;
}

// Router: the gate's logits of every token routed in the linear unit's epilogue into cfg.routes.
static inline void moe_route(const MoeConfig &m, LinearState &ls, const int16_t *wq16, const int8_t *wq8,
                             const uint8_t *input, int32_t *work, RunStats &st) {
  LinearConfig lc = LinearConfig();
  lc.rows = m.tokens;
  lc.cols_in = m.dim;
  lc.cols_out = m.experts;
  lc.w.valid = true;
  lc.w.tensor = m.gate;
  lc.w.elements = (uint64_t)m.dim * m.experts;
  lc.w.k = m.dim;
  lc.w.n = m.experts;
  lc.w.layout = W_IN_OUT;
  lc.w.frac = FW;
  lc.w.has_bias = false;
  lc.src = SRC_ROWS;
  lc.src_off = m.src;
  lc.src_stride = m.dim;
  lc.sink = SINK_ROUTER;
  lc.dst_off = m.routes;
  lc.router.experts = m.experts;
  lc.router.top_k = m.top_k;
  linear(lc, no_weights(), ls, wq16, wq8, input, work, st);
}

// Queues from the routes: counts, offsets (written to cfg.qoff), then tokens in increasing order.
static inline void moe_queues(const MoeConfig &m, uint32_t count[M3RT_MAX_EXPERTS], uint32_t off[M3RT_MAX_EXPERTS + 1],
                              int32_t *work) {
  const uint32_t k = m.top_k;
QUEUE_CLEAR:
  for (uint32_t e = 0; e < m.experts; e++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_EXPERTS
    count[e] = 0;
  }
QUEUE_COUNT:
  for (uint64_t i = 0; i < (uint64_t)m.tokens * k; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS * M3RT_MAX_TOP_K
    uint64_t t = i / k, j = i % k;
    count[(uint32_t)work[m.routes + t * 2 * k + j]]++;
  }
  uint32_t fill[M3RT_MAX_EXPERTS];
  off[0] = 0;
QUEUE_OFFSETS:
  for (uint32_t e = 0; e < m.experts; e++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_EXPERTS
    fill[e] = off[e];
    off[e + 1] = off[e] + count[e];
    work[m.qoff + e] = (int32_t)off[e];
  }
  work[m.qoff + m.experts] = (int32_t)off[m.experts];
QUEUE_FILL:
  for (uint64_t i = 0; i < (uint64_t)m.tokens * k; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS * M3RT_MAX_TOP_K
    uint64_t t = i / k, j = i % k;
    uint32_t e = (uint32_t)work[m.routes + t * 2 * k + j];
    work[m.qtok + fill[e]] = (int32_t)t;
    work[m.qprob + fill[e]] = work[m.routes + t * 2 * k + k + j];
    fill[e]++;
  }
}

// y[t] = wrap_Wa(y[t] + ((prob_j * o_j) >> Fa)) for the queue's j-th token t.
static inline void moe_scatter(const MoeConfig &m, uint32_t q0, uint32_t n, int32_t *work) {
  static int32_t o[M3RT_MAX_DIM], y[M3RT_MAX_DIM];
SCATTER_ROWS:
  for (uint32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS
    uint64_t t = (uint32_t)work[m.qtok + q0 + j];
    int64_t p = work[m.qprob + q0 + j];
    load_words(work, m.eout + (uint64_t)j * m.dim, o, m.dim);
    load_words(work, m.dst + t * m.dim, y, m.dim);
  SCATTER_ADD:
    for (uint32_t c = 0; c < m.dim; c++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_DIM
#pragma HLS PIPELINE II = 1
      y[c] = to_act(w_add(y[c], sar(w_mul(p, o[c]), FA)));
    }
    store_words(work, m.dst + t * m.dim, y, m.dim);
  }
}

// `after` is the matrix that follows the layer (prefetched during the last expert's fc2).
static inline void moe(const MoeConfig &m, const WeightRef &after, LinearState &ls, const int16_t *wq16,
                       const int8_t *wq8, const uint8_t *input, int32_t *work, RunStats &st) {
  uint32_t count[M3RT_MAX_EXPERTS], off[M3RT_MAX_EXPERTS + 1];
  moe_route(m, ls, wq16, wq8, input, work, st);
  M3RT_TRACE(work, m.routes, (uint64_t)m.tokens * 2 * m.top_k, "b%u.route", m.block);
  moe_queues(m, count, off, work);
  fill_zero(work, m.dst, (uint64_t)m.tokens * m.dim);
  LinearConfig fc1 = LinearConfig(), fc2 = LinearConfig();
  fc1.cols_in = m.dim;
  fc1.cols_out = m.hidden;
  fc1.src = SRC_GATHER;
  fc1.src_off = m.src;
  fc1.src_stride = m.dim;
  fc1.sink = SINK_ROWS;
  fc1.act = ACT_GELU;
  fc1.dst_off = m.hid;
  fc1.dst_stride = m.hidden;
  fc2.cols_in = m.hidden;
  fc2.cols_out = m.dim;
  fc2.src = SRC_ROWS;
  fc2.src_off = m.hid;
  fc2.src_stride = m.hidden;
  fc2.sink = SINK_ROWS;
  fc2.act = ACT_NONE;
  fc2.dst_off = m.eout;
  fc2.dst_stride = m.dim;
  uint32_t e = 0;
  while (e < m.experts && count[e] == 0) e++;
MOE_EXPERTS:
  while (e < m.experts) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_EXPERTS
    uint32_t next = e + 1;
    while (next < m.experts && count[next] == 0) next++;
    fc1.rows = fc2.rows = count[e];
    fc1.index_off = m.qtok + off[e];
    fc1.w = expert_fc1(m, e);
    fc2.w = expert_fc2(m, e);
    linear(fc1, fc2.w, ls, wq16, wq8, input, work, st);
    M3RT_TRACE(work, m.hid, (uint64_t)count[e] * m.hidden, "b%u.e%u.hidden", m.block, e);
    linear(fc2, next < m.experts ? expert_fc1(m, next) : after, ls, wq16, wq8, input, work, st);
    M3RT_TRACE(work, m.eout, (uint64_t)count[e] * m.dim, "b%u.e%u.out", m.block, e);
    moe_scatter(m, off[e], count[e], work);
    st.expert_loads++;
    e = next;
  }
  M3RT_TRACE(work, m.dst, (uint64_t)m.tokens * m.dim, "b%u.moe", m.block);
}

}  // namespace m3rt

#endif
