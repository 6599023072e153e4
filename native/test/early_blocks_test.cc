// early_blocks_test.cc — the early-block store: per-session and receiver-wide
// caps, used ids never held again, Take in arrival order with the arrival
// stamps, Discard/DropSession/Expire free what they should; and the replayed
// timing of a receive transfer (the FEEDBACK echoes the train's first block,
// then its last, with their own arrival times).
#include "core/early_blocks.h"

#include <vector>

#include "core/receive_feedback.h"
#include "test_util.h"

using namespace jetrecv::core;

namespace {

constexpr size_t kLen = 1000;
constexpr size_t kCost = kLen + kEarlyBlockOverheadBytes;

BlockFrameHeader Header(uint32_t transfer_id, uint64_t offset, uint32_t stamp = 1) {
  BlockFrameHeader h{};
  h.type = static_cast<uint8_t>(FrameType::kBlock);
  h.transfer_id = transfer_id;
  h.file_index = 0;
  h.send_stamp = stamp;
  h.offset = offset;
  return h;
}

EarlyBlockLimits Limits(size_t session_blocks, size_t total_blocks) {
  return {session_blocks * kCost, total_blocks * kCost, 2'000'000};
}

void TestCaps() {
  EarlyBlockStore store(Limits(3, 5));
  const std::vector<uint8_t> data(kLen, 7);
  for (int i = 0; i < 3; ++i) {
    CHECK(store.Hold(1, Header(5, i * kLen), data.data(), kLen, 100) == EarlyBlockStore::HoldResult::kHeld);
  }
  // Session 1 is full, whatever transfer id it names.
  CHECK(store.Hold(1, Header(6, 0), data.data(), kLen, 100) == EarlyBlockStore::HoldResult::kOverCap);
  CHECK(store.Hold(2, Header(5, 0), data.data(), kLen, 100) == EarlyBlockStore::HoldResult::kHeld);
  CHECK(store.Hold(2, Header(5, kLen), data.data(), kLen, 100) == EarlyBlockStore::HoldResult::kHeld);
  // The receiver-wide cap (5) is full: session 3 gets nothing.
  CHECK(store.Hold(3, Header(5, 0), data.data(), kLen, 100) == EarlyBlockStore::HoldResult::kOverCap);
  CHECK_EQ(store.held_blocks(), 5u);
  CHECK_EQ(store.held_bytes(), 5 * kCost);
  // Freeing one session makes room for another.
  CHECK_EQ(store.DropSession(2), 2u);
  CHECK(store.Hold(3, Header(5, 0), data.data(), kLen, 100) == EarlyBlockStore::HoldResult::kHeld);
  CHECK_EQ(store.held_blocks(), 4u);
}

void TestTakeInArrivalOrderWithStamps() {
  EarlyBlockStore store(Limits(10, 10));
  std::vector<uint8_t> data(kLen);
  for (uint32_t i = 0; i < 4; ++i) {
    data[0] = static_cast<uint8_t>(i);
    // Interleaved with another transfer of the same session.
    store.Hold(1, Header(9, i * kLen, 1000 + i), data.data(), kLen, 5000 + 100 * i);
    store.Hold(1, Header(8, i * kLen), data.data(), kLen, 5050 + 100 * i);
  }
  std::vector<EarlyBlockStore::Held> held = store.Take(1, 9);
  REQUIRE(held.size() == 4);
  for (uint32_t i = 0; i < 4; ++i) {
    CHECK_EQ(held[i].header.offset, i * kLen);
    CHECK_EQ(held[i].header.send_stamp, 1000 + i);
    CHECK_EQ(held[i].arrival_us, 5000 + 100 * i);
    CHECK_EQ(held[i].data[0], i);
    CHECK_EQ(held[i].data.size(), kLen);
  }
  CHECK_EQ(store.held_blocks(), 4u);  // transfer 8's stay
  CHECK_EQ(store.held_bytes(), 4 * kCost);
}

void TestUsedIdsAreNotHeld() {
  EarlyBlockStore store(Limits(10, 10));
  const std::vector<uint8_t> data(kLen);
  CHECK(store.Take(1, 4).empty());  // transfer 4 opened with nothing held
  // Its id (and any lower one) is used: a block of it now is a late or replayed one.
  CHECK(store.Hold(1, Header(4, 0), data.data(), kLen, 1) == EarlyBlockStore::HoldResult::kUsedId);
  CHECK(store.Hold(1, Header(2, 0), data.data(), kLen, 1) == EarlyBlockStore::HoldResult::kUsedId);
  CHECK(store.Hold(1, Header(5, 0), data.data(), kLen, 1) == EarlyBlockStore::HoldResult::kHeld);
  // Another session's ids are its own.
  CHECK(store.Hold(2, Header(4, 0), data.data(), kLen, 1) == EarlyBlockStore::HoldResult::kHeld);
  // A refused transfer: its blocks are freed and its id is used.
  CHECK_EQ(store.Discard(1, 5), 1u);
  CHECK(store.Hold(1, Header(5, 0), data.data(), kLen, 1) == EarlyBlockStore::HoldResult::kUsedId);
  CHECK_EQ(store.held_blocks(), 1u);
  // A session that ended forgets its ids (a new session may reuse its index).
  store.DropSession(1);
  CHECK(store.Hold(1, Header(4, 0), data.data(), kLen, 1) == EarlyBlockStore::HoldResult::kHeld);
}

void TestExpire() {
  EarlyBlockStore store(Limits(10, 10));
  const std::vector<uint8_t> data(kLen);
  store.Hold(1, Header(3, 0), data.data(), kLen, 1'000'000);
  store.Hold(2, Header(3, 0), data.data(), kLen, 1'500'000);
  store.Hold(1, Header(3, kLen), data.data(), kLen, 2'500'000);
  CHECK_EQ(store.Expire(2'999'999), 0u);
  CHECK_EQ(store.Expire(3'000'000), 1u);  // held 2 s
  CHECK_EQ(store.Expire(4'000'000), 1u);
  CHECK_EQ(store.held_blocks(), 1u);
  CHECK_EQ(store.Take(1, 3).size(), 1u);
  CHECK_EQ(store.held_bytes(), 0u);
}

// Monotonic µs now (the clock ReceiveFeedback stamps arrivals with).
uint64_t MonotonicNowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

// Builds fb's next FEEDBACK (no NACK bitmaps) and decodes its header.
FeedbackFrameHeader BuildFeedback(ReceiveFeedback& fb, uint64_t now_us) {
  ReceiveFeedback::Report report;
  std::vector<const BlockBitmap*> bitmaps;
  std::vector<uint8_t> frame(200);
  FeedbackFrameHeader h{};
  std::vector<NackRange> ranges;
  const size_t len = fb.Build(now_us, report, bitmaps, kLen, frame.data(), frame.size());
  REQUIRE(len > 0);
  REQUIRE(DecodeFeedbackFrame(frame.data(), len, &h, &ranges));
  return h;
}

// ReceiveFeedback: a replayed train is reported as two FEEDBACKs, the first as of
// the first block's arrival, the next as of the last one.
void TestReplayTiming() {
  ReceiveFeedback fb(7);
  std::vector<BlockFrameHeader> headers;
  for (uint32_t i = 0; i < 4; ++i) headers.push_back(Header(7, i * kLen, 500 + i));
  // Arrival stamps in the past (monotonic µs), 1 ms apart.
  const uint64_t now = MonotonicNowUs();
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 4; ++i) {
    refs.push_back({&headers[i], nullptr, kLen, false, now - 50'000 + 1000 * i});
  }
  fb.RecordReplayTiming(refs.data(), refs.size());
  auto build = [&] { return BuildFeedback(fb, now); };
  const FeedbackFrameHeader first = build();
  CHECK_EQ(first.echo_stamp, 500u);
  CHECK_EQ(first.rx_datagram_bytes, kLen + kBlockPacketOverhead);
  CHECK(first.echo_hold_us >= 50'000);  // held since its arrival, not since the replay
  const FeedbackFrameHeader second = build();
  CHECK_EQ(second.echo_stamp, 503u);
  CHECK_EQ(second.rx_datagram_bytes, 4 * (kLen + kBlockPacketOverhead));
  CHECK(second.echo_hold_us >= 47'000 && second.echo_hold_us < first.echo_hold_us);
  // The arrival spacing of the echoes is the train's: 3 ms between its first and last block.
  const uint32_t spacing = first.echo_hold_us - second.echo_hold_us;  // less the time between the builds
  CHECK(spacing <= 3000 && spacing > 2000);
}

// A live block newer than the held ones arrived before the first FEEDBACK: the held
// blocks were all delivered before it, so that FEEDBACK counts all of them.
void TestReplayThenLiveBlock() {
  ReceiveFeedback fb(7);
  std::vector<BlockFrameHeader> headers;
  for (uint32_t i = 0; i < 4; ++i) headers.push_back(Header(7, i * kLen, 500 + i));
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 3; ++i) refs.push_back({&headers[i], nullptr, kLen, false, 1000 + 100 * i});
  fb.RecordReplayTiming(refs.data(), refs.size());
  const BlockRef live{&headers[3], nullptr, kLen, false, 0};
  fb.RecordTiming(&live, 1);
  const FeedbackFrameHeader h = BuildFeedback(fb, 1);
  CHECK_EQ(h.echo_stamp, 503u);
  CHECK_EQ(h.rx_datagram_bytes, 4 * (kLen + kBlockPacketOverhead));
}

// A FEEDBACK echoed a live block (sent after the held ones) before the replay: the held
// blocks arrived before that echo, so no later FEEDBACK counts them (a wan.test run whose
// open fell mid-train saw the next interval count the whole train over half its spacing:
// a first delivery sample of 1.8x the path's rate, and a flooded bottleneck).
void TestReplayAfterLiveEcho() {
  ReceiveFeedback fb(7);
  std::vector<BlockFrameHeader> headers;
  for (uint32_t i = 0; i < 5; ++i) headers.push_back(Header(7, i * kLen, 500 + i));
  auto build = [&] { return BuildFeedback(fb, 1); };
  const BlockRef live3{&headers[3], nullptr, kLen, false, 0};
  fb.RecordTiming(&live3, 1);
  const FeedbackFrameHeader first = build();
  CHECK_EQ(first.echo_stamp, 503u);
  CHECK_EQ(first.rx_datagram_bytes, kLen + kBlockPacketOverhead);
  std::vector<BlockRef> held;
  for (uint32_t i = 0; i < 3; ++i) held.push_back({&headers[i], nullptr, kLen, false, 1000 + 100 * i});
  fb.RecordReplayTiming(held.data(), held.size());
  const BlockRef live4{&headers[4], nullptr, kLen, false, 0};
  fb.RecordTiming(&live4, 1);
  const FeedbackFrameHeader second = build();
  CHECK_EQ(second.echo_stamp, 504u);
  // The interval 503 -> 504 holds one block, as the sender sent it.
  CHECK_EQ(second.rx_datagram_bytes - first.rx_datagram_bytes, kLen + kBlockPacketOverhead);
  const FeedbackFrameHeader third = build();
  CHECK_EQ(third.rx_datagram_bytes, second.rx_datagram_bytes);
}

// One sender batch shares a stamp: the echo is the batch's last arrival (the sender counts
// the whole batch as sent by that stamp), for live blocks and for a replayed train, whose
// first FEEDBACK reports its first batch whole.
void TestBatchEchoIsLastArrival() {
  const uint64_t now = MonotonicNowUs();
  auto build = [&](ReceiveFeedback& fb) { return BuildFeedback(fb, now); };
  std::vector<BlockFrameHeader> headers;
  for (uint32_t i = 0; i < 6; ++i) headers.push_back(Header(7, i * kLen, 500 + i / 3));
  {  // live, one block per call, 1 ms apart: the last of batch 500 arrived 20 ms ago
    ReceiveFeedback fb(7);
    for (uint32_t i = 0; i < 3; ++i) {
      const BlockRef ref{&headers[i], nullptr, kLen, false, now - 22'000 + 1000 * i};
      fb.RecordTiming(&ref, 1);
    }
    const FeedbackFrameHeader h = build(fb);
    CHECK_EQ(h.echo_stamp, 500u);
    CHECK(h.echo_hold_us >= 20'000 && h.echo_hold_us < 21'000);
  }
  {  // replayed: batch 500 (3 blocks) first, then batch 501
    ReceiveFeedback fb(7);
    std::vector<BlockRef> refs;
    for (uint32_t i = 0; i < 6; ++i)
      refs.push_back({&headers[i], nullptr, kLen, false, now - 50'000 + 1000 * i});
    fb.RecordReplayTiming(refs.data(), refs.size());
    const FeedbackFrameHeader first = build(fb);
    CHECK_EQ(first.echo_stamp, 500u);
    CHECK_EQ(first.rx_datagram_bytes, 3 * (kLen + kBlockPacketOverhead));
    CHECK(first.echo_hold_us >= 48'000 && first.echo_hold_us < 49'000);
    const FeedbackFrameHeader second = build(fb);
    CHECK_EQ(second.echo_stamp, 501u);
    CHECK_EQ(second.rx_datagram_bytes, 6 * (kLen + kBlockPacketOverhead));
    CHECK(second.echo_hold_us >= 45'000 && second.echo_hold_us < 46'000);
  }
}

}  // namespace

int main() {
  TestCaps();
  TestTakeInArrivalOrderWithStamps();
  TestUsedIdsAreNotHeld();
  TestExpire();
  TestReplayTiming();
  TestReplayThenLiveBlock();
  TestReplayAfterLiveEcho();
  TestBatchEchoIsLastArrival();
  return jetrecv::test::TestExitCode();
}
