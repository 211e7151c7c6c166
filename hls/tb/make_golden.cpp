// Synthetic golden vectors for the testbench, made by the plain C++ reference (reference_model.h) on a
// model with random weights: the same directory format as `m3rt golden` (docs/accel-ip.md), so the
// testbench, the memory image and every kernel of the IP can be checked before the Rust golden model
// exists. It is a second C++ reading of the spec, not the golden model.
//
//   make_golden <out-dir> [micro|pup|m3vit-t] [--task 0|1] [--seed N]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "golden.h"
#include "reference_model.h"

namespace {

struct Hyper {
  uint32_t image_h, image_w, patch, dim, depth, heads, mlp, experts, top_k, dh, head_kind, width;
  uint64_t moe;
  uint32_t channels[2];  // two tasks
};

uint64_t rng = 0x9E3779B97F4A7C15ULL;
uint64_t next_u64() {  // splitmix64
  uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
double uniform() { return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0; }  // [-1, 1)

std::vector<uint8_t> wsec;
uint64_t place(uint64_t bytes) {
  uint64_t at = (wsec.size() + 63) & ~(uint64_t)63;
  wsec.resize(at + bytes, 0);
  return at;
}

// A 16-bit tensor of values uniform in [-r, r] around `center`, in `frac` fraction bits.
uint64_t tensor16(uint64_t n, double center, double r, int frac) {
  uint64_t at = place(2 * n);
  for (uint64_t i = 0; i < n; i++) {
    double v = rint((center + r * uniform()) * ldexp(1.0, frac));
    v = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    int16_t q = (int16_t)v;
    memcpy(&wsec[at + 2 * i], &q, 2);
  }
  return at;
}

// A matrix of n elements with weights uniform in [-r, r]; chan(i) is element i's output channel (of
// `channels`). 16-bit: format `frac`; int8: the spec's quantization per channel or per tensor.
template <class Chan>
uint64_t matrix(uint64_t n, uint32_t channels, double r, int frac, Chan chan) {
  if (!m3rt::INT8_WEIGHTS) return tensor16(n, 0.0, r, frac);
  const uint32_t scales = m3rt::WEIGHT_MODE == 1 ? 1 : channels;
  uint64_t at = place(((n + 3) & ~(uint64_t)3) + 4 * (uint64_t)scales);
  std::vector<double> sigma(scales);
  for (uint32_t c = 0; c < scales; c++) sigma[c] = r * (0.5 + 0.5 * fabs(uniform())) / 127.0;
  std::vector<uint32_t> word(scales);
  for (uint32_t c = 0; c < scales; c++) {
    int s = 15 - (int)floor(log2(sigma[c]));
    if (sigma[c] * ldexp(1.0, s) >= 65536.0) s--;
    if (sigma[c] * ldexp(1.0, s) < 32768.0) s++;
    s = s < 0 ? 0 : s > 63 ? 63 : s;
    double m = rint(sigma[c] * ldexp(1.0, s));
    word[c] = (uint32_t)(m > 65535 ? 65535 : m) | (uint32_t)s << 16;
    memcpy(&wsec[at + ((n + 3) & ~(uint64_t)3) + 4 * c], &word[c], 4);
  }
  for (uint64_t i = 0; i < n; i++) {
    uint32_t c = m3rt::WEIGHT_MODE == 1 ? 0 : chan(i);
    double scale = (word[c] & 0xffff) * ldexp(1.0, -(int)(word[c] >> 16));
    double q = scale > 0 ? rint(r * uniform() / scale) : 0;
    wsec[at + i] = (uint8_t)(int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
  }
  return at;
}

uint64_t linear_io(uint64_t in, uint64_t out, double r) {
  return matrix(in * out, (uint32_t)out, r, m3rt::FW, [=](uint64_t i) { return (uint32_t)(i % out); });
}
uint64_t linear_oi(uint64_t out, uint64_t in, double r, int frac) {
  return matrix(out * in, (uint32_t)out, r, frac, [=](uint64_t i) { return (uint32_t)(i / in); });
}

bool preset(const char *name, Hyper &h) {
  if (!strcmp(name, "micro")) {  // light head, MoE in blocks 1 and 3
    h = Hyper{32, 64, 16, 64, 4, 2, 256, 4, 2, 128, 1, 32, 0b1010, {3, 1}};
  } else if (!strcmp(name, "pup")) {  // the PUP head on a small image
    h = Hyper{32, 48, 16, 48, 2, 3, 96, 6, 3, 64, 0, 24, 0b10, {5, 2}};
  } else if (!strcmp(name, "m3vit-t")) {  // Edge-MoE's workload, Cityscapes semseg / depth
    h = Hyper{128, 256, 16, 192, 12, 3, 768, 16, 2, 384, 0, 256, 0xAAA, {7, 1}};
  } else {
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    printf("usage: %s <out-dir> [micro|pup|m3vit-t] [--task 0|1] [--seed N]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  Hyper h;
  const char *pname = argc > 2 && argv[2][0] != '-' ? argv[2] : "micro";
  unsigned task = 1;
  for (int i = 2; i + 1 < argc; i++) {
    if (!strcmp(argv[i], "--task")) task = (unsigned)atoi(argv[i + 1]) & 1;
    if (!strcmp(argv[i], "--seed")) rng = strtoull(argv[i + 1], 0, 0);
  }
  if (!preset(pname, h)) {
    printf("unknown preset %s\n", pname);
    return 2;
  }
  const uint32_t D = h.dim, P = h.patch, T = (h.image_h / P) * (h.image_w / P) + 1, E = h.experts, Dh = h.dh;
  const double sD = sqrt(3.0 / D);
  std::vector<uint32_t> off;
  off.push_back((uint32_t)linear_oi(D, 3 * P * P, sqrt(3.0 / (3 * P * P)), m3rt::FPW));
  off.push_back((uint32_t)tensor16(D, 0, 0.1, m3rt::FB));
  off.push_back((uint32_t)tensor16(D, 0, 0.5, m3rt::FB));
  off.push_back((uint32_t)tensor16((uint64_t)T * D, 0, 0.5, m3rt::FB));
  for (uint32_t b = 0; b < h.depth; b++) {
    const bool moe = (h.moe >> b) & 1;
    off.push_back((uint32_t)tensor16(D, 1.0, 0.2, m3rt::FB));
    off.push_back((uint32_t)tensor16(D, 0, 0.1, m3rt::FB));
    off.push_back((uint32_t)linear_io(D, 3 * D, 2.0 * sD));
    off.push_back((uint32_t)tensor16(3 * D, 0, 0.2, m3rt::FAB));
    off.push_back((uint32_t)linear_io(D, D, sD));
    off.push_back((uint32_t)tensor16(D, 0, 0.1, m3rt::FAB));
    off.push_back((uint32_t)tensor16(D, 1.0, 0.2, m3rt::FB));
    off.push_back((uint32_t)tensor16(D, 0, 0.1, m3rt::FB));
    const uint32_t F = moe ? Dh : h.mlp, S = moe ? E : 1;
    off.push_back((uint32_t)matrix((uint64_t)S * D * F, S * F, sD, m3rt::FW,
                                   [=](uint64_t i) { return (uint32_t)((i / ((uint64_t)D * F)) * F + i % F); }));
    off.push_back((uint32_t)tensor16((uint64_t)S * F, 0, 0.1, m3rt::FB));
    off.push_back((uint32_t)matrix((uint64_t)S * F * D, S * D, sqrt(3.0 / F), m3rt::FW,
                                   [=](uint64_t i) { return (uint32_t)((i / ((uint64_t)F * D)) * D + i % D); }));
    off.push_back((uint32_t)tensor16((uint64_t)S * D, 0, 0.1, m3rt::FB));
  }
  // Two tasks: each its gates and head; the golden vectors use `task`.
  std::vector<uint32_t> gates[2], headt[2];
  const uint32_t convs = h.head_kind == 0 ? 5 : 2;
  for (unsigned t = 0; t < 2; t++) {
    for (uint32_t b = 0; b < h.depth; b++)
      if ((h.moe >> b) & 1) gates[t].push_back((uint32_t)linear_io(D, E, 4.0 * sD));
    headt[t].push_back(h.channels[t]);
    headt[t].push_back((uint32_t)tensor16(D, 1.0, 0.2, m3rt::FB));
    headt[t].push_back((uint32_t)tensor16(D, 0, 0.1, m3rt::FB));
    for (uint32_t j = 0; j < convs; j++) {
      const uint32_t cin = j == 0 ? D : h.width, cout = j + 1 == convs ? h.channels[t] : h.width;
      const uint32_t kk = j + 1 == convs ? 1 : 9;
      headt[t].push_back((uint32_t)linear_oi(cout, cin * kk, sqrt(6.0 / (cin * kk)), m3rt::FW));
      headt[t].push_back((uint32_t)tensor16(cout, 0.05, 0.1, m3rt::FB));
    }
  }
  // The descriptor (docs/accel-ip.md), constants as the host computes them.
  const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
  std::vector<uint32_t> d(35, 0);
  d[0] = 0x5049334Du;
  d[1] = 1 | 1u << 16;
  d[2] = m3rt::WEIGHT_MODE;
  d[3] = M3RT_ACT_W | (uint32_t)(uint8_t)M3RT_ACT_I << 8;
  d[4] = M3RT_WEIGHT_W | (uint32_t)(uint8_t)M3RT_WEIGHT_I << 8;
  d[5] = M3RT_PATCH_W | (uint32_t)(uint8_t)M3RT_PATCH_I << 8;
  d[6] = M3RT_BIAS_W | (uint32_t)(uint8_t)M3RT_BIAS_I << 8;
  d[7] = M3RT_ABIAS_W | (uint32_t)(uint8_t)M3RT_ABIAS_I << 8;
  d[8] = M3RT_PIXEL_W | (uint32_t)(uint8_t)M3RT_PIXEL_I << 8;
  const uint32_t hyper[12] = {h.image_h, h.image_w, P, D, h.depth, h.heads, h.mlp, E, h.top_k, Dh, h.head_kind, h.width};
  for (int i = 0; i < 12; i++) d[9 + i] = hyper[i];
  d[21] = (uint32_t)h.moe;
  d[22] = (uint32_t)(h.moe >> 32);
  d[23] = T;
  d[24] = h.channels[0] > h.channels[1] ? h.channels[0] : h.channels[1];
  for (int c = 0; c < 3; c++) {
    d[25 + c] = (uint32_t)(int32_t)rint(mean[c] * ldexp(1.0, m3rt::FA));
    d[28 + c] = (uint32_t)rint(65536.0 / stdv[c]);
  }
  d[31] = (uint32_t)fmax(1.0, rint(1e-6 * ldexp(1.0, 32)));
  d[32] = (uint32_t)rint(65536.0 / sqrt((double)(D / h.heads)));
  // Working memory: 5TD + 3TD + T max(mlp, Dh) + 4Tk + (E + 1) + 2M (the doc's formula).
  uint64_t M = 0, gh = h.image_h / P, gw = h.image_w / P, C = h.channels[task];
  for (uint32_t j = 0; j < convs; j++) {
    uint64_t cin = j == 0 ? D : h.width, cout = j + 1 == convs ? C : h.width;
    M = fmax(M, fmax(cin, cout) * gh * gw);
    if (h.head_kind == 0 && j < 3) {
      gh *= 2;
      gw *= 2;
      M = fmax(M, cout * gh * gw);
    }
  }
  const uint64_t TD = (uint64_t)T * D;
  d[33] = (uint32_t)(8 * TD + (uint64_t)T * (h.mlp > Dh ? h.mlp : Dh) + 4ull * T * h.top_k + E + 1 + 2 * M);
  d[34] = (uint32_t)off.size();
  d.insert(d.end(), off.begin(), off.end());
  std::vector<uint8_t> px(3ull * h.image_h * h.image_w);
  for (size_t i = 0; i < px.size(); i++) px[i] = (uint8_t)(next_u64() >> 56);

  ref::Model m;
  m.d = d.data();
  m.gates = gates[task].data();
  m.head = headt[task].data();
  m.w = wsec.data();
  m.px = px.data();
  ref::Vec out = ref::run(m);

  mkdir(dir.c_str(), 0755);
  FILE *mf = fopen((dir + "/manifest.txt").c_str(), "w");
  if (!mf) {
    printf("cannot write %s/manifest.txt\n", dir.c_str());
    return 1;
  }
  bool ok = write_item(dir, mf, "model", "model", d.data(), d.size(), 4) &&
            write_item(dir, mf, "gates", "gates", gates[task].data(), gates[task].size(), 4) &&
            write_item(dir, mf, "head", "head", headt[task].data(), headt[task].size(), 4) &&
            write_item(dir, mf, "weights", "weights", wsec.data(), wsec.size(), 1) &&
            write_item(dir, mf, "input", "input", px.data(), px.size(), 1);
  for (size_t i = 0; ok && i < m.traces.size(); i++)
    ok = write_item(dir, mf, "trace", m.traces[i].first, m.traces[i].second.data(), m.traces[i].second.size(), 4);
  ok = ok && write_item(dir, mf, "output", "output", out.data(), out.size(), 4);
  fclose(mf);
  printf("%s: preset %s, task %u, weight mode %d, %zu weight bytes, %zu traces\n", dir.c_str(), pname, task,
         m3rt::WEIGHT_MODE, wsec.size(), m.traces.size());
  return ok ? 0 : 1;
}
