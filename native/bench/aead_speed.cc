// aead_speed.cc — build/aead-speed: CPU-seconds per GB of AEAD seal and open on each
// back end this build and CPU offer (OpenSSL EVP, intel-ipsec-mb), through the same
// AeadContext the data path uses (in place, 16-byte AAD, per-packet nonce).
//
//   build/aead-speed [--sizes 1416,8916] [--seconds 0.3] [--rounds 3]
//
// First line: {"defaultBackends":{cipher: backend}} (what jetrecv uses here, after
// JETRECV_AEAD). Then one JSON object per line: {"backend","cipher","op","bytes",
// "cpuSecondsPerGB"}, the best (lowest) of --rounds rounds of --seconds each, timed
// with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), so other load on the
// machine inflates it less than wall time would. GB = 1e9 payload bytes. Open is timed on a buffer whose
// first open verified; later opens run the same work on the decrypted bytes (the
// tag then fails, which costs the same: both back ends decrypt, then compare).
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/aead.h"

using namespace jetrecv::core;

namespace {

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Options {
  std::vector<size_t> sizes = {1416, 8916};
  double seconds = 0.3;
  int rounds = 3;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "aead-speed: %s\nusage: aead-speed [--sizes 1416,8916] [--seconds 0.3] [--rounds 3]\n",
               why);
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) Usage(("missing value for " + arg).c_str());
    std::string value = argv[++i];
    if (arg == "--sizes") {
      opts.sizes.clear();
      size_t pos = 0;
      while (pos <= value.size()) {
        size_t comma = value.find(',', pos);
        if (comma == std::string::npos) comma = value.size();
        long size = std::strtol(value.substr(pos, comma - pos).c_str(), nullptr, 10);
        if (size < 1 || size > 65536) Usage("--sizes: each size must be 1..65536 bytes");
        opts.sizes.push_back(static_cast<size_t>(size));
        pos = comma + 1;
      }
    } else if (arg == "--seconds") {
      opts.seconds = std::strtod(value.c_str(), nullptr);
      if (!(opts.seconds >= 0.01 && opts.seconds <= 60)) Usage("--seconds must be 0.01..60");
    } else if (arg == "--rounds") {
      opts.rounds = std::atoi(value.c_str());
      if (opts.rounds < 1 || opts.rounds > 100) Usage("--rounds must be 1..100");
    } else {
      Usage(("unknown option " + arg).c_str());
    }
  }
  return opts;
}

// CPU-seconds per 1e9 payload bytes of one round of op (seal or open) on size-byte payloads.
double TimeRound(AeadContext& ctx, bool seal, std::vector<uint8_t>& packet, size_t size, double seconds) {
  uint8_t nonce[kAeadNonceLen];
  uint64_t counter = 0;
  uint64_t bytes = 0;
  const double start = ThreadCpuSeconds();
  double now = start;
  while (now - start < seconds) {
    for (int i = 0; i < 64; ++i) {
      MakeNonce(0, seal ? counter++ : 0, nonce);
      uint8_t* body = packet.data() + kDataHeaderLen;
      if (seal) {
        ctx.Seal(nonce, packet.data(), kDataHeaderLen, body, size, body + size);
      } else {
        ctx.Open(nonce, packet.data(), kDataHeaderLen, body, size, body + size);
      }
      bytes += size;
    }
    now = ThreadCpuSeconds();
  }
  return (now - start) / (static_cast<double>(bytes) / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  const Options opts = ParseArgs(argc, argv);
  std::printf("{\"defaultBackends\":{\"%s\":\"%s\",\"%s\":\"%s\"}}\n", CipherName(Cipher::kAes256Gcm),
              AeadBackendName(DefaultAeadBackend(Cipher::kAes256Gcm)), CipherName(Cipher::kChaCha20Poly1305),
              AeadBackendName(DefaultAeadBackend(Cipher::kChaCha20Poly1305)));
  uint8_t key[kAeadKeyLen];
  for (size_t i = 0; i < sizeof(key); ++i) key[i] = static_cast<uint8_t>(i * 13 + 1);
  for (Cipher cipher : {Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305}) {
    for (AeadBackend backend : {AeadBackend::kOpenSsl, AeadBackend::kIpsecMb}) {
      if (!AeadBackendAvailable(backend)) continue;
      for (size_t size : opts.sizes) {
        std::vector<uint8_t> packet(kDataHeaderLen + size + kAeadTagLen, 0x5a);
        AeadContext sealer, opener;
        if (!sealer.Init(cipher, true, backend) || !sealer.SetKey(key) ||
            !opener.Init(cipher, false, backend) || !opener.SetKey(key)) {
          std::fprintf(stderr, "aead-speed: %s %s: context set-up failed\n", AeadBackendName(backend),
                       CipherName(cipher));
          return 1;
        }
        uint8_t nonce[kAeadNonceLen];
        MakeNonce(0, 0, nonce);
        uint8_t* body = packet.data() + kDataHeaderLen;
        if (!sealer.Seal(nonce, packet.data(), kDataHeaderLen, body, size, body + size) ||
            !opener.Open(nonce, packet.data(), kDataHeaderLen, body, size, body + size)) {
          std::fprintf(stderr, "aead-speed: %s %s: a sealed packet did not open\n", AeadBackendName(backend),
                       CipherName(cipher));
          return 1;
        }
        for (bool seal : {true, false}) {
          double best = 0;
          for (int r = 0; r < opts.rounds; ++r) {
            double v = TimeRound(seal ? sealer : opener, seal, packet, size, opts.seconds);
            if (r == 0 || v < best) best = v;
          }
          std::printf(
              "{\"backend\":\"%s\",\"cipher\":\"%s\",\"op\":\"%s\",\"bytes\":%zu,\"cpuSecondsPerGB\":%.4f}\n",
              AeadBackendName(backend), CipherName(cipher), seal ? "seal" : "open", size, best);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
