// Word indices of the model descriptor, the descriptor constants and the status codes of
// docs/accel-ip.md, named once for the kernels. Stand-in for the generated hls/include/m3rt_regs.h
// until it lands on main; then the top function uses the generated macros and this file goes away.
#ifndef M3RT_DESC_WORDS_H
#define M3RT_DESC_WORDS_H

#include <stdint.h>

namespace m3rt {
namespace desc {

static const uint32_t MAGIC_VALUE = 0x5049334Du;  // "M3IP"
static const uint32_t NUMERICS_VERSION = 1;
static const uint32_t DESC_VERSION = 1;

static const uint32_t MAGIC = 0;
static const uint32_t VERSION = 1;  // numerics version bits 0..16, descriptor version bits 16..32
static const uint32_t WEIGHT_MODE = 2;
static const uint32_t ACT_FORMAT = 3;  // width bits 0..8, integer bits (i8) bits 8..16
static const uint32_t WEIGHT_FORMAT = 4;
static const uint32_t PATCH_FORMAT = 5;
static const uint32_t BIAS_FORMAT = 6;
static const uint32_t ATTN_BIAS_FORMAT = 7;
static const uint32_t PIXEL_FORMAT = 8;
static const uint32_t IMAGE_H = 9;
static const uint32_t IMAGE_W = 10;
static const uint32_t PATCH = 11;
static const uint32_t DIM = 12;
static const uint32_t DEPTH = 13;
static const uint32_t HEADS = 14;
static const uint32_t MLP_HIDDEN = 15;
static const uint32_t EXPERTS = 16;
static const uint32_t TOP_K = 17;
static const uint32_t EXPERT_HIDDEN = 18;
static const uint32_t HEAD_KIND = 19;
static const uint32_t HEAD_WIDTH = 20;
static const uint32_t MOE_BLOCKS_LO = 21;
static const uint32_t MOE_BLOCKS_HI = 22;
static const uint32_t TOKENS = 23;
static const uint32_t OUT_CHANNELS = 24;  // the widest task output C
static const uint32_t MEAN = 25;          // 3 words
static const uint32_t INVSTD = 28;        // 3 words
static const uint32_t EPS = 31;
static const uint32_t ATT_SCALE = 32;
static const uint32_t WORK_WORDS = 33;
static const uint32_t TENSOR_COUNT = 34;
static const uint32_t TENSORS = 35;  // byte offsets of the backbone tensors, canonical order

// Backbone tensors: the four before the blocks, then twelve per block.
static const uint32_t T_PATCH_W = 0, T_PATCH_B = 1, T_CLS = 2, T_POS = 3, T_BLOCKS = 4, T_PER_BLOCK = 12;
static const uint32_t B_LN1_G = 0, B_LN1_B = 1, B_QKV_W = 2, B_QKV_B = 3, B_PROJ_W = 4, B_PROJ_B = 5,
                      B_LN2_G = 6, B_LN2_B = 7, B_FC1_W = 8, B_FC1_B = 9, B_FC2_W = 10, B_FC2_B = 11;

// Head table: word 0 the task's output channels, then gain, shift, and weight, bias per convolution.
static const uint32_t HEAD_CHANNELS = 0, HEAD_LN_G = 1, HEAD_LN_B = 2, HEAD_CONV0 = 3;

}  // namespace desc

// Status codes.
static const uint32_t STATUS_OK = 0;
static const uint32_t STATUS_BAD_MAGIC = 1;
static const uint32_t STATUS_PROFILE = 2;
static const uint32_t STATUS_TOO_LARGE = 3;
static const uint32_t STATUS_WORK_TOO_SMALL = 4;
static const uint32_t STATUS_UNSUPPORTED = 5;

}  // namespace m3rt

// The interface of the top function (docs/accel-ip.md, "Top function and registers").
#define M3RT_PRAGMA_(x) _Pragma(#x)
#define M3RT_PRAGMA(x) M3RT_PRAGMA_(x)  // expands the macros in x first
#define M3RT_INTERFACE_PRAGMAS                                                                                \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = return bundle = control)                                  \
  M3RT_PRAGMA(HLS INTERFACE mode = m_axi port = model bundle = gmem1 offset = slave max_widen_bitwidth = 256 depth = M3RT_COSIM_DESC_DEPTH) \
  M3RT_PRAGMA(HLS INTERFACE mode = m_axi port = gates bundle = gmem1 offset = slave max_widen_bitwidth = 256 depth = M3RT_COSIM_GATES_DEPTH) \
  M3RT_PRAGMA(HLS INTERFACE mode = m_axi port = head bundle = gmem1 offset = slave max_widen_bitwidth = 256 depth = M3RT_COSIM_HEAD_DEPTH) \
  M3RT_PRAGMA(HLS INTERFACE mode = m_axi port = wq16 bundle = gmem0 offset = slave max_widen_bitwidth = 256 depth = M3RT_COSIM_WEIGHT_DEPTH) \
  M3RT_PRAGMA(HLS INTERFACE mode = m_axi port = wq8 bundle = gmem0 offset = slave max_widen_bitwidth = 256 depth = M3RT_COSIM_WEIGHT_DEPTH) \
  M3RT_PRAGMA(HLS INTERFACE mode = m_axi port = input bundle = gmem1 offset = slave max_widen_bitwidth = 256 depth = M3RT_COSIM_INPUT_DEPTH) \
  M3RT_PRAGMA(HLS INTERFACE mode = m_axi port = output bundle = gmem1 offset = slave max_widen_bitwidth = 256 depth = M3RT_COSIM_OUTPUT_DEPTH) \
  M3RT_PRAGMA(HLS INTERFACE mode = m_axi port = work bundle = gmem1 offset = slave max_widen_bitwidth = 256 depth = M3RT_COSIM_WORK_DEPTH) \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = model bundle = control offset = 0x10)                    \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = gates bundle = control offset = 0x1C)                    \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = head bundle = control offset = 0x28)                     \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = wq16 bundle = control offset = 0x34)                     \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = wq8 bundle = control offset = 0x40)                      \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = input bundle = control offset = 0x4C)                    \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = output bundle = control offset = 0x58)                   \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = work bundle = control offset = 0x64)                     \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = work_words bundle = control offset = 0x70)               \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = status bundle = control offset = 0x78)                   \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = expert_loads bundle = control offset = 0x88)             \
  M3RT_PRAGMA(HLS INTERFACE mode = s_axilite port = weight_kib bundle = control offset = 0x98)

#endif
