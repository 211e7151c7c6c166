// exp of a non-positive value and the one-pass online softmax (docs/fixed-point.md, "Scalar functions").
#ifndef M3RT_SOFTMAX_H
#define M3RT_SOFTMAX_H

#include "../m3rt_tables.h"
#include "fx.h"

namespace m3rt {

static_assert(M3RT_TABLES_FA == FA, "m3rt_tables.h was generated for another activation format");

static const int64_t ONE30 = (int64_t)1 << 30;

// exp(x) for x <= 0 at F = Fa; the result at F = 30 (2^30 = 1).
static inline int64_t exp_neg(int64_t x) {
  if (x <= -((int64_t)32 << FA)) return 0;
  if (x > 0) x = 0;
  int64_t t = sar(w_mul(x, M3RT_LOG2E), 30);  // x * log2(e), F = Fa, t <= 0
  int64_t ip = sar(t, FA);                    // integer part, <= 0
  int64_t fp = w_sub(t, shl(ip, FA));         // 0 <= fp < 2^Fa
  int i = (int)(fp >> (FA - 6));
  int64_t r = fp & (((int64_t)1 << (FA - 6)) - 1);
  int64_t lo = M3RT_EXP2_T[i], hi = M3RT_EXP2_T[i + 1];
  int64_t m = w_add(lo, sar(w_mul(hi - lo, r), FA - 6));  // 2^fp at F = 30, in [2^30, 2^31)
  int64_t neg = w_neg(ip);
  return neg >= 63 ? 0 : sar(m, (unsigned)neg);
}

// Rescales the running sum when a new maximum arrives: floor(s * e / 2^30) in two halves: with T tokens s reaches T * 2^30 and the plain product would pass 2^63.
static inline int64_t softmax_rescale(int64_t s, int64_t e) {
  return w_add(w_mul(sar(s, 30), e), sar(w_mul(s & (ONE30 - 1), e), 30));
}

// The running state of one online softmax: maximum m (F = Fa) and sum s (F = 30).
struct OnlineSoftmax {
  int64_t m;
  int64_t s;
  int64_t inv;  // floor(2^60 / s) once finished, <= 2^30

  void start(int64_t v0) {
    m = v0;
    s = ONE30;
    inv = 0;
  }
  void push(int64_t v) {
    if (v > m) {
      s = w_add(softmax_rescale(s, exp_neg(w_sub(m, v))), ONE30);
      m = v;
    } else {
      s = w_add(s, exp_neg(w_sub(v, m)));
    }
  }
  // A sum that wrapped to <= 0 counts as 1 (the golden model's reading; see DESIGN.md).
  void finish() { inv = floor_div((int64_t)1 << 60, s > 1 ? s : 1); }
  // prob(j) at F = Fa for a value v of the sequence.
  int64_t prob(int64_t v) const { return sar(w_mul(exp_neg(w_sub(v, m)), inv), 60 - FA); }
};

// The softmax of n values (F = Fa) into probabilities (F = Fa): the reference form of the two passes.
static inline void softmax(const int32_t *v, int32_t *p, int n) {
  OnlineSoftmax sm;
  sm.start(v[0]);
SOFTMAX_PASS1:
  for (int j = 1; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS
    sm.push(v[j]);
  }
  sm.finish();
SOFTMAX_PASS2:
  for (int j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOKENS
#pragma HLS PIPELINE II = 1
    p[j] = to_act(sm.prob(v[j]));
  }
}

}  // namespace m3rt

#endif
