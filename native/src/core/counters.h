// counters.h — pull-based counters (msquic model). Each hot thread owns a
// CounterBlock and adds to it with relaxed atomics; a reader sums every block of
// the CounterSet into its own array on demand. Nothing is pushed per packet.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace jetrecv::core {

// CounterId::k<name> for every X(name, ...) in counters.def, e.g. CounterId::kdrop_bad_tag.
enum class CounterId : uint32_t {
#define X(name, description) k##name,
#include "core/counters.def"
#undef X
  kCount
};
constexpr size_t kCounterCount = static_cast<size_t>(CounterId::kCount);

// snake_case name and one-line description of a counter (static storage).
const char* CounterName(CounterId id);
const char* CounterDescription(CounterId id);

// One thread's counters, on their own cache lines so threads never share a line.
class alignas(64) CounterBlock {
 public:
  void Add(CounterId id, uint64_t n = 1) {
    values_[static_cast<size_t>(id)].fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t Get(CounterId id) const {
    return values_[static_cast<size_t>(id)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, kCounterCount> values_{};
};

// All blocks of one endpoint. Blocks live as long as the set (never freed
// early), so a thread may keep its CounterBlock& for its whole life.
class CounterSet {
 public:
  CounterSet();
  CounterSet(const CounterSet&) = delete;
  CounterSet& operator=(const CounterSet&) = delete;

  // A new block for one thread. Thread-safe.
  CounterBlock& NewBlock();
  // The block shared by threads that own none (JS thread, timers). Adds are
  // atomic, so sharing is correct, just not contention-free.
  CounterBlock& shared() { return *shared_; }
  void Add(CounterId id, uint64_t n = 1) { shared_->Add(id, n); }

  // Sums every block into out[0..min(n, kCounterCount)) (overwrites). Thread-safe.
  void Sum(uint64_t* out, size_t n) const;
  // Sum of one counter over every block.
  uint64_t Get(CounterId id) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<CounterBlock>> blocks_;  // guarded by mu_; includes shared_
  CounterBlock* shared_;
};

}  // namespace jetrecv::core
