// direct_io_test.cc — ReceiveTransfer with a DirectWriter on a real disk file
// system (a temp dir under /var/tmp; skipped with a reason when that is tmpfs
// or refuses O_DIRECT): in order; shuffled with holes filled late and
// duplicates; a pool of 2 chunks (fallback to buffered); a Checkpoint mid-way
// whose held ranges are read back from the partial; four RX threads on one
// file; Close with writes pending (keeping and removing partials); a failed
// direct write (EFBIG) failing the transfer; small and tmpfs files staying
// buffered; blocks decrypted straight into staging (StageSealedBlock) with forged
// copies whose garbage must never reach the file. Every case checks the final
// bytes and the direct-I/O counters.
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/direct_writer.h"
#include "core/receive_transfer.h"
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

constexpr uint64_t MiB = 1 << 20;
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

// A file whose last direct write is still running is finalized by the writer
// thread when that write ends: wait (generously) for it.
bool WaitComplete(const ReceiveTransfer& t) {
  for (int i = 0; i < 60'000 && !t.Complete(); ++i) usleep(1000);
  return t.Complete();
}

// `size` bytes of `path` from `offset`, or "" when it cannot be read.
std::string ReadRange(const std::string& path, uint64_t offset, uint64_t size) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "";
  std::string out(size, '\0');
  const ssize_t r = pread(fd, out.data(), size, static_cast<off_t>(offset));
  close(fd);
  return r == static_cast<ssize_t>(size) ? out : "";
}

struct Fixture {
  CounterSet counters;
  std::shared_ptr<DirectWriter> writer;
  FakeSink sink;
  explicit Fixture(size_t chunks, size_t threads = 2)
      : writer(std::make_shared<DirectWriter>(threads, chunks, &counters)) {}
  uint64_t Get(CounterId id) const { return counters.Get(id); }
};

std::unique_ptr<ReceiveTransfer> OpenOne(Fixture& fx, const std::string& root, uint32_t bs, uint64_t size,
                                         const char* name = "big.bin") {
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = bs;
  spec.files = {{name, size, 0644, 1'700'000'000'000}};
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 5, &fx.sink, &st, fx.writer);
  if (t == nullptr) std::printf("Open %s: %s\n", root.c_str(), st.message.c_str());
  REQUIRE(t != nullptr);
  REQUIRE(st.ok());
  return t;
}

// In order, 1400-byte blocks (they straddle chunk boundaries), EOF mid-chunk.
void TestInOrder() {
  const std::string root = MakeRoot("inorder");
  Fixture fx(64);
  const uint64_t size = 9 * MiB + 12345;
  const std::string content = Content(size, 1);
  auto t = OpenOne(fx, root, 1400, size);
  CounterBlock& c = fx.counters.NewBlock();
  Feed(*t, PacketsFor(5, 0, content, 1400), 32, c);
  CHECK(WaitComplete(*t));
  CHECK(ReadAll(root + "/big.bin") == content);
  CHECK(!Exists(root + "/.big.bin.jrpart"));
  // Chunks 0..8 direct, chunk 9 (EOF) buffered.
  CHECK_EQ(fx.Get(CounterId::kbytes_written_direct), 9 * MiB);
  CHECK_EQ(fx.Get(CounterId::kbytes_written), size);
  CHECK_EQ(fx.Get(CounterId::kdirect_pool_exhausted), 0u);
  CHECK_EQ(fx.Get(CounterId::kwrite_errors), 0u);
  CHECK_EQ(fx.writer->free_chunks(), fx.writer->chunk_count());
  CHECK_EQ(fx.Get(CounterId::kfiles_completed), 1u);
  const std::vector<Event> events = fx.sink.Take();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::kFileDone);
  t->Close(false);
}

