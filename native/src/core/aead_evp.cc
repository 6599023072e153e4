// aead_evp.cc — the OpenSSL EVP back end (AES-256-GCM, ChaCha20-Poly1305): one
// EVP cipher context, created once, re-keyed in place and re-IV'd per packet.
// EVP_DecryptFinal_ex checks the tag in constant time (CRYPTO_memcmp).
#include <openssl/evp.h>

#include "core/aead_backend.h"

namespace jetrecv::core::aead_internal {
namespace {

class EvpBackend final : public AeadBackendImpl {
 public:
  explicit EvpBackend(bool encrypt) : encrypt_(encrypt) {}
  ~EvpBackend() override {
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
  }

  bool Init(Cipher cipher) {
    const EVP_CIPHER* evp = nullptr;
    switch (cipher) {
      case Cipher::kAes256Gcm: evp = EVP_aes_256_gcm(); break;
      case Cipher::kChaCha20Poly1305: evp = EVP_chacha20_poly1305(); break;
    }
    if (evp == nullptr) return false;
    ctx_ = EVP_CIPHER_CTX_new();
    return ctx_ != nullptr &&
           EVP_CipherInit_ex(ctx_, evp, nullptr, nullptr, nullptr, encrypt_ ? 1 : 0) == 1 &&
           EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(kAeadNonceLen), nullptr) == 1;
  }

  bool SetKey(const uint8_t key[kAeadKeyLen]) override {
    return EVP_CipherInit_ex(ctx_, nullptr, nullptr, key, nullptr, encrypt_ ? 1 : 0) == 1;
  }

  bool Seal(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            uint8_t tag[kAeadTagLen]) override {
    if (!encrypt_) return false;
    int out_len = 0;
    if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 1) != 1) return false;
    if (EVP_EncryptUpdate(ctx_, nullptr, &out_len, aad, static_cast<int>(aad_len)) != 1) return false;
    if (len > 0 && EVP_EncryptUpdate(ctx_, data, &out_len, data, static_cast<int>(len)) != 1) {
      return false;
    }
    if (EVP_EncryptFinal_ex(ctx_, data + len, &out_len) != 1) return false;
    return EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagLen), tag) == 1;
  }

  bool OpenBegin(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len) override {
    if (encrypt_) return false;
    int out_len = 0;
    opening_ = EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 0) == 1 &&
               EVP_DecryptUpdate(ctx_, nullptr, &out_len, aad, static_cast<int>(aad_len)) == 1;
    return opening_;
  }

  // Both ciphers are streams in EVP: every update writes exactly len bytes.
  bool OpenUpdate(const uint8_t* in, uint8_t* out, size_t len) override {
    if (!opening_) return false;
    int out_len = 0;
    return len == 0 || (EVP_DecryptUpdate(ctx_, out, &out_len, in, static_cast<int>(len)) == 1 &&
                        static_cast<size_t>(out_len) == len);
  }

  bool OpenFinal(const uint8_t tag[kAeadTagLen]) override {
    if (!opening_) return false;
    opening_ = false;
    // SET_TAG takes a non-const pointer but only reads the tag.
    if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagLen),
                            const_cast<uint8_t*>(tag)) != 1) {
      return false;
    }
    uint8_t none[16];  // GCM and ChaCha20-Poly1305 write nothing at final
    int out_len = 0;
    return EVP_DecryptFinal_ex(ctx_, none, &out_len) == 1;
  }

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  const bool encrypt_;
  bool opening_ = false;  // OpenBegin succeeded, OpenFinal not yet called
};

}  // namespace

std::unique_ptr<AeadBackendImpl> MakeEvpBackend(Cipher cipher, bool encrypt) {
  auto backend = std::make_unique<EvpBackend>(encrypt);
  if (!backend->Init(cipher)) return nullptr;
  return backend;
}

}  // namespace jetrecv::core::aead_internal
