// aead_backend.h — the one interface every AEAD back end implements (internal to
// aead.cc; callers use AeadContext). One file per back end: aead_evp.cc (OpenSSL
// EVP, always built) and aead_ipsec_mb.cc (intel-ipsec-mb, built when CMake found
// it: JETRECV_HAVE_IPSEC_MB).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/aead.h"

namespace jetrecv::core::aead_internal {

// One keyed AEAD for one cipher and direction. Same contract as AeadContext's
// SetKey/Seal/Open/OpenBegin/OpenUpdate/OpenFinal; not thread-safe (the owner
// serializes calls). Open defaults to the split calls over the whole ciphertext; a
// back end with a cheaper one-shot call overrides it.
class AeadBackendImpl {
 public:
  virtual ~AeadBackendImpl() = default;
  virtual bool SetKey(const uint8_t key[kAeadKeyLen]) = 0;
  virtual bool Seal(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data,
                    size_t len, uint8_t tag[kAeadTagLen]) = 0;
  virtual bool Open(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data,
                    size_t len, const uint8_t tag[kAeadTagLen]) {
    return OpenBegin(nonce, aad, aad_len) && OpenUpdate(data, data, len) && OpenFinal(tag);
  }
  virtual bool OpenBegin(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len) = 0;
  virtual bool OpenUpdate(const uint8_t* in, uint8_t* out, size_t len) = 0;
  virtual bool OpenFinal(const uint8_t tag[kAeadTagLen]) = 0;
};

// OpenSSL EVP; nullptr on OpenSSL failure.
std::unique_ptr<AeadBackendImpl> MakeEvpBackend(Cipher cipher, bool encrypt);

// intel-ipsec-mb; nullptr when it was not built in or the CPU cannot run it
// (IpsecMbUsable() false).
std::unique_ptr<AeadBackendImpl> MakeIpsecMbBackend(Cipher cipher, bool encrypt);
// True when intel-ipsec-mb was built in and this CPU has AES-NI and PCLMULQDQ
// (checked once, by the library's own CPU detection).
bool IpsecMbUsable();

}  // namespace jetrecv::core::aead_internal