// Shuffled, 20% duplicates, 5% held back until the end; a Checkpoint between
// turns the staging chunks buffered, so held-back blocks land in buffered chunks.
void TestOutOfOrderWithCheckpoint() {
  const std::string root = MakeRoot("shuffled");
  Fixture fx(64);
  const uint32_t bs = 8000;
  const uint64_t size = 16 * MiB + 100;
  const std::string content = Content(size, 2);
  auto t = OpenOne(fx, root, bs, size);
  std::vector<Packet> all = PacketsFor(5, 0, content, bs), main, held;
  std::mt19937 rng(7);
  std::shuffle(all.begin(), all.end(), rng);
  for (size_t i = 0; i < all.size(); ++i) (i % 20 == 0 ? held : main).push_back(all[i]);
  const size_t n = main.size();
  for (size_t i = 0; i < n / 5; ++i) main.push_back(main[rng() % n]);
  // Phase 1: the first 8 MiB (with holes); phase 2: the rest.
  std::vector<Packet> phase1, phase2;
  for (const Packet& p : main) (p.header.offset < 8 * MiB ? phase1 : phase2).push_back(p);
  CounterBlock& c = fx.counters.NewBlock();
  Feed(*t, phase1, 16, c);

  ReceiveCheckpoint cp;
  REQUIRE(t->Checkpoint(&cp).ok());
  CHECK(cp.blocks_held > 0);
  for (const ResumeRange& r : cp.ranges) {  // every held block has its bytes in the partial
    const uint64_t off = r.first_block * bs;
    const uint64_t len = std::min<uint64_t>(r.block_count * bs, size - off);
    CHECK(ReadRange(root + "/.big.bin.jrpart", off, len) == content.substr(off, len));
  }
  CHECK_EQ(fx.writer->free_chunks(), fx.writer->chunk_count());  // staging flushed

  Feed(*t, phase2, 16, c);
  CHECK(!t->Complete());
  Feed(*t, held, 3, c);
  CHECK(WaitComplete(*t));
  CHECK(ReadAll(root + "/big.bin") == content);
  CHECK_EQ(fx.Get(CounterId::kbytes_written), size);
  CHECK(fx.Get(CounterId::kdrop_duplicate_block) >= n / 5);
  // Chunks 10..15 filled after the checkpoint (once their held-back blocks came):
  // direct. Chunk 8 was staging at the checkpoint (the block straddling 8 MiB), and
  // so was chunk 9, prepared ahead by that block.
  CHECK_EQ(fx.Get(CounterId::kbytes_written_direct), 6 * MiB);
  CHECK_EQ(fx.writer->free_chunks(), fx.writer->chunk_count());
  t->Close(false);
}

// A pool of 2 chunks for a file fed with a gap: the pool runs dry, later chunks
// go buffered (counted), and the result is still exact.
void TestPoolExhausted() {
  const std::string root = MakeRoot("pool");
  Fixture fx(2);
  const uint32_t bs = 4096;
  const uint64_t size = 12 * MiB;
  const std::string content = Content(size, 3);
  auto t = OpenOne(fx, root, bs, size);
  std::vector<Packet> all = PacketsFor(5, 0, content, bs), first, rest;
  // Hold back one block of chunk 0 and one of chunk 1: both stay staging,
  // so chunks 2.. find the pool empty.
  for (const Packet& p : all) {
    (p.header.offset == 0 || p.header.offset == MiB ? rest : first).push_back(p);
  }
  CounterBlock& c = fx.counters.NewBlock();
  Feed(*t, first, 64, c);
  CHECK(fx.Get(CounterId::kdirect_pool_exhausted) >= 9);
  CHECK_EQ(fx.Get(CounterId::kbytes_written_direct), 0u);
  Feed(*t, rest, 1, c);
  CHECK(WaitComplete(*t));
  CHECK(ReadAll(root + "/big.bin") == content);
  CHECK_EQ(fx.Get(CounterId::kbytes_written_direct), 2 * MiB);  // chunks 0 and 1
  CHECK_EQ(fx.writer->free_chunks(), 2u);
  t->Close(false);
}

