// The MoE router of one token: one pass over the E logits computes the online softmax and keeps the k
// largest logits (docs/fixed-point.md, "MoE layer", step 1). The linear unit calls it on each row tile
// of gate logits as they leave the MAC array, so logits never go to memory.
#ifndef M3RT_ROUTER_H
#define M3RT_ROUTER_H

#include "softmax.h"

namespace m3rt {

struct RouterConfig {
  uint32_t experts;  // E
  uint32_t top_k;    // k
};

// Routes one token with logits l[0..E): kept[0..k) the kept experts in decreasing logit order (ties to
// the lower index), prob[0..k) their probabilities (F = Fa).
static inline void route_token(const int32_t *l, const RouterConfig &cfg, int32_t *kept, int32_t *prob) {
  int32_t kl[M3RT_MAX_TOP_K], ke[M3RT_MAX_TOP_K];
#pragma HLS ARRAY_PARTITION variable = kl complete
#pragma HLS ARRAY_PARTITION variable = ke complete
  const uint32_t k = cfg.top_k;
  uint32_t n = 0;  // experts kept so far
  OnlineSoftmax sm;
  sm.start(l[0]);
ROUTE_EXPERTS:
  for (uint32_t e = 0; e < cfg.experts; e++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_EXPERTS
    int32_t v = l[e];
    if (e > 0) sm.push(v);
    // pos = kept logits >= v: the new one goes after them (ties keep the lower index first).
    uint32_t pos = 0;
  ROUTE_RANK:
    for (uint32_t j = 0; j < M3RT_MAX_TOP_K; j++) {
#pragma HLS UNROLL
      if (j < n && kl[j] >= v) pos++;
    }
    if (pos < k) {  // strictly greater than the k-th kept one, or fewer than k kept
      uint32_t last = n < k ? n : k - 1;  // the entry the shift writes last
    ROUTE_SHIFT:
      for (uint32_t j = M3RT_MAX_TOP_K - 1; j > 0; j--) {
#pragma HLS UNROLL
        if (j > pos && j <= last) {
          kl[j] = kl[j - 1];
          ke[j] = ke[j - 1];
        }
      }
      kl[pos] = v;
      ke[pos] = (int32_t)e;
      if (n < k) n++;
    }
  }
  sm.finish();
ROUTE_PROBS:
  for (uint32_t j = 0; j < k; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_TOP_K
    kept[j] = ke[j];
    prob[j] = to_act(sm.prob(kl[j]));
  }
}

}  // namespace m3rt

#endif
