// Configuration of the shared linear unit: where its rows come from (the source), which weights it
// multiplies them with, and where its outputs go (the sink). One LinearConfig per invocation.
#ifndef M3RT_LINEAR_TYPES_H
#define M3RT_LINEAR_TYPES_H

#include "router.h"

namespace m3rt {

// Row sources: how the A tile of TILE_ROWS input rows is gathered.
enum Source : uint8_t {
  SRC_ROWS = 0,    // rows of a [rows, cols_in] matrix in work (src_stride words apart)
  SRC_GATHER = 1,  // rows listed by token index at work[index_off..] (an expert's queue)
  SRC_PATCH = 2,   // the normalised pixels of a patch, in (channel, row, column) order
  SRC_CONV3 = 3,   // the 9 * cin values around a pixel of a [cin, h, w] map (padding 1)
  SRC_CONV1 = 4,   // the cin values of a pixel of a [cin, h, w] map
};

// Sinks: where the quantized outputs go.
enum Sink : uint8_t {
  SINK_ROWS = 0,    // dst[row * dst_stride + col]
  SINK_MAP = 1,     // the channel-major map dst[col * rows + row]
  SINK_ROUTER = 2,  // a token's gate logits: routed at once, routes written at dst[row * 2k ..]
};

enum Activation : uint8_t { ACT_NONE = 0, ACT_GELU = 1, ACT_RELU = 2 };

// Weight layouts: [in, out] (linear, gate, experts) or [out, in...] (convolutions, patch embedding).
enum Layout : uint8_t { W_IN_OUT = 0, W_OUT_IN = 1 };

// One weight matrix and its bias, all offsets into the weight section.
struct WeightRef {
  bool valid;
  uint64_t tensor;      // byte offset of the stored tensor
  uint64_t start;       // element of the tensor where this matrix starts (expert e: e * in * out)
  uint64_t elements;    // elements of the whole tensor (its int8 scales follow them)
  uint32_t channel0;    // this matrix's first output channel among the tensor's (expert e: e * out)
  uint32_t k;           // inputs
  uint32_t n;           // outputs
  uint8_t layout;       // Layout
  int8_t frac;          // fraction bits of 16-bit weights: Fw, or Fpw for the patch embedding
  bool has_bias;
  uint64_t bias;        // byte offset of the bias tensor
  uint64_t bias_start;  // element of the bias tensor where this matrix's bias starts
  int8_t bias_frac;     // Fb or Fab
};

// A column panel of a matrix: outputs n0 .. n0 + np, held by one weight buffer.
struct Panel {
  WeightRef w;
  uint32_t n0;
  uint32_t np;
};

struct PatchSource {
  uint32_t image_h, image_w, patch, grid_w;
  int32_t mean[3];    // MEAN_c at F = Fa
  int32_t inv_std[3];  // INVSTD_c at F = 16
};

struct LinearConfig {
  uint32_t rows;      // output rows (tokens, queue entries, patches or pixels)
  uint32_t cols_in;   // K
  uint32_t cols_out;  // N
  WeightRef w;
  uint8_t src;          // Source
  uint64_t src_off;     // word offset in work of the source rows or map
  uint32_t src_stride;  // SRC_ROWS, SRC_GATHER: words between rows
  uint64_t index_off;   // SRC_GATHER: word offset of the row indices
  uint32_t map_h;       // SRC_CONV3, SRC_CONV1: map height
  uint32_t map_w;       // map width (rows = map_h * map_w)
  PatchSource patch;    // SRC_PATCH
  uint8_t sink;         // Sink
  uint8_t act;          // Activation
  uint64_t dst_off;     // word offset in work of the output
  uint32_t dst_stride;  // SINK_ROWS: words between output rows
  RouterConfig router;  // SINK_ROUTER
};

// What the ping-pong weight buffers hold across invocations: a panel prefetched by the previous
// invocation (its `next` matrix) is not loaded again.
struct LinearState {
  bool ready;    // buffer `cur` holds `held`
  Panel held;
  uint8_t cur;   // the buffer the next panel computes from
};

static inline void linear_reset(LinearState &s) {
  s.ready = false;
  s.cur = 0;
}

// Widest panel of a matrix with k inputs: as many TILE_COLS groups as the buffer holds.
static inline uint32_t panel_width(uint32_t k, uint32_t n) {
  uint32_t groups = M3RT_WBUF_DEPTH / (k > 0 ? k : 1);
  uint32_t w = groups * M3RT_TILE_COLS;
  if (w > M3RT_MAX_PANEL) w = M3RT_MAX_PANEL;
  return w < n ? w : n;
}

static inline Panel panel_of(const WeightRef &w, uint32_t p) {
  Panel pn;
  pn.w = w;
  uint32_t width = panel_width(w.k, w.n);
  pn.n0 = p * width;
  pn.np = w.n - pn.n0 < width ? w.n - pn.n0 : width;
  if (!w.valid) pn.np = 0;
  return pn;
}

static inline bool same_panel(const Panel &a, const Panel &b) {
  return a.w.valid && b.w.valid && a.w.tensor == b.w.tensor && a.w.start == b.w.start && a.w.k == b.w.k &&
         a.w.n == b.w.n && a.w.layout == b.w.layout && a.w.has_bias == b.w.has_bias && a.w.bias == b.w.bias &&
         a.w.bias_start == b.w.bias_start && a.w.frac == b.w.frac && a.w.bias_frac == b.w.bias_frac &&
         a.w.channel0 == b.w.channel0 && a.w.elements == b.w.elements && a.n0 == b.n0 && a.np == b.np;
}

}  // namespace m3rt

#endif