// Four RX threads on one file at once, each with every 4th run of 8 blocks,
// plus a fifth feeding duplicates of everything.
void TestConcurrentThreads() {
  const std::string root = MakeRoot("threads");
  Fixture fx(8);
  const uint32_t bs = 1472;
  const uint64_t size = 24 * MiB + 777;
  const std::string content = Content(size, 4);
  auto t = OpenOne(fx, root, bs, size);
  const std::vector<Packet> all = PacketsFor(5, 0, content, bs);
  std::vector<Packet> parts[4];
  for (size_t i = 0; i < all.size(); ++i) parts[(i / 8) % 4].push_back(all[i]);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] { Feed(*t, parts[k], 8, fx.counters.NewBlock()); });
  }
  threads.emplace_back([&] { Feed(*t, all, 64, fx.counters.NewBlock()); });
  for (auto& th : threads) th.join();
  CHECK(WaitComplete(*t));
  CHECK(ReadAll(root + "/big.bin") == content);
  CHECK_EQ(fx.Get(CounterId::kbytes_written), size);
  CHECK_EQ(fx.Get(CounterId::kblocks_written), all.size());
  CHECK(fx.Get(CounterId::kbytes_written_direct) > 0);
  CHECK_EQ(fx.Get(CounterId::kwrite_errors), 0u);
  CHECK_EQ(fx.writer->free_chunks(), fx.writer->chunk_count());
  t->Close(false);
}

// Close while writes are queued: keeping partials, every staged or queued byte
// reaches the partial (a Checkpoint after Close reads it back); removing them,
// queued writes are dropped and the partial is gone. The pool is whole after.
void TestCloseWithPendingWrites() {
  const uint32_t bs = 32768;
  const uint64_t size = 40 * MiB + 1;
  const std::string content = Content(size, 5);
  for (bool remove : {false, true}) {
    const std::string root = MakeRoot(remove ? "close-remove" : "close-keep");
    Fixture fx(64, 1);
    auto t = OpenOne(fx, root, bs, size);
    std::vector<Packet> all = PacketsFor(5, 0, content, bs), head;
    for (const Packet& p : all) {  // 30 full chunks queued, one staging with a hole
      if (p.header.offset < 31 * MiB && p.header.offset != 30 * MiB + bs) head.push_back(p);
    }
    Feed(*t, head, 64, fx.counters.NewBlock());
    CHECK(fx.writer->free_chunks() < fx.writer->chunk_count());  // staged or queued now
    t->Close(remove);
    CHECK_EQ(fx.writer->free_chunks(), fx.writer->chunk_count());
    CHECK(!Exists(root + "/big.bin"));
    if (remove) {
      CHECK(!Exists(root + "/.big.bin.jrpart"));
      ReceiveCheckpoint cp;
      CHECK(!t->Checkpoint(&cp).ok());  // cancelled writes: nothing may be trusted
      CHECK_EQ(cp.blocks_held, 0u);
    } else {
      ReceiveCheckpoint cp;
      REQUIRE(t->Checkpoint(&cp).ok());
      CHECK_EQ(cp.blocks_held, head.size());
      const std::string partial = ReadAll(root + "/.big.bin.jrpart");
      REQUIRE(partial.size() == size);
      for (const Packet& p : head) {
        CHECK(partial.compare(p.header.offset, p.len, content, p.header.offset, p.len) == 0);
      }
      CHECK(fx.Get(CounterId::kbytes_written_direct) > 0);
    }
    CHECK_EQ(fx.Get(CounterId::kwrite_errors), 0u);
  }
}

// A direct write past RLIMIT_FSIZE fails (EFBIG) on the writer thread: the
// transfer fails like on a failed pwritev, Checkpoint refuses, nothing is final.
void TestDirectWriteError() {
  const std::string root = MakeRoot("efbig");
  Fixture fx(64);
  const uint32_t bs = 32768;
  const uint64_t size = 10 * MiB;
  const std::string content = Content(size, 6);
  auto t = OpenOne(fx, root, bs, size);
  signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  rlimit small = old;
  small.rlim_cur = 4 * MiB;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::vector<Packet> all = PacketsFor(5, 0, content, bs), head;
  for (const Packet& p : all) {
    if (p.header.offset < 6 * MiB) head.push_back(p);  // chunks 0..5: 4 and 5 fail
  }
  CounterBlock& c = fx.counters.NewBlock();
  Feed(*t, head, 16, c);
  ReceiveCheckpoint cp;
  const Status st = t->Checkpoint(&cp);  // waits for the queued writes
  REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
  CHECK(!st.ok());
  CHECK(st.code == std::string(kErrDisk));
  CHECK(t->Stats().failed);
  CHECK(fx.Get(CounterId::kwrite_errors) >= 1);
  std::vector<Event> events = fx.sink.Take();
  REQUIRE(!events.empty());
  CHECK(events[0].type == EventType::kTransferError);
  CHECK(events[0].code == std::string(kErrDisk));
  CHECK_EQ(events[0].err, EFBIG);
  CHECK(!Exists(root + "/big.bin"));
  t->Close(true);
  CHECK_EQ(fx.writer->free_chunks(), fx.writer->chunk_count());
}

