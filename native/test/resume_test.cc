// resume_test.cc — checkpoints and resume: ReceiveTransfer::Checkpoint (held
// ranges, finalized files, after Close), a second Open with the checkpoint
// (bits preset, kFileDone for finished files, only the rest NACKed and written,
// files intact), refusal to trust a partial or a final file that no longer
// matches, stale partials reset on a fresh open, and the sender side: a
// SendTransfer with held ranges skips them in its first pass.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "core/receive_transfer.h"
#include "core/send_transfer.h"
#include "fs_test_util.h"
#include "test_util.h"

using namespace jetrecv::core;
using jetrecv::test::Content;
using jetrecv::test::Exists;
using jetrecv::test::FakeSink;
using jetrecv::test::Packet;
using jetrecv::test::ReadAll;

namespace {

std::string g_base;

void WriteAll(const std::string& p, const std::string& data) {
  const int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  close(fd);
}
std::string MakeRoot(const std::string& name) {
  const std::string root = g_base + "/" + name;
  REQUIRE(mkdir(root.c_str(), 0755) == 0);
  return root;
}

// Blocks [first, end) of one file's content.
std::vector<Packet> Blocks(uint32_t transfer, uint32_t file, const std::string& content, uint32_t bs,
                           uint64_t first, uint64_t end) {
  std::vector<Packet> out;
  for (uint64_t b = first; b < end && b * bs < content.size(); ++b) {
    Packet p{};
    p.header.type = static_cast<uint8_t>(FrameType::kBlock);
    p.header.transfer_id = transfer;
    p.header.file_index = file;
    p.header.offset = b * bs;
    p.data = reinterpret_cast<const uint8_t*>(content.data()) + b * bs;
    p.len = std::min<uint64_t>(bs, content.size() - b * bs);
    out.push_back(p);
  }
  return out;
}

void Feed(ReceiveTransfer& t, const std::vector<Packet>& packets) {
  CounterBlock counters;
  std::vector<BlockRef> refs;
  for (const Packet& p : packets) refs.push_back({&p.header, p.data, p.len});
  if (!refs.empty()) t.OnBlocks(refs.data(), refs.size(), counters);
}

// Missing ranges in a FEEDBACK once the POSITION says everything was sent.
std::vector<NackRange> NacksAfterFirstPass(ReceiveTransfer& t, uint32_t transfer, uint32_t files) {
  PositionFrame pos{};
  pos.type = static_cast<uint8_t>(FrameType::kPosition);
  pos.flags = kPositionFlagFirstPassDone;
  pos.transfer_id = transfer;
  pos.file_index = files;
  t.OnPosition(pos);
  uint8_t frame[4096];
  t.BuildFeedback(1'000'000, 0, 0, frame, sizeof(frame));  // records the position
  const size_t len = t.BuildFeedback(5'000'000, 0, 0, frame, sizeof(frame));
  FeedbackFrameHeader h{};
  std::memcpy(&h, frame, kFeedbackFrameHeaderLen);
  std::vector<NackRange> ranges(h.range_count);
  REQUIRE(len == kFeedbackFrameHeaderLen + h.range_count * kNackRangeLen);
  if (h.range_count)
    std::memcpy(ranges.data(), frame + kFeedbackFrameHeaderLen, h.range_count * kNackRangeLen);
  return ranges;
}

constexpr uint32_t kBs = 1000;

ReceiveSpec ThreeFiles(const std::string& root) {
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = kBs;
  spec.files = {{"a.bin", 5 * kBs, 0644, 1'600'000'000'000},          // 5 blocks
                {"d/b.bin", 100 * kBs + 7, 0600, 1'600'000'001'000},  // 101 blocks
                {"d/c.bin", 40 * kBs, 0640, 1'600'000'002'000}};      // 40 blocks
  return spec;
}

void TestCheckpointAndResume() {
  const std::string root = MakeRoot("resume");
  ReceiveSpec spec = ThreeFiles(root);
  const std::string content[3] = {Content(spec.files[0].size, 1), Content(spec.files[1].size, 2),
                                  Content(spec.files[2].size, 3)};
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 9, &sink, &st);
  REQUIRE(t && st.ok());
  // File 0 complete; file 1 blocks [0,30) and [50,60); file 2 block 39 (the last).
  Feed(*t, Blocks(9, 0, content[0], kBs, 0, 5));
  Feed(*t, Blocks(9, 1, content[1], kBs, 0, 30));
  Feed(*t, Blocks(9, 1, content[1], kBs, 50, 60));
  Feed(*t, Blocks(9, 2, content[2], kBs, 39, 40));
  CHECK(Exists(root + "/a.bin"));
  sink.Take();

