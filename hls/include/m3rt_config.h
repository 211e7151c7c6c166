// Design parameters of the M3RT accelerator IP: the numeric profile it is built for and the build-time
// maxima that bound every on-chip buffer. A model whose hyperparameters exceed a maximum is refused with
// status TOO_LARGE (docs/accel-ip.md). Only this file and the generated profile decide array sizes.
#ifndef M3RT_CONFIG_H
#define M3RT_CONFIG_H

#include <stdint.h>

// ---- Numeric profile (docs/fixed-point.md, "Profiles") ----------------------------------------------
// The generated profile header (from m3rt::fixed::Profile) wins when it exists; these are the defaults
// of the `edge-moe` profile (W16A32) it replaces until then.
#ifdef __has_include
#if __has_include("m3rt_profile.h")
#include "m3rt_profile.h"
#endif
#endif

#ifndef M3RT_WEIGHT_MODE
#define M3RT_WEIGHT_MODE 0  // 0 fixed16, 1 int8 per tensor, 2 int8 per channel
#endif
#ifndef M3RT_ACT_W
#define M3RT_ACT_W 32  // activations Q(32, 10)
#define M3RT_ACT_I 10
#endif
#ifndef M3RT_WEIGHT_W
#define M3RT_WEIGHT_W 16  // weights Q(16, 2)
#define M3RT_WEIGHT_I 2
#endif
#ifndef M3RT_PATCH_W
#define M3RT_PATCH_W 16  // patch-embedding weights Q(16, 0)
#define M3RT_PATCH_I 0
#endif
#ifndef M3RT_BIAS_W
#define M3RT_BIAS_W 16  // biases, gains, embeddings Q(16, 5)
#define M3RT_BIAS_I 5
#endif
#ifndef M3RT_ABIAS_W
#define M3RT_ABIAS_W 16  // attention biases Q(16, 7)
#define M3RT_ABIAS_I 7
#endif
#ifndef M3RT_PIXEL_W
#define M3RT_PIXEL_W 8  // pixels UQ(8, 0)
#define M3RT_PIXEL_I 0
#endif

// ---- Build-time maxima ------------------------------------------------------------------------------
#define M3RT_MAX_DIM 384          // embedding width D (ViT-S)
#define M3RT_MAX_HEADS 12         // attention heads
#define M3RT_MAX_HEAD_DIM 64      // D / heads
#define M3RT_MAX_TOKENS 1280      // T = patches + 1 (NYUD-v2 480x640: 1201)
#define M3RT_MAX_DEPTH 24         // blocks
#define M3RT_MAX_HIDDEN 1536      // dense MLP hidden width and expert hidden width Dh
#define M3RT_MAX_EXPERTS 64       // experts per MoE layer
#define M3RT_MAX_TOP_K 8          // experts kept per token
#define M3RT_MAX_HEAD_WIDTH 256   // width of the head's convolutions
#define M3RT_MAX_OUT_CHANNELS 64  // a task's output channels C
#define M3RT_MAX_PATCH 16         // patch size P
#define M3RT_MAX_IMAGE 1024       // image height and width

// ---- The shared linear unit -------------------------------------------------------------------------
// A tile of TILE_ROWS rows x TILE_COLS output columns advances one input element per cycle:
// 16 x 16 = 256 multiply-accumulates per cycle, as Edge-MoE's unit.
#define M3RT_TILE_ROWS 16
#define M3RT_TILE_COLS 16
// Words of one weight buffer (two of them: ping-pong). 768 x 192 16-bit weights, Edge-MoE's size: one
// whole dense or expert matrix of m3vit-t; larger matrices run in column panels.
#define M3RT_WBUF_WORDS 147456
#define M3RT_WBUF_DEPTH (M3RT_WBUF_WORDS / M3RT_TILE_COLS)
// Longest input row of the linear unit: a 3x3 convolution over D or head-width channels.
#define M3RT_MAX_K (9 * (M3RT_MAX_DIM > M3RT_MAX_HEAD_WIDTH ? M3RT_MAX_DIM : M3RT_MAX_HEAD_WIDTH))
// Widest column panel (one bias and one scale per column).
#define M3RT_MAX_PANEL 1536

// ---- Attention ----------------------------------------------------------------------------------------
#define M3RT_ATT_QUERIES 16  // queries per tile (one score row each)
#define M3RT_ATT_LANES 8     // head-dimension elements per cycle: 16 x 8 = 128 MAC per cycle

// ---- Descriptor tables ------------------------------------------------------------------------------
#define M3RT_MAX_DESC_WORDS (35 + 4 + 12 * M3RT_MAX_DEPTH)
#define M3RT_MAX_HEAD_CONVS 5
#define M3RT_MAX_HEAD_TABLE (3 + 2 * M3RT_MAX_HEAD_CONVS)

// ---- Co-simulation port depths (elements; only RTL co-simulation reads them) -----------------------
// Literal numbers: they are pasted into the interface pragmas. The testbench allocates at least these.
#define M3RT_COSIM_DESC_DEPTH 327       // M3RT_MAX_DESC_WORDS
#define M3RT_COSIM_GATES_DEPTH 24       // M3RT_MAX_DEPTH
#define M3RT_COSIM_HEAD_DEPTH 13        // M3RT_MAX_HEAD_TABLE
#define M3RT_COSIM_WEIGHT_DEPTH 4194304 // 16-bit elements (8 MiB)
#define M3RT_COSIM_INPUT_DEPTH 65536    // bytes
#define M3RT_COSIM_OUTPUT_DEPTH 262144  // words
#define M3RT_COSIM_WORK_DEPTH 2097152   // words

#endif
