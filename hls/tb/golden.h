// Golden-vector directories (docs/accel-ip.md, "Golden vectors"): manifest.txt, one line per item
// "<kind> <name> <count> <file>", and raw little-endian files. Host-side code of the testbench only.
#ifndef M3RT_TB_GOLDEN_H
#define M3RT_TB_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

struct GoldenItem {
  std::string kind, name, file;
  uint64_t count;
  std::vector<uint8_t> bytes;

  size_t elem_size() const { return (kind == "weights" || kind == "input") ? 1 : 4; }
  const uint32_t *u32() const { return reinterpret_cast<const uint32_t *>(bytes.data()); }
  const int32_t *i32() const { return reinterpret_cast<const int32_t *>(bytes.data()); }
};

struct Golden {
  std::vector<GoldenItem> items;

  const GoldenItem *find(const char *kind) const {
    for (size_t i = 0; i < items.size(); i++)
      if (items[i].kind == kind) return &items[i];
    return 0;
  }
};

static inline bool read_file(const std::string &path, std::vector<uint8_t> &out) {
  FILE *f = fopen(path.c_str(), "rb");
  if (!f) return false;
  out.clear();
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  fclose(f);
  return true;
}

// Reads dir/manifest.txt and every file it names; on failure returns false with a message in err.
static inline bool read_golden(const std::string &dir, Golden &g, std::string &err) {
  std::vector<uint8_t> text;
  if (!read_file(dir + "/manifest.txt", text)) {
    err = "cannot read " + dir + "/manifest.txt";
    return false;
  }
  text.push_back(0);
  const char *p = reinterpret_cast<const char *>(text.data());
  int line = 0;
  while (*p) {
    line++;
    const char *end = strchr(p, '\n');
    std::string l(p, end ? (size_t)(end - p) : strlen(p));
    p = end ? end + 1 : p + strlen(p);
    if (!l.empty() && l[l.size() - 1] == '\r') l.erase(l.size() - 1);
    if (l.empty() || l[0] == '#') continue;
    char kind[64], name[128], file[512];
    unsigned long long count;
    if (sscanf(l.c_str(), "%63s %127s %llu %511s", kind, name, &count, file) != 4) {
      err = "manifest line " + std::to_string(line) + " is not '<kind> <name> <count> <file>'";
      return false;
    }
    GoldenItem it;
    it.kind = kind;
    it.name = name;
    it.count = count;
    it.file = file;
    if (!read_file(dir + "/" + it.file, it.bytes)) {
      err = "cannot read " + dir + "/" + it.file;
      return false;
    }
    if (it.bytes.size() != it.count * it.elem_size()) {
      err = it.file + ": " + std::to_string(it.bytes.size()) + " bytes for " + std::to_string(it.count) +
            " elements of " + std::to_string(it.elem_size());
      return false;
    }
    g.items.push_back(it);
  }
  return true;
}

// Writes one item's file and its manifest line.
static inline bool write_item(const std::string &dir, FILE *manifest, const char *kind, const std::string &name,
                              const void *data, uint64_t count, size_t elem) {
  std::string file = name + ".bin";
  FILE *f = fopen((dir + "/" + file).c_str(), "wb");
  if (!f) return false;
  bool ok = fwrite(data, elem, count, f) == count;
  fclose(f);
  fprintf(manifest, "%s %s %llu %s\n", kind, name.c_str(), (unsigned long long)count, file.c_str());
  return ok;
}

#endif
