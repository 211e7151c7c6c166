// The table itself and the conversions: from double, to double, and casts between every pair of formats.
#include "ap_table.h"

namespace {

using m3rt_ap::FORMATS;
using m3rt_ap::List;
using m3rt_ap::N_FORMATS;

using FormatFn = void (*)(M3rtApFormat*);
using FromDoubleFn = void (*)(double, M3rtApValue*);
using ToDoubleFn = double (*)(std::uint64_t, std::uint64_t);
using CastFn = void (*)(std::uint64_t, std::uint64_t, M3rtApValue*);

template <class T>
void format_fn(M3rtApFormat* out) {
  *out = m3rt_ap::format_of(T());
}

template <class T>
void from_double_fn(double v, M3rtApValue* out) {
  const T x(v);
  *out = m3rt_ap::value_of(x);
}

template <class T>
double to_double_fn(std::uint64_t lo, std::uint64_t hi) {
  return m3rt_ap::from_bits<T>(lo, hi).to_double();
}

// Assignment to a variable of format K: quantization (AP_TRN) then overflow (AP_WRAP).
template <class A, class K>
void cast_fn(std::uint64_t lo, std::uint64_t hi, M3rtApValue* out) {
  const K k(m3rt_ap::from_bits<A>(lo, hi));
  *out = m3rt_ap::value_of(k);
}

template <class... Ts>
const FormatFn* format_table(List<Ts...>) {
  static const FormatFn fns[] = {&format_fn<Ts>...};
  return fns;
}

template <class... Ts>
const FromDoubleFn* from_double_table(List<Ts...>) {
  static const FromDoubleFn fns[] = {&from_double_fn<Ts>...};
  return fns;
}

template <class... Ts>
const ToDoubleFn* to_double_table(List<Ts...>) {
  static const ToDoubleFn fns[] = {&to_double_fn<Ts>...};
  return fns;
}

template <class A, class... Ks>
const CastFn* cast_row() {
  static const CastFn fns[] = {&cast_fn<A, Ks>...};
  return fns;
}

template <class... Ts>
const CastFn* const* cast_table(List<Ts...>) {
  static const CastFn* const rows[] = {cast_row<Ts, Ts...>()...};
  return rows;
}

}  // namespace

extern "C" {

std::size_t m3rt_ap_format_count(void) { return N_FORMATS; }

int m3rt_ap_format(std::size_t i, M3rtApFormat* out) {
  if (i >= N_FORMATS || out == nullptr) return -1;
  format_table(FORMATS())[i](out);
  return 0;
}

int m3rt_ap_from_double(std::size_t i, double v, M3rtApValue* out) {
  if (i >= N_FORMATS || out == nullptr) return -1;
  from_double_table(FORMATS())[i](v, out);
  return 0;
}

int m3rt_ap_to_double(std::size_t i, std::uint64_t lo, std::uint64_t hi, double* out) {
  if (i >= N_FORMATS || out == nullptr) return -1;
  *out = to_double_table(FORMATS())[i](lo, hi);
  return 0;
}

int m3rt_ap_cast(std::size_t i, std::uint64_t lo, std::uint64_t hi, std::size_t k, M3rtApValue* out) {
  if (i >= N_FORMATS || k >= N_FORMATS || out == nullptr) return -1;
  cast_table(FORMATS())[i][k](lo, hi, out);
  return 0;
}

}  // extern "C"