  ReceiveCheckpoint cp;
  REQUIRE(t->Checkpoint(&cp).ok());
  CHECK(cp.done_files == std::vector<uint32_t>({0}));
  REQUIRE(cp.ranges.size() == 3u);
  CHECK_EQ(cp.ranges[0].file_index, 1u);
  CHECK_EQ(cp.ranges[0].first_block, 0u);
  CHECK_EQ(cp.ranges[0].block_count, 30u);
  CHECK_EQ(cp.ranges[1].first_block, 50u);
  CHECK_EQ(cp.ranges[1].block_count, 10u);
  CHECK_EQ(cp.ranges[2].file_index, 2u);
  CHECK_EQ(cp.ranges[2].first_block, 39u);
  CHECK_EQ(cp.ranges[2].block_count, 1u);
  CHECK_EQ(cp.blocks_held, 5u + 40u + 1u);
  CHECK_EQ(cp.bytes_held, 5u * kBs + 40u * kBs + kBs);

  // Written after the checkpoint, then the process "dies": these are not in cp.
  Feed(*t, Blocks(9, 1, content[1], kBs, 30, 40));
  t->Close(false);  // partials kept, as after a crash
  CHECK(Exists(root + "/d/.b.bin.jrpart"));
  CHECK(!Exists(root + "/d/b.bin"));  // never visible under its final name

  // A checkpoint after Close re-opens the partials: it sees the later blocks too.
  ReceiveCheckpoint after_close;
  REQUIRE(t->Checkpoint(&after_close).ok());
  CHECK_EQ(after_close.blocks_held, 5u + 50u + 1u);
  t.reset();

  // Resume from cp (the older one): exactly its blocks are preset.
  spec.resume_done = cp.done_files;
  spec.resume_ranges = cp.ranges;
  auto r = ReceiveTransfer::Open(spec, 2, 10, &sink, &st);
  REQUIRE(r && st.ok());
  std::vector<Event> events = sink.Take();
  REQUIRE(events.size() == 1u);  // file 0 is done already: reported at open
  CHECK(events[0].type == EventType::kFileDone);
  CHECK_EQ(events[0].file, 0u);
  CHECK_EQ(events[0].transfer, 10u);
  ReceiveStats s = r->Stats();
  CHECK_EQ(s.blocks_resumed, 46u);
  CHECK_EQ(s.blocks_received, 46u);
  CHECK_EQ(s.files_done, 1u);
  CHECK_EQ(s.bytes_received, 46u * kBs);

  const std::vector<NackRange> nacks = NacksAfterFirstPass(*r, 10, 3);
  uint64_t nacked = 0;
  for (const NackRange& n : nacks) {
    CHECK(n.file_index != 0u);
    nacked += n.block_count;
  }
  CHECK_EQ(nacked, 146u - 46u);  // only what the checkpoint does not hold

  // The sender resends what is missing; every file ends intact.
  Feed(*r, Blocks(10, 1, content[1], kBs, 30, 50));
  Feed(*r, Blocks(10, 1, content[1], kBs, 60, 101));
  Feed(*r, Blocks(10, 2, content[2], kBs, 0, 39));
  CHECK(r->Complete());
  CHECK(ReadAll(root + "/a.bin") == content[0]);
  CHECK(ReadAll(root + "/d/b.bin") == content[1]);
  CHECK(ReadAll(root + "/d/c.bin") == content[2]);
  CHECK(!Exists(root + "/d/.b.bin.jrpart"));
  r->Close(false);
}

void TestUntrustedResume() {
  const std::string root = MakeRoot("untrusted");
  ReceiveSpec spec = ThreeFiles(root);
  const std::string content[3] = {Content(spec.files[0].size, 4), Content(spec.files[1].size, 5),
                                  Content(spec.files[2].size, 6)};
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 1, &sink, &st);
  REQUIRE(t && st.ok());
  Feed(*t, Blocks(1, 0, content[0], kBs, 0, 5));
  Feed(*t, Blocks(1, 1, content[1], kBs, 0, 50));
  Feed(*t, Blocks(1, 2, content[2], kBs, 0, 20));
  ReceiveCheckpoint cp;
  REQUIRE(t->Checkpoint(&cp).ok());
  t->Close(false);
  t.reset();
  sink.Take();

  // Tampering: the final a.bin changed size; b's partial was truncated; c untouched.
  WriteAll(root + "/a.bin", "changed");
  REQUIRE(truncate((root + "/d/.b.bin.jrpart").c_str(), 10) == 0);
  spec.resume_done = cp.done_files;
  spec.resume_ranges = cp.ranges;
  auto r = ReceiveTransfer::Open(spec, 1, 2, &sink, &st);
  REQUIRE(r && st.ok());
  CHECK(sink.Take().empty());                // a.bin is not taken as done
  CHECK_EQ(r->Stats().blocks_resumed, 20u);  // only c's ranges were trusted
  struct stat pst {};
  REQUIRE(stat((root + "/d/.b.bin.jrpart").c_str(), &pst) == 0);
  CHECK_EQ(static_cast<uint64_t>(pst.st_size), spec.files[1].size);
  // The reset partial holds zeros, not the stale bytes.
  CHECK(ReadAll(root + "/d/.b.bin.jrpart").substr(0, 10) == std::string(10, '\0'));
  Feed(*r, Blocks(2, 0, content[0], kBs, 0, 5));
  Feed(*r, Blocks(2, 1, content[1], kBs, 0, 101));
  Feed(*r, Blocks(2, 2, content[2], kBs, 20, 40));
  CHECK(r->Complete());
  CHECK(ReadAll(root + "/a.bin") == content[0]);
  CHECK(ReadAll(root + "/d/b.bin") == content[1]);
  CHECK(ReadAll(root + "/d/c.bin") == content[2]);
  r->Close(false);

  // A fresh open (no resume) never trusts a stale partial: it starts from zero.
  ReceiveSpec fresh;
  fresh.root = root;
  fresh.block_size = kBs;
  fresh.files = {{"e.bin", 3 * kBs, 0644, 0}};
  WriteAll(root + "/.e.bin.jrpart", std::string(3 * kBs, 'x'));
  auto f = ReceiveTransfer::Open(fresh, 1, 3, &sink, &st);
  REQUIRE(f && st.ok());
  CHECK_EQ(f->Stats().blocks_received, 0u);
  CHECK(ReadAll(root + "/.e.bin.jrpart") == std::string(3 * kBs, '\0'));
  f->Close(true);
}

