// aead_ipsec_mb.cc — the intel-ipsec-mb back end (AES-256-GCM, ChaCha20-Poly1305)
// through the library's direct (synchronous) API.
//
// Thread-safety: an IMB_MGR is not thread-safe (job queues, its error field), but
// the direct-API functions it points to take all their state as arguments (the
// expanded key, a per-call context on the caller's stack) and never the manager.
// So one manager is set up once per process, only to let the library pick the code
// path for this CPU (SSE / AVX / AVX2 / AVX-512 with VAES); its function pointers
// are copied into a table and the manager is freed. Every context shares that
// read-only table. The tag is compared in constant time (CRYPTO_memcmp).
#include "core/aead_backend.h"

#ifdef JETRECV_HAVE_IPSEC_MB

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>

#include <cstring>

namespace jetrecv::core::aead_internal {
namespace {

struct IpsecMbTable {
  bool usable = false;
  aes_gcm_pre_t gcm256_pre = nullptr;
  aes_gcm_enc_dec_t gcm256_enc = nullptr;
  aes_gcm_enc_dec_t gcm256_dec = nullptr;
  aes_gcm_init_t gcm256_init = nullptr;
  aes_gcm_enc_dec_update_t gcm256_dec_update = nullptr;
  aes_gcm_enc_dec_finalize_t gcm256_dec_finalize = nullptr;
  chacha_poly_init_t chacha_init = nullptr;
  chacha_poly_enc_dec_update_t chacha_enc_update = nullptr;
  chacha_poly_enc_dec_update_t chacha_dec_update = nullptr;
  chacha_poly_finalize_t chacha_finalize = nullptr;
};

IpsecMbTable ProbeIpsecMb() {
  IpsecMbTable table;
  IMB_MGR* mgr = alloc_mb_mgr(0);
  if (mgr == nullptr) return table;
  IMB_ARCH arch = IMB_ARCH_NONE;
  init_mb_mgr_auto(mgr, &arch);
  constexpr uint64_t kNeeded = IMB_FEATURE_AESNI | IMB_FEATURE_PCLMULQDQ;
  // IMB_ARCH_NOAESNI is the library's software AES emulation: slower than OpenSSL.
  if (imb_get_errno(mgr) == 0 && arch >= IMB_ARCH_SSE && (mgr->features & kNeeded) == kNeeded) {
    table.gcm256_pre = mgr->gcm256_pre;
    table.gcm256_enc = mgr->gcm256_enc;
    table.gcm256_dec = mgr->gcm256_dec;
    table.gcm256_init = mgr->gcm256_init;
    table.gcm256_dec_update = mgr->gcm256_dec_update;
    table.gcm256_dec_finalize = mgr->gcm256_dec_finalize;
    table.chacha_init = mgr->chacha20_poly1305_init;
    table.chacha_enc_update = mgr->chacha20_poly1305_enc_update;
    table.chacha_dec_update = mgr->chacha20_poly1305_dec_update;
    table.chacha_finalize = mgr->chacha20_poly1305_finalize;
    table.usable = table.gcm256_pre != nullptr && table.gcm256_enc != nullptr &&
                   table.gcm256_dec != nullptr && table.gcm256_init != nullptr &&
                   table.gcm256_dec_update != nullptr && table.gcm256_dec_finalize != nullptr &&
                   table.chacha_init != nullptr && table.chacha_enc_update != nullptr &&
                   table.chacha_dec_update != nullptr && table.chacha_finalize != nullptr;
  }
  free_mb_mgr(mgr);
  return table;
}

const IpsecMbTable& Table() {
  static const IpsecMbTable table = ProbeIpsecMb();  // thread-safe one-time init
  return table;
}

// The library checks (SAFE_PARAM) that a data pointer is non-null even for 0 bytes.
uint8_t* NonNull(uint8_t* data) {
  static uint8_t empty;
  return data != nullptr ? data : &empty;
}
const uint8_t* NonNull(const uint8_t* data) {
  return data != nullptr ? data : NonNull(static_cast<uint8_t*>(nullptr));
}

class IpsecMbGcm final : public AeadBackendImpl {
 public:
  explicit IpsecMbGcm(bool encrypt) : encrypt_(encrypt) {}
  ~IpsecMbGcm() override {
    OPENSSL_cleanse(&key_, sizeof(key_));
    OPENSSL_cleanse(&open_, sizeof(open_));
  }

  bool SetKey(const uint8_t key[kAeadKeyLen]) override {
    Table().gcm256_pre(key, &key_);
    keyed_ = true;
    return true;
  }

  bool Seal(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            uint8_t tag[kAeadTagLen]) override {
    if (!encrypt_ || !keyed_) return false;
    alignas(64) gcm_context_data ctx;
    data = NonNull(data);
    Table().gcm256_enc(&key_, &ctx, data, data, len, nonce, aad, aad_len, tag, kAeadTagLen);
    return true;
  }

  bool Open(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            const uint8_t tag[kAeadTagLen]) override {
    if (encrypt_ || !keyed_) return false;
    alignas(64) gcm_context_data ctx;
    uint8_t computed[kAeadTagLen];
    data = NonNull(data);
    Table().gcm256_dec(&key_, &ctx, data, data, len, nonce, aad, aad_len, computed, kAeadTagLen);
    return CRYPTO_memcmp(computed, tag, kAeadTagLen) == 0;
  }

