// tx_threads_test.cc — SendTransfer shared by several TX threads: the paced
// claims of N threads together keep the transfer's one rate (on a virtual
// clock, so the bound is exact up to a few batches, not wall-clock luck), every
// block goes out exactly once, a NACKed block is resent once by one thread, a
// NACK for blocks still claimed or handed back unsent is not a retransmission,
// and a short send hands its unsent blocks back as first-pass blocks.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/send_transfer.h"
#include "test_util.h"

using namespace jetrecv::core;

namespace {

std::string g_base;
constexpr uint32_t kBs = 1024;
constexpr uint64_t kSegment = kBs + kBlockPacketOverhead;

// A sparse file of `blocks` full blocks (SendTransfer only stats it here).
std::string MakeFile(const std::string& name, uint64_t blocks) {
  const std::string p = g_base + "/" + name;
  const int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, static_cast<off_t>(blocks * kBs)) == 0);
  close(fd);
  return p;
}

std::unique_ptr<SendTransfer> OpenTransfer(const std::string& path, uint64_t blocks, uint64_t rate_bps) {
  SendSpec spec;
  spec.block_size = kBs;
  spec.files = {{path, blocks * kBs}};
  spec.rate_start_bps = spec.rate_max_bps = spec.rate_min_bps = rate_bps;  // pinned rate
  Status st;
  auto t = SendTransfer::Open(nullptr, 1, spec, 0, &st);
  REQUIRE(t && st.ok());
  return t;
}

FeedbackFrameHeader Feedback(uint64_t seq) {
  FeedbackFrameHeader h{};
  h.type = static_cast<uint8_t>(FrameType::kFeedback);
  h.transfer_id = 1;
  h.feedback_seq = seq;
  return h;
}

// N threads claim paced batches on a shared virtual clock that moves only when a
// thread has to wait. Bytes claimed by time T: rate*T/8 plus the bucket's start
// fill, give or take one batch per thread.
void TestSharedPacingBudget() {
  constexpr uint64_t kBlocks = 20000;
  constexpr uint64_t kRate = 100'000'000;  // bits/s
  constexpr int kThreads = 4;
  auto t = OpenTransfer(MakeFile("paced", kBlocks), kBlocks, kRate);
  std::atomic<uint64_t> clock{1};
  std::atomic<uint64_t> bytes{0};
  std::vector<std::atomic<uint8_t>> sends(kBlocks);
  uint64_t largest_batch = 0;
  std::atomic<uint64_t> largest{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (;;) {
        uint64_t now = clock.load();
        BlockBatch b;
        const uint64_t wait = t->ClaimPacedBatch(64, now, &b);
        if (wait == SendTransfer::kNoBatch) return;
        if (wait != 0) {
          clock.compare_exchange_strong(now, now + wait);  // lost race: another thread moved it
          continue;
        }
        for (uint32_t k = 0; k < b.count; ++k) sends[b.first_block + k].fetch_add(1);
        uint64_t seen = largest.load();
        while (b.count * kSegment > seen && !largest.compare_exchange_weak(seen, b.count * kSegment)) {
        }
        bytes.fetch_add(b.count * kSegment);
        t->CommitBatch(b, b.count, b.count * kSegment, now / 1000);
      }
    });
  }
  for (auto& th : threads) th.join();
  largest_batch = largest.load();

  for (uint64_t i = 0; i < kBlocks; ++i) CHECK_EQ(sends[i].load(), 1);
  CHECK(t->first_pass_done());
  CHECK_EQ(t->rate_bps(), kRate);
  // Budget earned on the virtual clock; the bucket starts with 64 KiB.
  const double elapsed_s = static_cast<double>(clock.load()) * 1e-9;
  const double earned = elapsed_s * kRate / 8 + 64 * 1024;
  const double tolerance = static_cast<double>(kThreads * largest_batch + kSegment);
  std::printf("paced: %llu bytes in %.3f virtual s, earned %.0f, tolerance %.0f (%.2f %%)\n",
              static_cast<unsigned long long>(bytes.load()), elapsed_s, earned, tolerance,
              100.0 * tolerance / earned);
  CHECK(elapsed_s > 1.5);  // 20000 blocks at 100 Mbit/s: about 1.7 s
  CHECK(static_cast<double>(bytes.load()) <= earned + tolerance);
  CHECK(static_cast<double>(bytes.load()) >= earned - tolerance);
}

