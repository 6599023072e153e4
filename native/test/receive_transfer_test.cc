// receive_transfer_test.cc — a ReceiveTransfer in a temp root with a fake
// EventSink: several files (empty, exact multiple of the block size, short last
// block, > 64 blocks) fed shuffled with duplicates from two threads; bytes,
// names, modes, mtimes, events, partials invisible before completion; bad
// blocks; FEEDBACK (NACKs only before the POSITION, hold-off, cap, complete
// flag, not before every RX thread has drained past the POSITION); Open refusals; write failures (EFBIG via
// RLIMIT_FSIZE, vanished directory) -> kTransferError; Close removing partials.
#include "core/receive_transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fs_test_util.h"
#include "test_util.h"

using namespace jetrecv::core;
using jetrecv::test::Content;
using jetrecv::test::Exists;
using jetrecv::test::FakeSink;
using jetrecv::test::Packet;
using jetrecv::test::PacketsFor;
using jetrecv::test::ReadAll;

namespace {

std::string g_base;

std::string MakeRoot(const std::string& name) {
  const std::string root = g_base + "/" + name;
  REQUIRE(mkdir(root.c_str(), 0755) == 0);
  return root;
}

void Feed(ReceiveTransfer& t, const std::vector<Packet>& packets, size_t chunk, CounterBlock& counters) {
  std::vector<BlockRef> refs;
  for (size_t i = 0; i < packets.size(); i += chunk) {
    refs.clear();
    for (size_t k = i; k < std::min(packets.size(), i + chunk); ++k) {
      refs.push_back({&packets[k].header, packets[k].data, packets[k].len});
    }
    t.OnBlocks(refs.data(), refs.size(), counters);
  }
}

FeedbackFrameHeader ParseFeedback(const uint8_t* frame, size_t len, std::vector<NackRange>* ranges) {
  FeedbackFrameHeader h{};
  REQUIRE(len >= kFeedbackFrameHeaderLen);
  std::memcpy(&h, frame, kFeedbackFrameHeaderLen);
  REQUIRE(len == kFeedbackFrameHeaderLen + h.range_count * kNackRangeLen);
  ranges->resize(h.range_count);
  if (h.range_count)
    std::memcpy(ranges->data(), frame + kFeedbackFrameHeaderLen, h.range_count * kNackRangeLen);
  return h;
}

void TestWholeTransfer() {
  constexpr uint32_t bs = 1000;
  const std::string root = MakeRoot("whole");
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = bs;
  spec.files = {{"empty.txt", 0, 0600, 1'500'000'000'000},
                {"sub/exact.bin", 4 * bs, 0640, 1'600'000'000'000},
                {"sub/deep/short.bin", 2 * bs + 500, 0755, 1'700'000'000'250},
                {"many.bin", 70 * bs + 1, 04755, 1'234'567'890'000}};  // setuid bit is dropped
  spec.empty_dirs = {"emptydir/inner"};
  const std::string contents[4] = {"", Content(spec.files[1].size, 1), Content(spec.files[2].size, 2),
                                   Content(spec.files[3].size, 3)};
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 7, 42, &sink, &st);
  REQUIRE(t != nullptr);
  REQUIRE(st.ok());

