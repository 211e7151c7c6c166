// The kernels of docs/fixed-point.md written the way an HLS engineer writes them with ap_fixed, ap_ufixed
// and ap_int, directly from the page (not from the IP's native-integer code), behind the kernel C API
// (kernel_check.h, the m3rt_ap_* functions): GELU, exp_neg, rescale, the online softmax and the linear
// unit's epilogue for 16-bit and int8 weights.
//
// Every type is chosen so that each step is exactly the spec's: a product of two ap_fixed is exact, an
// assignment truncates toward minus infinity (AP_TRN) to the target's fraction bits and wraps (AP_WRAP)
// to its width, so the spec's truncating shifts ">> s" become assignments into a type with s fewer
// fraction bits, and wrap_W into a W-bit type. Where the spec's arithmetic is "64-bit wrapping", the
// natural type is a 64-bit ap_fixed with the value's fraction bits: its AP_WRAP is exactly that wrapping.
// Written for the profile the IP is built for (activations Q(32, 10), checked below).
#define M3RT_WITH_AP_TYPES
#include <vector>

#include "ap_table.h"  // <ap_fixed.h> (warnings of the third-party headers silenced) and from_bits / value_of

#include "../include/m3rt_profile.h"
#include "../include/m3rt_tables.h"
#include "kernel_args.h"

