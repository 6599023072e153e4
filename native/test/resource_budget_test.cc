// resource_budget_test.cc — ReceiveBudget admission: the per-transfer and total
// memory limits, memory given back when a grant goes, the disk check on tmpfs
// counting live transfers' unwritten sparse partials, and ReceiveTransfer::Open
// refusing a 5 TiB / 256-byte manifest before it creates or allocates anything.
#include "core/resource_budget.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "core/receive_transfer.h"
#include "fs_test_util.h"
#include "test_util.h"

using namespace jetrecv::core;

namespace {

void TestMemoryLimits() {
  auto budget = ReceiveBudget::Create({/*transfer*/ 10 << 20, /*total*/ 25 << 20});
  const int root = open("/tmp", O_PATH | O_DIRECTORY);
  std::unique_ptr<ReceiveBudget::Grant> a, b, c;
  ReceiveDemand d;
  d.memory = 11 << 20;
  Status st = budget->Admit(d, root, &a);
  CHECK_EQ(st.err, ENOMEM);
  CHECK(st.code == kErrResource);
  CHECK(!a);
  d.memory = 10 << 20;
  CHECK(budget->Admit(d, root, &a).ok());
  CHECK(budget->Admit(d, root, &b).ok());
  st = budget->Admit(d, root, &c);  // 30 MiB > 25 MiB
  CHECK(st.code == kErrResource);
  CHECK_EQ(budget->memory_reserved(), uint64_t{20} << 20);
  a.reset();  // the transfer went: its memory comes back
  CHECK_EQ(budget->memory_reserved(), uint64_t{10} << 20);
  CHECK(budget->Admit(d, root, &c).ok());
  close(root);
}

void TestDiskOnTmpfs() {
  char dir[] = "/dev/shm/jetrecv-budget-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  const int root = open(dir, O_PATH | O_DIRECTORY);
  struct statvfs vfs {};
  CHECK_EQ(fstatvfs(root, &vfs), 0);
  const uint64_t free_bytes = uint64_t{vfs.f_bavail} * vfs.f_frsize;
  auto budget = ReceiveBudget::Create({});
  ReceiveDemand d;
  d.disk_need = free_bytes * 6 / 10;
  std::unique_ptr<ReceiveBudget::Grant> a, b;
  CHECK(budget->Admit(d, root, &a).ok());
  Status st = budget->Admit(d, root, &b);  // the first one's promise still stands
  CHECK_EQ(st.err, ENOSPC);
  CHECK(st.code == kErrNoSpace);
  uint64_t unbacked = d.disk_need;
  a->TrackUnbacked([&unbacked] { return unbacked; });
  unbacked = free_bytes / 10;  // most of it was received (and so left the free space... in a real run)
  CHECK(budget->Admit(d, root, &b).ok());
  a.reset();
  b.reset();
  close(root);
  rmdir(dir);
}

void TestOpenRefusesHugeManifest() {
  char dir[] = "/tmp/jetrecv-budget-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  auto budget = ReceiveBudget::Create({});
  ReceiveSpec spec;
  spec.root = dir;
  spec.block_size = 256;
  spec.files.push_back({"big/huge.bin", uint64_t{5} << 40, 0644, 0});
  jetrecv::test::FakeSink sink;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 1, &sink, &st, nullptr, nullptr, budget.get());
  CHECK(!t);
  CHECK(st.code == kErrResource);
  CHECK(st.message.find("21474836480 blocks") != std::string::npos);
  CHECK(!std::filesystem::exists(std::string(dir) + "/big"));  // nothing created
  CHECK_EQ(budget->memory_reserved(), 0u);

  // A small one is admitted, holds its bookkeeping while open, and gives it back.
  spec.files = {{"small.bin", 1 << 20, 0644, 0}, {"two.bin", 10, 0644, 0}};
  t = ReceiveTransfer::Open(spec, 1, 2, &sink, &st, nullptr, nullptr, budget.get());
  CHECK(t != nullptr);
  const uint64_t held = budget->memory_reserved();
  CHECK_EQ(held, ReceiveTransfer::BookkeepingBytes(spec));
  // Per-file state stays small (docs/OPERATIONS.md says about 400 bytes).
  ReceiveSpec one = spec;
  one.files.pop_back();
  const uint64_t per_file = held - ReceiveTransfer::BookkeepingBytes(one) - 2 * 7 - 8;
  std::printf("bookkeeping per file: %llu bytes\n", static_cast<unsigned long long>(per_file));
  CHECK(per_file < 600);
  t->Close(true);
  t.reset();
  CHECK_EQ(budget->memory_reserved(), 0u);
  std::filesystem::remove_all(dir);
}

}  // namespace

int main() {
  TestMemoryLimits();
  TestDiskOnTmpfs();
  TestOpenRefusesHugeManifest();
  return jetrecv::test::TestExitCode();
}
