// A task's head (docs/fixed-point.md, "Head") on the last block's output without the cls token: LayerNorm
// per token into a [D, h, w] map, then 3x3 (padding 1) and 1x1 convolutions on the linear unit (rows =
// pixels, gathered im2col style in (input channel, kernel row, kernel column) order), ReLU after all but
// the last, and bilinear resizes. PUP: conv0..3 3x3 (x2 after the first three), conv4 1x1, x2.
// Light: conv0 3x3, conv1 1x1, x(image / grid). Maps ping-pong between two work regions; the final map
// goes to `output`.
#ifndef M3RT_HEAD_H
#define M3RT_HEAD_H

#include "layernorm.h"
#include "linear.h"
#include "resize.h"
#include "trace.h"

namespace m3rt {

enum HeadKind : uint8_t { HEAD_PUP = 0, HEAD_LIGHT = 1 };

struct HeadConfig {
  uint8_t kind;           // HeadKind
  uint32_t dim;           // D
  uint32_t width;         // head_width
  uint32_t out_channels;  // C
  uint32_t grid_h, grid_w, image_h, image_w;
  uint64_t ln_gain, ln_shift;  // byte offsets in the weight section
  uint64_t conv_w[M3RT_MAX_HEAD_CONVS], conv_b[M3RT_MAX_HEAD_CONVS];
  uint64_t x;             // word offset of the last block's output [T, D]
  uint64_t map_a, map_b;  // word offsets of the two head maps
  int64_t eps;
};

static inline uint32_t head_convs(const HeadConfig &h) { return h.kind == HEAD_PUP ? 5 : 2; }

// The weights of convolution j: [cout, cin, kk, kk] as an [out, in] matrix.
static inline WeightRef head_conv_weights(const HeadConfig &h, uint32_t j) {
  const uint32_t last = head_convs(h) - 1;
  const uint32_t cin = j == 0 ? h.dim : h.width, cout = j == last ? h.out_channels : h.width;
  const uint32_t kk = j == last ? 1 : 9;
  WeightRef w = WeightRef();
  w.valid = true;
  w.tensor = h.conv_w[j];
  w.elements = (uint64_t)cout * cin * kk;
  w.k = cin * kk;
  w.n = cout;
  w.layout = W_OUT_IN;
  w.frac = FW;
  w.has_bias = true;
  w.bias = h.conv_b[j];
  w.bias_frac = FB;
  return w;
}

// One convolution of the head (3x3 with padding 1, or 1x1) on the linear unit: rows are the map's
// pixels, each gathering its k * k * cin inputs; outputs go to the [cout, h, w] map at dst.
struct ConvConfig {
  uint32_t cin, cout;  // channels
  uint32_t h, w;       // map size (kept: padding k / 2)
  uint32_t k;          // kernel side, 3 or 1
  bool relu;           // a ReLU follows
  uint64_t src, dst;   // word offsets of the input and output maps in work
};

static inline void conv(const ConvConfig &cc, const WeightRef &w, const WeightRef &next, LinearState &ls,
                        const int16_t *wq16, const int8_t *wq8, const uint8_t *input, int32_t *work,
                        RunStats &st) {
  LinearConfig lc = LinearConfig();
  lc.w = w;
  lc.rows = cc.h * cc.w;
  lc.cols_in = cc.cin * cc.k * cc.k;
  lc.cols_out = cc.cout;
  lc.src = cc.k == 3 ? SRC_CONV3 : SRC_CONV1;
  lc.src_off = cc.src;
  lc.map_h = cc.h;
  lc.map_w = cc.w;
  lc.sink = SINK_MAP;
  lc.act = cc.relu ? ACT_RELU : ACT_NONE;
  lc.dst_off = cc.dst;
  linear(lc, next, ls, wq16, wq8, input, work, st);
}

// `input` is only passed on to the linear unit (one instance, the same ports at every call).
static inline void head(const HeadConfig &h, uint32_t tokens, LinearState &ls, const int16_t *wq16,
                        const int8_t *wq8, const uint8_t *input, int32_t *work, int32_t *output, RunStats &st) {
  const uint32_t n = tokens - 1, convs = head_convs(h), last = convs - 1;
  LayerNormConfig ln;
  ln.rows = n;
  ln.cols = h.dim;
  ln.src = h.x + h.dim;  // without the cls token
  ln.src_stride = h.dim;
  ln.dst = h.map_a;
  ln.transpose = true;
  ln.gain = h.ln_gain;
  ln.shift = h.ln_shift;
  ln.eps = h.eps;
  layernorm(ln, wq16, work, st);
  M3RT_TRACE(work, h.map_a, (uint64_t)n * h.dim, "head.ln");
  uint64_t cur = h.map_a, other = h.map_b;
  uint32_t mh = h.grid_h, mw = h.grid_w;
HEAD_CONVS:
  for (uint32_t j = 0; j < convs; j++) {
#pragma HLS LOOP_TRIPCOUNT min = 2 max = 5
    const WeightRef w = head_conv_weights(h, j);
    ConvConfig cc;
    cc.cin = j == 0 ? h.dim : h.width;
    cc.cout = w.n;
    cc.h = mh;
    cc.w = mw;
    cc.k = j == last ? 1 : 3;
    cc.relu = j != last;
    cc.src = cur;
    cc.dst = other;
    conv(cc, w, j < last ? head_conv_weights(h, j + 1) : no_weights(), ls, wq16, wq8, input, work, st);
    M3RT_TRACE(work, other, (uint64_t)cc.cout * mh * mw, "head.conv%u", j);
    uint64_t t = cur;
    cur = other;
    other = t;
    if (h.kind == HEAD_PUP && j < 3) {
      ResizeConfig rc;
      rc.channels = cc.cout;
      rc.h_in = mh;
      rc.w_in = mw;
      rc.factor = 2;
      resize(rc, work, cur, work, other);
      mh *= 2;
      mw *= 2;
      M3RT_TRACE(work, other, (uint64_t)cc.cout * mh * mw, "head.up%u", j);
      t = cur;
      cur = other;
      other = t;
    }
  }
  ResizeConfig rc;
  rc.channels = h.out_channels;
  rc.h_in = mh;
  rc.w_in = mw;
  rc.factor = h.image_h / mh;
  resize(rc, work, cur, output, 0);
  M3RT_TRACE(output, 0, (uint64_t)h.out_channels * h.image_h * h.image_w, "head.out");
}

}  // namespace m3rt

#endif
