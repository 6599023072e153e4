// finalize_test.cc — ownership and durability of received files (issue 12,
// findings 4, 7, 13): by default each file's data is synced, then renamed,
// then its directory synced, and only then its kFileDone event queued, on the
// finalizer thread (not the thread that fed the last block); sync_on_finalize
// false renames only; a destination path open in one transfer is refused to
// another (JETRECV_ERR_PATH_BUSY) until it closes; partials carry the owner's
// tag; a non-resumable transfer leaves no partial at Close; SweepPartials
// removes only tagged partials of unknown owners.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/partial_remover.h"
#include "core/receive_transfer.h"
#include "core/sandbox_fs.h"
#include "core/work_queue.h"
#include "fs_test_util.h"
#include "test_util.h"

using namespace jetrecv::core;
using jetrecv::test::Content;
using jetrecv::test::Exists;
using jetrecv::test::Packet;
using jetrecv::test::PacketsFor;
using jetrecv::test::ReadAll;

namespace {

std::string g_base;
CounterSet g_counters;  // of the WorkQueues below

std::string MakeRoot(const std::string& name) {
  const std::string root = g_base + "/" + name;
  REQUIRE(mkdir(root.c_str(), 0755) == 0);
  return root;
}

// One log of finalize steps and kFileDone events, in the order they happened.
struct StepLog : EventSink {
  std::mutex mu;
  std::vector<std::string> steps;
  std::vector<std::thread::id> threads;
  void Add(const std::string& s) {
    std::lock_guard lock(mu);
    steps.push_back(s);
    threads.push_back(std::this_thread::get_id());
  }
  bool Push(Event&& e) override {
    if (e.type == EventType::kFileDone) Add("done " + std::to_string(e.file));
    if (e.type == EventType::kTransferError) Add("error " + e.message);
    return true;
  }
  size_t Count(const std::string& prefix) {
    std::lock_guard lock(mu);
    size_t n = 0;
    for (const auto& s : steps) n += s.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
};

void WaitFor(StepLog& log, const std::string& prefix, size_t n) {
  for (int i = 0; i < 2000 && log.Count(prefix) < n; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void FeedAll(ReceiveTransfer& t, const std::vector<Packet>& packets, CounterBlock& counters) {
  std::vector<BlockRef> refs;
  for (const Packet& p : packets) refs.push_back({&p.header, p.data, p.len});
  t.OnBlocks(refs.data(), refs.size(), counters);
}

// files sync_on_finalize: steps per file in order sync, rename, syncdir, done.
void TestSyncBeforeRenameBeforeDone(bool sync) {
  const std::string root = MakeRoot(sync ? "sync" : "nosync");
  constexpr uint32_t bs = 1000;
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = bs;
  spec.files = {{"a.bin", 5 * bs + 3, 0644, 1'600'000'000'000},
                {"sub/b.bin", 3 * bs, 0644, 1'600'000'000'000}};
  if (!sync) spec.sync_on_finalize = false;
  const std::string contents[2] = {Content(spec.files[0].size, 1), Content(spec.files[1].size, 2)};
  CounterSet counters;
  auto finalizer = std::make_shared<WorkQueue>(2, &counters);
  StepLog log;
  SetFinalizeTraceForTesting(
      [&](const char* step, const std::string& path) { log.Add(std::string(step) + " " + path); });
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 1, &log, &st, nullptr, finalizer);
  REQUIRE(t != nullptr);
  CounterBlock& rx = counters.NewBlock();
  for (uint32_t f = 0; f < 2; ++f) FeedAll(*t, PacketsFor(1, f, contents[f], bs), rx);
  WaitFor(log, "done", 2);
  CHECK(t->Complete());
  CHECK(ReadAll(root + "/a.bin") == contents[0]);
  CHECK(ReadAll(root + "/sub/b.bin") == contents[1]);
  const char* paths[2] = {"a.bin", "sub/b.bin"};
  std::lock_guard lock(log.mu);
  for (uint32_t f = 0; f < 2; ++f) {
    auto at = [&](const std::string& s) {
      for (size_t i = 0; i < log.steps.size(); ++i) {
        if (log.steps[i] == s) return static_cast<long>(i);
      }
      return -1L;
    };
    const long s = at(std::string("sync ") + paths[f]);
    const long r = at(std::string("rename ") + paths[f]);
    const long d = at(std::string("syncdir ") + paths[f]);
    const long done = at("done " + std::to_string(f));
    CHECK(r >= 0);
    CHECK(done > r);
    if (sync) {
      CHECK(s >= 0);
      CHECK(s < r);
      CHECK(d > r);
      CHECK(done > d);
    } else {
      CHECK(s < 0);
      CHECK(d < 0);
    }
  }
  // Finalized on a finalizer thread, never on the thread that fed the blocks.
  for (size_t i = 0; i < log.threads.size(); ++i) CHECK(log.threads[i] != std::this_thread::get_id());
  CHECK_EQ(counters.Get(CounterId::kfiles_synced_on_finalize), sync ? 2u : 0u);
  SetFinalizeTraceForTesting(nullptr);
  t->Close(false);
  finalizer->Stop();
}

void TestBusyDestination() {
  const std::string root = MakeRoot("busy");
  ReceiveSpec a;
  a.root = root;
  a.block_size = 100;
  a.files = {{"d/x.bin", 1000, 0644, 0}};
  a.partial_tag = "00000000000000aa";
  ReceiveSpec b = a;
  b.files = {{"d/other.bin", 10, 0644, 0}, {"d/x.bin", 1000, 0644, 0}};
  b.partial_tag = "00000000000000bb";
  StepLog log;
  Status st;
  auto ta = ReceiveTransfer::Open(a, 1, 1, &log, &st);
  REQUIRE(ta != nullptr);
  CHECK(Exists(root + "/d/.x.bin.00000000000000aa.jrpart"));
  auto tb = ReceiveTransfer::Open(b, 2, 1, &log, &st);
  CHECK(tb == nullptr);
  CHECK(st.code == "JETRECV_ERR_PATH_BUSY");
  CHECK_EQ(st.err, EBUSY);
  CHECK(st.path == "d/x.bin");
  CHECK(st.message.find("d/x.bin") != std::string::npos);
  CHECK(!Exists(root + "/d/.other.bin.00000000000000bb.jrpart"));  // nothing reserved
  CHECK(!Exists(root + "/d/.x.bin.00000000000000bb.jrpart"));
  ta->Close(false);  // resumable: the partial stays, the claim goes
  CHECK(Exists(root + "/d/.x.bin.00000000000000aa.jrpart"));
  tb = ReceiveTransfer::Open(b, 2, 1, &log, &st);
  CHECK(tb != nullptr);
  CHECK(Exists(root + "/d/.x.bin.00000000000000bb.jrpart"));  // its own partial, not a's
  CHECK(Exists(root + "/d/.x.bin.00000000000000aa.jrpart"));
  // A bad tag is refused.
  ReceiveSpec bad = a;
  bad.files = {{"d/y.bin", 1, 0644, 0}};
  bad.partial_tag = "../../etc";
  CHECK(ReceiveTransfer::Open(bad, 3, 1, &log, &st) == nullptr);
  CHECK_EQ(st.err, EINVAL);
}

void TestNonResumableLeavesNothing() {
  const std::string root = MakeRoot("nonresumable");
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = 100;
  spec.files = {{"x.bin", 1000, 0644, 0}};
  spec.partial_tag = "0123456789abcdef";
  spec.resumable = false;
  StepLog log;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 1, &log, &st);
  REQUIRE(t != nullptr);
  CHECK(Exists(root + "/.x.bin.0123456789abcdef.jrpart"));
  t->Close(/*remove_partials=*/false);
  CHECK(!Exists(root + "/.x.bin.0123456789abcdef.jrpart"));
}

// With a PartialRemover (the endpoint's), Close queues the unlinks to the finalizer
// threads and returns; they run in slices; Drain waits for them. A Drain whose limit
// passes drops what is still queued (those partials are left for the start-up sweep).
void TestNonResumableRemovedOffThread() {
  const std::string root = MakeRoot("remover");
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = 100;
  for (int i = 0; i < 2000; ++i) spec.files.push_back({"f" + std::to_string(i), 10, 0644, 0});
  spec.partial_tag = "0123456789abcdef";
  spec.resumable = false;
  auto queue = std::make_shared<WorkQueue>(2, &g_counters);
  PartialRemover remover(queue);
  StepLog log;
  Status st;
  auto t = ReceiveTransfer::Open(spec, 1, 1, &log, &st, nullptr, queue);
  REQUIRE(t != nullptr);
  CHECK(Exists(root + "/.f1999.0123456789abcdef.jrpart"));
  // Hold both workers: Close must not wait for the unlinks.
  std::mutex gate;
  std::unique_lock hold(gate);
  for (int i = 0; i < 2; ++i) queue->Submit(nullptr, [&](bool, CounterBlock&) { std::lock_guard g(gate); });
  t->Close(/*remove_partials=*/false, &remover);
  CHECK(Exists(root + "/.f0.0123456789abcdef.jrpart"));  // queued, not yet run
  CHECK_EQ(remover.pending(), 2000u);
  hold.unlock();
  CHECK_EQ(remover.Drain(std::chrono::seconds(60)), 0u);
  CHECK_EQ(remover.pending(), 0u);
  for (int i = 0; i < 2000; ++i)
    CHECK(!Exists(root + "/.f" + std::to_string(i) + ".0123456789abcdef.jrpart"));

  // Drain whose limit passes while the workers are held: everything queued is dropped.
  const std::string root2 = MakeRoot("remover-drop");
  spec.root = root2;
  auto queue2 = std::make_shared<WorkQueue>(1, &g_counters);
  PartialRemover remover2(queue2);
  auto t2 = ReceiveTransfer::Open(spec, 1, 2, &log, &st, nullptr, queue2);
  REQUIRE(t2 != nullptr);
  std::unique_lock hold2(gate);
  queue2->Submit(nullptr, [&](bool, CounterBlock&) { std::lock_guard g(gate); });
  t2->Close(/*remove_partials=*/true, &remover2);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    hold2.unlock();
  });
  CHECK_EQ(remover2.Drain(std::chrono::milliseconds(50)), 2000u);
  release.join();
  CHECK(Exists(root2 + "/.f0.0123456789abcdef.jrpart"));  // left for the sweep
  // Later removals (after Drain) run inline.
  const int root2_fd = open(root2.c_str(), O_DIRECTORY | O_RDONLY);
  remover2.Remove(root2_fd, {".f0.0123456789abcdef.jrpart"});
  close(root2_fd);
  CHECK(!Exists(root2 + "/.f0.0123456789abcdef.jrpart"));
}