// Below kMinDirectFileBytes, or on tmpfs: buffered only.
void TestNotEligible() {
  const std::string root = MakeRoot("small");
  Fixture fx(64);
  const uint64_t size = kMinDirectFileBytes - 1;
  const std::string content = Content(size, 7);
  auto t = OpenOne(fx, root, 32768, size);
  Feed(*t, PacketsFor(5, 0, content, 32768), 64, fx.counters.NewBlock());
  CHECK(WaitComplete(*t));
  CHECK(ReadAll(root + "/big.bin") == content);
  CHECK_EQ(fx.Get(CounterId::kbytes_written_direct), 0u);

  struct statfs shm {};
  if (statfs("/dev/shm", &shm) != 0 || shm.f_type != TMPFS_MAGIC) {
    std::printf("skipping the tmpfs case: /dev/shm is not tmpfs\n");
    return;
  }
  char tmpl[] = "/dev/shm/jetrecv-direct-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  Fixture fx2(64);
  const std::string big = Content(9 * MiB, 8);
  auto t2 = OpenOne(fx2, tmpl, 32768, big.size());
  Feed(*t2, PacketsFor(5, 0, big, 32768), 64, fx2.counters.NewBlock());
  CHECK(WaitComplete(*t2));
  CHECK(ReadAll(std::string(tmpl) + "/big.bin") == big);
  CHECK_EQ(fx2.Get(CounterId::kbytes_written_direct), 0u);
  std::system(("rm -rf '" + std::string(tmpl) + "'").c_str());
}

// Why direct I/O cannot be tested under dir, or "" when it can.
std::string SkipReason(const std::string& dir) {
  struct statfs sfs {};
  if (statfs(dir.c_str(), &sfs) != 0) return dir + ": statfs failed";
  if (sfs.f_type == TMPFS_MAGIC) return dir + " is tmpfs";
  const std::string probe = dir + "/probe";
  const int fd = open(probe.c_str(), O_CREAT | O_WRONLY | O_DIRECT, 0600);
  const int err = errno;
  unlink(probe.c_str());
  if (fd < 0) return dir + " refuses O_DIRECT: " + std::strerror(err);
  close(fd);
  return "";
}

}  // namespace

// StageSealedBlock's side of a packet open: "decrypts" a packet's data (copies it,
// or writes 0xEE bytes for a forgery) and verifies as told.
class FakeSealedData final : public SealedBlockData {
 public:
  FakeSealedData(const Packet& p, bool authentic) : p_(p), authentic_(authentic) {}
  void DecryptTo(uint8_t* out, size_t len) override {
    REQUIRE(done_ + len <= p_.len);
    if (authentic_) {
      std::memcpy(out, p_.data + done_, len);
    } else {
      std::memset(out, 0xEE, len);
    }
    done_ += len;
  }
  bool Verify() override {
    CHECK_EQ(done_, p_.len);  // all of the data, then the verdict
    return authentic_;
  }
  size_t done() const { return done_; }

 private:
  const Packet& p_;
  const bool authentic_;
  size_t done_ = 0;
};

// What the endpoint does with one packet: stage it, else (not staged) the usual OnBlocks.
StageResult Deliver(ReceiveTransfer& t, const Packet& p, bool authentic, CounterBlock& c) {
  FakeSealedData data(p, authentic);
  const StageResult r = t.StageSealedBlock(p.header, p.len, data, c);
  if (r == StageResult::kNotStaged) {
    CHECK_EQ(data.done(), 0u);  // nothing decrypted
    if (authentic) Feed(t, {p}, 1, c);
  } else if (r == StageResult::kStaged) {
    const BlockRef ref{&p.header, nullptr, p.len, true};
    t.OnBlocks(&ref, 1, c);
  }
  return r;
}

