// The kernels' C API (mirrored in hls/src/kernel_check.rs): the non-linear units and the linear unit of
// docs/fixed-point.md, each in two C++ implementations with the same signature,
//   m3rt_ip_*  the IP's own native-integer code (hls/include/m3rt/, kernel_ip*.cpp), and
//   m3rt_ap_*  the checker's formulation with ap_fixed / ap_ufixed / ap_int (kernel_ap*.cpp),
// for the profile the IP is built for (hls/include/m3rt_profile.h: activations Q(32, 10), Fa = 22).
// Values cross as raw integers (the value is raw * 2^-F). Every function returns 0, or -1 for an
// argument out of its domain (given below) or a null pointer, in which case nothing is written.
#ifndef M3RT_KERNEL_CHECK_H
#define M3RT_KERNEL_CHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The state of an online softmax after its last value: the maximum (F = Fa), the sum of exp(v - max)
/// (F = 30) and inv = floor(2^60 / sum) (the reciprocal, F = 30).
typedef struct M3rtSoftmax {
  int64_t max;
  int64_t sum;
  int64_t inv;
} M3rtSoftmax;

/// The longest softmax row the functions take (far below 2^33, where the sum could wrap).
#define M3RT_KERNEL_MAX_ROW 1048576
/// The largest K, N and rows of the linear functions: K at most the IP's M3RT_MAX_K, and
/// rows * K and rows * N below 2^20 each.
#define M3RT_KERNEL_MAX_K 3456
#define M3RT_KERNEL_MAX_WORDS 1048576

/// gelu(x) of an activation x.
int m3rt_ip_gelu(int32_t x, int32_t* out);
int m3rt_ap_gelu(int32_t x, int32_t* out);

/// exp_neg(x) at F = 30 of x <= 0 at F = Fa. The ap_fixed form takes x as the difference of two
/// activations, ap_fixed<33, 11>: -2^32 <= x <= 0 (the IP's takes any x <= 0).
int m3rt_ip_exp_neg(int64_t x, int64_t* out);
int m3rt_ap_exp_neg(int64_t x, int64_t* out);

/// rescale(s, e) = floor(s * e / 2^30) for 0 <= s < 2^63 and 0 <= e <= 2^30.
int m3rt_ip_rescale(int64_t s, int64_t e, int64_t* out);
int m3rt_ap_rescale(int64_t s, int64_t e, int64_t* out);

/// The online softmax of v[0..n) (activations, 1 <= n <= M3RT_KERNEL_MAX_ROW): its final state and every
/// probability prob(j) (F = Fa) into prob[0..n).
int m3rt_ip_softmax(const int32_t* v, size_t n, M3rtSoftmax* state, int32_t* prob);
int m3rt_ap_softmax(const int32_t* v, size_t n, M3rtSoftmax* state, int32_t* prob);

/// The linear unit with 16-bit weights: y[r][j] for a = [rows, k] activations, w = [k, n] weights with
/// weight_frac fraction bits (the profile's Fw or Fpw, i.e. Q(16, 2) or Q(16, 0)), bias[0..n) with
/// bias_frac fraction bits (Fb or Fab: Q(16, 5) or Q(16, 7)), or no bias when bias is null (bias_frac is
/// then ignored); y = [rows, n]. out_in (IP only) stores the matrix the other way, [n, k], as the
/// convolutions and the patch embedding do, before running the unit.
int m3rt_ip_linear16(const int32_t* a, const int16_t* w, const int16_t* bias, size_t rows, size_t k, size_t n,
                     int32_t weight_frac, int32_t bias_frac, int32_t out_in, int32_t* y);
int m3rt_ap_linear16(const int32_t* a, const int16_t* w, const int16_t* bias, size_t rows, size_t k, size_t n,
                     int32_t weight_frac, int32_t bias_frac, int32_t* y);

/// The linear unit with int8 weights: q = [k, n] int8 values, scales[0..n_scales) scale words
/// (mantissa | shift << 16, shift <= 63; n_scales = 1 for one scale for the whole matrix, n for one per
/// output column), bias as for m3rt_ap_linear16. The IP is compiled for one weight mode: one scale runs
/// its per-tensor build (M3RT_WEIGHT_MODE 1), n scales its per-channel build (2).
int m3rt_ip_linear8(const int32_t* a, const int8_t* q, const uint32_t* scales, size_t n_scales, const int16_t* bias,
                    size_t rows, size_t k, size_t n, int32_t bias_frac, int32_t out_in, int32_t* y);
int m3rt_ap_linear8(const int32_t* a, const int8_t* q, const uint32_t* scales, size_t n_scales, const int16_t* bias,
                    size_t rows, size_t k, size_t n, int32_t bias_frac, int32_t* y);

#ifdef __cplusplus
}
#endif

#endif  // M3RT_KERNEL_CHECK_H
