// aead.h — per-packet AEAD over OpenSSL EVP, and the epoch key schedule.
//
// Key schedule: each direction of a session has a 32-byte base key (from the
// Noise handshake, done in TS). The AEAD key that protects packet `counter` on
// `lane` is
//     epoch     = counter >> kEpochShift            (a new key every 2^22 packets)
//     epoch_key = HMAC-SHA256(base_key, "jetrecv epoch" || u8 lane || u64 epoch LE)
// so no (key, nonce) pair ever repeats and no key protects more than 2^22
// packets, far below the AES-GCM and ChaCha20-Poly1305 safe limits.
// Nonce (12 bytes) = u32 lane LE || u64 counter LE. AAD = the 16-byte DataHeader.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/wire_format.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace jetrecv::core {

enum class Cipher : uint8_t { kAes256Gcm = 1, kChaCha20Poly1305 = 2 };

// Writes the epoch key for (base_key, lane, epoch) to out. False if HMAC failed.
bool DeriveEpochKey(const uint8_t base_key[kAeadKeyLen], uint8_t lane, uint64_t epoch,
                    uint8_t out[kAeadKeyLen]);
// Writes the 12-byte nonce for (lane, counter).
void MakeNonce(uint8_t lane, uint64_t counter, uint8_t out[kAeadNonceLen]);

// One EVP cipher context for one direction, created once and re-keyed in place
// (SetKey) and re-IV'd per packet, never re-allocated per packet. Not thread-safe:
// the owner serializes calls.
class AeadContext {
 public:
  AeadContext() = default;
  ~AeadContext();
  AeadContext(const AeadContext&) = delete;
  AeadContext& operator=(const AeadContext&) = delete;

  // Allocates the context for cipher and direction. False on OpenSSL failure.
  bool Init(Cipher cipher, bool encrypt);
  bool SetKey(const uint8_t key[kAeadKeyLen]);
  bool initialized() const { return ctx_ != nullptr; }

  // Encrypts data[0..len) in place, writes the 16-byte tag to tag.
  bool Seal(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data,
            size_t len, uint8_t tag[kAeadTagLen]);
  // Decrypts data[0..len) in place; false if the tag does not verify (data is
  // then garbage and must not be used).
  bool Open(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data,
            size_t len, const uint8_t tag[kAeadTagLen]);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  bool encrypt_ = true;
};

}  // namespace jetrecv::core
