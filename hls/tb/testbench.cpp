// Testbench of the M3RT accelerator IP on a golden-vector directory (docs/accel-ip.md): lays out a memory
// image standing for DDR, calls m3rt_accel, and compares what the top function returns (status, output
// map, expert count) with the golden files. In C simulation a trace hook also compares every kernel's
// output, in order, with the golden trace of that name; RTL co-simulation runs with --no-trace (the RTL
// calls no hook). Prints PASSED or FAILED; exits non-zero on any mismatch or non-zero status.
//
//   testbench <golden-dir> [--no-trace]
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <map>
#include <string>
#include <vector>

#include "golden.h"
#include "m3rt/trace.h"
#include "m3rt_config.h"

void m3rt_accel(const uint32_t *model, const uint32_t *gates, const uint32_t *head, const int16_t *wq16,
                const int8_t *wq8, const uint8_t *input, int32_t *output, int32_t *work, uint32_t work_words,
                uint32_t *status, uint32_t *expert_loads, uint32_t *weight_kib);

namespace {

const Golden *golden;
std::map<std::string, size_t> trace_index;  // name -> item index
std::vector<bool> trace_seen;
long last_index = -1;
int trace_calls = 0, trace_failures = 0;

// Compares count words; prints the first mismatch. Returns true when equal.
bool compare(const char *what, const int32_t *want, uint64_t want_n, const int32_t *got, uint64_t got_n) {
  if (want_n != got_n) {
    printf("MISMATCH %s: %llu words expected, %llu found\n", what, (unsigned long long)want_n,
           (unsigned long long)got_n);
    return false;
  }
  uint64_t bad = 0, first = 0;
  for (uint64_t i = 0; i < want_n; i++) {
    if (want[i] != got[i] && bad++ == 0) first = i;
  }
  if (bad == 0) return true;
  printf("MISMATCH %s index %llu: expected %d, found %d (%llu of %llu words differ)\n", what,
         (unsigned long long)first, want[first], got[first], (unsigned long long)bad, (unsigned long long)want_n);
  return false;
}

void on_trace(const char *name, const int32_t *data, uint64_t count) {
  trace_calls++;
  std::map<std::string, size_t>::const_iterator it = trace_index.find(name);
  if (it == trace_index.end()) {
    printf("MISMATCH %s: the IP traced an item the golden vectors do not have\n", name);
    trace_failures++;
    return;
  }
  const GoldenItem &g = golden->items[it->second];
  if ((long)it->second < last_index) {
    printf("MISMATCH %s: traced out of the golden order\n", name);
    trace_failures++;
  }
  last_index = (long)it->second;
  trace_seen[it->second] = true;
  if (!compare(name, g.i32(), g.count, data, count)) trace_failures++;
}

// A 64-byte aligned region of at least `bytes` (and of the co-simulation depth) in the memory image.
uint64_t region(uint64_t &top, uint64_t bytes, uint64_t min_bytes) {
  uint64_t at = top;
  top += ((bytes > min_bytes ? bytes : min_bytes) + 63) & ~(uint64_t)63;
  return at;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    printf("usage: %s <golden-dir> [--no-trace]\n", argv[0]);
    return 2;
  }
  const bool traces = !(argc > 2 && strcmp(argv[2], "--no-trace") == 0);
  Golden g;
  std::string err;
  if (!read_golden(argv[1], g, err)) {
    printf("%s\nFAILED\n", err.c_str());
    return 1;
  }
  const char *needed[] = {"model", "gates", "head", "weights", "input", "output"};
  for (size_t i = 0; i < sizeof needed / sizeof *needed; i++) {
    if (!g.find(needed[i])) {
      printf("the manifest has no '%s' item\nFAILED\n", needed[i]);
      return 1;
    }
  }
  golden = &g;
  trace_seen.assign(g.items.size(), false);
  uint32_t golden_experts = 0;
  for (size_t i = 0; i < g.items.size(); i++) {
    if (g.items[i].kind != "trace") continue;
    trace_index[g.items[i].name] = i;
    const std::string &n = g.items[i].name;
    if (n.size() > 7 && n.compare(n.size() - 7, 7, ".hidden") == 0) golden_experts++;
  }
  const GoldenItem &model = *g.find("model"), &out = *g.find("output");
  if (model.count < 34) {
    printf("the model descriptor has %llu words\nFAILED\n", (unsigned long long)model.count);
    return 1;
  }
  const uint32_t work_words = model.u32()[33];

