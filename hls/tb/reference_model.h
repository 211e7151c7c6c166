// The whole model on the plain reference kernels of reference.h: patch embedding, blocks (dense or MoE),
// the head; every kernel output is recorded under its golden trace name. Host code only.
#ifndef M3RT_TB_REFERENCE_MODEL_H
#define M3RT_TB_REFERENCE_MODEL_H

#include <stdio.h>

#include "reference.h"

namespace ref {

inline std::string name(const char *fmt, unsigned a, unsigned b = 0) {
  char s[64];
  snprintf(s, sizeof s, fmt, a, b);
  return s;
}

inline Vec add(const Vec &x, const Vec &y) {
  Vec r(x.size());
  for (size_t i = 0; i < x.size(); i++) r[i] = to_act(w_add(x[i], y[i]));
  return r;
}

inline Vec moe(Model &m, unsigned b, const Vec &a) {
  const size_t T = m.T(), D = m.D(), E = m.d[16], k = m.d[17], Dh = m.d[18];
  unsigned gi = 0;
  for (unsigned i = 0; i < b; i++) gi += (m.d[21] >> i) & 1;
  const uint32_t *t = &m.d[35 + 4 + 12 * b];
  Vec logits = linear_io(m, a, T, D, E, m.gates[gi], D * E, 0, 0, false, 0, 0, 0);
  Vec route(T * 2 * k);
  std::vector<std::vector<std::pair<size_t, int64_t> > > queue(E);
  for (size_t tok = 0; tok < T; tok++) {
    std::vector<int64_t> l(logits.begin() + tok * E, logits.begin() + (tok + 1) * E);
    int64_t mx, inv;
    softmax_state(l, mx, inv);
    std::vector<size_t> order(E);
    for (size_t e = 0; e < E; e++) order[e] = e;
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return l[x] > l[y]; });
    for (size_t j = 0; j < k; j++) {
      int64_t p = prob(l[order[j]], mx, inv);
      route[tok * 2 * k + j] = (int32_t)order[j];
      route[tok * 2 * k + k + j] = (int32_t)p;
      queue[order[j]].push_back(std::make_pair(tok, p));
    }
  }
  m.trace(name("b%u.route", b), route);
  Vec y(T * D, 0);
  for (size_t e = 0; e < E; e++) {
    const size_t q = queue[e].size();
    if (q == 0) continue;
    Vec rows(q * D);
    for (size_t j = 0; j < q; j++) std::copy(&a[queue[e][j].first * D], &a[queue[e][j].first * D] + D, &rows[j * D]);
    Vec h = linear_io(m, rows, q, D, Dh, t[8], E * D * Dh, e * D * Dh, e * Dh, true, t[9], e * Dh, FB);
    for (size_t i = 0; i < h.size(); i++) h[i] = gelu(h[i]);
    m.trace(name("b%u.e%u.hidden", b, (unsigned)e), h);
    Vec o = linear_io(m, h, q, Dh, D, t[10], E * Dh * D, e * Dh * D, e * D, true, t[11], e * D, FB);
    m.trace(name("b%u.e%u.out", b, (unsigned)e), o);
    for (size_t j = 0; j < q; j++) {
      const size_t tok = queue[e][j].first;
      for (size_t c = 0; c < D; c++)
        y[tok * D + c] = to_act(w_add(y[tok * D + c], sar(w_mul(queue[e][j].second, o[j * D + c]), FA)));
    }
  }
  m.trace(name("b%u.moe", b), y);
  return y;
}

inline Vec block(Model &m, unsigned b, const Vec &x0) {
  const size_t T = m.T(), D = m.D(), F = m.d[15];
  const uint32_t *t = &m.d[35 + 4 + 12 * b];
  Vec a = layernorm(m, x0, T, D, t[0], t[1]);
  m.trace(name("b%u.ln1", b), a);
  Vec qkv = linear_io(m, a, T, D, 3 * D, t[2], 3 * D * D, 0, 0, true, t[3], 0, FAB);
  m.trace(name("b%u.qkv", b), qkv);
  Vec att = attention(m, qkv);
  m.trace(name("b%u.attn", b), att);
  Vec p = linear_io(m, att, T, D, D, t[4], D * D, 0, 0, true, t[5], 0, FAB);
  m.trace(name("b%u.proj", b), p);
  Vec x = add(x0, p);
  m.trace(name("b%u.res1", b), x);
  a = layernorm(m, x, T, D, t[6], t[7]);
  m.trace(name("b%u.ln2", b), a);
  Vec y;
  if ((m.d[21] >> b) & 1) {
    y = moe(m, b, a);
  } else {
    Vec h = linear_io(m, a, T, D, F, t[8], D * F, 0, 0, true, t[9], 0, FB);
    for (size_t i = 0; i < h.size(); i++) h[i] = gelu(h[i]);
    m.trace(name("b%u.fc1", b), h);
    y = linear_io(m, h, T, F, D, t[10], F * D, 0, 0, true, t[11], 0, FB);
    m.trace(name("b%u.fc2", b), y);
  }
  x = add(x, y);
  m.trace(name("b%u.res2", b), x);
  return x;
}

