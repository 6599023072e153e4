// fuzz_util.h — shared pieces of the native fuzz targets (native/fuzz/*.cc):
// a byte reader that never reads past the input (short reads give zeros), a
// check macro that aborts (so libFuzzer and the plain driver both report the
// input), and temp-directory helpers. Each target defines
// LLVMFuzzerTestOneInput and FuzzSeeds (hand-made inputs for the corpus).
#pragma once
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace jetrecv::fuzz {

// Seed inputs of a target; the plain driver mutates them and --write-seeds dumps
// them as a libFuzzer corpus.
void FuzzSeeds(std::vector<std::vector<uint8_t>>* out);

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  size_t remaining() const { return n_; }
  uint8_t U8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  uint32_t U32() { return U16() | (static_cast<uint32_t>(U16()) << 16); }
  uint64_t U64() { return U32() | (static_cast<uint64_t>(U32()) << 32); }
  std::vector<uint8_t> Bytes(size_t len) {
    if (len > n_) len = n_;
    std::vector<uint8_t> out(p_, p_ + len);
    p_ += len;
    n_ -= len;
    return out;
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

// Little-endian writer for seeds.
struct Writer {
  std::vector<uint8_t> bytes;
  Writer& U8(uint8_t v) {
    bytes.push_back(v);
    return *this;
  }
  Writer& U16(uint16_t v) { return U8(v & 0xff).U8(v >> 8); }
  Writer& U32(uint32_t v) { return U16(v & 0xffff).U16(v >> 16); }
  Writer& U64(uint64_t v) { return U32(static_cast<uint32_t>(v)).U32(static_cast<uint32_t>(v >> 32)); }
  Writer& Raw(const std::vector<uint8_t>& v) {
    bytes.insert(bytes.end(), v.begin(), v.end());
    return *this;
  }
};

// A fresh directory for a target's sandbox: under $JETRECV_FUZZ_TMPDIR if set,
// else /dev/shm (tmpfs: inputs create and delete files, disk I/O would dominate),
// else /tmp.
inline std::string MakeTempDir(const char* tag) {
  std::string base = "/tmp";
  if (const char* env = std::getenv("JETRECV_FUZZ_TMPDIR"); env && *env)
    base = env;
  else if (::access("/dev/shm", W_OK) == 0)
    base = "/dev/shm";
  std::string tmpl = base + "/jetrecv-fuzz-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  FUZZ_CHECK(mkdtemp(buf.data()) != nullptr);
  return std::string(buf.data());
}

// Removes everything beneath dir (and dir itself when remove_self).
inline void RemoveTree(const std::string& dir, bool remove_self) {
  nftw(
      dir.c_str(),
      [](const char* path, const struct stat*, int, struct FTW* ftw) -> int {
        if (ftw->level > 0) ::remove(path);
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS);
  if (remove_self) ::rmdir(dir.c_str());
}

}  // namespace jetrecv::fuzz