namespace {

using m3rt_ap::from_bits;

static_assert(act_t::width == 32 && act_t::iwidth == 10, "written for activations ap_fixed<32, 10>");
static_assert(M3RT_TABLES_FA == 22, "m3rt_tables.h was generated for another activation format");

// A value of type T from its raw bits (as the C API passes them, and the ROM words below).
template <class T>
T raw(int64_t bits) {
  return from_bits<T>(static_cast<uint64_t>(bits), bits < 0 ? ~uint64_t(0) : 0);
}

// Activations from their raw words.
std::vector<act_t> acts(const int32_t* v, std::size_t n) {
  std::vector<act_t> x(n);
  for (std::size_t i = 0; i < n; i++) x[i] = raw<act_t>(v[i]);
  return x;
}

// The raw bits of an ap_fixed value, sign-extended.
template <class T>
int64_t bits(const T& x) {
  return static_cast<int64_t>(m3rt_ap::value_of(x).lo);
}

// ---- GELU ------------------------------------------------------------------------------------------
// gelu(x) = ReLU(x) - |x|·Φ(-|x|), the correction interpolated in the table GELU_T of a·Φ(-a) at steps of
// 1/32 (i = 0..176, a < 5.5), 0 from |x| = 5.5 on.

typedef ap_ufixed<32, 10> mag_t;     // |x|: 0 ..= 512 (|-512| fits: unsigned)
typedef ap_ufixed<37, 15> gsteps_t;  // |x| in table steps, 32·|x| < 2^15, F = Fa
typedef ap_uint<15> gindex_t;        // the step: 0 ..= 16384
typedef ap_ufixed<17, 0> gfrac_t;    // the position within the step: Fa - 5 = 17 bits, [0, 1)

act_t gelu_t(unsigned i) { return raw<act_t>(M3RT_GELU_T[i]); }  // the ROM, at F = Fa

act_t gelu(act_t x) {
  const mag_t a = x < 0 ? mag_t(-x) : mag_t(x);  // -x is ap_fixed<33, 11>: exact
  const gsteps_t steps = a * ap_uint<6>(32);     // exact: a shift
  const gindex_t i = steps;                      // floor (toward zero: steps >= 0): a >> (Fa - 5)
  const gfrac_t f = steps - i;                   // exact: the spec's r = a & (2^(Fa-5) - 1), over 2^(Fa-5)
  act_t c = 0;
  if (i < 176) {
    const act_t lo = gelu_t(i), hi = gelu_t(i + 1);
    // (hi - lo)·f is exact (F = Fa + 17); into act_t it floors to F = Fa: ((T[i+1] - T[i])·r) >> (Fa - 5).
    const act_t step = (hi - lo) * f;
    c = lo + step;
  }
  const act_t relu = x > 0 ? x : act_t(0);
  return relu - c;  // ap_fixed<33, 11>, wrapped into act_t: wrap_Wa
}

// ---- exp_neg ---------------------------------------------------------------------------------------
// exp(x) = 2^(x·log2 e) for x <= 0: the integer part of x·log2 e shifts, its fraction interpolates the
// table EXP2_T of 2^(i/64) (i = 0..64, F = 30).

typedef ap_fixed<33, 11> diff_t;    // a difference of two activations (the softmax's v - max)
typedef ap_fixed<28, 6> xexp_t;     // x past the cutoff: -32 < x <= 0, F = Fa
typedef ap_ufixed<31, 1> log2e_t;   // LOG2E at F = 30: 1.4427
typedef ap_fixed<29, 7> t_t;        // x·log2 e floored to F = Fa: > -46.17
typedef ap_fixed<7, 7> ip_t;        // its integer part, floor: -47 ..= 0 (see exp_neg)
typedef ap_ufixed<22, 0> fp_t;      // its fraction, [0, 1), F = Fa
typedef ap_ufixed<28, 6> esteps_t;  // the fraction in table steps (1/64), F = Fa
typedef ap_uint<6> eindex_t;        // the step: 0 ..= 63
typedef ap_ufixed<16, 0> efrac_t;   // the position within it: Fa - 6 = 16 bits
typedef ap_ufixed<32, 2> exp2_t;    // EXP2_T's entries, [1, 2] at F = 30 (2^31 is 2.0)
typedef ap_ufixed<31, 1> e_t;       // F = 30: 2^fp in [1, 2), exp in [0, 1], and the reciprocal of the sum

exp2_t exp2_t_rom(unsigned i) { return raw<exp2_t>(M3RT_EXP2_T[i]); }

e_t exp_neg(diff_t x) {
  if (x <= -32) return 0;
  const xexp_t xs = x;                            // exact: -32 < x <= 0
  const log2e_t log2e = raw<log2e_t>(M3RT_LOG2E);
  const t_t t = xs * log2e;                       // exact product (F = Fa + 30) floored to Fa: (x·LOG2E) >> 30
  // floor: t >> Fa. An ap_fixed with no fraction bits, not an ap_int: ap_fixed's conversion to ap_int
  // (and to_int()) rounds toward zero as C does, not AP_TRN, and would make the integer part of every
  // t in (-1, 0) zero (a first version did: exp of every such x came out twice too large).
  const ip_t ip = t;
  const fp_t fp = t - ip;                         // exact: t - (ip << Fa)
  const esteps_t steps = fp * ap_uint<7>(64);     // exact
  const eindex_t i = steps;                       // floor (toward zero: steps >= 0): fp >> (Fa - 6)
  const efrac_t r = steps - i;                    // exact: fp & (2^(Fa-6) - 1), over 2^(Fa-6)
  const exp2_t lo = exp2_t_rom(i), hi = exp2_t_rom(i + 1);
  const exp2_t step = (hi - lo) * r;              // floored to F = 30: ((T[i+1] - T[i])·r) >> (Fa - 6)
  const e_t m = lo + step;                        // 2^fp in [1, 2): exact
  const ap_uint<6> sh = -ip;                      // 0 ..= 47, so the spec's "-ip >= 63: 0" cannot happen
  return m >> sh;                                 // the shift keeps e_t and drops the low bits: floor
}

// ---- rescale and the online softmax ----------------------------------------------------------------
// The running sum is the spec's wrapping 64-bit integer at F = 30: ap_fixed<64, 34>, whose AP_WRAP is that
// wrapping. rescale(s, e) = floor(s·e / 2^30) is then the exact product (ap_fixed<95, 35>) assigned back
// to the sum's type: the spec's two-half formula computes the same floor without a 95-bit product.

typedef ap_fixed<64, 34> sum_t;
typedef ap_ufixed<62, 2> pprod_t;  // exp · inv, F = 60: exact

sum_t rescale(sum_t s, e_t e) { return s * e; }

struct Softmax {
  act_t max;
  sum_t sum;
  e_t inv;  // floor(2^60 / sum) raw: floor(1 / sum) at F = 30
};

// The state after v[0..n). The sum starts at 1 and never falls below it (every step adds exp >= 0, or
// rescales and adds 1), and n <= M3RT_KERNEL_MAX_ROW keeps it far below 2^33: it never wraps, the spec's
// max(sum, 1) is the sum itself, and 1 / sum <= 1 fits e_t.
Softmax online_softmax(const act_t* v, std::size_t n) {
  Softmax st;
  st.max = v[0];
  st.sum = 1;
  for (std::size_t j = 1; j < n; j++) {
    if (v[j] > st.max) {
      st.sum = rescale(st.sum, exp_neg(st.max - v[j])) + e_t(1);  // into sum_t: the spec's wrapping add
      st.max = v[j];
    } else {
      st.sum += exp_neg(v[j] - st.max);
    }
  }
  // ap_fixed's quotient: the dividend shifted up by the divisor's 30 fraction bits, divided as integers
  // (toward zero; both positive, so floor), F = 30: floor(2^30 · 2^30 / sum raw) = floor_div(1 << 60, s).
  st.inv = e_t(1) / st.sum;
  return st;
}

// prob(j): exp(v - max)·inv exact at F = 60, floored to F = Fa and wrapped: (exp·inv) >> (60 - Fa).
act_t prob(const Softmax& st, act_t v) {
  const pprod_t p = exp_neg(v - st.max) * st.inv;
  return p;
}

// ---- the linear unit's epilogue --------------------------------------------------------------------
// 16-bit weights of type W (F_w fraction bits): the sum of the exact products act_t × W is the spec's
// 64-bit accumulator at F = Fa + F_w, ap_fixed<64, 64 - Fa - F_w> (its AP_WRAP is the spec's wrapping).
// Adding a bias of type B aligns it (the spec's bias << (Fa + F_w - F_b)); the assignment to act_t floors
// to F = Fa (acc >> F_w) and wraps (wrap_Wa).

template <class W>
struct Acc16 {
  typedef ap_fixed<64, 64 - (act_t::width - act_t::iwidth) - (W::width - W::iwidth)> type;
};

template <class W, class B>
void linear16(const int32_t* a, const int16_t* w, const int16_t* bias, std::size_t rows, std::size_t k,
              std::size_t n, int32_t* y) {
  typedef typename Acc16<W>::type acc_t;
  const std::vector<act_t> x = acts(a, rows * k);
  std::vector<W> wt(k * n);
  for (std::size_t i = 0; i < k * n; i++) wt[i] = raw<W>(w[i]);
  for (std::size_t r = 0; r < rows; r++) {
    for (std::size_t j = 0; j < n; j++) {
      acc_t acc = 0;
      for (std::size_t c = 0; c < k; c++) acc += x[r * k + c] * wt[c * n + j];
      if (bias != nullptr) acc += raw<B>(bias[j]);
      const act_t out = acc;
      y[r * n + j] = static_cast<int32_t>(bits(out));
    }
  }
}

// int8 weights: the sum of act_t × ap_int<8> is the 64-bit accumulator at F = Fa, ap_fixed<64, 42>; the
// product with the 16-bit mantissa is exact in ap_fixed<80, 58> (the spec computes it in 128 bits), its
// shift right by the word's s keeps that type and floors (s varies per column, so it is a shift, not a
// type); the assignment back to the 64-bit accumulator type keeps the low 64 bits (AP_WRAP). Then the
// bias, aligned to F = Fa (bias << (Fa - F_b)), with a wrapping 64-bit add, and wrap_Wa into act_t.

typedef ap_fixed<64, 42> acc8_t;
typedef ap_fixed<80, 58> scaled8_t;

template <class B>
void linear8(const int32_t* a, const int8_t* q, const uint32_t* scales, std::size_t n_scales, const int16_t* bias,
             std::size_t rows, std::size_t k, std::size_t n, int32_t* y) {
  const std::vector<act_t> x = acts(a, rows * k);
  for (std::size_t r = 0; r < rows; r++) {
    for (std::size_t j = 0; j < n; j++) {
      acc8_t acc = 0;
      for (std::size_t c = 0; c < k; c++) acc += x[r * k + c] * ap_int<8>(q[c * n + j]);
      const ap_uint<32> word = scales[n_scales == 1 ? 0 : j];
      const ap_uint<16> m = word.range(15, 0);
      const ap_uint<6> s = word.range(21, 16);
      const scaled8_t scaled = acc * m;
      acc8_t u = scaled >> s;
      if (bias != nullptr) u += raw<B>(bias[j]);
      const act_t out = u;
      y[r * n + j] = static_cast<int32_t>(bits(out));
    }
  }
}

// The C API's bias pointer with its format: a null bias adds nothing, whatever the type.
template <class W>
void linear16_with_bias(const int32_t* a, const int16_t* w, const int16_t* bias, std::size_t rows, std::size_t k,
                        std::size_t n, int32_t bias_frac, int32_t* y) {
  if (bias != nullptr && bias_frac == m3rt_kc::FAB) {
    linear16<W, attn_bias_t>(a, w, bias, rows, k, n, y);
  } else {
    linear16<W, bias_t>(a, w, bias, rows, k, n, y);
  }
}

static_assert(bias_t::width - bias_t::iwidth == m3rt_kc::FB, "bias_t is Fb");
static_assert(attn_bias_t::width - attn_bias_t::iwidth == m3rt_kc::FAB, "attn_bias_t is Fab");

}  // namespace

