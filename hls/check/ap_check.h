// The C API of ap_check.cpp (mirrored in hls/src/ap_check.rs). Formats are indices into the checker's table
// (m3rt_ap_format tells which); a raw value is a two's complement 128-bit integer given as its low and high
// 64-bit halves. Every function returns 0, or -1 for an index out of range or a null output pointer.
#ifndef M3RT_AP_CHECK_H
#define M3RT_AP_CHECK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An ap_fixed format: W, I and the signedness (1 for ap_fixed, 0 for ap_ufixed).
typedef struct M3rtApFormat {
  int32_t width;
  int32_t int_bits;
  int32_t is_signed;
} M3rtApFormat;

/// A value: its raw bits (sign-extended to 128 bits when signed) and the format of its C++ type.
typedef struct M3rtApValue {
  uint64_t lo;
  uint64_t hi;
  M3rtApFormat format;
} M3rtApValue;

/// The number of formats in the table.
size_t m3rt_ap_format_count(void);
/// Format i of the table.
int m3rt_ap_format(size_t i, M3rtApFormat* out);
/// The value of format i constructed from v (ap_fixed's constructor from double).
int m3rt_ap_from_double(size_t i, double v, M3rtApValue* out);
/// to_double() of the value of format i with raw bits (hi, lo).
int m3rt_ap_to_double(size_t i, uint64_t lo, uint64_t hi, double* out);
/// The value of format i with raw bits (hi, lo), assigned to a variable of format k.
int m3rt_ap_cast(size_t i, uint64_t lo, uint64_t hi, size_t k, M3rtApValue* out);
/// a + b, a of format i, b of format j, in the C++ result type.
int m3rt_ap_add(size_t i, uint64_t a_lo, uint64_t a_hi, size_t j, uint64_t b_lo, uint64_t b_hi,
                M3rtApValue* out);
/// a - b, as m3rt_ap_add.
int m3rt_ap_sub(size_t i, uint64_t a_lo, uint64_t a_hi, size_t j, uint64_t b_lo, uint64_t b_hi,
                M3rtApValue* out);
/// a * b, as m3rt_ap_add.
int m3rt_ap_mul(size_t i, uint64_t a_lo, uint64_t a_hi, size_t j, uint64_t b_lo, uint64_t b_hi,
                M3rtApValue* out);

#ifdef __cplusplus
}
#endif

#endif  // M3RT_AP_CHECK_H
