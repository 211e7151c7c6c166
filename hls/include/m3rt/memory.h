// Burst transfers between the m_axi pointers and local buffers. Each helper is one pipelined loop over
// consecutive addresses, which Vitis HLS turns into AXI bursts; the ports are widened to 256 bits by the
// tool (max_widen_bitwidth=256). Weight-section reads go through gmem0 (wq16, wq8) and are counted in
// RunStats; activations, tables and pixels go through gmem1.
#ifndef M3RT_MEMORY_H
#define M3RT_MEMORY_H

#include <stdint.h>

#include "fx.h"

namespace m3rt {

// What the IP reports after a run (docs/accel-ip.md, registers expert_loads and weight_kib).
struct RunStats {
  uint64_t weight_bytes;  // bytes read from the weight section
  uint32_t expert_loads;  // experts whose weights were fetched
};

// n activations from src[off..] into dst.
static inline void load_words(const int32_t *src, uint64_t off, int32_t *dst, uint32_t n) {
LOAD_WORDS:
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_K
#pragma HLS PIPELINE II = 1
    dst[i] = src[off + i];
  }
}

// n activations from src into dst[off..].
static inline void store_words(int32_t *dst, uint64_t off, const int32_t *src, uint32_t n) {
STORE_WORDS:
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_K
#pragma HLS PIPELINE II = 1
    dst[off + i] = src[i];
  }
}

// n 16-bit elements of the weight section starting at element `start` of the tensor at byte offset
// `tensor`, sign-extended into dst.
static inline void load_i16(const int16_t *wq16, uint64_t tensor, uint64_t start, int32_t *dst, uint32_t n,
                            RunStats &st) {
  uint64_t base = tensor / 2 + start;
LOAD_I16:
  for (uint32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = M3RT_MAX_DIM
#pragma HLS PIPELINE II = 1
    dst[i] = wq16[base + i];
  }
  st.weight_bytes += 2 * (uint64_t)n;
}

// One u32 word of the weight section at a 4-aligned byte offset, read as two 16-bit halves (little
// endian) through the same port as the 16-bit tensors.
static inline uint32_t read_word(const int16_t *wq16, uint64_t byte_off, RunStats &st) {
  uint32_t lo = (uint16_t)wq16[byte_off / 2];
  uint32_t hi = (uint16_t)wq16[byte_off / 2 + 1];
  st.weight_bytes += 4;
  return lo | (hi << 16);
}

// Zeroes n words of dst from off.
static inline void fill_zero(int32_t *dst, uint64_t off, uint64_t n) {
FILL_ZERO:
  for (uint64_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 491520
#pragma HLS PIPELINE II = 1
    dst[off + i] = 0;
  }
}

// The residual connection x = wrap_Wa(x + y) over n words.
static inline void residual_add(int32_t *work, uint64_t x, uint64_t y, uint64_t n) {
RESIDUAL:
  for (uint64_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 491520
#pragma HLS PIPELINE II = 1
    work[x + i] = to_act(w_add(work[x + i], work[y + i]));
  }
}

}  // namespace m3rt

#endif
