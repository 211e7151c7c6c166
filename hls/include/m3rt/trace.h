// C-simulation trace: after each kernel the IP hands its output to a hook the testbench installs (the
// golden trace names of docs/accel-ip.md). Compiled out of synthesis.
#ifndef M3RT_TRACE_H
#define M3RT_TRACE_H

#include <stdint.h>

#ifndef __SYNTHESIS__
#include <stdarg.h>
#include <stdio.h>

namespace m3rt {

typedef void (*TraceHook)(const char *name, const int32_t *data, uint64_t count);

// The installed hook (none by default); one instance across translation units.
inline TraceHook &trace_hook() {
  static TraceHook hook = 0;
  return hook;
}

// Hands data[off .. off + count) to the hook under the printf-formatted name.
inline void trace(const int32_t *data, uint64_t off, uint64_t count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
inline void trace(const int32_t *data, uint64_t off, uint64_t count, const char *fmt, ...) {
  TraceHook hook = trace_hook();
  if (!hook) return;
  char name[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  hook(name, data + off, count);
}

// Multiply-accumulates of useful work done (C-simulation speed reports).
inline uint64_t &mac_count() {
  static uint64_t n = 0;
  return n;
}

}  // namespace m3rt

#define M3RT_TRACE(...) ::m3rt::trace(__VA_ARGS__)
#define M3RT_COUNT_MACS(n) (::m3rt::mac_count() += (n))
#else
#define M3RT_TRACE(...) ((void)0)
#define M3RT_COUNT_MACS(n) ((void)0)
#endif

#endif
