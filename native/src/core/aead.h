// aead.h — per-packet AEAD (AES-256-GCM, ChaCha20-Poly1305) and the epoch key schedule.
//
// Back ends (one file each, behind aead_backend.h): intel-ipsec-mb (aead_ipsec_mb.cc)
// where CMake found it at build time and the CPU has AES-NI, OpenSSL EVP
// (aead_evp.cc) otherwise. Both produce the same bytes; the choice is per cipher and
// made at run time (DefaultAeadBackend).
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
#include <memory>

#include "core/wire_format.h"

namespace jetrecv::core {

enum class Cipher : uint8_t { kAes256Gcm = 1, kChaCha20Poly1305 = 2 };

enum class AeadBackend : uint8_t { kOpenSsl = 1, kIpsecMb = 2 };

namespace aead_internal {
class AeadBackendImpl;
}

// "openssl" or "ipsec-mb" (the names /metrics and the serve log use).
const char* AeadBackendName(AeadBackend backend);
// "aes-256-gcm" or "chacha20-poly1305" (the wire protocol's names).
const char* CipherName(Cipher cipher);
// True if this build and CPU can run backend (OpenSSL: always).
bool AeadBackendAvailable(AeadBackend backend);
// The back end AeadContext::Init(cipher, encrypt) uses: intel-ipsec-mb if available
// (measured faster than OpenSSL for both ciphers, bench/README.md), else OpenSSL.
// JETRECV_AEAD=openssl in the environment forces OpenSSL (read once per process).
AeadBackend DefaultAeadBackend(Cipher cipher);

// Writes the epoch key for (base_key, lane, epoch) to out. False if HMAC failed.
bool DeriveEpochKey(const uint8_t base_key[kAeadKeyLen], uint8_t lane, uint64_t epoch,
                    uint8_t out[kAeadKeyLen]);
// Writes the 12-byte nonce for (lane, counter).
void MakeNonce(uint8_t lane, uint64_t counter, uint8_t out[kAeadNonceLen]);

// One AEAD for one cipher and direction, created once and re-keyed in place
// (SetKey), never re-allocated per packet. Not thread-safe: the owner serializes
// calls.
class AeadContext {
 public:
  AeadContext();
  ~AeadContext();
  AeadContext(const AeadContext&) = delete;
  AeadContext& operator=(const AeadContext&) = delete;

  // Allocates the context for cipher and direction on DefaultAeadBackend(cipher).
  // False on failure.
  bool Init(Cipher cipher, bool encrypt);
  // Same on a given back end; false if it is not available (tests, benchmarks).
  bool Init(Cipher cipher, bool encrypt, AeadBackend backend);
  bool SetKey(const uint8_t key[kAeadKeyLen]);
  bool initialized() const { return impl_ != nullptr; }
  AeadBackend backend() const { return backend_; }

  // Encrypts data[0..len) in place, writes the 16-byte tag to tag.
  bool Seal(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            uint8_t tag[kAeadTagLen]);
  // Decrypts data[0..len) in place; false if the tag does not verify (compared in
  // constant time; data is then garbage and must not be used).
  bool Open(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            const uint8_t tag[kAeadTagLen]);

  // Split open, for decrypting the parts of one ciphertext to different places:
  // OpenBegin, then OpenUpdate over the ciphertext in order (any lengths; out may be
  // in itself or another buffer), then OpenFinal, which compares the tag in constant
  // time. Same bytes and verdict as Open over the whole ciphertext. Until OpenFinal
  // returns true, every byte OpenUpdate wrote is unverified (garbage for a forgery).
  bool OpenBegin(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len);
  bool OpenUpdate(const uint8_t* in, uint8_t* out, size_t len);
  bool OpenFinal(const uint8_t tag[kAeadTagLen]);

 private:
  std::unique_ptr<aead_internal::AeadBackendImpl> impl_;
  AeadBackend backend_ = AeadBackend::kOpenSsl;
};

}  // namespace jetrecv::core
