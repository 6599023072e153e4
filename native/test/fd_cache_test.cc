// fd_cache_test.cc — lazy opening with a bounded fd cache (fd_cache.h) on both
// sides, with a process budget of 8 fds: a ReceiveTransfer of 600 three-block
// files fed block 0 of every file, then block 1, then block 2 (so every
// partial is evicted and re-opened twice) from two threads keeps <= 8 partials
// open, writes every byte, finalizes every file, checkpoints closed partials,
// and gives every budget slot back; a partial evicted and then replaced (by a
// symlink to a file outside the root, or by another regular file) is never
// written through: the transfer fails with kTransferError. A SendTransfer of
// 600 files opens nothing at Open, keeps <= 8 open while reading them all, and
// refuses a file whose size changed before it was first opened.
#include "core/fd_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/receive_transfer.h"
#include "core/sandbox_fs.h"
#include "core/send_transfer.h"
#include "fs_test_util.h"
#include "test_util.h"

using namespace jetrecv::core;
using jetrecv::test::Content;
using jetrecv::test::FakeSink;
using jetrecv::test::ReadAll;

namespace {

std::string g_base;
constexpr uint32_t kBlock = 16;
constexpr size_t kFiles = 600;
constexpr size_t kBudget = 8;

size_t OpenFdCount() {
  size_t n = 0;
  DIR* d = opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the DIR's own fd
}

std::string MakeRoot(const std::string& name) {
  const std::string root = g_base + "/" + name;
  REQUIRE(mkdir(root.c_str(), 0755) == 0);
  return root;
}

void FeedBlock(ReceiveTransfer& t, uint32_t transfer, uint32_t file, const std::string& content,
               uint64_t block, CounterBlock& counters) {
  BlockFrameHeader h{};
  h.type = static_cast<uint8_t>(FrameType::kBlock);
  h.transfer_id = transfer;
  h.file_index = file;
  h.offset = block * kBlock;
  const size_t len = std::min<size_t>(kBlock, content.size() - h.offset);
  BlockRef ref{&h, reinterpret_cast<const uint8_t*>(content.data()) + h.offset, len};
  t.OnBlocks(&ref, 1, counters);
}

void TestReceiveManyFiles() {
  const std::string root = MakeRoot("recv");
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = kBlock;
  std::vector<std::string> contents;
  for (size_t i = 0; i < kFiles; ++i) {
    contents.push_back(Content(2 * kBlock + 1 + i % 15, static_cast<uint32_t>(i)));  // 3 blocks
    spec.files.push_back({std::string("d") + std::to_string(i % 7) + std::string("/f") + std::to_string(i),
                          contents.back().size(), 0644, 1'600'000'000'000});
  }
  FakeSink sink;
  Status st;
  const size_t fds_before = OpenFdCount();
  auto t = ReceiveTransfer::Open(spec, 1, 7, &sink, &st);
  REQUIRE(st.ok() && t != nullptr);
  CHECK(t->open_fd_count() <= kBudget);
  CHECK(OpenFdCount() <= fds_before + kBudget + 1);  // + the root fd
  CHECK(FdBudgetInUse() == t->open_fd_count());

  CounterBlock counters;
  for (uint64_t block = 0; block < 3; ++block) {
    // Two threads, each over half of the files: every file is re-opened.
    auto feed = [&](size_t parity) {
      for (size_t i = parity; i < kFiles; i += 2)
        FeedBlock(*t, 7, static_cast<uint32_t>(i), contents[i], block, counters);
    };
    std::thread a(feed, 0), b(feed, 1);
    a.join();
    b.join();
    CHECK(t->open_fd_count() <= kBudget);
    CHECK(OpenFdCount() <= fds_before + kBudget + 1);
    if (block == 0) {
      // Checkpoint with most partials closed: each holds block 0, synced by re-open.
      ReceiveCheckpoint cp;
      CHECK(t->Checkpoint(&cp).ok());
      CHECK_EQ(cp.ranges.size(), kFiles);
      CHECK_EQ(cp.blocks_held, kFiles);
      CHECK(cp.done_files.empty());
    }
  }
  CHECK(t->Complete());
  CHECK(!t->Stats().failed);
  CHECK_EQ(t->Stats().files_done, kFiles);
  CHECK_EQ(t->open_fd_count(), 0u);
  CHECK_EQ(FdBudgetInUse(), 0u);
  for (size_t i = 0; i < kFiles; ++i) {
    const std::string p =
        root + std::string("/d") + std::to_string(i % 7) + std::string("/f") + std::to_string(i);
    CHECK(ReadAll(p) == contents[i]);
  }
  for (const Event& e : sink.Take()) CHECK(e.type == EventType::kFileDone);
  t.reset();
  CHECK_EQ(FdBudgetInUse(), 0u);
  CHECK(OpenFdCount() == fds_before);
}

// kind 0: the partial becomes a symlink to a file outside the root;
// kind 1: the partial is replaced by another regular file.
void TestReplacedPartial(int kind) {
  const std::string root = MakeRoot(std::string("swap") + std::to_string(kind));
  const std::string outside = g_base + std::string("/outside") + std::to_string(kind);
  {
    const int fd = open(outside.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "precious", 8) == 8);
    close(fd);
  }
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = kBlock;
  std::vector<std::string> contents;
  for (size_t i = 0; i < 3 * kBudget; ++i) {
    contents.push_back(Content(2 * kBlock, static_cast<uint32_t>(100 + i)));
    spec.files.push_back({std::string("f") + std::to_string(i), contents.back().size(), 0644, 0});
  }
  FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 9, &sink, &st);
  REQUIRE(st.ok() && t != nullptr);
  CounterBlock counters;
  // Block 0 of every file: file 0 is evicted long before the end.
  for (size_t i = 0; i < contents.size(); ++i)
    FeedBlock(*t, 9, static_cast<uint32_t>(i), contents[i], 0, counters);
  const std::string partial = root + "/" + PartialPathFor("f0");
  struct stat before {};
  REQUIRE(lstat(partial.c_str(), &before) == 0);
  // Made before the partial goes, so it cannot reuse the partial's inode number.
  const std::string swap = root + "/swap";
  if (kind == 0) {
    REQUIRE(symlink(outside.c_str(), swap.c_str()) == 0);
  } else {
    const int fd = open(swap.c_str(), O_CREAT | O_WRONLY, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, 2 * kBlock) == 0);
    close(fd);
  }
  REQUIRE(rename(swap.c_str(), partial.c_str()) == 0);
  FeedBlock(*t, 9, 0, contents[0], 1, counters);
  CHECK(t->Stats().failed);
  bool error_event = false;
  for (const Event& e : sink.Take()) {
    if (e.type == EventType::kTransferError) {
      error_event = true;
      CHECK_EQ(e.file, 0u);
      CHECK(e.message.find("f0") != std::string::npos);
    }
  }
  CHECK(error_event);
  CHECK(ReadAll(outside) == "precious");
  CHECK(access((root + "/f0").c_str(), F_OK) != 0);  // never finalized
  t->Close(true);
  t.reset();
  CHECK_EQ(FdBudgetInUse(), 0u);
}

