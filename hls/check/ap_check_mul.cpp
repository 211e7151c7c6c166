// m3rt_ap_mul: a * b in ap_fixed's result type, for every pair of formats of the table.
#include "ap_table.h"

namespace {

struct Mul {
  template <class A, class B>
  static auto run(const A& a, const B& b) -> decltype(a * b) {
    return a * b;
  }
};

}  // namespace

extern "C" int m3rt_ap_mul(std::size_t i, std::uint64_t a_lo, std::uint64_t a_hi, std::size_t j,
                          std::uint64_t b_lo, std::uint64_t b_hi, M3rtApValue* out) {
  return m3rt_ap::binary<Mul>(i, a_lo, a_hi, j, b_lo, b_hi, out);
}
