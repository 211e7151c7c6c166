// The IP's linear unit on one matrix, for kernel_ip*.cpp: each of those translation units includes this
// after defining M3RT_WEIGHT_MODE (the IP is compiled for one weight mode), so that one function runs the
// 16-bit build, one the int8 per-tensor build and one the int8 per-channel build. Internal to the checker.
//
// linear_out, the epilogue, could be called alone, but its inputs are the IP's too: the accumulator of
// the MAC array, the bias as load_panel aligns it (bias_shift) and the scale word as load_panel fetches
// it for the build's weight mode. So this runs the whole unit, m3rt::linear, on a weight section laid
// out as the IP reads one (the tensor at byte 0, its int8 scale words at the next 4-aligned byte, then
// the bias) and a work memory holding the rows and then the outputs: SRC_ROWS in, SINK_ROWS out, no
// activation, no prefetch of a next matrix.
#ifndef M3RT_KERNEL_IP_LINEAR_H
#define M3RT_KERNEL_IP_LINEAR_H

#include <cstring>
#include <mutex>
#include <vector>

// The IP's headers: their HLS pragmas are unknown to g++ (-Wno-unknown-pragmas, set by build.rs for these
// units only, as hls/tb/Makefile does: g++ cannot silence them by pragma), their loop labels unused, and
// linear() (not inline) unused where a unit does not call it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../include/m3rt/linear.h"
#pragma GCC diagnostic pop

#include "kernel_args.h"

// Internal entry points of the three builds (kernel_ip.cpp, kernel_ip_q8t.cpp, kernel_ip_q8c.cpp): w is
// [k, n] int16 (mode 0) or int8 (modes 1 and 2), scales the build's scale words (n_scales = 1 or n),
// arguments already checked. The caller's out_in asks for the matrix stored [n, k].
extern "C" int m3rt_ip_linear_mode0(const int32_t* a, const void* w, const uint32_t* scales, std::size_t n_scales,
                                    const int16_t* bias, std::size_t rows, std::size_t k, std::size_t n,
                                    int32_t weight_frac, int32_t bias_frac, int32_t out_in, int32_t* y);
extern "C" int m3rt_ip_linear_mode1(const int32_t* a, const void* w, const uint32_t* scales, std::size_t n_scales,
                                    const int16_t* bias, std::size_t rows, std::size_t k, std::size_t n,
                                    int32_t weight_frac, int32_t bias_frac, int32_t out_in, int32_t* y);
extern "C" int m3rt_ip_linear_mode2(const int32_t* a, const void* w, const uint32_t* scales, std::size_t n_scales,
                                    const int16_t* bias, std::size_t rows, std::size_t k, std::size_t n,
                                    int32_t weight_frac, int32_t bias_frac, int32_t out_in, int32_t* y);

namespace m3rt_kc {

// Runs m3rt::linear of this unit's weight mode. The IP's linear unit keeps its weight buffers and A tile
// in static arrays (on-chip memories): one call at a time. Static, not inline: each build has its own.
static int run_ip_linear(const int32_t* a, const void* w, const uint32_t* scales, std::size_t n_scales,
                         const int16_t* bias, std::size_t rows, std::size_t k, std::size_t n, int32_t weight_frac,
                         int32_t bias_frac, int32_t out_in, int32_t* y) {
  static std::mutex one_at_a_time;
  const std::lock_guard<std::mutex> lock(one_at_a_time);
  const bool int8 = m3rt::INT8_WEIGHTS;
  const std::size_t elems = k * n, elem_bytes = int8 ? 1 : 2;
  // The weight section, as bytes in 16-bit words (the IP reads it as int16 and as int8).
  const std::size_t scale_off = int8 ? (elems + 3) & ~std::size_t(3) : elems * 2;
  const std::size_t bias_off = scale_off + (int8 ? 4 * n_scales : 0);
  std::vector<int16_t> section((bias_off + 2 * n + 1) / 2 + 1, 0);
  unsigned char* bytes = reinterpret_cast<unsigned char*>(section.data());
  for (std::size_t c = 0; c < k; c++) {
    for (std::size_t j = 0; j < n; j++) {
      const std::size_t from = c * n + j, to = out_in ? j * k + c : from;
      std::memcpy(bytes + to * elem_bytes, static_cast<const unsigned char*>(w) + from * elem_bytes, elem_bytes);
    }
  }
  for (std::size_t i = 0; int8 && i < n_scales; i++) {  // little-endian halves, as read_word reads them
    section[scale_off / 2 + 2 * i] = static_cast<int16_t>(scales[i] & 0xffffu);
    section[scale_off / 2 + 2 * i + 1] = static_cast<int16_t>(scales[i] >> 16);
  }
  for (std::size_t j = 0; bias != nullptr && j < n; j++) section[bias_off / 2 + j] = bias[j];

  m3rt::WeightRef wr = m3rt::WeightRef();
  wr.valid = true;
  wr.tensor = 0;
  wr.start = 0;
  wr.elements = elems;
  wr.channel0 = 0;
  wr.k = static_cast<uint32_t>(k);
  wr.n = static_cast<uint32_t>(n);
  wr.layout = out_in ? m3rt::W_OUT_IN : m3rt::W_IN_OUT;
  wr.frac = static_cast<int8_t>(weight_frac);
  wr.has_bias = bias != nullptr;
  wr.bias = bias_off;
  wr.bias_start = 0;
  wr.bias_frac = static_cast<int8_t>(bias != nullptr ? bias_frac : 0);

  std::vector<int32_t> work(rows * k + rows * n, 0);
  std::memcpy(work.data(), a, rows * k * sizeof(int32_t));
  m3rt::LinearConfig cfg = m3rt::LinearConfig();
  cfg.rows = static_cast<uint32_t>(rows);
  cfg.cols_in = static_cast<uint32_t>(k);
  cfg.cols_out = static_cast<uint32_t>(n);
  cfg.w = wr;
  cfg.src = m3rt::SRC_ROWS;
  cfg.src_off = 0;
  cfg.src_stride = static_cast<uint32_t>(k);
  cfg.sink = m3rt::SINK_ROWS;
  cfg.act = m3rt::ACT_NONE;
  cfg.dst_off = rows * k;
  cfg.dst_stride = static_cast<uint32_t>(n);

  m3rt::LinearState ls;
  m3rt::linear_reset(ls);
  m3rt::RunStats st = m3rt::RunStats();
  m3rt::linear(cfg, m3rt::no_weights(), ls, section.data(), reinterpret_cast<const int8_t*>(section.data()), nullptr,
               work.data(), st);
  std::memcpy(y, work.data() + rows * k, rows * n * sizeof(int32_t));
  return 0;
}

}  // namespace m3rt_kc

#endif  // M3RT_KERNEL_IP_LINEAR_H
