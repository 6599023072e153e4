// aead_test.cc — seal/open round trips for both ciphers, tamper detection, and
// the epoch key schedule (HMAC-SHA256 over the documented input).
#include "core/aead.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <vector>

#include "test_util.h"

using namespace jetrecv::core;

namespace {

constexpr uint8_t kBaseKey[kAeadKeyLen] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                           17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

struct Sealed {
  std::vector<uint8_t> header;  // AAD
  std::vector<uint8_t> body;    // ciphertext
  uint8_t tag[kAeadTagLen];
  uint8_t nonce[kAeadNonceLen];
};

Sealed SealWith(Cipher cipher, const uint8_t key[kAeadKeyLen], uint8_t lane, uint64_t counter,
                const std::vector<uint8_t>& plaintext) {
  Sealed s;
  s.header.assign(kDataHeaderLen, 0);
  s.header[0] = static_cast<uint8_t>(PacketType::kData);
  s.header[1] = lane;
  std::memcpy(s.header.data() + 8, &counter, 8);
  s.body = plaintext;
  MakeNonce(lane, counter, s.nonce);
  AeadContext ctx;
  REQUIRE(ctx.Init(cipher, true));
  REQUIRE(ctx.SetKey(key));
  REQUIRE(ctx.Seal(s.nonce, s.header.data(), s.header.size(), s.body.data(), s.body.size(), s.tag));
  return s;
}

bool OpenWith(Cipher cipher, const uint8_t key[kAeadKeyLen], Sealed s, std::vector<uint8_t>* out) {
  AeadContext ctx;
  REQUIRE(ctx.Init(cipher, false));
  REQUIRE(ctx.SetKey(key));
  bool ok = ctx.Open(s.nonce, s.header.data(), s.header.size(), s.body.data(), s.body.size(), s.tag);
  if (out != nullptr) *out = s.body;
  return ok;
}

void RoundTripAndTamper(Cipher cipher) {
  std::vector<uint8_t> plaintext(1300);
  for (size_t i = 0; i < plaintext.size(); ++i) plaintext[i] = static_cast<uint8_t>(i * 7);
  Sealed s = SealWith(cipher, kBaseKey, 3, 42, plaintext);
  CHECK(s.body != plaintext);  // really encrypted
  std::vector<uint8_t> opened;
  CHECK(OpenWith(cipher, kBaseKey, s, &opened));
  CHECK(opened == plaintext);

  Sealed bad_header = s;
  bad_header.header[4] ^= 0x01;
  CHECK(!OpenWith(cipher, kBaseKey, bad_header, nullptr));
  Sealed bad_body = s;
  bad_body.body[700] ^= 0x80;
  CHECK(!OpenWith(cipher, kBaseKey, bad_body, nullptr));
  Sealed bad_tag = s;
  bad_tag.tag[15] ^= 0x01;
  CHECK(!OpenWith(cipher, kBaseKey, bad_tag, nullptr));
  Sealed bad_nonce = s;
  bad_nonce.nonce[4] ^= 0x01;  // a different counter
  CHECK(!OpenWith(cipher, kBaseKey, bad_nonce, nullptr));
  uint8_t other_key[kAeadKeyLen];
  std::memcpy(other_key, kBaseKey, sizeof(other_key));
  other_key[0] ^= 1;
  CHECK(!OpenWith(cipher, other_key, s, nullptr));

  // One context reused for many packets (re-IV'd, never re-allocated).
  AeadContext sealer, opener;
  REQUIRE(sealer.Init(cipher, true) && sealer.SetKey(kBaseKey));
  REQUIRE(opener.Init(cipher, false) && opener.SetKey(kBaseKey));
  for (uint64_t counter = 0; counter < 100; ++counter) {
    uint8_t nonce[kAeadNonceLen], tag[kAeadTagLen], aad[kDataHeaderLen] = {};
    std::vector<uint8_t> data(counter + 1, static_cast<uint8_t>(counter));
    std::vector<uint8_t> copy = data;
    MakeNonce(0, counter, nonce);
    CHECK(sealer.Seal(nonce, aad, sizeof(aad), data.data(), data.size(), tag));
    CHECK(opener.Open(nonce, aad, sizeof(aad), data.data(), data.size(), tag));
    CHECK(data == copy);
  }
  // Empty plaintext still authenticates.
  Sealed empty = SealWith(cipher, kBaseKey, 0, 1, {});
  CHECK(OpenWith(cipher, kBaseKey, empty, nullptr));
}

void NonceLayout() {
  uint8_t nonce[kAeadNonceLen];
  MakeNonce(5, 0x0102030405060708ull, nonce);
  const uint8_t expected[kAeadNonceLen] = {5, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
  CHECK(std::memcmp(nonce, expected, sizeof(expected)) == 0);
}

void EpochKeys() {
  // The derivation is exactly HMAC-SHA256(base, "jetrecv epoch" || u8 lane || u64 epoch LE).
  const uint8_t input[] = {'j', 'e', 't', 'r', 'e', 'c', 'v', ' ', 'e', 'p', 'o',
                           'c', 'h', 7,   1,   0,   0,   0,   0,   0,   0,   0};
  uint8_t expected[32];
  unsigned len = 0;
  REQUIRE(HMAC(EVP_sha256(), kBaseKey, 32, input, sizeof(input), expected, &len) != nullptr);
  uint8_t derived[kAeadKeyLen];
  REQUIRE(DeriveEpochKey(kBaseKey, 7, 1, derived));
  CHECK(std::memcmp(derived, expected, 32) == 0);

  // Epoch boundary: counter 2^22-1 is in epoch 0, 2^22 in epoch 1; each opens
  // with its own epoch key and not with the other's.
  const uint64_t last_of_epoch0 = (uint64_t{1} << kEpochShift) - 1;
  const uint64_t first_of_epoch1 = uint64_t{1} << kEpochShift;
  CHECK_EQ(last_of_epoch0 >> kEpochShift, 0u);
  CHECK_EQ(first_of_epoch1 >> kEpochShift, 1u);
  uint8_t key0[kAeadKeyLen], key1[kAeadKeyLen];
  REQUIRE(DeriveEpochKey(kBaseKey, 2, 0, key0));
  REQUIRE(DeriveEpochKey(kBaseKey, 2, 1, key1));
  CHECK(std::memcmp(key0, key1, kAeadKeyLen) != 0);
  uint8_t other_lane[kAeadKeyLen];
  REQUIRE(DeriveEpochKey(kBaseKey, 3, 0, other_lane));
  CHECK(std::memcmp(key0, other_lane, kAeadKeyLen) != 0);
  for (Cipher cipher : {Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305}) {
    std::vector<uint8_t> plaintext(64, 0xAB);
    Sealed a = SealWith(cipher, key0, 2, last_of_epoch0, plaintext);
    Sealed b = SealWith(cipher, key1, 2, first_of_epoch1, plaintext);
    CHECK(OpenWith(cipher, key0, a, nullptr));
    CHECK(OpenWith(cipher, key1, b, nullptr));
    CHECK(!OpenWith(cipher, key1, a, nullptr));
    CHECK(!OpenWith(cipher, key0, b, nullptr));
  }
}

}  // namespace

int main() {
  RoundTripAndTamper(Cipher::kAes256Gcm);
  RoundTripAndTamper(Cipher::kChaCha20Poly1305);
  NonceLayout();
  EpochKeys();
  return jetrecv::test::TestExitCode();
}
