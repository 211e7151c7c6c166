// Kernel tests on small cases worked out by hand (Fa = 22: 1.0 is 4194304). Prints PASSED or FAILED.
#include <stdio.h>
#include <string.h>

// The third-party ap_types headers trip g++'s middle-end uninitialized warnings once inlined (their
// default constructors leave the value unset); -isystem does not cover those.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <ap_fixed.h>
#include <ap_int.h>
#pragma GCC diagnostic pop

#include "m3rt/head.h"
#include "m3rt/model_desc.h"
#include "m3rt/moe.h"

using namespace m3rt;

static int failures = 0;
static void check(const char *what, long long got, long long want) {
  if (got != want) {
    printf("  FAIL %s: got %lld, want %lld\n", what, got, want);
    failures++;
  }
}

static const int64_t ONE = (int64_t)1 << FA;

static void test_helpers() {
  check("wrap 0x180000000 to 32", wrap(0x180000000LL, 32), -0x80000000LL);
  check("wrap 200 to 8", wrap(200, 8), -56);
  check("sar -5 >> 1", sar(-5, 1), -3);  // floor(-2.5)
  check("floor_div(-7, 2)", floor_div(-7, 2), -4);
  check("floor_div(-8, 2)", floor_div(-8, 2), -4);
  check("floor_div(7, 2)", floor_div(7, 2), 3);
  check("isqrt(99)", isqrt(99), 9);
  check("isqrt(100)", isqrt(100), 10);
  check("isqrt(i64 max)", isqrt(INT64_MAX), 3037000499LL);
  // The helpers agree with ap_fixed's AP_TRN / AP_WRAP on a sweep of values.
  for (int64_t v = -300000; v <= 300000; v += 997) {
    ap_int<12> w12 = (ap_int<64>)v;  // AP_WRAP into 12 bits
    check("wrap vs ap_int<12>", wrap(v, 12), (long long)w12.to_int64());
    ap_fixed<40, 30, AP_TRN, AP_WRAP> f = 0;
    f.range(39, 0) = (ap_int<64>)v;                        // v * 2^-10
    ap_fixed<40, 40, AP_TRN, AP_WRAP> i = f;               // truncation to an integer: floor
    check("sar vs AP_TRN", sar(v, 10), (long long)i.to_int64());
  }
  // The 128-bit int8 rescale: 1000 * 40000 >> 20 = 38.15 -> 38; -1000 -> floor(-38.15) = -39.
  check("mul_shift 1000", mul_shift_u16(1000, 40000, 20), 38);
  check("mul_shift -1000", mul_shift_u16(-1000, 40000, 20), -39);
  uint64_t seed = 12345;
  for (int n = 0; n < 20000; n++) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t acc = (int64_t)seed;
    uint32_t m = (uint32_t)(seed >> 17) & 0xffff;
    unsigned s = (unsigned)(seed >> 40) % 64;
    __int128 p = (__int128)acc * m;
    check("mul_shift vs int128", mul_shift_u16(acc, m, s), (long long)(int64_t)(uint64_t)(p >> s));
  }
}

static void test_gelu() {
  check("gelu(0)", gelu(0), 0);
  // 1.0: i = 2^22 >> 17 = 32, r = 0: 4194304 - GELU_T[32] = 4194304 - 665448 (0.841345 * 2^22).
  check("gelu(1)", gelu((int32_t)ONE), 3528856);
  check("gelu(-1)", gelu((int32_t)-ONE), -665448);
  // 6.0: i = 192 >= 176, plain ReLU.
  check("gelu(6)", gelu((int32_t)(6 * ONE)), 6 * ONE);
  // 0.5 + 1/64 = 2162688: i = 16, r = 65536; c = 647050 + ((663170 - 647050) * 65536 >> 17) = 655110.
  check("gelu(0.515625)", gelu(2162688), 2162688 - 655110);
  check("gelu(-0.515625)", gelu(-2162688), -655110);
}

static void test_exp_softmax() {
  check("exp_neg(0)", exp_neg(0), ONE30);
  check("exp_neg(-32)", exp_neg(-(32 * ONE)), 0);
  // -1.0: t = (-2^22 * LOG2E) >> 30 = -6051102; ip = -2, fp = 2337506; i = 35, r = 43746;
  // m = EXP2_T[35] + ((EXP2_T[36] - EXP2_T[35]) * 43746 >> 16) = 1580050601; >> 2 = 395012650 (e^-1 * 2^30
  // = 395007542).
  check("exp_neg(-1)", exp_neg(-ONE), 395012650);
  // -0.5: t = -3025551, ip = -1, fp = 1168753, i = 17, r = 54641: m = 1302525191 >> 1.
  check("exp_neg(-0.5)", exp_neg(-ONE / 2), 651262595);
  // softmax(0, 1, -1): m = 0, s = 2^30; 1 > 0: s = (2^30 * exp_neg(-1) >> 30) + 2^30 = 1468754474, m = 1;
  // -1: s += exp_neg(-2) = 145317034 (1162536277 >> 3) -> 1614071508; inv = 2^60 / s = 714293944;
  // probs (e * inv) >> 38: 395012650 -> 1026474, 2^30 -> 2790210, 145317034 -> 377618
  // (0.24473, 0.66524, 0.09003).
  int32_t v[3] = {0, (int32_t)ONE, (int32_t)-ONE}, p[3];
  softmax(v, p, 3);
  check("softmax p0", p[0], 1026474);
  check("softmax p1", p[1], 2790210);
  check("softmax p2", p[2], 377618);
}