// Blocks decrypted straight into their staging chunk, 8000-byte blocks (block 131
// straddles chunks 0 and 1). A chunk in `none` is never staged into (block 0 goes
// the usual way, and prepares chunk 1 ahead). Forged copies of blocks 1 and 131 land in
// staging chunks and are rejected: a Checkpoint then flushes the staged chunks,
// and their regions in the partial hold zeros (preallocated), never the forged
// bytes; the real copies come later, and the file is exact.
void TestStageSealed() {
  const std::string root = MakeRoot("sealed");
  Fixture fx(64);
  const uint32_t bs = 8000;
  const uint64_t size = 8 * MiB + 100;
  const std::string content = Content(size, 8);
  auto t = OpenOne(fx, root, bs, size);
  const std::vector<Packet> all = PacketsFor(5, 0, content, bs);
  CounterBlock& c = fx.counters.NewBlock();
  const size_t straddling = MiB / bs;  // 131: bytes 1048000..1056000
  REQUIRE(all[straddling].header.offset < MiB && all[straddling].header.offset + bs > MiB);

  CHECK(Deliver(*t, all[0], true, c) == StageResult::kNotStaged);  // chunk 0 was `none`
  CHECK(Deliver(*t, all[1], false, c) == StageResult::kRejected);
  for (size_t i = 2; i < straddling + 20; ++i) {
    if (i != straddling) Deliver(*t, all[i], true, c);
  }
  CHECK(Deliver(*t, all[1], false, c) == StageResult::kRejected);
  CHECK(Deliver(*t, all[straddling], false, c) == StageResult::kRejected);
  CHECK(Deliver(*t, all[5], true, c) == StageResult::kNotStaged);  // a duplicate
  CHECK_EQ(fx.Get(CounterId::kdrop_duplicate_block), 1u);
  // Blocks 2..130 (chunk 0) and 132..150 (chunk 1, prepared ahead by block 0).
  CHECK_EQ(fx.Get(CounterId::kblocks_decrypted_to_staging), (straddling - 2) + 19);
  CHECK(!t->Complete());
  CHECK_EQ(fx.Get(CounterId::kbytes_written_direct), 0u);  // chunk 0 lacks blocks 1 and 131

  ReceiveCheckpoint cp;
  REQUIRE(t->Checkpoint(&cp).ok());
  CHECK_EQ(cp.blocks_held, straddling + 20 - 2);
  const std::string partial = root + "/.big.bin.jrpart";
  for (const size_t victim : {size_t{1}, straddling}) {
    CHECK(ReadRange(partial, victim * bs, bs) == std::string(bs, '\0'));
    for (const ResumeRange& r : cp.ranges) {
      CHECK(victim < r.first_block || victim >= r.first_block + r.block_count);
    }
  }
  CHECK(ReadRange(partial, 2 * bs, (straddling - 2) * bs) == content.substr(2 * bs, (straddling - 2) * bs));

  for (size_t i = 1; i < all.size(); ++i) Deliver(*t, all[i], true, c);
  CHECK(WaitComplete(*t));
  CHECK(ReadAll(root + "/big.bin") == content);
  CHECK_EQ(fx.Get(CounterId::kbytes_written), size);
  // Chunks 3..7 (0 and 1, and 2 prepared ahead, were flushed buffered by the checkpoint).
  CHECK_EQ(fx.Get(CounterId::kbytes_written_direct), 5 * MiB);
  CHECK_EQ(fx.Get(CounterId::kwrite_errors), 0u);
  CHECK_EQ(fx.writer->free_chunks(), fx.writer->chunk_count());
  t->Close(false);
}

int main() {
  char tmpl[] = "/var/tmp/jetrecv-direct-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  g_base = tmpl;
  umask(022);
  const std::string skip = SkipReason(g_base);
  if (!skip.empty()) {
    std::printf("SKIPPED: %s\n", skip.c_str());
    std::system(("rm -rf '" + g_base + "'").c_str());
    return 0;
  }
  TestInOrder();
  TestOutOfOrderWithCheckpoint();
  TestPoolExhausted();
  TestConcurrentThreads();
  TestCloseWithPendingWrites();
  TestDirectWriteError();
  TestNotEligible();
  TestStageSealed();
  const int rc = jetrecv::test::TestExitCode();
  if (rc == 0) std::system(("rm -rf '" + g_base + "'").c_str());
  return rc;
}