  // At open: dirs exist, the empty file is final, the others are hidden partials.
  CHECK(Exists(root + "/emptydir/inner"));
  CHECK(Exists(root + "/empty.txt"));
  CHECK(!Exists(root + "/.empty.txt.jrpart"));
  CHECK(Exists(root + "/sub/.exact.bin.jrpart"));
  CHECK(Exists(root + "/sub/deep/.short.bin.jrpart"));
  CHECK(!Exists(root + "/sub/exact.bin"));
  std::vector<Event> events = sink.Take();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::kFileDone);
  CHECK_EQ(events[0].session, 7u);
  CHECK_EQ(events[0].transfer, 42u);
  CHECK_EQ(events[0].file, 0u);
  CHECK_EQ(t->Stats().total_blocks, 4u + 3u + 71u);
  CHECK_EQ(t->Stats().files_done, 1u);

  // Every block, shuffled, plus 20% duplicates; hold back each file's block 1.
  std::vector<Packet> all, held;
  for (uint32_t f = 1; f < 4; ++f) {
    for (const Packet& p : PacketsFor(42, f, contents[f], bs)) {
      (p.header.offset == bs ? held : all).push_back(p);
    }
  }
  std::mt19937 rng(99);
  const size_t n = all.size();
  for (size_t i = 0; i < n / 5; ++i) all.push_back(all[rng() % n]);
  std::shuffle(all.begin(), all.end(), rng);
  // Also keep some in-order runs so multi-block pwritev is exercised.
  for (const Packet& p : PacketsFor(42, 3, contents[3], bs)) {
    if (p.header.offset >= 10 * bs && p.header.offset < 40 * bs) all.push_back(p);
  }

  CounterBlock c0, c1;
  const size_t half = all.size() / 2;
  std::vector<Packet> first(all.begin(), all.begin() + half), second(all.begin() + half, all.end());
  std::thread th0([&] { Feed(*t, first, 7, c0); });
  std::thread th1([&] { Feed(*t, second, 64, c1); });
  th0.join();
  th1.join();

  // Not complete yet: final names invisible.
  CHECK(!Exists(root + "/sub/exact.bin"));
  CHECK(!Exists(root + "/many.bin"));
  CHECK(sink.Take().empty());
  CHECK(!t->Complete());

  Feed(*t, held, 3, c0);
  CHECK(t->Complete());
  const uint64_t written = c0.Get(CounterId::kblocks_written) + c1.Get(CounterId::kblocks_written);
  CHECK_EQ(written, 4u + 3u + 71u);
  CHECK_EQ(c0.Get(CounterId::kbytes_written) + c1.Get(CounterId::kbytes_written),
           spec.files[1].size + spec.files[2].size + spec.files[3].size);
  CHECK(c0.Get(CounterId::kdrop_duplicate_block) + c1.Get(CounterId::kdrop_duplicate_block) >= n / 5);
  CHECK_EQ(c0.Get(CounterId::kfiles_completed) + c1.Get(CounterId::kfiles_completed), 3u);

  for (uint32_t f = 1; f < 4; ++f) {
    const std::string path = root + "/" + spec.files[f].path;
    CHECK(ReadAll(path) == contents[f]);
    struct stat s {};
    REQUIRE(stat(path.c_str(), &s) == 0);
    CHECK_EQ(s.st_mode & 07777, spec.files[f].mode & 0777);
    CHECK_EQ(static_cast<int64_t>(s.st_mtim.tv_sec) * 1000 + s.st_mtim.tv_nsec / 1'000'000,
             spec.files[f].mtime_ms);
  }
  struct stat s0 {};
  REQUIRE(stat((root + "/empty.txt").c_str(), &s0) == 0);
  CHECK_EQ(s0.st_size, 0);
  CHECK_EQ(s0.st_mtim.tv_sec, 1'500'000'000);
  CHECK(!Exists(root + "/sub/.exact.bin.jrpart"));
  CHECK(!Exists(root + "/sub/deep/.short.bin.jrpart"));
  CHECK(!Exists(root + "/.many.bin.jrpart"));

  events = sink.Take();
  CHECK_EQ(events.size(), 3u);
  std::vector<uint32_t> done;
  for (const Event& e : events) {
    CHECK(e.type == EventType::kFileDone);
    done.push_back(e.file);
  }
  std::sort(done.begin(), done.end());
  CHECK(done == std::vector<uint32_t>({1, 2, 3}));

  const ReceiveStats stats = t->Stats();
  CHECK_EQ(stats.blocks_received, 78u);
  CHECK_EQ(stats.files_done, 4u);
  CHECK(!stats.failed);
  CHECK(stats.last_recv_us > 0);

  // Late duplicates after finalize are counted and change nothing.
  CounterBlock c2;
  Feed(*t, held, 1, c2);
  CHECK_EQ(c2.Get(CounterId::kdrop_duplicate_block), held.size());
  CHECK(sink.Take().empty());

  uint8_t frame[1500];
  std::vector<NackRange> ranges;
  const FeedbackFrameHeader h =
      ParseFeedback(frame, t->BuildFeedback(1'000'000, 0, 0, frame, sizeof(frame)), &ranges);
  CHECK_EQ(h.flags & kFeedbackFlagComplete, kFeedbackFlagComplete);
  CHECK_EQ(h.range_count, 0u);
  CHECK_EQ(h.blocks_received, 78u);
  t->Close(true);  // nothing left to remove; finals stay
  CHECK(ReadAll(root + "/many.bin") == contents[3]);
}

