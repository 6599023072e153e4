// session_test.cc — two Sessions with swapped keys talk both ways; replays,
// tampering and cross-epoch reordering; concurrent sealing on one lane.
#include "core/session.h"

#include <atomic>
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

// Lane state (replay window, cipher contexts) exists only for lanes in use: a session that
// never carries data holds none, and each used lane holds what it needs.
void LazyLanes(Cipher cipher) {
  Pair p = MakePair(cipher);
  LaneCounts none = p.a->AllocatedLanes();
  CHECK_EQ(none.send_lanes, 0);
  CHECK_EQ(none.recv_lanes, 0);
  CHECK_EQ(none.cipher_contexts, 0);
  // Without lanes a session is small (the eager design held 16 replay windows inline).
  CHECK(sizeof(Session) < 2048);

  std::vector<uint8_t> frame = {0x02, 0, 0, 0, 'x'};
  std::vector<uint8_t> packet = Seal(*p.a, 5, frame);
  LaneCounts a = p.a->AllocatedLanes();
  CHECK_EQ(a.send_lanes, 1);
  CHECK_EQ(a.recv_lanes, 0);
  CHECK_EQ(a.cipher_contexts, 1);
  std::vector<uint8_t> got;
  CHECK(OpenCopy(*p.b, packet, &got) == OpenResult::kOk);
  CHECK(got == frame);
  LaneCounts b = p.b->AllocatedLanes();
  CHECK_EQ(b.send_lanes, 0);
  CHECK_EQ(b.recv_lanes, 1);
  CHECK_EQ(b.cipher_contexts, 1);  // the keyed context; no spare until a newer epoch is tried

  // The last lane works too, and every lane is created once.
  CHECK(OpenCopy(*p.b, Seal(*p.a, kMaxLanes - 1, frame), nullptr) == OpenResult::kOk);
  CHECK(OpenCopy(*p.b, Seal(*p.a, 5, frame), nullptr) == OpenResult::kOk);
  CHECK_EQ(p.b->AllocatedLanes().recv_lanes, 2);
  CHECK_EQ(p.a->AllocatedLanes().send_lanes, 2);

  // A forged packet on an unused lane is refused; it costs at most that lane's state.
  std::vector<uint8_t> forged = Seal(*p.a, 9, frame);
  forged[kDataHeaderLen] ^= 1;
  CHECK(OpenCopy(*p.b, forged, nullptr) == OpenResult::kBadTag);
  CHECK(p.b->AllocatedLanes().recv_lanes <= 3);
  // The lane still opens the genuine packets that follow.
  CHECK(OpenCopy(*p.b, Seal(*p.a, 9, frame), nullptr) == OpenResult::kOk);
  // A lane number beyond kMaxLanes allocates nothing.
  std::vector<uint8_t> bad = Seal(*p.a, 0, frame);
  bad[1] = kMaxLanes;
  CHECK(OpenCopy(*p.b, bad, nullptr) == OpenResult::kBadTag);
  CHECK(p.a->SealInPlace(kMaxLanes, bad.data(), frame.size()) == 0);
  CHECK_EQ(p.b->AllocatedLanes().recv_lanes, 3);
}

// RX threads open packets of one session concurrently: the first packets on a fresh lane
// race to create its state, and every packet still opens exactly once.
void ConcurrentFirstUse() {
  Pair p = MakePair(Cipher::kAes256Gcm);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::vector<std::vector<uint8_t>> packets;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    packets.push_back(Seal(*p.a, static_cast<uint8_t>(i % 4), {0x02, 0, 0, 0, static_cast<uint8_t>(i)}));
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kThreads * kPerThread; i += kThreads) {
        std::vector<uint8_t> copy = packets[i];
        if (p.b->Open(copy.data(), copy.size()) == OpenResult::kOk) ok.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK_EQ(ok.load(), kThreads * kPerThread);
  CHECK_EQ(p.b->AllocatedLanes().recv_lanes, 4);
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
  LazyLanes(Cipher::kAes256Gcm);
  LazyLanes(Cipher::kChaCha20Poly1305);
  ConcurrentFirstUse();
  RejectsUnknownCipher();
  return jetrecv::test::TestExitCode();
}
