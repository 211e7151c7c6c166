// The checker's format table and the helpers its C API is built from (ap_check_*.cpp; API in ap_check.h).
// Internal to the checker, C simulation only.
//
// Formats are template arguments in C++; the API takes them as indices into FORMATS. Raw values travel as
// two's complement 128-bit integers split into 64-bit halves, and are written into and read out of the ap
// values bit by bit (.range()), never through double.
#ifndef M3RT_AP_TABLE_H
#define M3RT_AP_TABLE_H

// The third-party headers are not ours to keep warning-clean: -isystem silences most of their warnings,
// these pragmas the flow-analysis ones GCC reports through our inlined calls.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <ap_fixed.h>
#pragma GCC diagnostic pop

#include <cstddef>
#include <cstdint>

#include "ap_check.h"

namespace m3rt_ap {

template <class... Ts>
struct List {};

// The formats, by index. Chosen for their edges: I < 0, I > W, results wider than 64 bits (products up to
// 128), unsigned mixed with signed, I == W, a single bit. <48,12> and <33,11> are the product and the sum
// of the first two, so results of the IP's typical multiply-accumulate are cast from too.
using FORMATS = List<ap_fixed<32, 10>, ap_fixed<16, 2>, ap_fixed<16, 5>, ap_fixed<16, 7>, ap_fixed<16, 0>,
                     ap_ufixed<8, 0>, ap_fixed<48, 12>, ap_fixed<8, 3>, ap_fixed<12, -2>, ap_fixed<20, 24>,
                     ap_ufixed<16, 4>, ap_fixed<64, 28>, ap_fixed<33, 11>, ap_fixed<7, 7>, ap_fixed<24, 8>,
                     ap_fixed<8, 2>, ap_ufixed<12, 14>, ap_ufixed<40, -3>, ap_fixed<1, 1>>;

template <class... Ts>
constexpr std::size_t count(List<Ts...>) {
  return sizeof...(Ts);
}

constexpr std::size_t N_FORMATS = count(FORMATS());

// The format of an ap_fixed_base (or of a type derived from one: ap_fixed, ap_ufixed).
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
M3rtApFormat format_of(const ap_fixed_base<W, I, S, Q, O, N>&) {
  M3rtApFormat f;
  f.width = W;
  f.int_bits = I;
  f.is_signed = S ? 1 : 0;
  return f;
}

// The raw bits of x as a two's complement 128-bit integer (sign-extended when signed), and its format.
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
M3rtApValue value_of(const ap_fixed_base<W, I, S, Q, O, N>& x) {
  static_assert(W <= 128, "raw values are at most 128 bits");
  M3rtApValue out;
  out.format = format_of(x);
  out.lo = x.range(W < 64 ? W - 1 : 63, 0).to_uint64();
  out.hi = W > 64 ? x.range(W - 1, 64).to_uint64() : 0;
  if (S && x[W - 1]) {
    if (W < 64) {
      out.lo |= ~std::uint64_t(0) << (W % 64);
      out.hi = ~std::uint64_t(0);
    } else if (W == 64) {
      out.hi = ~std::uint64_t(0);
    } else if (W < 128) {
      out.hi |= ~std::uint64_t(0) << (W % 64);
    }
  }
  return out;
}

// The value of type T whose raw bits are the low W bits of (hi, lo).
template <class T>
T from_bits(std::uint64_t lo, std::uint64_t hi) {
  const int w = T::width;
  T x;
  if (w <= 64) {
    x.range(w - 1, 0) = static_cast<ap_ulong>(lo);
  } else {
    x.range(63, 0) = static_cast<ap_ulong>(lo);
    x.range(w - 1, 64) = static_cast<ap_ulong>(hi);
  }
  return x;
}

// A binary operation on two formats of the table, as a table of function pointers: a row per first format.
using BinaryFn = void (*)(std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t, M3rtApValue*);

template <class Op, class A, class B>
void binary_fn(std::uint64_t a_lo, std::uint64_t a_hi, std::uint64_t b_lo, std::uint64_t b_hi, M3rtApValue* out) {
  *out = value_of(Op::run(from_bits<A>(a_lo, a_hi), from_bits<B>(b_lo, b_hi)));
}

template <class Op, class A, class... Bs>
const BinaryFn* binary_row() {
  static const BinaryFn fns[] = {&binary_fn<Op, A, Bs>...};
  return fns;
}

template <class Op, class... Ts>
const BinaryFn* const* binary_table(List<Ts...>) {
  static const BinaryFn* const rows[] = {binary_row<Op, Ts, Ts...>()...};
  return rows;
}

// Op::run(a, b) for a of format i and b of format j; -1 for an index out of range or a null `out`.
template <class Op>
int binary(std::size_t i, std::uint64_t a_lo, std::uint64_t a_hi, std::size_t j, std::uint64_t b_lo,
           std::uint64_t b_hi, M3rtApValue* out) {
  if (i >= N_FORMATS || j >= N_FORMATS || out == nullptr) return -1;
  binary_table<Op>(FORMATS())[i][j](a_lo, a_hi, b_lo, b_hi, out);
  return 0;
}

}  // namespace m3rt_ap

#endif  // M3RT_AP_TABLE_H