void TestBadBlocks() {
  constexpr uint32_t bs = 100;
  ReceiveSpec spec;
  spec.root = MakeRoot("bad");
  spec.block_size = bs;
  spec.files = {{"f", 250, 0644, 0}};
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 5, &sink, &st);
  REQUIRE(t != nullptr);
  const std::string data(300, 'x');
  auto make = [&](uint32_t transfer, uint32_t file, uint64_t off, size_t len) {
    Packet p{};
    p.header.transfer_id = transfer;
    p.header.file_index = file;
    p.header.offset = off;
    p.data = reinterpret_cast<const uint8_t*>(data.data());
    p.len = len;
    return p;
  };
  std::vector<Packet> bad = {make(5, 1, 0, 100),    // no such file
                             make(5, 0, 50, 100),   // offset not a block multiple
                             make(5, 0, 0, 99),     // short non-last block
                             make(5, 0, 200, 100),  // last block must be 50 bytes
                             make(5, 0, 300, 100),  // beyond the end
                             make(6, 0, 0, 100)};   // another transfer's block
  CounterBlock c;
  Feed(*t, bad, 6, c);
  CHECK_EQ(c.Get(CounterId::kdrop_bad_block), 6u);
  CHECK_EQ(c.Get(CounterId::kblocks_written), 0u);
  std::vector<Packet> good = {make(5, 0, 200, 50)};
  Feed(*t, good, 1, c);
  CHECK_EQ(c.Get(CounterId::kblocks_written), 1u);
  t->Close(true);
  CHECK(!Exists(spec.root + "/.f.jrpart"));  // Close(true) removed the partial
  CHECK(!Exists(spec.root + "/f"));
  Feed(*t, good, 1, c);  // after close: dropped as transfer failed/closed
  CHECK_EQ(c.Get(CounterId::kdrop_transfer_failed), 1u);
}

