// fd_cache.h — process-wide budget for the file descriptors that transfers keep
// open between uses (the lazily opened source files of SendTransfer and the
// partial files of ReceiveTransfer). Each transfer keeps at most
// kMaxCachedFdsPerTransfer fds open and closes its least recently used one
// (LRU) when it is at that cap or when the process-wide budget is spent, so a
// transfer of any number of files needs a bounded number of fds. A transfer
// that holds no cached fd may always open one (FdBudgetAcquire(force = true)),
// so a transfer never stalls: the total may exceed the budget by at most one
// fd per transfer. The budget is thread-safe; one FdLru per transfer keeps
// its share (the caller locks it).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace jetrecv::core {

// Cap per transfer.
inline constexpr size_t kMaxCachedFdsPerTransfer = 256;

// Process-wide budget: a quarter of the soft RLIMIT_NOFILE at first use,
// clamped to [8, 16384] (the rest stays for sockets, other transfers' forced
// fds, the runtime and checkpoint re-opens).
size_t FdBudget();
// Takes one slot; false when the budget is spent (unless force).
bool FdBudgetAcquire(bool force);
void FdBudgetRelease(size_t n = 1);
// Slots currently taken (for tests).
size_t FdBudgetInUse();
// Test hook: overrides the budget (0 = back to the RLIMIT-derived value).
void SetFdBudgetForTesting(size_t budget);

// The fds one transfer keeps open, by file index: each holds one budget slot;
// at most kMaxCachedFdsPerTransfer. Touch is lock-free (any thread); every
// other call needs the owner's lock. The owner closes the fds: Add hands it
// each victim to close before it is dropped from the set.
class FdLru {
 public:
  FdLru() = default;
  ~FdLru() { Clear(); }
  FdLru(const FdLru&) = delete;
  FdLru& operator=(const FdLru&) = delete;

  // Sizes the use ticks for files 0..files-1 (before any other call).
  void SetFileCount(size_t files);
  // File index was just used.
  void Touch(uint32_t index) {
    last_use_[index].store(tick_.fetch_add(1, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Counts a new fd of index if the transfer is under its cap and the budget
  // has a slot; false: the caller closes it.
  bool TryAdd(uint32_t index);
  // Counts a new fd of index, making room first: while the transfer is at its
  // cap or the budget is spent, close_fd(victim) closes the least recently
  // used fd and it is dropped; a transfer that holds none takes a forced slot.
  template <class CloseFd>
  void Add(uint32_t index, CloseFd close_fd) {
    if (open_.size() >= kMaxCachedFdsPerTransfer) Evict(close_fd);
    bool slot = FdBudgetAcquire(false);
    while (!slot && !open_.empty()) {  // process budget spent: give back our own LRU fd
      Evict(close_fd);
      slot = FdBudgetAcquire(false);
    }
    if (!slot) FdBudgetAcquire(/*force=*/true);  // we hold none: a transfer may always have one
    Insert(index);
  }
  // The fd of index was closed (or never opened): its slot goes back. No-op if not counted.
  void Remove(uint32_t index);
  // Every fd was closed: every slot goes back.
  void Clear();
  size_t size() const { return open_.size(); }

 private:
  void Insert(uint32_t index);
  uint32_t LeastRecentlyUsed() const;
  template <class CloseFd>
  void Evict(CloseFd& close_fd) {
    if (open_.empty()) return;
    const uint32_t victim = LeastRecentlyUsed();
    close_fd(victim);
    Remove(victim);
  }

  std::vector<uint32_t> open_;  // file indices holding a counted fd
  std::unique_ptr<std::atomic<uint64_t>[]> last_use_;
  std::atomic<uint64_t> tick_{0};
};

}  // namespace jetrecv::core
