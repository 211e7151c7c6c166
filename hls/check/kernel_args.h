// The domains of the kernel C API (kernel_check.h), shared by both implementations so that they refuse
// the same arguments. Internal to the checker.
#ifndef M3RT_KERNEL_ARGS_H
#define M3RT_KERNEL_ARGS_H

#include <cstddef>
#include <cstdint>

#include "../include/m3rt_profile.h"
#include "kernel_check.h"

namespace m3rt_kc {

// The profile's fraction bits (docs/fixed-point.md, "Profiles").
constexpr int FA = M3RT_ACT_W - M3RT_ACT_I;
constexpr int FW = M3RT_WEIGHT_W - M3RT_WEIGHT_I;
constexpr int FPW = M3RT_PATCH_W - M3RT_PATCH_I;
constexpr int FB = M3RT_BIAS_W - M3RT_BIAS_I;
constexpr int FAB = M3RT_ABIAS_W - M3RT_ABIAS_I;

inline bool softmax_args_ok(const int32_t* v, std::size_t n, const M3rtSoftmax* state, const int32_t* prob) {
  return v != nullptr && state != nullptr && prob != nullptr && n >= 1 && n <= M3RT_KERNEL_MAX_ROW;
}

// Shapes and pointers of a linear call; the formats are checked by each form.
inline bool linear_args_ok(const void* a, const void* w, std::size_t rows, std::size_t k, std::size_t n,
                           const void* y) {
  const std::size_t max = M3RT_KERNEL_MAX_WORDS;
  return a != nullptr && w != nullptr && y != nullptr && rows >= 1 && k >= 1 && n >= 1 && k <= M3RT_KERNEL_MAX_K &&
         rows <= max && n <= max && rows * k <= max && rows * n <= max && k * n <= max;
}

// A bias format of the profile (-1 stands for "no bias" and is accepted when there is none).
inline bool bias_frac_ok(const int16_t* bias, int32_t bias_frac) {
  return bias == nullptr || bias_frac == FB || bias_frac == FAB;
}

// int8 scale words: one, or one per output column; each with shift <= 63 and nothing above it.
inline bool scales_ok(const uint32_t* scales, std::size_t n_scales, std::size_t n) {
  if (scales == nullptr || (n_scales != 1 && n_scales != n)) return false;
  for (std::size_t i = 0; i < n_scales; i++) {
    if ((scales[i] >> 22) != 0) return false;
  }
  return true;
}

}  // namespace m3rt_kc

#endif  // M3RT_KERNEL_ARGS_H