void TestFeedback() {
  constexpr uint32_t bs = 10;
  ReceiveSpec spec;
  spec.root = MakeRoot("feedback");
  spec.block_size = bs;
  spec.files = {{"a", 100 * bs, 0644, 0}, {"b", 5 * bs, 0644, 0}};
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 3, 9, &sink, &st);
  REQUIRE(t != nullptr);
  const std::string a = Content(100 * bs, 5), b = Content(5 * bs, 6);
  std::vector<Packet> pa = PacketsFor(9, 0, a, bs), pb = PacketsFor(9, 1, b, bs);
  std::vector<Packet> some;
  for (uint64_t i = 0; i < 70; ++i) {
    if (i == 10 || i == 11 || i == 30 || (i >= 50 && i < 60)) continue;  // lost / in flight
    some.push_back(pa[i]);
  }
  CounterBlock c;
  Feed(*t, some, 16, c);

  PositionFrame pos{};
  pos.type = static_cast<uint8_t>(FrameType::kPosition);
  pos.transfer_id = 9;
  pos.file_index = 0;
  pos.next_block = 50;
  t->OnPosition(pos);

  uint8_t frame[1500];
  std::vector<NackRange> ranges;
  uint64_t now = 10'000'000;
  // First feedback: NACKs use the position known at the previous feedback (none).
  FeedbackFrameHeader h = ParseFeedback(frame, t->BuildFeedback(now, 3, 0, frame, sizeof(frame)), &ranges);
  CHECK_EQ(h.type, static_cast<uint8_t>(FrameType::kFeedback));
  CHECK_EQ(h.transfer_id, 9u);
  CHECK_EQ(h.feedback_seq, 1u);
  CHECK_EQ(h.socket_drops, 3u);
  CHECK_EQ(h.blocks_received, 57u);
  CHECK_EQ(h.flags, kFeedbackFlagTiming);
  CHECK_EQ(h.range_count, 0u);

  // Second: blocks before the POSITION that are missing, oldest first; the gap
  // 50..59 is past the POSITION (in flight) and not NACKed.
  now += 10'000;
  h = ParseFeedback(frame, t->BuildFeedback(now, 0, 0, frame, sizeof(frame)), &ranges);
  CHECK_EQ(h.feedback_seq, 2u);
  REQUIRE(ranges.size() == 2);
  CHECK_EQ(ranges[0].file_index, 0u);
  CHECK_EQ(ranges[0].first_block, 10u);
  CHECK_EQ(ranges[0].block_count, 2u);
  CHECK_EQ(ranges[1].first_block, 30u);
  CHECK_EQ(ranges[1].block_count, 1u);

  // Soon after: held off, not NACKed again.
  now += 5'000;
  h = ParseFeedback(frame, t->BuildFeedback(now, 0, 0, frame, sizeof(frame)), &ranges);
  CHECK_EQ(h.range_count, 0u);
  CHECK_EQ(h.recv_rate, 0u);  // nothing arrived in this interval

  // Block 30 repaired; sender finishes the first pass.
  std::vector<Packet> repair = {pa[30]};
  Feed(*t, repair, 1, c);
  pos.flags = kPositionFlagFirstPassDone;
  pos.file_index = 2;
  pos.next_block = 0;
  t->OnPosition(pos);
  PositionFrame stale = pos;  // an older POSITION arriving late is ignored
  stale.flags = 0;
  stale.file_index = 0;
  stale.next_block = 1;
  t->OnPosition(stale);
  now += 5'000;
  h = ParseFeedback(frame, t->BuildFeedback(now, 0, 0, frame, sizeof(frame)), &ranges);
  CHECK(h.recv_rate > 0);
  now += 30'000;  // past the hold-off; the done position is now the NACK limit
  h = ParseFeedback(frame, t->BuildFeedback(now, 0, 0, frame, sizeof(frame)), &ranges);
  REQUIRE(ranges.size() == 4);
  CHECK_EQ(ranges[0].first_block, 10u);  // re-NACK after the hold-off
  CHECK_EQ(ranges[0].block_count, 2u);
  CHECK_EQ(ranges[1].first_block, 50u);
  CHECK_EQ(ranges[1].block_count, 10u);
  CHECK_EQ(ranges[2].first_block, 70u);
  CHECK_EQ(ranges[2].block_count, 30u);
  CHECK_EQ(ranges[3].file_index, 1u);
  CHECK_EQ(ranges[3].first_block, 0u);
  CHECK_EQ(ranges[3].block_count, 5u);

  // A frame with room for one range carries one; a cap below the header, none.
  CHECK_EQ(t->BuildFeedback(now + 1'000'000, 0, 0, frame, kFeedbackFrameHeaderLen - 1), 0u);
  h = ParseFeedback(
      frame, t->BuildFeedback(now + 2'000'000, 0, 0, frame, kFeedbackFrameHeaderLen + kNackRangeLen + 5),
      &ranges);
  CHECK_EQ(h.range_count, 1u);

  // The receiver's cap: every later FEEDBACK carries it (the 64-byte header)
  // until it is lifted (0).
  t->SetRateCap(20'000'000);
  FeedbackFrameHeader capped;
  std::vector<NackRange> capped_ranges;
  size_t n = t->BuildFeedback(now + 2'500'000, 0, 0, frame, sizeof(frame));
  REQUIRE(DecodeFeedbackFrame(frame, n, &capped, &capped_ranges));
  CHECK_EQ(capped.flags, kFeedbackFlagRateCap | kFeedbackFlagTiming);
  CHECK_EQ(capped.rate_cap_bps, 20'000'000u);
  CHECK(!capped_ranges.empty());
  CHECK_EQ(t->BuildFeedback(now + 2'600'000, 0, 0, frame, kFeedbackFrameHeaderCapLen - 1), 0u);
  t->SetRateCap(0);
  n = t->BuildFeedback(now + 2'700'000, 0, 0, frame, sizeof(frame));
  REQUIRE(DecodeFeedbackFrame(frame, n, &capped, &capped_ranges));
  CHECK_EQ(capped.flags, kFeedbackFlagTiming);
  CHECK_EQ(capped.rate_cap_bps, 0u);

  // Everything arrives: complete flag, no ranges.
  Feed(*t, pa, 64, c);
  Feed(*t, pb, 64, c);
  h = ParseFeedback(frame, t->BuildFeedback(now + 3'000'000, 0, 0, frame, sizeof(frame)), &ranges);
  CHECK_EQ(h.flags, kFeedbackFlagComplete | kFeedbackFlagTiming);
  CHECK_EQ(h.range_count, 0u);
  CHECK_EQ(h.blocks_received, 105u);
  CHECK(ReadAll(spec.root + "/a") == a);
  CHECK(ReadAll(spec.root + "/b") == b);
}

