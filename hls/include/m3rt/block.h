// One encoder block: x = x + proj(attn(LN1(x))); x = x + FFN(LN2(x)), the FFN dense or MoE. The linear
// unit is told each matrix's successor so its weights load while the current matrix computes.
#ifndef M3RT_BLOCK_H
#define M3RT_BLOCK_H

#include "attention.h"
#include "layernorm.h"
#include "model_desc.h"
#include "moe.h"

namespace m3rt {

enum BlockMatrix : uint8_t { M_QKV = 0, M_PROJ = 1, M_FC1 = 2, M_FC2 = 3, M_GATE = 4 };

static inline uint64_t block_tensor(const ModelInfo &m, uint32_t b, uint32_t j) {
  return m.tensor[desc::T_BLOCKS + desc::T_PER_BLOCK * b + j];
}

// The weights of one of block b's dense matrices (or its gate).
static inline WeightRef block_weights(const ModelInfo &m, uint32_t b, uint8_t which) {
  const uint32_t D = m.dim;
  WeightRef w = WeightRef();
  if (b >= m.depth) return w;  // past the last block: nothing to prefetch
  w.valid = true;
  w.layout = W_IN_OUT;
  w.frac = FW;
  w.has_bias = true;
  w.k = D;
  uint32_t wt = desc::B_QKV_W;
  w.bias_frac = FAB;
  if (which == M_QKV) {
    w.n = 3 * D;
  } else if (which == M_PROJ) {
    w.n = D;
    wt = desc::B_PROJ_W;
  } else if (which == M_FC1) {
    w.n = m.mlp_hidden;
    wt = desc::B_FC1_W;
    w.bias_frac = FB;
  } else if (which == M_FC2) {
    w.k = m.mlp_hidden;
    w.n = D;
    wt = desc::B_FC2_W;
    w.bias_frac = FB;
  } else {
    w.n = m.experts;
    w.has_bias = false;
    w.tensor = m.gate[b];
    w.elements = (uint64_t)w.k * w.n;
    return w;
  }
  w.tensor = block_tensor(m, b, wt);
  w.bias = block_tensor(m, b, wt + 1);
  w.elements = (uint64_t)w.k * w.n;
  return w;
}

// A dense linear of the block: rows of src (stride cols_in) into rows of dst.
static inline LinearConfig rows_linear(const WeightRef &w, uint32_t rows, uint64_t src, uint64_t dst, uint8_t act) {
  LinearConfig lc = LinearConfig();
  lc.rows = rows;
  lc.cols_in = w.k;
  lc.cols_out = w.n;
  lc.w = w;
  lc.src = SRC_ROWS;
  lc.src_off = src;
  lc.src_stride = w.k;
  lc.sink = SINK_ROWS;
  lc.act = act;
  lc.dst_off = dst;
  lc.dst_stride = w.n;
  return lc;
}

static inline void block_layernorm(const ModelInfo &m, const WorkLayout &l, uint32_t b, uint32_t gain,
                                   const int16_t *wq16, int32_t *work, RunStats &st) {
  LayerNormConfig ln;
  ln.rows = m.tokens;
  ln.cols = m.dim;
  ln.src = l.x;
  ln.src_stride = m.dim;
  ln.dst = l.ln;
  ln.transpose = false;
  ln.gain = block_tensor(m, b, gain);
  ln.shift = block_tensor(m, b, gain + 1);
  ln.eps = m.eps;
  layernorm(ln, wq16, work, st);
}

// Block b; `after` is the first matrix that follows the block (prefetched during its last product).
static inline void block(const ModelInfo &m, const WorkLayout &l, uint32_t b, const WeightRef &after,
                         LinearState &ls, const int16_t *wq16, const int8_t *wq8, const uint8_t *input,
                         int32_t *work, RunStats &st) {
  const uint32_t T = m.tokens, D = m.dim;
  const uint64_t TD = (uint64_t)T * D;
  const bool moe_block = is_moe(m, b);
  block_layernorm(m, l, b, desc::B_LN1_G, wq16, work, st);
  M3RT_TRACE(work, l.ln, TD, "b%u.ln1", b);
  linear(rows_linear(block_weights(m, b, M_QKV), T, l.ln, l.qkv, ACT_NONE), block_weights(m, b, M_PROJ), ls,
         wq16, wq8, input, work, st);
  M3RT_TRACE(work, l.qkv, 3 * TD, "b%u.qkv", b);
  AttentionConfig ac;
  ac.tokens = T;
  ac.dim = D;
  ac.heads = m.heads;
  ac.qkv = l.qkv;
  ac.dst = l.g;
  ac.scale = m.att_scale;
  attention(ac, work);
  M3RT_TRACE(work, l.g, TD, "b%u.attn", b);
  linear(rows_linear(block_weights(m, b, M_PROJ), T, l.g, l.y, ACT_NONE),
         block_weights(m, b, moe_block ? M_GATE : M_FC1), ls, wq16, wq8, input, work, st);
  M3RT_TRACE(work, l.y, TD, "b%u.proj", b);
  residual_add(work, l.x, l.y, TD);
  M3RT_TRACE(work, l.x, TD, "b%u.res1", b);
  block_layernorm(m, l, b, desc::B_LN2_G, wq16, work, st);
  M3RT_TRACE(work, l.ln, TD, "b%u.ln2", b);
  if (!moe_block) {
    linear(rows_linear(block_weights(m, b, M_FC1), T, l.ln, l.hid, ACT_GELU), block_weights(m, b, M_FC2), ls,
           wq16, wq8, input, work, st);
    M3RT_TRACE(work, l.hid, (uint64_t)T * m.mlp_hidden, "b%u.fc1", b);
    linear(rows_linear(block_weights(m, b, M_FC2), T, l.hid, l.y, ACT_NONE), after, ls, wq16, wq8, input, work, st);
    M3RT_TRACE(work, l.y, TD, "b%u.fc2", b);
  } else {
    MoeConfig mc;
    mc.tokens = T;
    mc.dim = D;
    mc.experts = m.experts;
    mc.top_k = m.top_k;
    mc.hidden = m.expert_hidden;
    mc.gate = m.gate[b];
    mc.w1 = block_tensor(m, b, desc::B_FC1_W);
    mc.b1 = block_tensor(m, b, desc::B_FC1_B);
    mc.w2 = block_tensor(m, b, desc::B_FC2_W);
    mc.b2 = block_tensor(m, b, desc::B_FC2_B);
    mc.src = l.ln;
    mc.routes = l.routes;
    mc.qtok = l.qtok;
    mc.qprob = l.qprob;
    mc.qoff = l.qoff;
    mc.hid = l.hid;
    mc.eout = l.eo;
    mc.dst = l.y;
    mc.block = b;
    moe(mc, after, ls, wq16, wq8, input, work, st);
  }
  residual_add(work, l.x, l.y, TD);
  M3RT_TRACE(work, l.x, TD, "b%u.res2", b);
}

}  // namespace m3rt

#endif
