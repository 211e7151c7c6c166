// A plain C++ reference of docs/fixed-point.md for the testbench's synthetic golden vectors: whole
// tensors in host vectors, every matrix product a direct triple loop over a dense weight matrix, no
// tiling, panels, queues in memory or prefetch. It shares only the scalar helpers (fx.h, exp_neg, gelu)
// with the IP; the kernels' structure is written again from the spec. Host code only.
#ifndef M3RT_TB_REFERENCE_H
#define M3RT_TB_REFERENCE_H

#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "m3rt/gelu.h"
#include "m3rt/softmax.h"

namespace ref {

using namespace m3rt;
typedef std::vector<int32_t> Vec;

struct Model {
  const uint32_t *d, *gates, *head;  // descriptor, the task's tables
  const uint8_t *w, *px;             // weight section, pixels
  std::vector<std::pair<std::string, Vec> > traces;

  uint32_t D() const { return d[12]; }
  uint32_t T() const { return d[23]; }
  uint32_t tensor(uint32_t i) const { return d[35 + i]; }
  int64_t w16(uint64_t off, uint64_t i) const {
    int16_t v;
    memcpy(&v, w + off + 2 * i, 2);
    return v;
  }
  uint32_t word(uint64_t off) const {
    uint32_t v;
    memcpy(&v, w + off, 4);
    return v;
  }
  Vec vec16(uint64_t off, uint64_t start, uint64_t n) const {
    Vec v(n);
    for (uint64_t i = 0; i < n; i++) v[i] = (int32_t)w16(off, start + i);
    return v;
  }
  void trace(const std::string &name, const Vec &v) { traces.push_back(std::make_pair(name, v)); }
};

// A matrix product y[rows][N] = a[rows][K] * W + bias. elem(c, n) is the element index in the tensor at
// byte offset `tensor` (of `elements` elements), chan(n) the output channel of its int8 scale.
template <class Elem, class Chan>
Vec linear(const Model &m, const Vec &a, size_t rows, size_t K, size_t N, uint64_t tensor, uint64_t elements,
           Elem elem, Chan chan, int frac, bool has_bias, uint64_t bias, uint64_t bias_start, int bias_frac) {
  std::vector<int64_t> wt(N * K);  // transposed: wt[n * K + c]
  std::vector<uint32_t> scale(N, 0);
  const uint64_t scales = tensor + ((elements + 3) & ~(uint64_t)3);
  for (size_t n = 0; n < N; n++) {
    for (size_t c = 0; c < K; c++) {
      uint64_t e = elem(c, n);
      wt[n * K + c] = INT8_WEIGHTS ? (int64_t)(int8_t)m.w[tensor + e] : m.w16(tensor, e);
    }
    if (WEIGHT_MODE == 1) scale[n] = m.word(scales);
    if (WEIGHT_MODE == 2) scale[n] = m.word(scales + 4 * chan(n));
  }
  Vec y(rows * N);
  for (size_t t = 0; t < rows; t++) {
    for (size_t n = 0; n < N; n++) {
      int64_t acc = 0;
      for (size_t c = 0; c < K; c++) acc += a[t * K + c] * wt[n * K + c];
      int64_t b = has_bias ? m.w16(bias, bias_start + n) : 0;
      if (!INT8_WEIGHTS) {
        acc = w_add(acc, shl(b, FA + frac - bias_frac));
        y[t * N + n] = to_act(sar(acc, frac));
      } else {
        unsigned s = (scale[n] >> 16) & 0x3f;
        __int128 p = (__int128)acc * (int64_t)(scale[n] & 0xffff);
        int64_t u = (int64_t)(uint64_t)(p >> s);  // low 64 bits of the 128-bit shift
        y[t * N + n] = to_act(w_add(u, shl(b, FA - bias_frac)));
      }
    }
  }
  return y;
}

// An [in, out] matrix (linear, gate, one expert's slab starting at element `start`).
inline Vec linear_io(const Model &m, const Vec &a, size_t rows, size_t K, size_t N, uint64_t tensor,
                     uint64_t elements, uint64_t start, uint64_t chan0, bool has_bias, uint64_t bias,
                     uint64_t bias_start, int bias_frac) {
  return linear(
      m, a, rows, K, N, tensor, elements, [&](size_t c, size_t n) { return start + c * N + n; },
      [&](size_t n) { return chan0 + n; }, FW, has_bias, bias, bias_start, bias_frac);
}

// An [out, in...] matrix (convolutions, patch embedding).
inline Vec linear_oi(const Model &m, const Vec &a, size_t rows, size_t K, size_t N, uint64_t tensor, int frac,
                     uint64_t bias) {
  return linear(
      m, a, rows, K, N, tensor, (uint64_t)K * N, [&](size_t c, size_t n) { return n * K + c; },
      [&](size_t n) { return n; }, frac, true, bias, 0, FB);
}

inline Vec layernorm(const Model &m, const Vec &x, size_t rows, size_t D, uint64_t g_off, uint64_t b_off) {
  const Vec g = m.vec16(g_off, 0, D), b = m.vec16(b_off, 0, D);
  const int64_t eps = m.d[31];
  const unsigned S = FA - 16;
  Vec y(rows * D);
  for (size_t t = 0; t < rows; t++) {
    const int32_t *r = &x[t * D];
    int64_t sum = 0, sq = 0;
    for (size_t c = 0; c < D; c++) {
      sum += r[c];
      sq = w_add(sq, w_mul(sar(r[c], S), sar(r[c], S)));
    }
    int64_t mean = floor_div(sum, D), ex2 = floor_div(sq, D), m16 = sar(mean, S);
    int64_t var = std::max<int64_t>(w_sub(ex2, w_mul(m16, m16)), 0);
    int64_t sd = std::max<int64_t>(isqrt(w_add(var, eps)), 1);
    int64_t inv = floor_div((int64_t)1 << 36, sd);
    for (size_t c = 0; c < D; c++) {
      int64_t n = sar(w_mul(w_sub(r[c], mean), inv), 20);
      y[t * D + c] = to_act(w_add(sar(w_mul(n, g[c]), FB), shl(b[c], FA - FB)));
    }
  }
  return y;
}

// The online softmax of v: maximum, and inv = 2^60 / sum.
inline void softmax_state(const std::vector<int64_t> &v, int64_t &mx, int64_t &inv) {
  mx = v[0];
  int64_t s = (int64_t)1 << 30;
  for (size_t j = 1; j < v.size(); j++) {
    if (v[j] > mx) {
      s = w_add(softmax_rescale(s, exp_neg(w_sub(mx, v[j]))), (int64_t)1 << 30);
      mx = v[j];
    } else {
      s = w_add(s, exp_neg(w_sub(v[j], mx)));
    }
  }
  inv = floor_div((int64_t)1 << 60, std::max<int64_t>(s, 1));
}

inline int64_t prob(int64_t v, int64_t mx, int64_t inv) { return sar(w_mul(exp_neg(w_sub(v, mx)), inv), 60 - FA); }

inline Vec attention(const Model &m, const Vec &qkv) {
  const size_t T = m.T(), D = m.D(), H = m.d[14], hd = D / H;
  const int64_t scale = m.d[32];
  Vec out(T * D);
  std::vector<int64_t> sc(T);
  for (size_t h = 0; h < H; h++) {
    for (size_t i = 0; i < T; i++) {
      for (size_t j = 0; j < T; j++) {
        int64_t dot = 0;
        for (size_t c = 0; c < hd; c++)
          dot = w_add(dot, w_mul(qkv[i * 3 * D + h * hd + c], qkv[j * 3 * D + D + h * hd + c]));
        sc[j] = to_act(sar(w_mul(sar(dot, FA), scale), 16));
      }
      int64_t mx, inv;
      softmax_state(sc, mx, inv);
      for (size_t c = 0; c < hd; c++) {
        int64_t acc = 0;
        for (size_t j = 0; j < T; j++) acc = w_add(acc, w_mul(prob(sc[j], mx, inv), qkv[j * 3 * D + 2 * D + h * hd + c]));
        out[i * D + h * hd + c] = to_act(sar(acc, FA));
      }
    }
  }
  return out;
}

}  // namespace ref

#endif
