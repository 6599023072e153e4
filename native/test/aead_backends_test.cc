// aead_backends_test.cc — every AEAD back end this build and CPU offer (OpenSSL EVP,
// intel-ipsec-mb): known-answer tests (NIST GCM test cases for AES-256, RFC 8439
// §2.8.2 for ChaCha20-Poly1305), then cross-checks between each pair of back ends
// (seal with one, open with the other, same ciphertext and tag; sizes 0, 1, block
// edges, 1416, 8916 and random ones) and tampering (tag, ciphertext, AAD) refused
// by every back end. The split open (OpenBegin/OpenUpdate/OpenFinal) is checked the
// same way, the way the receiver uses it: the frame header decrypted in place, the
// rest scattered to another buffer in pieces of odd lengths; a bad tag is refused
// and the same context then opens the next packet.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/aead.h"
#include "test_util.h"

using namespace jetrecv::core;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes Hex(const std::string& hex) {
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<AeadBackend> AvailableBackends() {
  std::vector<AeadBackend> out;
  for (AeadBackend b : {AeadBackend::kOpenSsl, AeadBackend::kIpsecMb}) {
    if (AeadBackendAvailable(b)) out.push_back(b);
  }
  return out;
}

struct Vector {
  const char* name;
  Cipher cipher;
  std::string key, nonce, aad, plaintext, ciphertext, tag;
};

// Sealed = ciphertext || tag. The nonce is used as given (12 bytes).
bool SealOn(AeadBackend backend, Cipher cipher, const Bytes& key, const Bytes& nonce, const Bytes& aad,
            Bytes data, Bytes* sealed) {
  AeadContext ctx;
  REQUIRE(ctx.Init(cipher, /*encrypt=*/true, backend));
  REQUIRE(ctx.backend() == backend);
  REQUIRE(ctx.SetKey(key.data()));
  uint8_t tag[kAeadTagLen];
  if (!ctx.Seal(nonce.data(), aad.data(), aad.size(), data.data(), data.size(), tag)) return false;
  data.insert(data.end(), tag, tag + kAeadTagLen);
  *sealed = std::move(data);
  return true;
}

bool OpenOn(AeadBackend backend, Cipher cipher, const Bytes& key, const Bytes& nonce, const Bytes& aad,
            Bytes sealed, Bytes* plaintext) {
  AeadContext ctx;
  REQUIRE(ctx.Init(cipher, /*encrypt=*/false, backend));
  REQUIRE(ctx.SetKey(key.data()));
  REQUIRE(sealed.size() >= kAeadTagLen);
  const size_t len = sealed.size() - kAeadTagLen;
  if (!ctx.Open(nonce.data(), aad.data(), aad.size(), sealed.data(), len, sealed.data() + len)) return false;
  sealed.resize(len);
  if (plaintext != nullptr) *plaintext = std::move(sealed);
  return true;
}

// Split open of sealed (ciphertext || tag) on ctx: the first `head` bytes in place,
// the rest out of place into *plaintext, in pieces cut at `cuts` (offsets into the
// rest, ascending). The in-place head is copied to the front of *plaintext.
bool SplitOpenWith(AeadContext& ctx, const Bytes& nonce, const Bytes& aad, Bytes sealed, size_t head,
                   const std::vector<size_t>& cuts, Bytes* plaintext) {
  REQUIRE(sealed.size() >= kAeadTagLen);
  const size_t len = sealed.size() - kAeadTagLen;
  head = std::min(head, len);
  Bytes out(len - head, 0xEE);  // another buffer, not the packet
  if (!ctx.OpenBegin(nonce.data(), aad.data(), aad.size())) return false;
  if (!ctx.OpenUpdate(sealed.data(), sealed.data(), head)) return false;
  size_t done = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(out.size());
  for (size_t end : ends) {
    end = std::min(end, out.size());
    if (end < done) continue;
    if (!ctx.OpenUpdate(sealed.data() + head + done, out.data() + done, end - done)) return false;
    done = end;
  }
  const bool ok = ctx.OpenFinal(sealed.data() + len);
  if (plaintext != nullptr) {
    plaintext->assign(sealed.begin(), sealed.begin() + static_cast<std::ptrdiff_t>(head));
    plaintext->insert(plaintext->end(), out.begin(), out.end());
  }
  return ok;
}

bool SplitOpenOn(AeadBackend backend, Cipher cipher, const Bytes& key, const Bytes& nonce, const Bytes& aad,
                 const Bytes& sealed, size_t head, const std::vector<size_t>& cuts, Bytes* plaintext) {
  AeadContext ctx;
  REQUIRE(ctx.Init(cipher, /*encrypt=*/false, backend));
  REQUIRE(ctx.SetKey(key.data()));
  return SplitOpenWith(ctx, nonce, aad, sealed, head, cuts, plaintext);
}

void KnownAnswers(AeadBackend backend) {
  static const std::string lgc =
      "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966204920636f756c"
      "6420"
      "6f6666657220796f75206f6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73637265656e20776f"
      "756c"
      "642062652069742e";
  static const Vector vectors[] = {
      // NIST GCM (McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13, 14, 16).
      {"gcm-13", Cipher::kAes256Gcm, std::string(64, '0'), std::string(24, '0'), "", "", "",
       "530f8afbc74536b9a963b4f1c4cb738b"},
      {"gcm-14", Cipher::kAes256Gcm, std::string(64, '0'), std::string(24, '0'), "", std::string(32, '0'),
       "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
      {"gcm-16", Cipher::kAes256Gcm, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
       "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
       "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16ae"
       "df5aa0de657ba637b39",
       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61"
       "e6393ba7a0abcc9f662",
       "76fc6ece0f4e1768cddf8853bb2d551b"},
      // RFC 8439 §2.8.2.
      {"rfc8439", Cipher::kChaCha20Poly1305,
       "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", "070000004041424344454647",
       "50515253c0c1c2c3c4c5c6c7", lgc,
       "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71d"
       "e0a9e"
       "060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9"
       "de576"
       "d26586cec64b6116",
       "1ae10b594f09e26a7e902ecbd0600691"},
  };
  for (const Vector& v : vectors) {
    Bytes key = Hex(v.key), nonce = Hex(v.nonce), aad = Hex(v.aad), plaintext = Hex(v.plaintext);
    Bytes expected = Hex(v.ciphertext + v.tag);
    Bytes sealed, opened;
    CHECK(SealOn(backend, v.cipher, key, nonce, aad, plaintext, &sealed));
    if (sealed != expected) {
      std::printf("%s on %s: sealed bytes differ from the vector\n", v.name, AeadBackendName(backend));
      CHECK(sealed == expected);
    }
    CHECK(OpenOn(backend, v.cipher, key, nonce, aad, expected, &opened));
    CHECK(opened == plaintext);
    Bytes split;
    CHECK(SplitOpenOn(backend, v.cipher, key, nonce, aad, expected, kBlockFrameHeaderLen, {5, 17}, &split));
    CHECK(split == plaintext);
    Bytes bad = Hex(v.ciphertext + v.tag);
    bad.back() ^= 0x01;  // last tag byte
    CHECK(!OpenOn(backend, v.cipher, key, nonce, aad, bad, nullptr));
    CHECK(!SplitOpenOn(backend, v.cipher, key, nonce, aad, bad, kBlockFrameHeaderLen, {5, 17}, nullptr));
  }
}

void CrossCheck(AeadBackend sealer, AeadBackend opener, Cipher cipher, std::mt19937_64& rng) {
  std::vector<size_t> sizes = {0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 1416, 8916};
  for (int i = 0; i < 40; ++i) sizes.push_back(rng() % 9001);
  for (size_t size : sizes) {
    Bytes key(kAeadKeyLen), nonce(kAeadNonceLen), aad(kDataHeaderLen), plaintext(size);
    for (auto* buf : {&key, &nonce, &aad, &plaintext}) {
      for (uint8_t& b : *buf) b = static_cast<uint8_t>(rng());
    }
    Bytes by_sealer, by_opener, opened;
    REQUIRE(SealOn(sealer, cipher, key, nonce, aad, plaintext, &by_sealer));
    REQUIRE(SealOn(opener, cipher, key, nonce, aad, plaintext, &by_opener));
    CHECK(by_sealer == by_opener);  // AEAD is deterministic: same bytes from every back end
    CHECK(OpenOn(opener, cipher, key, nonce, aad, by_sealer, &opened));
    CHECK(opened == plaintext);
    // Split: the 24-byte frame header in place, the rest to another buffer in up to
    // three pieces (as a block straddling two staging chunks), on one context that
    // first refuses a forgery of the same packet and then opens the real one.
    {
      std::vector<size_t> cuts;
      const size_t rest = size > kBlockFrameHeaderLen ? size - kBlockFrameHeaderLen : 0;
      for (int c = 0; c < 2 && rest > 0; ++c) cuts.push_back(rng() % (rest + 1));
      std::sort(cuts.begin(), cuts.end());
      AeadContext ctx;
      REQUIRE(ctx.Init(cipher, /*encrypt=*/false, opener));
      REQUIRE(ctx.SetKey(key.data()));
      Bytes forged = by_sealer, split;
      forged[rng() % forged.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
      CHECK(!SplitOpenWith(ctx, nonce, aad, forged, kBlockFrameHeaderLen, cuts, nullptr));
      CHECK(SplitOpenWith(ctx, nonce, aad, by_sealer, kBlockFrameHeaderLen, cuts, &split));
      if (split != plaintext) {
        std::printf("split open of %zu bytes on %s differs (%s)\n", size, AeadBackendName(opener),
                    CipherName(cipher));
        CHECK(split == plaintext);
      }
      CHECK(!ctx.OpenFinal(by_sealer.data() + size));  // no open under way
    }

    Bytes bad_tag = by_sealer;
    bad_tag[size + rng() % kAeadTagLen] ^= static_cast<uint8_t>(1u << (rng() % 8));
    CHECK(!OpenOn(opener, cipher, key, nonce, aad, bad_tag, nullptr));
    if (size > 0) {
      Bytes bad_body = by_sealer;
      bad_body[rng() % size] ^= static_cast<uint8_t>(1u << (rng() % 8));
      CHECK(!OpenOn(opener, cipher, key, nonce, aad, bad_body, nullptr));
    }
    Bytes bad_aad = aad;
    bad_aad[rng() % bad_aad.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    CHECK(!OpenOn(opener, cipher, key, nonce, bad_aad, by_sealer, nullptr));
  }
}

void Defaults() {
  // intel-ipsec-mb, where usable, for both ciphers (aead.cc); OpenSSL is always there.
  CHECK(AeadBackendAvailable(AeadBackend::kOpenSsl));
  const AeadBackend expected =
      AeadBackendAvailable(AeadBackend::kIpsecMb) && std::getenv("JETRECV_AEAD") == nullptr
          ? AeadBackend::kIpsecMb
          : AeadBackend::kOpenSsl;
  for (Cipher cipher : {Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305}) {
    CHECK(DefaultAeadBackend(cipher) == expected);
    AeadContext ctx;
    REQUIRE(ctx.Init(cipher, true));
    CHECK(ctx.backend() == expected);
  }
  CHECK(std::strcmp(AeadBackendName(AeadBackend::kOpenSsl), "openssl") == 0);
  CHECK(std::strcmp(AeadBackendName(AeadBackend::kIpsecMb), "ipsec-mb") == 0);
  if (!AeadBackendAvailable(AeadBackend::kIpsecMb)) {
    AeadContext unavailable;
    CHECK(!unavailable.Init(Cipher::kAes256Gcm, true, AeadBackend::kIpsecMb));
  }
}

}  // namespace

int main() {
  const std::vector<AeadBackend> backends = AvailableBackends();
  for (AeadBackend b : backends) std::printf("back end available: %s\n", AeadBackendName(b));
  if (!AeadBackendAvailable(AeadBackend::kIpsecMb)) {
    std::printf("intel-ipsec-mb not built in or no AES-NI: its known-answer and cross-checks are skipped\n");
  }
  for (AeadBackend b : backends) KnownAnswers(b);
  std::mt19937_64 rng(20261206);
  for (Cipher cipher : {Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305}) {
    for (AeadBackend sealer : backends) {
      for (AeadBackend opener : backends) CrossCheck(sealer, opener, cipher, rng);
    }
  }
  Defaults();
  return jetrecv::test::TestExitCode();
}
