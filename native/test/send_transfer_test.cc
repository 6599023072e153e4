// send_transfer_test.cc — the sender's batch planning around loss repair: NACKed ranges go
// before new blocks; during the first pass a repair is sent once; after it every repair is
// sent a second time once the NACKed ranges are out (tail copies: only the last repairs of a
// burst, within a budget), and a complete FEEDBACK drops what is left.
#include "core/send_transfer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "fs_test_util.h"
#include "test_util.h"

using namespace jetrecv::core;
using jetrecv::test::Content;

namespace {

constexpr uint32_t kBs = 1000;

struct Planned {
  uint64_t first;
  uint32_t count;
  bool retransmit;
  bool tail_copy;
};

// Claims through ClaimPacedBatch (the TX threads' door) and commits every batch as sent,
// advancing now_ns over the pacer's waits, until nothing is left or `limit` batches.
std::vector<Planned> ClaimPaced(SendTransfer& t, uint64_t& now_ns, size_t limit = SIZE_MAX) {
  std::vector<Planned> out;
  BlockBatch b;
  for (int guard = 0; guard < 100'000 && out.size() < limit; ++guard) {
    const uint64_t wait = t.ClaimPacedBatch(16, now_ns, &b);
    if (wait == SendTransfer::kNoBatch) break;
    if (wait != 0) {
      now_ns += wait;
      continue;
    }
    out.push_back({b.first_block, b.count, b.retransmit, b.tail_copy});
    t.CommitBatch(b, b.count, b.count * (kBs + kBlockPacketOverhead), now_ns / 1000);
  }
  return out;
}

std::string WriteSource(const std::string& dir, uint64_t size) {
  const std::string p = dir + "/src";
  const std::string data = Content(size, 3);
  const int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  close(fd);
  return p;
}

// Plans and commits batches of at most max_blocks until nothing is left (or `limit` batches).
std::vector<Planned> Drain(SendTransfer& t, size_t max_blocks, size_t limit = 1000) {
  std::vector<Planned> out;
  BlockBatch b;
  while (out.size() < limit && t.PlanBatch(max_blocks, &b)) {
    out.push_back({b.first_block, b.count, b.retransmit, b.tail_copy});
    t.CommitBatch(b, b.count, b.count * (kBs + 56), 1);
  }
  return out;
}

void Nack(SendTransfer& t, uint64_t seq, std::vector<NackRange> ranges, bool complete = false) {
  FeedbackFrameHeader h{};
  h.flags = complete ? kFeedbackFlagComplete : 0;
  h.feedback_seq = seq;
  h.range_count = static_cast<uint16_t>(ranges.size());
  t.OnFeedback(h, ranges.data(), ranges.size(), 0);
}

void TestTailCopies(const std::string& dir) {
  SendSpec spec;
  spec.block_size = kBs;
  spec.files = {{WriteSource(dir, 5000 * kBs), 5000 * kBs}};
  Status st;
  auto t = SendTransfer::Open(nullptr, 1, spec, 0, &st);
  REQUIRE(t && st.ok());

  // During the first pass: a repair goes first and is sent once.
  std::vector<Planned> p = Drain(*t, 100, 10);  // blocks 0..999
  Nack(*t, 1, {{0, 2, 10}});
  p = Drain(*t, 100, 2);
  REQUIRE(p.size() == 2u);
  CHECK(p[0].retransmit && !p[0].tail_copy && p[0].first == 10 && p[0].count == 2);
  CHECK(!p[1].retransmit && p[1].first == 1000);

  p = Drain(*t, 100);  // the rest of the first pass: no copy of the early repair
  CHECK(t->first_pass_done());
  for (const Planned& x : p) CHECK(!x.retransmit);

  // After the first pass: each repair, then its copy once the NACKed ranges are out.
  Nack(*t, 2, {{0, 3, 4990}, {0, 1, 20}});
  p = Drain(*t, 100);
  REQUIRE(p.size() == 4u);
  CHECK(p[0].retransmit && !p[0].tail_copy && p[0].first == 20 && p[0].count == 1);
  CHECK(p[1].retransmit && !p[1].tail_copy && p[1].first == 4990 && p[1].count == 3);
  CHECK(p[2].tail_copy && p[2].first == 20 && p[2].count == 1);
  CHECK(p[3].tail_copy && p[3].first == 4990 && p[3].count == 3);
  SendStats s = t->Stats();
  CHECK_EQ(s.blocks_tail_copies, 4u);
  CHECK_EQ(s.blocks_retransmitted, 2u + 4u + 4u);
  CHECK(!t->has_pending_work());

  // A big repair burst: only its last blocks (at most kTailCopyQueueBlocks NACKed behind
  // them) get copies, and all copies stay within the budget.
  Nack(*t, 3, {{0, 2000, 0}});
  p = Drain(*t, 8);
  uint64_t copies = 0;
  for (const Planned& x : p) {
    if (!x.tail_copy) continue;
    copies += x.count;
    CHECK(x.first >= 2000 - kTailCopyQueueBlocks - 8);
  }
  s = t->Stats();
  CHECK(copies > 0);
  CHECK_EQ(s.blocks_tail_copies, 4u + copies);
  CHECK(s.blocks_tail_copies <= std::max(kTailCopyFloorBlocks, s.blocks_retransmitted / kTailCopyShareDiv));

  // A complete FEEDBACK drops the copies still due (a fresh transfer: the burst above
  // may have spent the budget).
  auto t2 = SendTransfer::Open(nullptr, 2, spec, 0, &st);
  REQUIRE(t2 && st.ok());
  Drain(*t2, 100);
  REQUIRE(t2->first_pass_done());
  Nack(*t2, 1, {{0, 5, 100}});
  BlockBatch b;
  REQUIRE(t2->PlanBatch(100, &b));
  t2->CommitBatch(b, b.count, b.count * (kBs + 56), 1);
  CHECK(t2->has_pending_work());  // its copy is due
  Nack(*t2, 2, {}, true);
  CHECK(!t2->has_pending_work());
  CHECK(!t2->PlanBatch(100, &b));
}

// The TX threads claim through ClaimPacedBatch (paced), not PlanBatch: the tail
// copies must come out of that door too once nothing else is left to send.
void TestTailCopiesPaced(const std::string& dir) {
  SendSpec spec;
  spec.block_size = kBs;
  spec.files = {{WriteSource(dir, 200 * kBs), 200 * kBs}};
  spec.rate_policy = RatePolicy::kFixed;
  spec.rate_max_bps = 10'000'000'000ull;
  Status st;
  auto t = SendTransfer::Open(nullptr, 1, spec, 0, &st);
  REQUIRE(t && st.ok());
  uint64_t now_ns = 1'000'000'000;
  ClaimPaced(*t, now_ns);
  REQUIRE(t->first_pass_done());
  Nack(*t, 1, {{0, 2, 150}});
  const std::vector<Planned> p = ClaimPaced(*t, now_ns);
  REQUIRE(p.size() == 2u);
  CHECK(p[0].retransmit && !p[0].tail_copy && p[0].first == 150 && p[0].count == 2);
  CHECK(p[1].tail_copy && p[1].first == 150 && p[1].count == 2);
  CHECK_EQ(t->Stats().blocks_tail_copies, 2u);
  CHECK(!t->has_pending_work());
}

// Started before the accept (SendSpec::early_bytes): the claims stop at the budget
// (here below the 4 ms train) until Accept, which lets the first pass go on and skips
// the accept's `have` ranges the train has not passed (those it passed were duplicates).
void TestEarlyTrain(const std::string& dir) {
  constexpr uint64_t kSegment = kBs + kBlockPacketOverhead;
  SendSpec spec;
  spec.block_size = kBs;
  spec.files = {{WriteSource(dir, 2000 * kBs), 2000 * kBs}};
  spec.rate_start_bps = 1'000'000'000;  // train: 4 ms = 500,000 bytes
  spec.early_bytes = 100 * kSegment;
  Status st;
  auto t = SendTransfer::Open(nullptr, 1, spec, 0, &st);
  REQUIRE(t && st.ok());
  CHECK(t->awaiting_accept());
  uint64_t now_ns = 1'000'000'000;
  uint64_t early = 0;
  for (const Planned& p : ClaimPaced(*t, now_ns, 1000)) early += p.count;
  CHECK_EQ(early, 100u);  // the budget, then nothing until the accept
  CHECK(t->awaiting_accept());
  CHECK_EQ(t->Position().next_block, 100u);
  t->Accept({{0, 50, 10}, {0, 150, 100}});  // 50..59 already went out; 150..249 are skipped
  CHECK(!t->awaiting_accept());
  CHECK_EQ(t->Stats().blocks_resumed, 110u);
  uint64_t next = 100;
  bool in_order = true;
  for (const Planned& p : ClaimPaced(*t, now_ns, 100'000)) {
    if (p.first != next) in_order = false;
    next = p.first + p.count;
    if (next == 150) next = 250;
  }
  CHECK(in_order);
  CHECK_EQ(next, 2000u);
  CHECK(t->first_pass_done());
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/jetrecv-send-transfer-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  TestTailCopies(dir);
  TestTailCopiesPaced(dir);
  TestEarlyTrain(dir);
  const int rc = jetrecv::test::TestExitCode();
  if (rc == 0) std::system(("rm -rf '" + dir + "'").c_str());
  return rc;
}
