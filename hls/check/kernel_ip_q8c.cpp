// The IP's linear unit in its int8 per-channel build (M3RT_WEIGHT_MODE 2: one scale word per
// output column), for m3rt_ip_linear8 (kernel_ip.cpp).
#define M3RT_WEIGHT_MODE 2
#include "kernel_ip_linear.h"

static_assert(m3rt::WEIGHT_MODE == 2, "the IP headers were included before M3RT_WEIGHT_MODE was set");

extern "C" int m3rt_ip_linear_mode2(const int32_t* a, const void* w, const uint32_t* scales, size_t n_scales,
                                    const int16_t* bias, size_t rows, size_t k, size_t n, int32_t weight_frac,
                                    int32_t bias_frac, int32_t out_in, int32_t* y) {
  return m3rt_kc::run_ip_linear(a, w, scales, n_scales, bias, rows, k, n, weight_frac, bias_frac, out_in, y);
}