// NACKed blocks after the first pass, drained by N threads: each exactly once as a
// repair (plus the bounded tail copies).
void TestRetransmitOncePerBlock() {
  constexpr uint64_t kBlocks = 3000;
  constexpr int kThreads = 4;
  auto t = OpenTransfer(MakeFile("nacked", kBlocks), kBlocks, 1'000'000'000);
  BlockBatch b;
  while (t->PlanBatch(64, &b)) t->CommitBatch(b, b.count, b.count * kSegment, 0);
  CHECK(t->first_pass_done());
  // Every third block NACKed, in ranges of 1..5 blocks.
  std::vector<NackRange> ranges;
  std::vector<uint8_t> nacked(kBlocks, 0);
  for (uint64_t first = 0; first + 5 < kBlocks; first += 7) {
    NackRange r{};
    r.file_index = 0;
    r.first_block = first;
    r.block_count = 1 + first % 5;
    ranges.push_back(r);
    for (uint64_t k = 0; k < r.block_count; ++k) nacked[first + k] = 1;
  }
  const FeedbackFrameHeader h = Feedback(1);
  CHECK(!t->OnFeedback(h, ranges.data(), ranges.size(), 0));
  std::vector<std::atomic<uint8_t>> resent(kBlocks);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      BlockBatch mine;
      while (t->PlanBatch(3, &mine)) {
        CHECK(mine.retransmit);
        // Tail copies (the bounded second copy of late repairs, send_transfer.h) are
        // meant; what must not happen is a NACKed block claimed twice as a repair.
        if (!mine.tail_copy) {
          for (uint32_t k = 0; k < mine.count; ++k) resent[mine.first_block + k].fetch_add(1);
        }
        std::this_thread::yield();
        t->CommitBatch(mine, mine.count, mine.count * kSegment, 0);
      }
    });
  }
  for (auto& th : threads) th.join();
  uint64_t total = 0;
  for (uint64_t i = 0; i < kBlocks; ++i) {
    CHECK_EQ(resent[i].load(), nacked[i]);
    total += nacked[i];
  }
  CHECK_EQ(t->Stats().blocks_retransmitted - t->Stats().blocks_tail_copies, total);
  // The budget's share term counts every retransmission, copies included (each copy
  // allows 1/20 more): with 4 threads committing, the copies reach past repairs / 20.
  CHECK(t->Stats().blocks_tail_copies <=
        std::max<uint64_t>(kTailCopyFloorBlocks, t->Stats().blocks_retransmitted / kTailCopyShareDiv));
}

// A NACK arriving while blocks are claimed (in flight on a thread) or handed
// back unsent does not queue them again; POSITION names the earliest block not
// yet sent; a short send hands its tail back as first-pass blocks.
void TestClaimsAndShortSends() {
  constexpr uint64_t kBlocks = 100;
  auto t = OpenTransfer(MakeFile("claims", kBlocks), kBlocks, 1'000'000'000);
  BlockBatch a, b;
  REQUIRE(t->PlanBatch(10, &a));  // [0, 10)
  REQUIRE(t->PlanBatch(10, &b));  // [10, 20)
  CHECK_EQ(a.first_block, 0u);
  CHECK_EQ(b.first_block, 10u);
  t->CommitBatch(b, 4, 4 * kSegment, 0);   // [10, 14) sent, [14, 20) handed back
  CHECK_EQ(t->Position().next_block, 0u);  // a still in flight
  t->CommitBatch(a, a.count, a.count * kSegment, 0);
  CHECK_EQ(t->Position().next_block, 14u);
  // NACK [0, 30): [0, 14) was sent, [14, 20) is handed back, [20, 30) not reached.
  NackRange r{};
  r.file_index = 0;
  r.first_block = 0;
  r.block_count = 30;
  BlockBatch c;
  REQUIRE(t->PlanBatch(64, &c));  // takes the handed-back [14, 20) as first pass
  CHECK(!c.retransmit);
  CHECK_EQ(c.first_block, 14u);
  CHECK_EQ(c.count, 6u);
  const FeedbackFrameHeader h = Feedback(1);
  t->OnFeedback(h, &r, 1, 0);  // c is in flight: its blocks are not NACKed
  t->CommitBatch(c, c.count, c.count * kSegment, 0);
  BlockBatch d;
  REQUIRE(t->PlanBatch(64, &d));
  CHECK(d.retransmit);
  CHECK_EQ(d.first_block, 0u);
  CHECK_EQ(d.count, 14u);
  t->CommitBatch(d, 0, 0, 0);  // nothing went out: still NACKed
  REQUIRE(t->PlanBatch(64, &d));
  CHECK(d.retransmit);
  CHECK_EQ(d.count, 14u);
  t->CommitBatch(d, d.count, d.count * kSegment, 0);
  REQUIRE(t->PlanBatch(64, &d));
  CHECK(!d.retransmit);
  CHECK_EQ(d.first_block, 20u);
  CHECK_EQ(t->Stats().blocks_retransmitted, 14u);
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/jetrecv-txthreads-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  g_base = tmpl;
  TestSharedPacingBudget();
  TestRetransmitOncePerBlock();
  TestClaimsAndShortSends();
  const int rc = jetrecv::test::TestExitCode();
  std::system(("rm -rf '" + g_base + "'").c_str());
  return rc;
}