static void test_layernorm() {
  // [1, 2, 3], gain 1.0 (2048 at Fb = 11), shift 0, EPS = round(1e-6 * 2^32) = 4295. S = 6:
  // sum = 25165824, sq = (2^16)^2 * (1 + 4 + 9) = 60129542144; mean = 8388608, ex2 = 20043180714;
  // m16 = 131072, var = ex2 - 2^34 = 2863311530; sd = isqrt(var + 4295) = 53509; inv = 2^36 / sd = 1284260;
  // n = ((x - mean) * inv) >> 20 = -5137040, 0, 5137040 (-1.22477, 0, 1.22477).
  int32_t x[3] = {(int32_t)ONE, (int32_t)(2 * ONE), (int32_t)(3 * ONE)}, g[3] = {2048, 2048, 2048};
  int32_t b[3] = {0, 0, 0}, y[3];
  layernorm_row(x, g, b, y, 3, 4295);
  check("ln y0", y[0], -5137040);
  check("ln y1", y[1], 0);
  check("ln y2", y[2], 5137040);
  // Shift 0.5 (1024): + 1024 << 11 = 2097152.
  int32_t b2[3] = {1024, 1024, 1024};
  layernorm_row(x, g, b2, y, 3, 4295);
  check("ln shifted y0", y[0], -5137040 + 2097152);
}

static void test_linear() {
  // a = [[1, 2], [-0.5, 0.25]], W = [[0.5, -1], [0.25, 1.5]] (Fw = 14), bias [0.125, -0.5] (Fb = 11):
  // y = [[1.125, 1.5], [-0.0625, 0.375]] exactly.
  static int16_t wsec[256];
  static int8_t wsec8[512];
  memset(wsec, 0, sizeof wsec);
  const int16_t W[4] = {8192, -16384, 4096, 24576};
  if (!INT8_WEIGHTS) {
    memcpy(wsec, W, sizeof W);
  } else {  // int8 per tensor or channel: q = W / 256 with scale 256 * 2^-14 (m = 32768, s = 21)
    for (int i = 0; i < 4; i++) wsec8[i] = (int8_t)(W[i] / 256);
    uint32_t sw = 32768u | 21u << 16;
    memcpy(wsec8 + 4, &sw, 4);
    memcpy(wsec8 + 8, &sw, 4);
    memcpy(wsec, wsec8, 16);
  }
  wsec[32] = 256;  // bias at byte 64
  wsec[33] = -1024;
  static int32_t work[16];
  const int32_t a[4] = {(int32_t)ONE, (int32_t)(2 * ONE), (int32_t)(-ONE / 2), (int32_t)(ONE / 4)};
  memcpy(work, a, sizeof a);
  WeightRef w = WeightRef();
  w.valid = true;
  w.tensor = 0;
  w.elements = 4;
  w.k = 2;
  w.n = 2;
  w.layout = W_IN_OUT;
  w.frac = FW;
  w.has_bias = true;
  w.bias = 64;
  w.bias_frac = FB;
  LinearConfig lc = LinearConfig();
  lc.rows = 2;
  lc.cols_in = 2;
  lc.cols_out = 2;
  lc.w = w;
  lc.src = SRC_ROWS;
  lc.src_off = 0;
  lc.src_stride = 2;
  lc.sink = SINK_ROWS;
  lc.dst_off = 8;
  lc.dst_stride = 2;
  LinearState ls;
  linear_reset(ls);
  RunStats st = RunStats();
  linear(lc, no_weights(), ls, wsec, INT8_WEIGHTS ? wsec8 : (const int8_t *)wsec, 0, work, st);
  check("linear y00", work[8], 4718592);
  check("linear y01", work[9], 6291456);
  check("linear y10", work[10], -262144);
  check("linear y11", work[11], 1572864);
  // The output shifts truncate toward minus infinity: -2^-22 * 2^-14 (acc = -1) >> 14 = -1, not 0.
  if (!INT8_WEIGHTS) {
    check("linear floor", linear_out(-1, 0, 0, FW), -1);
  }
  // Transposed ([out, in]) weights with the same values give the same products.
  if (!INT8_WEIGHTS) {
    const int16_t WT[4] = {8192, 4096, -16384, 24576};
    memcpy(wsec, WT, sizeof WT);
    lc.w.layout = W_OUT_IN;
    linear(lc, no_weights(), ls, wsec, (const int8_t *)wsec, 0, work, st);
    check("linear out-in y01", work[9], 6291456);
    check("linear out-in y10", work[10], -262144);
  }
}

