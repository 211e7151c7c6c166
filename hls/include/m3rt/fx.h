// Integer helpers of docs/fixed-point.md, "Notation". Activations, weights and accumulators are native
// fixed-width integers holding the raw bits of the spec's formats; every quantization step is one of
// these helpers. All wrapping arithmetic is done on uint64_t (no signed overflow, no undefined
// behaviour); conversions of out-of-range unsigned values to signed types are modulo 2^N (defined by
// g++ and Vitis HLS, and by C++20).
#ifndef M3RT_FX_H
#define M3RT_FX_H

#include <stdint.h>

#include "../m3rt_config.h"

namespace m3rt {

// Formats of the profile the IP is built for: widths W and fraction bits F = W - I.
static const int WA = M3RT_ACT_W;
static const int FA = M3RT_ACT_W - M3RT_ACT_I;
static const int FW = M3RT_WEIGHT_W - M3RT_WEIGHT_I;
static const int FPW = M3RT_PATCH_W - M3RT_PATCH_I;
static const int FB = M3RT_BIAS_W - M3RT_BIAS_I;
static const int FAB = M3RT_ABIAS_W - M3RT_ABIAS_I;
static const int FP = M3RT_PIXEL_W - M3RT_PIXEL_I;
static const int WEIGHT_MODE = M3RT_WEIGHT_MODE;
static const bool INT8_WEIGHTS = M3RT_WEIGHT_MODE != 0;

// Weight elements of the on-chip buffers: the stored type of the profile's matrices.
#if M3RT_WEIGHT_MODE == 0
typedef int16_t wt_t;
#else
typedef int8_t wt_t;
#endif

// Wrapping 64-bit arithmetic.
static inline int64_t w_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t w_sub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t w_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static inline int64_t w_neg(int64_t a) { return (int64_t)(0 - (uint64_t)a); }
// x << s (0 <= s < 64), wrapping.
static inline int64_t shl(int64_t x, unsigned s) { return (int64_t)((uint64_t)x << s); }
// x >> s, the arithmetic shift (floor, AP_TRN), written without relying on signed right shifts.
static inline int64_t sar(int64_t x, unsigned s) {
  return x >= 0 ? (int64_t)((uint64_t)x >> s) : (int64_t)~(~(uint64_t)x >> s);
}

// wrap_W(x): the low w bits of x, sign-extended (1 <= w <= 64).
static inline int64_t wrap(int64_t x, unsigned w) {
  if (w >= 64) return x;
  uint64_t m = ((uint64_t)1 << w) - 1;
  uint64_t v = (uint64_t)x & m;
  uint64_t sign = (uint64_t)1 << (w - 1);
  return (int64_t)((v ^ sign) - sign);
}

// An activation from a 64-bit value: wrap_Wa(x) as the i32 it is stored in.
static inline int32_t to_act(int64_t x) { return (int32_t)wrap(x, WA); }

// The largest integer <= a / b, for b > 0 (0 for b <= 0, which no kernel passes).
static inline int64_t floor_div(int64_t a, int64_t b) {
  if (b <= 0) return 0;
  int64_t q = a / b;  // truncates toward zero; a / b cannot overflow for b > 0
  if (a % b != 0 && a < 0) q -= 1;
  return q;
}

// The largest s with s^2 <= n (0 for n <= 0), digit by digit: 32 iterations of compare-subtract.
static inline int64_t isqrt(int64_t n) {
  if (n <= 0) return 0;
  uint64_t rem = (uint64_t)n, root = 0;
  uint64_t bit = (uint64_t)1 << 62;
ISQRT_DIGITS:
  for (int i = 0; i < 32; i++) {
#pragma HLS PIPELINE II = 1
    if (bit <= (uint64_t)n) {
      if (rem >= root + bit) {
        rem -= root + bit;
        root = (root >> 1) + bit;
      } else {
        root >>= 1;
      }
    }
    bit >>= 2;
  }
  return (int64_t)root;
}

// Low 64 bits of (acc * m) >> s for an unsigned 16-bit m and 0 <= s <= 63, as if computed in 128 bits
// (the int8 rescale of the linear unit). acc = hi32 * 2^32 + lo32 with lo32 unsigned; the product is
// ph * 2^32 + pl, both partial products exact in 64 bits, and the shift distributes over them exactly.
static inline int64_t mul_shift_u16(int64_t acc, uint32_t m, unsigned s) {
  int64_t ah = sar(acc, 32);
  uint64_t al = (uint64_t)acc & 0xffffffffu;
  int64_t ph = ah * (int64_t)m;      // |ah| <= 2^31, m < 2^16: exact
  uint64_t pl = al * (uint64_t)m;    // < 2^48: exact
  int64_t hi = ph + (int64_t)(pl >> 32);  // product = hi * 2^32 + (pl mod 2^32)
  uint64_t lo = pl & 0xffffffffu;
  if (s <= 32) return w_add(shl(hi, 32 - s), (int64_t)(lo >> s));
  return sar(hi, s - 32);
}

// Raw value of a B-format (or other 16-bit) tensor element aligned to F = to_f from F = from_f.
static inline int64_t align_up(int64_t v, int from_f, int to_f) { return shl(v, (unsigned)(to_f - from_f)); }

// A pixel of the patch embedding normalised: wrap_Wa((((p << (Fa - Fp)) - MEAN_c) * INVSTD_c) >> 16).
static inline int32_t normalize_pixel(uint8_t p, int32_t mean, int32_t inv_std) {
  return to_act(sar(w_mul(w_sub(shl(p, FA - FP), mean), inv_std), 16));
}

}  // namespace m3rt

#endif
