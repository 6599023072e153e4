// handshake_filter.h — the receiver's native gate for handshake packets, run on the RX
// threads before a packet becomes a JS event. Cheapest and most specific first:
//   1. per-source token bucket (IPv4 address, or IPv6 /64; IPv4-mapped IPv6 counts as IPv4),
//   2. mac1 of an INIT (keyed BLAKE2b-128, docs/PROTOCOL-handshake.md §3), when the endpoint
//      was given its mac1 key,
//   3. the endpoint-wide budget (kMaxHandshakeEventsPerSecond, split across RX threads).
// So a flood from a few sources, or of INITs from anyone who does not know the server's
// public key, never spends the shared budget other senders' handshakes need. What passes
// goes to the JS responder, which applies its own per-source DH limit and cookies.
#pragma once
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace jetrecv::core {

// Handshake packets per second (and burst) one source may bring to the JS responder.
// Above what one host needs (an INIT, a cookie round trip, retries), far below the
// endpoint-wide budget, so it takes many sources to exhaust that budget.
inline constexpr double kHandshakeSourceRate = 50;
inline constexpr double kHandshakeSourceBurst = 50;
// Per-source buckets tracked; a source whose slot was taken starts with a full bucket.
inline constexpr size_t kHandshakeSourceSlots = 8192;

// A token bucket; Take() refills by elapsed time, then takes one token if there is one.
struct TokenBucket {
  double tokens = 0;
  uint64_t refill_us = 0;
  bool Take(uint64_t now_us, double rate, double burst);
};

// Per-source buckets shared by every RX thread; thread-safe. Memory is fixed: a
// direct-mapped table indexed by a hash keyed with a per-process random seed.
class SourceBuckets {
 public:
  SourceBuckets(double rate, double burst);
  // False if the source of `from` is over its rate. Unknown address families share one bucket.
  bool Allow(const sockaddr* from, socklen_t from_len, uint64_t now_us);

 private:
  struct Slot {
    uint64_t key = 0;    // IPv4 address or IPv6 /64 prefix
    uint8_t family = 0;  // 0 = empty slot
    TokenBucket bucket;
  };
  const double rate_, burst_;
  const uint64_t seed_;
  std::mutex mu_;
  std::vector<Slot> slots_;
};

// Verifies the mac1 of INIT packets with one key. One instance per thread (not thread-safe).
class Mac1Verifier {
 public:
  explicit Mac1Verifier(const std::array<uint8_t, 32>& key);
  ~Mac1Verifier();
  Mac1Verifier(const Mac1Verifier&) = delete;
  Mac1Verifier& operator=(const Mac1Verifier&) = delete;
  // `init` is a whole INIT (kHandshakeInitLen bytes). False if mac1 does not verify
  // (or OpenSSL failed: a packet is never let through unchecked).
  bool Verify(const uint8_t* init);

 private:
  std::array<uint8_t, 32> key_;
  struct State;
  State* state_ = nullptr;
};

}  // namespace jetrecv::core