static void test_resize() {
  // 2x2 -> 4x4 (s = 2, L = 4): output index o = 0..3 reads (i0, i1, lambda) = (0,1,0), (0,1,1), (0,1,3),
  // (1,1,1), i.e. weights 1, 3/4 + 1/4, 1/4 + 3/4, 1. Rows [0, 16] and [32, 48] give
  // [0 4 12 16], [8 12 20 24], [24 28 36 40], [32 36 44 48].
  int32_t src[4] = {0, 16, 32, 48}, dst[16];
  ResizeConfig rc;
  rc.channels = 1;
  rc.h_in = 2;
  rc.w_in = 2;
  rc.factor = 2;
  resize(rc, src, 0, dst, 0);
  const int32_t want[16] = {0, 4, 12, 16, 8, 12, 20, 24, 24, 28, 36, 40, 32, 36, 44, 48};
  for (int i = 0; i < 16; i++) check("resize 2x2 -> 4x4", dst[i], want[i]);
  // The sum is floored: [-1, 0; 0, 0] at (0, 1): 4 * 3 * -1 >> 4 = floor(-0.75) = -1.
  int32_t neg[4] = {-1, 0, 0, 0};
  resize(rc, neg, 0, dst, 0);
  check("resize floor", dst[1], -1);
}

static void test_router() {
  // Logits [1, 3, 3, 2]: k = 2 keeps experts 1 and 2 (the tie goes to the lower index first), with equal
  // probabilities; k = 3 adds expert 3.
  int32_t l[4] = {(int32_t)ONE, (int32_t)(3 * ONE), (int32_t)(3 * ONE), (int32_t)(2 * ONE)}, kept[3], prob[3];
  RouterConfig rc;
  rc.experts = 4;
  rc.top_k = 2;
  route_token(l, rc, kept, prob);
  check("route k=2 first", kept[0], 1);
  check("route k=2 second", kept[1], 2);
  check("route equal probs", prob[0], prob[1]);
  int32_t all[4];
  softmax(l, all, 4);
  check("route prob is softmax", prob[0], all[1]);
  rc.top_k = 3;
  route_token(l, rc, kept, prob);
  check("route k=3 third", kept[2], 3);
  check("route k=3 prob", prob[2], all[3]);
}

static void test_status() {
  // A descriptor of a micro model (32x64 image, P = 16: 9 tokens, D = 64, 4 blocks, light head, C = 3) and
  // one change per status code.
  uint32_t d[35 + 4 + 12 * 4] = {0}, gates[2] = {0, 0}, head[7] = {3, 0, 0, 0, 0, 0, 0};
  d[0] = 0x5049334D;
  d[1] = 1 | 1 << 16;
  d[2] = M3RT_WEIGHT_MODE;
  const int fmt[6][2] = {{M3RT_ACT_W, M3RT_ACT_I},   {M3RT_WEIGHT_W, M3RT_WEIGHT_I}, {M3RT_PATCH_W, M3RT_PATCH_I},
                         {M3RT_BIAS_W, M3RT_BIAS_I}, {M3RT_ABIAS_W, M3RT_ABIAS_I},   {M3RT_PIXEL_W, M3RT_PIXEL_I}};
  for (int i = 0; i < 6; i++) d[3 + i] = format_word(fmt[i][0], fmt[i][1]);
  const uint32_t hyper[12] = {32, 64, 16, 64, 4, 2, 256, 4, 2, 128, 1, 32};
  for (int i = 0; i < 12; i++) d[9 + i] = hyper[i];
  d[21] = 0xA;
  d[23] = 9;
  d[24] = 3;
  d[34] = 4 + 12 * 4;
  ModelInfo m;
  // Work: 8TD + T * 256 + 4Tk + (E + 1) + 2M with M = max(64, 32) * 2 * 4 = 512: 4608 + 2304 + 72 + 5 + 1024.
  const uint32_t need = 8013;
  check("status ok", read_model(d, gates, head, need, m), STATUS_OK);
  check("work formula", work_layout(m).total, need);
  check("status work", read_model(d, gates, head, need - 1, m), STATUS_WORK_TOO_SMALL);
  d[0] ^= 1;
  check("status magic", read_model(d, gates, head, need, m), STATUS_BAD_MAGIC);
  d[0] ^= 1;
  d[3] ^= 1;
  check("status profile", read_model(d, gates, head, need, m), STATUS_PROFILE);
  d[3] ^= 1;
  d[12] = 2 * M3RT_MAX_DIM;
  check("status too large", read_model(d, gates, head, need, m), STATUS_TOO_LARGE);
  d[12] = 63;  // not a multiple of the 2 heads
  check("status unsupported", read_model(d, gates, head, need, m), STATUS_UNSUPPORTED);
  d[12] = 64;
  d[11] = 8;  // light head over 8-pixel patches is fine, but the token count no longer matches
  check("status tokens", read_model(d, gates, head, need, m), STATUS_UNSUPPORTED);
}

int main() {
  test_helpers();
  test_gelu();
  test_exp_softmax();
  test_layernorm();
  test_linear();
  test_resize();
  test_router();
  test_status();
  printf("unit tests (weight mode %d): %s\n", WEIGHT_MODE, failures ? "FAILED" : "PASSED");
  return failures ? 1 : 0;
}
