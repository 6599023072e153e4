// standalone_driver.cc — main() for a fuzz target built without libFuzzer (any
// compiler), so a bounded fuzz run is part of ctest:
//   fuzz_x [--runs=N] [--seed=S] [--max-len=L] [--write-seeds=DIR] [FILE|DIR]...
// Runs every given corpus file (directories: every file inside), then the
// target's built-in seeds, then N inputs: random bytes, and seeds or corpus
// files mutated (bit flips, byte sets, inserts, deletes, splices). A failed
// FUZZ_CHECK or a crash aborts; a signal handler first saves the input being run
// to ./fuzz-crash-input (replay it: fuzz_x ./fuzz-crash-input). Exit 0 = every
// input passed.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void CollectInputs(const std::string& path, std::vector<std::vector<uint8_t>>* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "fuzz driver: cannot read %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    out->push_back(ReadFile(path));
    return;
  }
  DIR* d = opendir(path.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    CollectInputs(path + "/" + e->d_name, out);
  }
  closedir(d);
}

std::vector<uint8_t> Mutate(std::vector<uint8_t> in, const std::vector<std::vector<uint8_t>>& pool,
                            std::mt19937_64& rng, size_t max_len) {
  const int rounds = 1 + static_cast<int>(rng() % 8);
  for (int r = 0; r < rounds; ++r) {
    switch (rng() % 6) {
      case 0:  // bit flip
        if (!in.empty()) in[rng() % in.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1: {  // interesting byte
        static const uint8_t kVals[] = {0, 1, 0x7f, 0x80, 0xff, 0x40, 0x10, 3};
        if (!in.empty()) in[rng() % in.size()] = kVals[rng() % sizeof(kVals)];
        break;
      }
      case 2:  // insert random bytes
        for (size_t k = rng() % 8 + 1; k > 0 && in.size() < max_len; --k) {
          in.insert(in.begin() + static_cast<long>(rng() % (in.size() + 1)), static_cast<uint8_t>(rng()));
        }
        break;
      case 3:  // delete a run
        if (!in.empty()) {
          size_t at = rng() % in.size();
          size_t len = std::min(in.size() - at, static_cast<size_t>(rng() % 16 + 1));
          in.erase(in.begin() + static_cast<long>(at), in.begin() + static_cast<long>(at + len));
        }
        break;
      case 4:  // splice a piece of another input
        if (!pool.empty()) {
          const auto& other = pool[rng() % pool.size()];
          if (!other.empty()) {
            size_t from = rng() % other.size();
            size_t len = std::min(other.size() - from, static_cast<size_t>(rng() % 64 + 1));
            size_t at = rng() % (in.size() + 1);
            in.insert(in.begin() + static_cast<long>(at), other.begin() + static_cast<long>(from),
                      other.begin() + static_cast<long>(from + len));
          }
        }
        break;
      default:  // overwrite a u32 with a boundary value
        if (in.size() >= 4) {
          static const uint32_t kVals[] = {0, 1, 0xffffffffu, 0x7fffffffu, 0x80000000u, 0xffffu, 65536};
          uint32_t v = kVals[rng() % 7];
          std::memcpy(&in[rng() % (in.size() - 3)], &v, 4);
        }
        break;
    }
  }
  if (in.size() > max_len) in.resize(max_len);
  return in;
}

// The input being run, for the crash handler (async-signal-safe: open/write only).
const uint8_t* g_current = nullptr;
size_t g_current_len = 0;

void OnCrash(int sig) {
  int fd = ::open("fuzz-crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ssize_t ignored = ::write(fd, g_current, g_current_len);
    (void)ignored;
    ::close(fd);
  }
  static const char kMsg[] = "fuzz driver: crashing input saved to ./fuzz-crash-input\n";
  ssize_t ignored = ::write(2, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void Run(const std::vector<uint8_t>& input) {
  g_current = input.data();
  g_current_len = input.size();
  LLVMFuzzerTestOneInput(input.data(), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t runs = 2000, seed = 1;
  size_t max_len = 4096;
  std::string write_seeds;
  std::vector<std::vector<uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--runs=", 0) == 0)
      runs = std::strtoull(a.c_str() + 7, nullptr, 10);
    else if (a.rfind("--seed=", 0) == 0)
      seed = std::strtoull(a.c_str() + 7, nullptr, 10);
    else if (a.rfind("--max-len=", 0) == 0)
      max_len = std::strtoull(a.c_str() + 10, nullptr, 10);
    else if (a.rfind("--write-seeds=", 0) == 0)
      write_seeds = a.substr(14);
    else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "fuzz driver: unknown option %s\n", a.c_str());
      return 2;
    } else
      CollectInputs(a, &corpus);
  }
  std::vector<std::vector<uint8_t>> seeds;
  jetrecv::fuzz::FuzzSeeds(&seeds);
  if (!write_seeds.empty()) {
    mkdir(write_seeds.c_str(), 0755);
    for (size_t i = 0; i < seeds.size(); ++i) {
      std::ofstream(write_seeds + "/seed-" + std::to_string(i), std::ios::binary)
          .write(reinterpret_cast<const char*>(seeds[i].data()),
                 static_cast<std::streamsize>(seeds[i].size()));
    }
    std::printf("wrote %zu seeds to %s\n", seeds.size(), write_seeds.c_str());
    return 0;
  }
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) ::signal(sig, OnCrash);
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  for (const auto& input : corpus) Run(input);
  for (const auto& input : seeds) Run(input);
  std::vector<std::vector<uint8_t>> pool = seeds;
  pool.insert(pool.end(), corpus.begin(), corpus.end());
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < runs; ++i) {
    std::vector<uint8_t> input;
    if (pool.empty() || rng() % 4 == 0) {
      input.resize(rng() % std::min<size_t>(max_len + 1, 512));
      for (auto& b : input) b = static_cast<uint8_t>(rng());
    } else {
      input = Mutate(pool[rng() % pool.size()], pool, rng, max_len);
    }
    Run(input);
  }
  std::printf("fuzz driver: %zu corpus + %zu seeds + %llu generated inputs passed (seed %llu)\n",
              corpus.size(), seeds.size(), static_cast<unsigned long long>(runs),
              static_cast<unsigned long long>(seed));
  return 0;
}