void TestHeldButNotRenamed() {
  // Every block of a file was checkpointed but the rename had not happened (or
  // was lost): the resumed Open finalizes it at once.
  const std::string root = MakeRoot("unrenamed");
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = kBs;
  spec.files = {{"x.bin", 3 * kBs + 1, 0644, 1'500'000'000'000}};
  const std::string content = Content(spec.files[0].size, 7);
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 1, &sink, &st);
  REQUIRE(t && st.ok());
  Feed(*t, Blocks(1, 0, content, kBs, 0, 4));
  t->Close(false);
  t.reset();
  // Simulate the crash between the last write and the rename: put the data back
  // under the partial name.
  REQUIRE(rename((root + "/x.bin").c_str(), (root + "/.x.bin.jrpart").c_str()) == 0);
  spec.resume_ranges = {{0, 0, 4}};
  sink.Take();
  auto r = ReceiveTransfer::Open(spec, 1, 2, &sink, &st);
  REQUIRE(r && st.ok());
  CHECK(r->Complete());
  CHECK_EQ(sink.Take().size(), 1u);
  CHECK(ReadAll(root + "/x.bin") == content);
  r->Close(false);
}

void TestSenderSkipsHeld() {
  const std::string dir = MakeRoot("sender");
  const std::string p0 = dir + "/s0", p1 = dir + "/s1";
  WriteAll(p0, Content(10 * kBs, 8));
  WriteAll(p1, Content(20 * kBs + 5, 9));
  SendSpec spec;
  spec.block_size = kBs;
  spec.files = {{p0, 10 * kBs}, {p1, 20 * kBs + 5}};
  // All of file 0 (given as two overlapping ranges), file 1 [5,10) and [18,21),
  // plus ranges the sender must ignore (unknown file, past the end).
  spec.have = {{0, 0, 6}, {0, 4, 6}, {1, 5, 5}, {1, 18, 100}, {7, 0, 1}, {1, 500, 1}};
  Status st;
  auto t = SendTransfer::Open(nullptr, 1, spec, 0, &st);
  REQUIRE(t && st.ok());
  CHECK_EQ(t->Stats().blocks_resumed, 10u + 5u + 3u);
  std::vector<std::pair<uint64_t, uint32_t>> planned;  // (file*1000 + first, count)
  BlockBatch b;
  while (t->PlanBatch(64, &b)) {
    CHECK(!b.retransmit);
    planned.emplace_back(b.file * 1000 + b.first_block, b.count);
    t->CommitBatch(b, b.count, b.count * (kBs + 56), 0);
  }
  REQUIRE(planned.size() == 2u);
  CHECK_EQ(planned[0].first, 1000u);  // file 1 block 0: file 0 is skipped entirely
  CHECK_EQ(planned[0].second, 5u);
  CHECK_EQ(planned[1].first, 1010u);
  CHECK_EQ(planned[1].second, 8u);
  const SendStats s = t->Stats();
  CHECK(s.first_pass_done);
  CHECK_EQ(s.blocks_sent, 13u);
  const PositionFrame pos = t->Position();
  CHECK_EQ(pos.flags & kPositionFlagFirstPassDone, kPositionFlagFirstPassDone);

  // Everything held: nothing to send at all.
  spec.have = {{0, 0, 10}, {1, 0, 21}};
  auto all = SendTransfer::Open(nullptr, 2, spec, 0, &st);
  REQUIRE(all && st.ok());
  CHECK(!all->PlanBatch(64, &b));
  CHECK(all->first_pass_done());
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/jetrecv-resume-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  g_base = tmpl;
  umask(022);
  TestCheckpointAndResume();
  TestUntrustedResume();
  TestHeldButNotRenamed();
  TestSenderSkipsHeld();
  const int rc = jetrecv::test::TestExitCode();
  if (rc == 0) std::system(("rm -rf '" + g_base + "'").c_str());
  return rc;
}
