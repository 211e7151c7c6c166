// The IP's own kernels (hls/include/m3rt/, native integers) behind the kernel C API (kernel_check.h): GELU,
// exp_neg, the softmax's rescale and online softmax, and the linear unit of the 16-bit build. The int8
// builds of the linear unit are kernel_ip_q8t.cpp and kernel_ip_q8c.cpp; m3rt_ip_linear8 picks one.
#include "kernel_ip_linear.h"

extern "C" {

int m3rt_ip_gelu(int32_t x, int32_t* out) {
  if (out == nullptr) return -1;
  *out = m3rt::gelu(x);
  return 0;
}

int m3rt_ip_exp_neg(int64_t x, int64_t* out) {
  if (out == nullptr || x > 0) return -1;
  *out = m3rt::exp_neg(x);
  return 0;
}

int m3rt_ip_rescale(int64_t s, int64_t e, int64_t* out) {
  if (out == nullptr || s < 0 || e < 0 || e > m3rt::ONE30) return -1;
  *out = m3rt::softmax_rescale(s, e);
  return 0;
}

// The state from the IP's OnlineSoftmax (as attention and the router run it), the probabilities from its
// two-pass m3rt::softmax (which runs the same state again).
int m3rt_ip_softmax(const int32_t* v, size_t n, M3rtSoftmax* state, int32_t* prob) {
  if (!m3rt_kc::softmax_args_ok(v, n, state, prob)) return -1;
  m3rt::OnlineSoftmax sm;
  sm.start(v[0]);
  for (size_t j = 1; j < n; j++) sm.push(v[j]);
  sm.finish();
  state->max = sm.m;
  state->sum = sm.s;
  state->inv = sm.inv;
  m3rt::softmax(v, prob, static_cast<int>(n));
  return 0;
}

int m3rt_ip_linear16(const int32_t* a, const int16_t* w, const int16_t* bias, size_t rows, size_t k, size_t n,
                     int32_t weight_frac, int32_t bias_frac, int32_t out_in, int32_t* y) {
  if (!m3rt_kc::linear_args_ok(a, w, rows, k, n, y) || !m3rt_kc::bias_frac_ok(bias, bias_frac)) return -1;
  if (weight_frac != m3rt_kc::FW && weight_frac != m3rt_kc::FPW) return -1;
  return m3rt_ip_linear_mode0(a, w, nullptr, 0, bias, rows, k, n, weight_frac, bias_frac, out_in, y);
}

int m3rt_ip_linear8(const int32_t* a, const int8_t* q, const uint32_t* scales, size_t n_scales, const int16_t* bias,
                    size_t rows, size_t k, size_t n, int32_t bias_frac, int32_t out_in, int32_t* y) {
  if (!m3rt_kc::linear_args_ok(a, q, rows, k, n, y) || !m3rt_kc::bias_frac_ok(bias, bias_frac) ||
      !m3rt_kc::scales_ok(scales, n_scales, n))
    return -1;
  // One scale word and n of them are the same build when n = 1: per tensor.
  if (n_scales == 1) return m3rt_ip_linear_mode1(a, q, scales, 1, bias, rows, k, n, 0, bias_frac, out_in, y);
  return m3rt_ip_linear_mode2(a, q, scales, n_scales, bias, rows, k, n, 0, bias_frac, out_in, y);
}

int m3rt_ip_linear_mode0(const int32_t* a, const void* w, const uint32_t* scales, size_t n_scales, const int16_t* bias,
                         size_t rows, size_t k, size_t n, int32_t weight_frac, int32_t bias_frac, int32_t out_in,
                         int32_t* y) {
  return m3rt_kc::run_ip_linear(a, w, scales, n_scales, bias, rows, k, n, weight_frac, bias_frac, out_in, y);
}

}  // extern "C"