  // The memory image: descriptor, tables, weights, input, output, work, each 64-byte aligned.
  uint64_t top = 0;
  const uint64_t o_model = region(top, model.bytes.size(), 4 * M3RT_COSIM_DESC_DEPTH);
  const uint64_t o_gates = region(top, g.find("gates")->bytes.size(), 4 * M3RT_COSIM_GATES_DEPTH);
  const uint64_t o_head = region(top, g.find("head")->bytes.size(), 4 * M3RT_COSIM_HEAD_DEPTH);
  const uint64_t o_weights = region(top, g.find("weights")->bytes.size(), 2 * (uint64_t)M3RT_COSIM_WEIGHT_DEPTH);
  const uint64_t o_input = region(top, g.find("input")->bytes.size(), M3RT_COSIM_INPUT_DEPTH);
  const uint64_t o_output = region(top, 4 * out.count, 4 * (uint64_t)M3RT_COSIM_OUTPUT_DEPTH);
  const uint64_t o_work = region(top, 4 * (uint64_t)work_words, 4 * (uint64_t)M3RT_COSIM_WORK_DEPTH);
  std::vector<uint64_t> ddr_words((top + 7) / 8);
  uint8_t *ddr = reinterpret_cast<uint8_t *>(ddr_words.data());
  const char *kinds[] = {"model", "gates", "head", "weights", "input"};
  const uint64_t offs[] = {o_model, o_gates, o_head, o_weights, o_input};
  for (int i = 0; i < 5; i++) memcpy(ddr + offs[i], g.find(kinds[i])->bytes.data(), g.find(kinds[i])->bytes.size());
  // Poison output and work: a value read before it is written shows up as a mismatch.
  memset(ddr + o_output, 0xA5, o_work - o_output);
  memset(ddr + o_work, 0x5A, top - o_work);

  m3rt::trace_hook() = traces ? on_trace : 0;
  m3rt::mac_count() = 0;
  uint32_t status = 0xffffffffu, expert_loads = 0, weight_kib = 0;
  clock_t t0 = clock();
  m3rt_accel(reinterpret_cast<const uint32_t *>(ddr + o_model), reinterpret_cast<const uint32_t *>(ddr + o_gates),
             reinterpret_cast<const uint32_t *>(ddr + o_head), reinterpret_cast<const int16_t *>(ddr + o_weights),
             reinterpret_cast<const int8_t *>(ddr + o_weights), ddr + o_input,
             reinterpret_cast<int32_t *>(ddr + o_output), reinterpret_cast<int32_t *>(ddr + o_work), work_words,
             &status, &expert_loads, &weight_kib);
  const double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;

  int failures = 0;
  if (status != 0) {
    printf("status %u (0 expected)\n", status);
    failures++;
  }
  if (traces) {
    failures += trace_failures;
    for (size_t i = 0; i < g.items.size(); i++) {
      if (g.items[i].kind == "trace" && !trace_seen[i]) {
        printf("MISMATCH %s: the IP never traced this item\n", g.items[i].name.c_str());
        failures++;
      }
    }
  }
  if (!compare("output", out.i32(), out.count, reinterpret_cast<const int32_t *>(ddr + o_output), out.count))
    failures++;
  if (expert_loads != golden_experts) {
    printf("MISMATCH expert_loads: expected %u (the golden expert traces), found %u\n", golden_experts, expert_loads);
    failures++;
  }
  const double macs = (double)m3rt::mac_count();
  printf("status %u, expert_loads %u, weight_kib %u, %d traces compared\n", status, expert_loads, weight_kib,
         trace_calls);
  if (macs > 0)
    printf("C simulation: %.2f s, %.3f GMAC, %.1f MMAC/s\n", secs, macs * 1e-9, secs > 0 ? macs / secs * 1e-6 : 0.0);
  printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures ? 1 : 0;
}
