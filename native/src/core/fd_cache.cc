// fd_cache.cc — see fd_cache.h.
#include "core/fd_cache.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>

namespace jetrecv::core {
namespace {

std::atomic<size_t> g_in_use{0};
std::atomic<size_t> g_override{0};

size_t RlimitBudget() {
  rlimit rl{};
  rlim_t cur = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) cur = rl.rlim_cur;
  if (rl.rlim_cur == RLIM_INFINITY) cur = 65536;
  return std::clamp<size_t>(static_cast<size_t>(cur) / 4, 8, 16384);
}

}  // namespace

size_t FdBudget() {
  const size_t o = g_override.load(std::memory_order_relaxed);
  if (o != 0) return o;
  static const size_t budget = RlimitBudget();  // Node raises the soft limit before we load
  return budget;
}

bool FdBudgetAcquire(bool force) {
  const size_t budget = FdBudget();
  size_t cur = g_in_use.load(std::memory_order_relaxed);
  for (;;) {
    if (cur >= budget && !force) return false;
    if (g_in_use.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed)) return true;
  }
}

void FdBudgetRelease(size_t n) { g_in_use.fetch_sub(n, std::memory_order_relaxed); }

size_t FdBudgetInUse() { return g_in_use.load(std::memory_order_relaxed); }

void SetFdBudgetForTesting(size_t budget) { g_override.store(budget, std::memory_order_relaxed); }

void FdLru::SetFileCount(size_t files) { last_use_ = std::make_unique<std::atomic<uint64_t>[]>(files); }

bool FdLru::TryAdd(uint32_t index) {
  if (open_.size() >= kMaxCachedFdsPerTransfer || !FdBudgetAcquire(false)) return false;
  Insert(index);
  return true;
}

void FdLru::Insert(uint32_t index) {
  open_.push_back(index);
  Touch(index);
}

void FdLru::Remove(uint32_t index) {
  auto it = std::find(open_.begin(), open_.end(), index);
  if (it == open_.end()) return;
  *it = open_.back();
  open_.pop_back();
  FdBudgetRelease();
}

void FdLru::Clear() {
  FdBudgetRelease(open_.size());
  open_.clear();
}

uint32_t FdLru::LeastRecentlyUsed() const {
  uint32_t victim = open_[0];
  for (uint32_t index : open_) {
    if (last_use_[index].load(std::memory_order_relaxed) <
        last_use_[victim].load(std::memory_order_relaxed)) {
      victim = index;
    }
  }
  return victim;
}

}  // namespace jetrecv::core