void TestSweep() {
  const std::string root = MakeRoot("sweep");
  REQUIRE(mkdir((root + "/a").c_str(), 0755) == 0);
  REQUIRE(mkdir((root + "/a/b").c_str(), 0755) == 0);
  auto make = [](const std::string& p, const std::string& body) {
    const int fd = open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size()));
    close(fd);
  };
  make(root + "/.top.1111111111111111.jrpart", "orphan");
  make(root + "/a/b/.deep.1111111111111111.jrpart", "orphan");
  make(root + "/a/.kept.2222222222222222.jrpart", "owned");
  make(root + "/a/.legacy.jrpart", "untagged");
  make(root + "/a/notes.jrpart", "not ours");
  make(root + "/a/.hard.3333333333333333.jrpart", "linked");
  REQUIRE(link((root + "/a/.hard.3333333333333333.jrpart").c_str(), (root + "/a/hardlink").c_str()) == 0);
  const std::string outside = g_base + "/outside-dir";
  REQUIRE(mkdir(outside.c_str(), 0755) == 0);
  make(outside + "/.victim.4444444444444444.jrpart", "outside");
  REQUIRE(symlink(outside.c_str(), (root + "/a/escape").c_str()) == 0);
  REQUIRE(symlink((outside + "/.victim.4444444444444444.jrpart").c_str(),
                  (root + "/.link.5555555555555555.jrpart").c_str()) == 0);
  PartialSweep r;
  Status st = SweepPartials(root, {"2222222222222222"}, &r);
  CHECK(st.ok());
  CHECK_EQ(r.removed, 2u);
  CHECK_EQ(r.kept, 1u);
  CHECK_EQ(r.left_alone, 2u);  // the hard-linked one and the symlink
  CHECK(!Exists(root + "/.top.1111111111111111.jrpart"));
  CHECK(!Exists(root + "/a/b/.deep.1111111111111111.jrpart"));
  CHECK(Exists(root + "/a/.kept.2222222222222222.jrpart"));
  CHECK(Exists(root + "/a/.legacy.jrpart"));
  CHECK(Exists(root + "/a/notes.jrpart"));
  CHECK(Exists(root + "/a/.hard.3333333333333333.jrpart"));
  CHECK(Exists(root + "/.link.5555555555555555.jrpart"));
  CHECK(Exists(outside + "/.victim.4444444444444444.jrpart"));
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/jetrecv-finalize-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  g_base = tmpl;
  TestSyncBeforeRenameBeforeDone(true);
  TestSyncBeforeRenameBeforeDone(false);
  TestBusyDestination();
  TestNonResumableLeavesNothing();
  TestNonResumableRemovedOffThread();
  TestSweep();
  const int rc = jetrecv::test::TestExitCode();
  if (rc == 0) std::system(("rm -rf '" + g_base + "'").c_str());
  return rc;
}