// A [C, h, w] map convolved (kk = 3 with padding 1, or 1) into [cout, h, w].
inline Vec conv(const Model &m, const Vec &x, size_t cin, size_t h, size_t w, size_t cout, size_t kk,
                uint64_t wt, uint64_t bias) {
  const size_t K = cin * kk * kk, P = h * w;
  Vec a(P * K);
  for (size_t y = 0; y < h; y++)
    for (size_t xx = 0; xx < w; xx++)
      for (size_t c = 0; c < cin; c++)
        for (size_t ky = 0; ky < kk; ky++)
          for (size_t kx = 0; kx < kk; kx++) {
            long sy = (long)y + (long)ky - (long)(kk / 2), sx = (long)xx + (long)kx - (long)(kk / 2);
            bool in = sy >= 0 && sy < (long)h && sx >= 0 && sx < (long)w;
            a[(y * w + xx) * K + (c * kk + ky) * kk + kx] = in ? x[(c * h + sy) * w + sx] : 0;
          }
  Vec rows = linear_oi(m, a, P, K, cout, wt, FW, bias), out(cout * P);
  for (size_t p = 0; p < P; p++)
    for (size_t n = 0; n < cout; n++) out[n * P + p] = rows[p * cout + n];
  return out;
}

inline Vec resize(const Vec &x, size_t C, size_t h, size_t w, size_t s) {
  size_t l = 1;
  while (((size_t)1 << l) != 2 * s) l++;
  const long L = 2 * (long)s;
  auto axis = [&](long o, long n, long &i0, long &i1, long &lam) {
    long num = 2 * o + 1 - (long)s;
    i0 = num < 0 ? 0 : num / L;
    lam = num < 0 ? 0 : num % L;
    i1 = std::min(i0 + 1, n - 1);
    i0 = std::min(i0, n - 1);
  };
  Vec out(C * h * s * w * s);
  for (size_t c = 0; c < C; c++)
    for (long oy = 0; oy < (long)(h * s); oy++)
      for (long ox = 0; ox < (long)(w * s); ox++) {
        long y0, y1, ly, x0, x1, lx;
        axis(oy, h, y0, y1, ly);
        axis(ox, w, x0, x1, lx);
        const int32_t *p = &x[c * h * w];
        int64_t sum = (L - ly) * (L - lx) * (int64_t)p[y0 * w + x0] + (L - ly) * lx * (int64_t)p[y0 * w + x1] +
                      ly * (L - lx) * (int64_t)p[y1 * w + x0] + ly * lx * (int64_t)p[y1 * w + x1];
        out[(c * h * s + oy) * w * s + ox] = (int32_t)sar(sum, 2 * l);
      }
  return out;
}

// Runs the model; returns the output map.
inline Vec run(Model &m) {
  const size_t H = m.d[9], W = m.d[10], P = m.d[11], D = m.D(), T = m.T(), gh = H / P, gw = W / P, N = T - 1;
  const size_t K = 3 * P * P;
  Vec a(N * K);
  for (size_t i = 0; i < N; i++)
    for (size_t c = 0; c < 3; c++)
      for (size_t ky = 0; ky < P; ky++)
        for (size_t kx = 0; kx < P; kx++)
          a[i * K + (c * P + ky) * P + kx] =
              normalize_pixel(m.px[(c * H + (i / gw) * P + ky) * W + (i % gw) * P + kx], (int32_t)m.d[25 + c],
                              (int32_t)m.d[28 + c]);
  Vec pe = linear_oi(m, a, N, K, D, m.tensor(0), FPW, m.tensor(1));
  Vec x(T * D);
  for (size_t c = 0; c < D; c++) {
    x[c] = to_act(w_add(shl(m.w16(m.tensor(2), c), FA - FB), shl(m.w16(m.tensor(3), c), FA - FB)));
    for (size_t i = 0; i < N; i++)
      x[(1 + i) * D + c] = to_act(w_add(pe[i * D + c], shl(m.w16(m.tensor(3), (1 + i) * D + c), FA - FB)));
  }
  m.trace("embed", x);
  for (unsigned b = 0; b < m.d[13]; b++) x = block(m, b, x);
  // Head: LayerNorm of the patch tokens, as a [D, gh, gw] map.
  Vec tok(x.begin() + D, x.end());
  Vec ln = layernorm(m, tok, N, D, m.head[1], m.head[2]), map(D * N);
  for (size_t i = 0; i < N; i++)
    for (size_t c = 0; c < D; c++) map[c * N + i] = ln[i * D + c];
  m.trace("head.ln", map);
  const bool pup = m.d[19] == 0;
  const unsigned convs = pup ? 5 : 2;
  const size_t width = m.d[20], C = m.head[0];
  size_t h = gh, w = gw, cin = D;
  for (unsigned j = 0; j < convs; j++) {
    const bool last = j + 1 == convs;
    const size_t cout = last ? C : width;
    map = conv(m, map, cin, h, w, cout, last ? 1 : 3, m.head[3 + 2 * j], m.head[4 + 2 * j]);
    if (!last)
      for (size_t i = 0; i < map.size(); i++) map[i] = std::max(map[i], 0);
    m.trace(name("head.conv%u", j), map);
    if (pup && j < 3) {
      map = resize(map, cout, h, w, 2);
      h *= 2;
      w *= 2;
      m.trace(name("head.up%u", j), map);
    }
    cin = cout;
  }
  Vec out = resize(map, C, h, w, H / h);
  m.trace("head.out", out);
  return out;
}

}  // namespace ref

#endif
