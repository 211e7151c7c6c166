// GELU as ReLU minus the interpolated table of a * Phi(-a) (docs/fixed-point.md, "Scalar functions").
#ifndef M3RT_GELU_H
#define M3RT_GELU_H

#include "../m3rt_tables.h"
#include "fx.h"

namespace m3rt {

// gelu(x) for an activation x (F = Fa); |x| >= 5.5 is ReLU.
static inline int32_t gelu(int32_t x) {
  int64_t a = x < 0 ? -(int64_t)x : (int64_t)x;
  int64_t i = a >> (FA - 5);
  int64_t r = a & (((int64_t)1 << (FA - 5)) - 1);
  int64_t c = 0;
  if (i < 176) {
    int64_t lo = M3RT_GELU_T[i], hi = M3RT_GELU_T[i + 1];
    c = w_add(lo, sar(w_mul(hi - lo, r), FA - 5));
  }
  int64_t relu = x > 0 ? (int64_t)x : 0;
  return to_act(w_sub(relu, c));
}

}  // namespace m3rt

#endif