// Lanes on two RX threads: a block sent before a POSITION may still sit in the
// other thread's socket queue. NACKs wait until every RX thread has handled what
// was queued when the POSITION was recorded (rx_drained_us), not just the
// reorder delay; a block still missing then is NACKed.
void TestFeedbackWaitsForRxThreads() {
  constexpr uint32_t bs = 10;
  ReceiveSpec spec;
  spec.root = MakeRoot("feedback_rx_threads");
  spec.block_size = bs;
  spec.files = {{"a", 100 * bs, 0644, 0}};
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 3, 9, &sink, &st);
  REQUIRE(t != nullptr);
  const std::vector<Packet> pa = PacketsFor(9, 0, Content(100 * bs, 7), bs);
  std::vector<Packet> lane0, queued;  // 40..49: on the other RX thread, not handled yet
  for (uint64_t i = 0; i < 50; ++i) (i >= 40 ? queued : lane0).push_back(pa[i]);
  CounterBlock c;
  Feed(*t, lane0, 16, c);
  PositionFrame pos{};
  pos.type = static_cast<uint8_t>(FrameType::kPosition);
  pos.transfer_id = 9;
  pos.next_block = 50;
  t->OnPosition(pos);

  uint8_t frame[1500];
  std::vector<NackRange> ranges;
  const uint64_t recorded = 10'000'000;  // the POSITION is recorded at this feedback
  const uint64_t before = recorded - 1;  // the other thread's last empty queue
  ParseFeedback(frame, t->BuildFeedback(recorded, 0, 0, frame, sizeof(frame), before), &ranges);
  CHECK(ranges.empty());
  // Past the reorder delay, but that thread has not drained since: no NACK.
  for (uint64_t now = recorded + 10'000; now <= recorded + 100'000; now += 10'000) {
    ParseFeedback(frame, t->BuildFeedback(now, 0, 0, frame, sizeof(frame), before), &ranges);
    CHECK(ranges.empty());
  }
  // It drained: 45..49 arrived, 40..44 were lost on the path and are NACKed.
  Feed(*t, std::vector<Packet>(queued.begin() + 5, queued.end()), 16, c);
  const uint64_t now = recorded + 110'000;
  ParseFeedback(frame, t->BuildFeedback(now, 0, 0, frame, sizeof(frame), recorded + 105'000), &ranges);
  REQUIRE(ranges.size() == 1);
  CHECK_EQ(ranges[0].first_block, 40u);
  CHECK_EQ(ranges[0].block_count, 5u);
  CHECK_EQ(c.Get(CounterId::kdrop_duplicate_block), 0u);
}

void TestOpenRefusals() {
  const std::string root = MakeRoot("refuse");
  const std::string outside = MakeRoot("refuse-outside");
  REQUIRE(symlink(outside.c_str(), (root + "/evil").c_str()) == 0);
  FakeSink sink;
  Status st;
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = 100;
  spec.files = {{"ok1", 10, 0644, 0}, {"dir/ok2", 10, 0644, 0}, {"evil/x", 10, 0644, 0}};
  CHECK(ReceiveTransfer::Open(spec, 1, 1, &sink, &st) == nullptr);
  CHECK_EQ(st.err, EXDEV);
  CHECK(st.code == "JETRECV_ERR_PATH_ESCAPE");
  CHECK(st.path == "evil/x");
  CHECK(!Exists(outside + "/.x.jrpart"));
  CHECK(!Exists(root + "/.ok1.jrpart"));  // partials created before the failure are removed
  CHECK(!Exists(root + "/dir/.ok2.jrpart"));

  spec.files = {{"../up", 10, 0644, 0}};
  CHECK(ReceiveTransfer::Open(spec, 1, 1, &sink, &st) == nullptr);
  CHECK_EQ(st.err, EINVAL);
  CHECK(st.code == "JETRECV_ERR_PATH_INVALID");
  CHECK(st.message.find("../up") != std::string::npos);

  spec.files = {{"same", 10, 0644, 0}, {"same", 20, 0644, 0}};
  CHECK(ReceiveTransfer::Open(spec, 1, 1, &sink, &st) == nullptr);
  CHECK_EQ(st.err, EINVAL);

  spec.files = {{"a", 10, 0644, 0}, {"a/b", 20, 0644, 0}};  // "a" both file and dir
  CHECK(ReceiveTransfer::Open(spec, 1, 1, &sink, &st) == nullptr);
  CHECK_EQ(st.err, EINVAL);
  CHECK(st.path == "a");

  spec.files = {{"x", 10, 0644, 0}, {".x.jrpart", 20, 0644, 0}};
  CHECK(ReceiveTransfer::Open(spec, 1, 1, &sink, &st) == nullptr);
  CHECK_EQ(st.err, EINVAL);

  spec.files = {{"x", 10, 0644, 0}};
  spec.empty_dirs = {"evil/d"};
  CHECK(ReceiveTransfer::Open(spec, 1, 1, &sink, &st) == nullptr);
  CHECK_EQ(st.err, EXDEV);
  CHECK(!Exists(outside + "/d"));

  spec.empty_dirs.clear();
  spec.block_size = 0;
  CHECK(ReceiveTransfer::Open(spec, 1, 1, &sink, &st) == nullptr);
  CHECK_EQ(st.err, EINVAL);
  spec.block_size = 100;
  spec.root = "relative";
  CHECK(ReceiveTransfer::Open(spec, 1, 1, &sink, &st) == nullptr);
  CHECK_EQ(st.err, EINVAL);
  CHECK(sink.Take().empty());
}

void TestWriteErrorFailsTransfer() {
  // A write past RLIMIT_FSIZE fails with EFBIG, a real pwritev error.
  constexpr uint32_t bs = 4096;
  ReceiveSpec spec;
  spec.root = MakeRoot("efbig");
  spec.block_size = bs;
  spec.files = {{"big.bin", 64 * bs, 0644, 0}};
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 2, 77, &sink, &st);
  REQUIRE(t != nullptr);
  const std::string data = Content(64 * bs, 8);
  std::vector<Packet> packets = PacketsFor(77, 0, data, bs);

  signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  rlimit small = old;
  small.rlim_cur = 8 * bs;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  CounterBlock c;
  std::vector<Packet> head(packets.begin(), packets.begin() + 8), tail(packets.begin() + 8, packets.end());
  Feed(*t, head, 8, c);  // within the limit
  CHECK_EQ(c.Get(CounterId::kblocks_written), 8u);
  Feed(*t, tail, 4, c);  // first run fails, the rest are dropped
  REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);

  CHECK_EQ(c.Get(CounterId::kwrite_errors), 1u);
  CHECK_EQ(c.Get(CounterId::kdrop_transfer_failed), tail.size());
  std::vector<Event> events = sink.Take();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::kTransferError);
  CHECK(events[0].code == "JETRECV_ERR_DISK");
  CHECK_EQ(events[0].err, EFBIG);
  CHECK_EQ(events[0].session, 2u);
  CHECK_EQ(events[0].transfer, 77u);
  CHECK(events[0].message.find("big.bin") != std::string::npos);
  CHECK(events[0].message.find(std::strerror(EFBIG)) != std::string::npos);
  CHECK(t->Stats().failed);
  uint8_t frame[100];
  CHECK_EQ(t->BuildFeedback(1, 0, 0, frame, sizeof(frame)), 0u);  // a failed transfer stays silent
  t->Close(false);
  CHECK(Exists(spec.root + "/.big.bin.jrpart"));  // kept for inspection / resume
}

