// resource_budget.h — the one admission check of the receiver's resources.
// Before ReceiveTransfer::Open creates a directory, a file or a bitmap for a
// transfer, it asks the endpoint's ReceiveBudget for
//  - its bookkeeping memory (block bitmaps counted at full size, per-file
//    state), under a per-transfer limit and a limit for all live transfers;
//  - the disk bytes its files still need on the sandbox root's file system,
//    against the free space there minus what live transfers on that file
//    system were promised but have not allocated yet (files sized sparsely:
//    tmpfs, or no fallocate; preallocated files are already out of the free
//    space).
// Admit returns a Grant; the transfer holds it until it is destroyed, which
// gives the memory back and withdraws the promise. Thread-safe.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"

namespace jetrecv::core {

// Defaults of the memory limits (also the JS defaults, docs/OPERATIONS.md).
constexpr uint64_t kDefaultMaxTransferMemory = 256ull << 20;
constexpr uint64_t kDefaultMaxReceiveMemory = 1ull << 30;

struct ReceiveBudgetLimits {
  uint64_t max_transfer_memory = kDefaultMaxTransferMemory;  // one transfer's bookkeeping
  uint64_t max_total_memory = kDefaultMaxReceiveMemory;      // all live transfers together
};

// What Admit is asked for.
struct ReceiveDemand {
  uint64_t memory = 0;  // bookkeeping bytes (ReceiveTransfer::BookkeepingBytes)
  uint64_t blocks = 0;  // for the refusal text
  uint64_t files = 0;
  uint64_t disk_need = 0;  // bytes not yet allocated on disk by existing partials
};

class ReceiveBudget : public std::enable_shared_from_this<ReceiveBudget> {
 public:
  // A transfer's share of the budget, returned when destroyed.
  class Grant {
   public:
    ~Grant();
    Grant(const Grant&) = delete;
    Grant& operator=(const Grant&) = delete;
    uint64_t memory() const { return memory_; }
    // From now on the promise is what `unbacked` reports (bytes still to be
    // allocated by writes), instead of the disk need given to Admit. The
    // function must stay callable until the Grant is destroyed.
    void TrackUnbacked(std::function<uint64_t()> unbacked);

   private:
    friend class ReceiveBudget;
    Grant(std::shared_ptr<ReceiveBudget> budget, uint64_t memory, dev_t dev, uint64_t promised);
    uint64_t Promised() const;  // requires budget_->mu_

    std::shared_ptr<ReceiveBudget> budget_;
    const uint64_t memory_;
    const dev_t dev_;
    const uint64_t initial_promise_;
    std::function<uint64_t()> unbacked_;  // guarded by budget_->mu_
  };

  static std::shared_ptr<ReceiveBudget> Create(const ReceiveBudgetLimits& limits);
  const ReceiveBudgetLimits& limits() const { return limits_; }

  // Admits a transfer whose sandbox root is root_fd, or refuses it with
  // kErrResource (ENOMEM: memory over a limit) or kErrNoSpace (ENOSPC: disk).
  // A file system reporting no size (f_blocks == 0) has no space check.
  Status Admit(const ReceiveDemand& demand, int root_fd, std::unique_ptr<Grant>* out);

  uint64_t memory_reserved() const;

 private:
  explicit ReceiveBudget(const ReceiveBudgetLimits& limits) : limits_(limits) {}

  const ReceiveBudgetLimits limits_;
  mutable std::mutex mu_;
  uint64_t memory_reserved_ = 0;  // guarded by mu_
  std::vector<Grant*> grants_;    // live grants; guarded by mu_
};

}  // namespace jetrecv::core
