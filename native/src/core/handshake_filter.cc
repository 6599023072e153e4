// handshake_filter.cc — see handshake_filter.h.
#include "core/handshake_filter.h"

#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "core/wire_format.h"

namespace jetrecv::core {

namespace {
constexpr size_t kMac1Offset = 120;  // INIT: mac1 covers bytes 0..119
constexpr size_t kMac1Len = 16;

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t RandomSeed() {
  uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof(seed)) != 1) {
    seed = std::random_device{}();
  }
  return seed;
}
}  // namespace

bool TokenBucket::Take(uint64_t now_us, double rate, double burst) {
  if (now_us > refill_us) {
    tokens = std::min(burst, tokens + double(now_us - refill_us) * rate / 1e6);
    refill_us = now_us;
  }
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

SourceBuckets::SourceBuckets(double rate, double burst)
    : rate_(rate), burst_(burst), seed_(RandomSeed()), slots_(kHandshakeSourceSlots) {}

bool SourceBuckets::Allow(const sockaddr* from, socklen_t from_len, uint64_t now_us) {
  uint8_t family = 1;  // anything else: one shared bucket
  uint64_t key = 0;
  if (from->sa_family == AF_INET && from_len >= socklen_t(sizeof(sockaddr_in))) {
    uint32_t a;
    std::memcpy(&a, &reinterpret_cast<const sockaddr_in*>(from)->sin_addr, 4);
    family = 4;
    key = a;
  } else if (from->sa_family == AF_INET6 && from_len >= socklen_t(sizeof(sockaddr_in6))) {
    const uint8_t* b = reinterpret_cast<const sockaddr_in6*>(from)->sin6_addr.s6_addr;
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, 12) == 0) {
      uint32_t a;
      std::memcpy(&a, b + 12, 4);
      family = 4;
      key = a;
    } else {
      family = 6;
      std::memcpy(&key, b, 8);  // the /64 prefix
    }
  }
  const size_t slot_index = Mix(key ^ seed_ ^ (uint64_t{family} << 56)) % slots_.size();
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = slots_[slot_index];
  if (slot.family != family || slot.key != key) {
    slot.family = family;
    slot.key = key;
    slot.bucket = TokenBucket{burst_, now_us};
  }
  return slot.bucket.Take(now_us, rate_, burst_);
}

struct Mac1Verifier::State {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
};

Mac1Verifier::Mac1Verifier(const std::array<uint8_t, 32>& key) : key_(key), state_(new State) {
  state_->mac = EVP_MAC_fetch(nullptr, "BLAKE2BMAC", nullptr);
  if (state_->mac != nullptr) state_->ctx = EVP_MAC_CTX_new(state_->mac);
  if (state_->ctx != nullptr) {
    size_t size = kMac1Len;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(state_->ctx, key_.data(), key_.size(), params) != 1) {
      EVP_MAC_CTX_free(state_->ctx);
      state_->ctx = nullptr;
    }
  }
}

Mac1Verifier::~Mac1Verifier() {
  EVP_MAC_CTX_free(state_->ctx);
  EVP_MAC_free(state_->mac);
  delete state_;
  OPENSSL_cleanse(key_.data(), key_.size());
}

bool Mac1Verifier::Verify(const uint8_t* init) {
  if (state_->ctx == nullptr) return false;
  // Re-initializing with the key restarts the MAC (the context keeps size and key).
  unsigned char out[kMac1Len];
  size_t out_len = 0;
  if (EVP_MAC_init(state_->ctx, key_.data(), key_.size(), nullptr) != 1 ||
      EVP_MAC_update(state_->ctx, init, kMac1Offset) != 1 ||
      EVP_MAC_final(state_->ctx, out, &out_len, sizeof(out)) != 1 || out_len != kMac1Len) {
    return false;
  }
  return CRYPTO_memcmp(out, init + kMac1Offset, kMac1Len) == 0;
}

}  // namespace jetrecv::core
