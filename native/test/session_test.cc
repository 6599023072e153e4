// session_test.cc — two Sessions with swapped keys talk both ways; replays,
// tampering and cross-epoch reordering; concurrent sealing on one lane.
#include "core/session.h"

#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace jetrecv::core;

namespace {

struct Pair {
  std::shared_ptr<Session> a, b;
};

Pair MakePair(Cipher cipher) {
  SessionConfig ca, cb;
  ca.local_index = 10;
  ca.remote_index = 20;
  cb.local_index = 20;
  cb.remote_index = 10;
  ca.cipher = cb.cipher = cipher;
  for (size_t i = 0; i < kAeadKeyLen; ++i) {
    ca.send_key[i] = cb.recv_key[i] = static_cast<uint8_t>(i);
    ca.recv_key[i] = cb.send_key[i] = static_cast<uint8_t>(100 + i);
  }
  Status sa, sb;
  Pair p{Session::Create(ca, &sa), Session::Create(cb, &sb)};
  REQUIRE(sa.ok() && sb.ok() && p.a && p.b);
  return p;
}

// A DATA packet carrying `frame`, sealed by `from` on `lane`.
std::vector<uint8_t> Seal(Session& from, uint8_t lane, const std::vector<uint8_t>& frame) {
  std::vector<uint8_t> packet(kDataHeaderLen + frame.size() + kAeadTagLen);
  std::memcpy(packet.data() + kDataHeaderLen, frame.data(), frame.size());
  size_t len = from.SealInPlace(lane, packet.data(), frame.size());
  REQUIRE(len == packet.size());
  return packet;
}

OpenResult OpenCopy(Session& to, std::vector<uint8_t> packet, std::vector<uint8_t>* frame) {
  OpenResult r = to.Open(packet.data(), packet.size());
  if (frame != nullptr) {
    frame->assign(packet.begin() + kDataHeaderLen, packet.end() - kAeadTagLen);
  }
  return r;
}

DataHeader HeaderOf(const std::vector<uint8_t>& packet) {
  DataHeader h;
  std::memcpy(&h, packet.data(), sizeof(h));
  return h;
}

void BothWays(Cipher cipher) {
  Pair p = MakePair(cipher);
  std::vector<uint8_t> hello = {0x02, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'};
  std::vector<uint8_t> packet = Seal(*p.a, 0, hello);
  DataHeader h = HeaderOf(packet);
  CHECK_EQ(h.type, static_cast<uint8_t>(PacketType::kData));
  CHECK_EQ(h.receiver_index, 20u);  // a writes b's index
  CHECK_EQ(h.counter, 0u);
  std::vector<uint8_t> frame;
  CHECK(OpenCopy(*p.b, packet, &frame) == OpenResult::kOk);
  CHECK(frame == hello);
  // Replayed packet is refused after the tag verified.
  CHECK(OpenCopy(*p.b, packet, nullptr) == OpenResult::kReplay);
  // a cannot open its own packet (directions have distinct keys).
  CHECK(OpenCopy(*p.a, packet, nullptr) == OpenResult::kBadTag);

  std::vector<uint8_t> reply = {0x02, 0, 0, 0, 'o', 'k'};
  std::vector<uint8_t> back = Seal(*p.b, 3, reply);
  CHECK_EQ(HeaderOf(back).receiver_index, 10u);
  CHECK_EQ(HeaderOf(back).lane, 3u);
  CHECK(OpenCopy(*p.a, back, &frame) == OpenResult::kOk);
  CHECK(frame == reply);

  // Counters advance per lane; out-of-order delivery within the window is fine.
  std::vector<std::vector<uint8_t>> burst;
  for (int i = 0; i < 10; ++i) burst.push_back(Seal(*p.a, 1, hello));
  CHECK_EQ(HeaderOf(burst[9]).counter, 9u);
  for (int i = 9; i >= 0; --i) CHECK(OpenCopy(*p.b, burst[i], nullptr) == OpenResult::kOk);
  CHECK(OpenCopy(*p.b, burst[4], nullptr) == OpenResult::kReplay);

  // Tampering: header (AAD), body, tag; a tampered packet does not burn its counter.
  std::vector<uint8_t> fresh = Seal(*p.a, 0, hello);
  for (size_t at : {size_t{4}, kDataHeaderLen + 2, fresh.size() - 1}) {
    std::vector<uint8_t> bad = fresh;
    bad[at] ^= 0x10;
    CHECK(OpenCopy(*p.b, bad, nullptr) == OpenResult::kBadTag);
  }
  CHECK(OpenCopy(*p.b, fresh, nullptr) == OpenResult::kOk);
  // Truncated and lane-out-of-range packets.
  CHECK(p.b->Open(fresh.data(), kDataHeaderLen + kAeadTagLen - 1) == OpenResult::kBadTag);
  std::vector<uint8_t> bad_lane = fresh;
  bad_lane[1] = kMaxLanes;
  CHECK(OpenCopy(*p.b, bad_lane, nullptr) == OpenResult::kBadTag);

  SessionStats sa = p.a->Stats(), sb = p.b->Stats();
  CHECK_EQ(sa.packets_sent, 12u);
  CHECK_EQ(sb.packets_recv, 12u);
  CHECK_EQ(sa.packets_recv, 1u);
  CHECK_EQ(sb.packets_sent, 1u);
  CHECK(sb.bytes_recv > 12u * kDataHeaderLen);
  CHECK(sb.last_recv_us > 0);
  CHECK(sa.last_send_us > 0);
}

void AcrossEpochs(Cipher cipher) {
  Pair p = MakePair(cipher);
  const uint64_t boundary = uint64_t{1} << kEpochShift;
  std::vector<uint8_t> frame = {0x02, 0, 0, 0, 'x'};
  p.a->SetNextSendCounterForTesting(2, boundary - 2);
  std::vector<uint8_t> p0 = Seal(*p.a, 2, frame);  // epoch 0
  std::vector<uint8_t> p1 = Seal(*p.a, 2, frame);  // counter 2^22-1, epoch 0
  std::vector<uint8_t> p2 = Seal(*p.a, 2, frame);  // counter 2^22, epoch 1
  std::vector<uint8_t> p3 = Seal(*p.a, 2, frame);  // epoch 1
  CHECK_EQ(HeaderOf(p1).counter, boundary - 1);
  CHECK_EQ(HeaderOf(p2).counter, boundary);
  // Arrival order 0, 2, 1, 3: the reordered epoch-0 packet still decrypts.
  CHECK(OpenCopy(*p.b, p0, nullptr) == OpenResult::kOk);
  CHECK(OpenCopy(*p.b, p2, nullptr) == OpenResult::kOk);
  CHECK(OpenCopy(*p.b, p1, nullptr) == OpenResult::kOk);
  CHECK(OpenCopy(*p.b, p3, nullptr) == OpenResult::kOk);
  CHECK(OpenCopy(*p.b, p1, nullptr) == OpenResult::kReplay);
  // A forged packet claiming a far-future epoch must not evict the current keys.
  std::vector<uint8_t> forged = p3;
  uint64_t far = boundary * 5;
  std::memcpy(forged.data() + 8, &far, 8);
  CHECK(OpenCopy(*p.b, forged, nullptr) == OpenResult::kBadTag);
  std::vector<uint8_t> p4 = Seal(*p.a, 2, frame);
  CHECK(OpenCopy(*p.b, p4, nullptr) == OpenResult::kOk);
  // Jumping several epochs ahead works too (new key derived on demand).
  p.a->SetNextSendCounterForTesting(2, boundary * 7 + 3);
  CHECK(OpenCopy(*p.b, Seal(*p.a, 2, frame), nullptr) == OpenResult::kOk);
}

void ConcurrentSealers() {
  Pair p = MakePair(Cipher::kAes256Gcm);
  constexpr int kPerThread = 2000;
  std::vector<std::vector<uint8_t>> out[2];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> frame(100, static_cast<uint8_t>(t));
      for (int i = 0; i < kPerThread; ++i) out[t].push_back(Seal(*p.a, 0, frame));
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> counters;
  for (auto& packets : out) {
    for (auto& packet : packets) {
      counters.insert(HeaderOf(packet).counter);
      CHECK(OpenCopy(*p.b, packet, nullptr) == OpenResult::kOk);
    }
  }
  CHECK_EQ(counters.size(), size_t{2 * kPerThread});  // no counter reused
}

void RejectsUnknownCipher() {
  SessionConfig c;
  c.cipher = static_cast<Cipher>(9);
  Status status;
  CHECK(Session::Create(c, &status) == nullptr);
  CHECK(!status.ok());
}

}  // namespace

int main() {
  BothWays(Cipher::kAes256Gcm);
  BothWays(Cipher::kChaCha20Poly1305);
  AcrossEpochs(Cipher::kAes256Gcm);
  AcrossEpochs(Cipher::kChaCha20Poly1305);
  ConcurrentSealers();
  RejectsUnknownCipher();
  return jetrecv::test::TestExitCode();
}