void TestVanishedDirectory() {
  constexpr uint32_t bs = 100;
  ReceiveSpec spec;
  spec.root = MakeRoot("vanish");
  spec.block_size = bs;
  spec.files = {{"d/file", 3 * bs, 0644, 0}, {"other", bs, 0644, 0}};
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 4, 8, &sink, &st);
  REQUIRE(t != nullptr);
  REQUIRE(std::system(("rm -rf '" + spec.root + "/d'").c_str()) == 0);
  const std::string data = Content(3 * bs, 9);
  CounterBlock c;
  Feed(*t, PacketsFor(8, 0, data, bs), 3, c);  // writes to the unlinked inode; rename fails
  std::vector<Event> events = sink.Take();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::kTransferError);
  CHECK(events[0].code == "JETRECV_ERR_DISK");
  CHECK_EQ(events[0].err, ENOENT);
  CHECK_EQ(events[0].file, 0u);
  CHECK(events[0].message.find("d") != std::string::npos);
  CHECK(t->Stats().failed);
  const std::string other = Content(bs, 10);
  Feed(*t, PacketsFor(8, 1, other, bs), 1, c);
  CHECK_EQ(c.Get(CounterId::kdrop_transfer_failed), 1u);
  CHECK(!Exists(spec.root + "/other"));
  t->Close(true);
  CHECK(!Exists(spec.root + "/.other.jrpart"));
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/jetrecv-recv-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  g_base = tmpl;
  umask(022);
  TestWholeTransfer();
  TestBadBlocks();
  TestFeedback();
  TestFeedbackWaitsForRxThreads();
  TestOpenRefusals();
  TestWriteErrorFailsTransfer();
  TestVanishedDirectory();
  const int rc = jetrecv::test::TestExitCode();
  if (rc == 0) std::system(("rm -rf '" + g_base + "'").c_str());
  return rc;
}
