// The IP's top function in its weight-mode-2 build (int8 weights, one scale per output channel) behind a C entry point, for the
// C-simulation bus (src/csim_bus.rs). The IP is compiled once per weight mode; each build gets its own names
// (the namespace and the top function are renamed here) so that the three link into one library.
#define M3RT_WEIGHT_MODE 2
#define m3rt m3rt_mode2
#define m3rt_accel m3rt_accel_mode2
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../src/m3rt_accel.cpp"
#pragma GCC diagnostic pop

static_assert(m3rt::WEIGHT_MODE == 2, "the IP headers were included before M3RT_WEIGHT_MODE was set");

extern "C" void m3rt_csim_accel_mode2(const uint32_t *model, const uint32_t *gates, const uint32_t *head,
                                      const int16_t *wq16, const int8_t *wq8, const uint8_t *input,
                                      int32_t *output, int32_t *work, uint32_t work_words, uint32_t *status,
                                      uint32_t *expert_loads, uint32_t *weight_kib) {
  m3rt_accel(model, gates, head, wq16, wq8, input, output, work, work_words, status, expert_loads, weight_kib);
}

// Installs (or, with a null hook, removes) the C-simulation trace hook of this build: every kernel's output
// is handed to it under its golden trace name (docs/accel-ip.md), as the testbench's comparison gets it.
extern "C" void m3rt_csim_trace_mode2(m3rt::TraceHook hook) { m3rt::trace_hook() = hook; }