  bool OpenBegin(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len) override {
    if (encrypt_ || !keyed_) return false;
    Table().gcm256_init(&key_, &open_, nonce, aad, aad_len);
    opening_ = true;
    return true;
  }

  // update carries a partial 16-byte block over to the next call (gcm_context_data).
  bool OpenUpdate(const uint8_t* in, uint8_t* out, size_t len) override {
    if (!opening_) return false;
    Table().gcm256_dec_update(&key_, &open_, NonNull(out), NonNull(in), len);
    return true;
  }

  bool OpenFinal(const uint8_t tag[kAeadTagLen]) override {
    if (!opening_) return false;
    opening_ = false;
    uint8_t computed[kAeadTagLen];
    Table().gcm256_dec_finalize(&key_, &open_, computed, kAeadTagLen);
    return CRYPTO_memcmp(computed, tag, kAeadTagLen) == 0;
  }

 private:
  // The library wants 64-byte alignment; its header only declares it when LINUX is
  // defined. alignas here, and C++17 aligned new for the object, guarantee it.
  alignas(64) gcm_key_data key_;
  alignas(64) gcm_context_data open_;  // the split open under way
  bool opening_ = false;
  const bool encrypt_;
  bool keyed_ = false;
};

class IpsecMbChaCha final : public AeadBackendImpl {
 public:
  explicit IpsecMbChaCha(bool encrypt) : encrypt_(encrypt) {}
  ~IpsecMbChaCha() override {
    OPENSSL_cleanse(key_, sizeof(key_));
    OPENSSL_cleanse(&open_, sizeof(open_));
  }

  bool SetKey(const uint8_t key[kAeadKeyLen]) override {
    std::memcpy(key_, key, kAeadKeyLen);
    keyed_ = true;
    return true;
  }

  bool Seal(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            uint8_t tag[kAeadTagLen]) override {
    if (!encrypt_ || !keyed_) return false;
    const IpsecMbTable& t = Table();
    alignas(64) chacha20_poly1305_context_data ctx;
    data = NonNull(data);
    t.chacha_init(key_, &ctx, nonce, aad, aad_len);
    t.chacha_enc_update(key_, &ctx, data, data, len);
    t.chacha_finalize(&ctx, tag, kAeadTagLen);
    return true;
  }

  bool Open(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len, uint8_t* data, size_t len,
            const uint8_t tag[kAeadTagLen]) override {
    if (encrypt_ || !keyed_) return false;
    const IpsecMbTable& t = Table();
    alignas(64) chacha20_poly1305_context_data ctx;
    uint8_t computed[kAeadTagLen];
    data = NonNull(data);
    t.chacha_init(key_, &ctx, nonce, aad, aad_len);
    t.chacha_dec_update(key_, &ctx, data, data, len);
    t.chacha_finalize(&ctx, computed, kAeadTagLen);
    return CRYPTO_memcmp(computed, tag, kAeadTagLen) == 0;
  }

  bool OpenBegin(const uint8_t nonce[kAeadNonceLen], const uint8_t* aad, size_t aad_len) override {
    if (encrypt_ || !keyed_) return false;
    Table().chacha_init(key_, &open_, nonce, aad, aad_len);
    opening_ = true;
    return true;
  }

  // update carries partial keystream and Poly1305 blocks over to the next call.
  bool OpenUpdate(const uint8_t* in, uint8_t* out, size_t len) override {
    if (!opening_) return false;
    Table().chacha_dec_update(key_, &open_, NonNull(out), NonNull(in), len);
    return true;
  }

  bool OpenFinal(const uint8_t tag[kAeadTagLen]) override {
    if (!opening_) return false;
    opening_ = false;
    uint8_t computed[kAeadTagLen];
    Table().chacha_finalize(&open_, computed, kAeadTagLen);
    return CRYPTO_memcmp(computed, tag, kAeadTagLen) == 0;
  }

 private:
  uint8_t key_[kAeadKeyLen] = {};
  alignas(64) chacha20_poly1305_context_data open_;  // the split open under way
  bool opening_ = false;
  const bool encrypt_;
  bool keyed_ = false;
};

}  // namespace

bool IpsecMbUsable() { return Table().usable; }

std::unique_ptr<AeadBackendImpl> MakeIpsecMbBackend(Cipher cipher, bool encrypt) {
  if (!IpsecMbUsable()) return nullptr;
  switch (cipher) {
    case Cipher::kAes256Gcm: return std::make_unique<IpsecMbGcm>(encrypt);
    case Cipher::kChaCha20Poly1305: return std::make_unique<IpsecMbChaCha>(encrypt);
  }
  return nullptr;
}

}  // namespace jetrecv::core::aead_internal

#else  // built without intel-ipsec-mb

namespace jetrecv::core::aead_internal {

bool IpsecMbUsable() { return false; }

std::unique_ptr<AeadBackendImpl> MakeIpsecMbBackend(Cipher, bool) { return nullptr; }

}  // namespace jetrecv::core::aead_internal

#endif