extern "C" {

int m3rt_ap_gelu(int32_t x, int32_t* out) {
  if (out == nullptr) return -1;
  *out = static_cast<int32_t>(bits(gelu(raw<act_t>(x))));
  return 0;
}

int m3rt_ap_exp_neg(int64_t x, int64_t* out) {
  if (out == nullptr || x > 0 || x < -(int64_t(1) << 32)) return -1;
  *out = bits(exp_neg(raw<diff_t>(x)));
  return 0;
}

int m3rt_ap_rescale(int64_t s, int64_t e, int64_t* out) {
  if (out == nullptr || s < 0 || e < 0 || e > (int64_t(1) << 30)) return -1;
  *out = bits(rescale(raw<sum_t>(s), raw<e_t>(e)));
  return 0;
}

int m3rt_ap_softmax(const int32_t* v, size_t n, M3rtSoftmax* state, int32_t* prob_out) {
  if (!m3rt_kc::softmax_args_ok(v, n, state, prob_out)) return -1;
  const std::vector<act_t> x = acts(v, n);
  const Softmax st = online_softmax(x.data(), n);
  state->max = bits(st.max);
  state->sum = bits(st.sum);
  state->inv = bits(st.inv);
  for (size_t j = 0; j < n; j++) prob_out[j] = static_cast<int32_t>(bits(prob(st, x[j])));
  return 0;
}

int m3rt_ap_linear16(const int32_t* a, const int16_t* w, const int16_t* bias, size_t rows, size_t k, size_t n,
                     int32_t weight_frac, int32_t bias_frac, int32_t* y) {
  if (!m3rt_kc::linear_args_ok(a, w, rows, k, n, y) || !m3rt_kc::bias_frac_ok(bias, bias_frac)) return -1;
  if (weight_frac == m3rt_kc::FW) {
    static_assert(weight_t::width - weight_t::iwidth == m3rt_kc::FW, "weight_t is Fw");
    linear16_with_bias<weight_t>(a, w, bias, rows, k, n, bias_frac, y);
  } else if (weight_frac == m3rt_kc::FPW) {
    static_assert(patch_weight_t::width - patch_weight_t::iwidth == m3rt_kc::FPW, "patch_weight_t is Fpw");
    linear16_with_bias<patch_weight_t>(a, w, bias, rows, k, n, bias_frac, y);
  } else {
    return -1;
  }
  return 0;
}

int m3rt_ap_linear8(const int32_t* a, const int8_t* q, const uint32_t* scales, size_t n_scales, const int16_t* bias,
                    size_t rows, size_t k, size_t n, int32_t bias_frac, int32_t* y) {
  if (!m3rt_kc::linear_args_ok(a, q, rows, k, n, y) || !m3rt_kc::bias_frac_ok(bias, bias_frac) ||
      !m3rt_kc::scales_ok(scales, n_scales, n))
    return -1;
  if (bias != nullptr && bias_frac == m3rt_kc::FAB) {
    linear8<attn_bias_t>(a, q, scales, n_scales, bias, rows, k, n, y);
  } else {
    linear8<bias_t>(a, q, scales, n_scales, bias, rows, k, n, y);
  }
  return 0;
}

}  // extern "C"
