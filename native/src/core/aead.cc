// aead.cc — EVP AEAD contexts (AES-256-GCM, ChaCha20-Poly1305) and epoch keys.
#include "core/aead.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

namespace jetrecv::core {
namespace {

constexpr char kEpochLabel[] = "jetrecv epoch";  // 13 bytes, no terminator on the wire

}  // namespace

bool DeriveEpochKey(const uint8_t base_key[kAeadKeyLen], uint8_t lane, uint64_t epoch,
                    uint8_t out[kAeadKeyLen]) {
  uint8_t input[sizeof(kEpochLabel) - 1 + 1 + 8];
  std::memcpy(input, kEpochLabel, sizeof(kEpochLabel) - 1);
  input[sizeof(kEpochLabel) - 1] = lane;
  std::memcpy(input + sizeof(kEpochLabel), &epoch, sizeof(epoch));  // LE host (wire_format.h)
  unsigned int out_len = 0;
  const unsigned char* mac = HMAC(EVP_sha256(), base_key, static_cast<int>(kAeadKeyLen), input,
                                  sizeof(input), out, &out_len);
  return mac != nullptr && out_len == kAeadKeyLen;
}

void MakeNonce(uint8_t lane, uint64_t counter, uint8_t out[kAeadNonceLen]) {
  uint32_t lane32 = lane;
  std::memcpy(out, &lane32, 4);
  std::memcpy(out + 4, &counter, 8);
}

AeadContext::~AeadContext() {
  if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
}

bool AeadContext::Init(Cipher cipher, bool encrypt) {
  const EVP_CIPHER* evp = nullptr;
  switch (cipher) {
    case Cipher::kAes256Gcm: evp = EVP_aes_256_gcm(); break;
    case Cipher::kChaCha20Poly1305: evp = EVP_chacha20_poly1305(); break;
  }
  if (evp == nullptr) return false;
  if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
  ctx_ = EVP_CIPHER_CTX_new();
  if (ctx_ == nullptr) return false;
  encrypt_ = encrypt;
  if (EVP_CipherInit_ex(ctx_, evp, nullptr, nullptr, nullptr, encrypt ? 1 : 0) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(kAeadNonceLen),
                          nullptr) != 1) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = nullptr;
    return false;
  }
  return true;
}

bool AeadContext::SetKey(const uint8_t key[kAeadKeyLen]) {
  return ctx_ != nullptr &&
         EVP_CipherInit_ex(ctx_, nullptr, nullptr, key, nullptr, encrypt_ ? 1 : 0) == 1;
}

bool AeadContext::Seal(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len,
                       uint8_t* data, size_t len, uint8_t tag[kAeadTagLen]) {
  if (ctx_ == nullptr || !encrypt_) return false;
  int out_len = 0;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 1) != 1) return false;
  if (EVP_EncryptUpdate(ctx_, nullptr, &out_len, aad, static_cast<int>(aad_len)) != 1) return false;
  if (len > 0 && EVP_EncryptUpdate(ctx_, data, &out_len, data, static_cast<int>(len)) != 1) {
    return false;
  }
  if (EVP_EncryptFinal_ex(ctx_, data + len, &out_len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagLen), tag) == 1;
}

bool AeadContext::Open(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len,
                       uint8_t* data, size_t len, const uint8_t tag[kAeadTagLen]) {
  if (ctx_ == nullptr || encrypt_) return false;
  int out_len = 0;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 0) != 1) return false;
  if (EVP_DecryptUpdate(ctx_, nullptr, &out_len, aad, static_cast<int>(aad_len)) != 1) return false;
  if (len > 0 && EVP_DecryptUpdate(ctx_, data, &out_len, data, static_cast<int>(len)) != 1) {
    return false;
  }
  // SET_TAG takes a non-const pointer but only reads the tag.
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagLen),
                          const_cast<uint8_t*>(tag)) != 1) {
    return false;
  }
  return EVP_DecryptFinal_ex(ctx_, data + len, &out_len) == 1;
}

}  // namespace jetrecv::core