void TestSendManyFiles() {
  const std::string dir = MakeRoot("send");
  SendSpec spec;
  spec.block_size = kBlock;
  std::vector<std::string> contents;
  for (size_t i = 0; i < kFiles; ++i) {
    contents.push_back(Content(1 + i % 40, static_cast<uint32_t>(7000 + i)));
    const std::string p = dir + std::string("/s") + std::to_string(i);
    const int fd = open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, contents.back().data(), contents.back().size()) ==
            static_cast<ssize_t>(contents.back().size()));
    close(fd);
    spec.files.push_back({p, contents.back().size()});
  }
  const size_t fds_before = OpenFdCount();
  Status st;
  auto t = SendTransfer::Open(nullptr, 3, spec, 0, &st);
  REQUIRE(st.ok() && t != nullptr);
  CHECK_EQ(OpenFdCount(), fds_before);    // nothing opened yet
  for (int pass = 0; pass < 2; ++pass) {  // the second pass re-opens evicted files
    for (uint32_t i = 0; i < kFiles; ++i) {
      int fd = -1;
      const Status a = t->AcquireFd(i, &fd);
      CHECK(a.ok());
      if (!a.ok()) continue;
      std::string got(contents[i].size(), '\0');
      CHECK(pread(fd, got.data(), got.size(), 0) == static_cast<ssize_t>(got.size()));
      CHECK(got == contents[i]);
      CHECK(t->open_fd_count() <= kBudget);
    }
  }
  CHECK(OpenFdCount() <= fds_before + kBudget);
  // A file that changed size after Open (and is not open) is refused on first use.
  const std::string p0 = spec.files[0].path;
  REQUIRE(truncate(p0.c_str(), 0) == 0);
  int fd = -1;
  const Status changed = t->AcquireFd(0, &fd);
  CHECK(!changed.ok());
  CHECK(changed.message.find("size of " + p0 + " changed") != std::string::npos);
  t.reset();
  CHECK_EQ(FdBudgetInUse(), 0u);
  CHECK_EQ(OpenFdCount(), fds_before);
  // Open names a missing file.
  spec.files[0].size = 0;  // truncated above
  spec.files[1].path = dir + "/missing";
  auto bad = SendTransfer::Open(nullptr, 4, spec, 0, &st);
  CHECK(bad == nullptr);
  CHECK(st.message.find(dir + "/missing") != std::string::npos);
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/jetrecv-fdcache-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  g_base = tmpl;
  umask(022);
  SetFdBudgetForTesting(kBudget);
  CHECK_EQ(FdBudget(), kBudget);
  TestReceiveManyFiles();
  TestReplacedPartial(0);
  TestReplacedPartial(1);
  TestSendManyFiles();
  const int rc = jetrecv::test::TestExitCode();
  if (rc == 0) std::system(("rm -rf '" + g_base + "'").c_str());
  return rc;
}
