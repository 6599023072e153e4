// resource_budget.cc — see resource_budget.h.
#include "core/resource_budget.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>

namespace jetrecv::core {

namespace {

std::string MiB(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

}  // namespace

ReceiveBudget::Grant::Grant(std::shared_ptr<ReceiveBudget> budget, uint64_t memory, dev_t dev,
                            uint64_t promised)
    : budget_(std::move(budget)), memory_(memory), dev_(dev), initial_promise_(promised) {}

ReceiveBudget::Grant::~Grant() {
  std::lock_guard lock(budget_->mu_);
  budget_->memory_reserved_ -= memory_;
  auto& grants = budget_->grants_;
  grants.erase(std::remove(grants.begin(), grants.end(), this), grants.end());
}

void ReceiveBudget::Grant::TrackUnbacked(std::function<uint64_t()> unbacked) {
  std::lock_guard lock(budget_->mu_);
  unbacked_ = std::move(unbacked);
}

uint64_t ReceiveBudget::Grant::Promised() const { return unbacked_ ? unbacked_() : initial_promise_; }

std::shared_ptr<ReceiveBudget> ReceiveBudget::Create(const ReceiveBudgetLimits& limits) {
  return std::shared_ptr<ReceiveBudget>(new ReceiveBudget(limits));
}

uint64_t ReceiveBudget::memory_reserved() const {
  std::lock_guard lock(mu_);
  return memory_reserved_;
}

Status ReceiveBudget::Admit(const ReceiveDemand& demand, int root_fd, std::unique_ptr<Grant>* out) {
  out->reset();
  const std::string what = std::to_string(demand.blocks) + " blocks in " + std::to_string(demand.files) +
                           (demand.files == 1 ? " file" : " files");
  if (demand.memory > limits_.max_transfer_memory) {
    return Status::Error(ENOMEM,
                         "transfer refused: " + what + " need " + MiB(demand.memory) +
                             " of bookkeeping, more than the " + MiB(limits_.max_transfer_memory) +
                             " one transfer may use (a larger block size needs fewer blocks)",
                         kErrResource);
  }
  struct stat root_st {};
  struct statvfs vfs {};
  if (fstat(root_fd, &root_st) != 0 || fstatvfs(root_fd, &vfs) != 0) {
    const int err = errno;
    return Status::Error(err, "cannot read the free space of the sandbox file system", kErrIo);
  }
  std::lock_guard lock(mu_);
  if (memory_reserved_ + demand.memory > limits_.max_total_memory) {
    return Status::Error(ENOMEM,
                         "transfer refused: " + what + " need " + MiB(demand.memory) +
                             " of bookkeeping and live transfers already hold " + MiB(memory_reserved_) +
                             " of the receiver's " + MiB(limits_.max_total_memory) + "; try again later",
                         kErrResource);
  }
  if (vfs.f_blocks != 0 && demand.disk_need != 0) {  // f_blocks == 0: no size limit to check
    const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    uint64_t promised = 0;
    for (const Grant* g : grants_) {
      if (g->dev_ == root_st.st_dev) promised += g->Promised();
    }
    const uint64_t available = free_bytes > promised ? free_bytes - promised : 0;
    if (demand.disk_need > available) {
      return Status::Error(ENOSPC,
                           "not enough space for the transfer: it needs " + std::to_string(demand.disk_need) +
                               " bytes, the sandbox file system has " + std::to_string(free_bytes) +
                               " bytes free and " + std::to_string(promised) +
                               " of them are promised to live transfers",
                           kErrNoSpace);
    }
  }
  out->reset(new Grant(shared_from_this(), demand.memory, root_st.st_dev, demand.disk_need));
  memory_reserved_ += demand.memory;
  grants_.push_back(out->get());
  return Status::Ok();
}

}  // namespace jetrecv::core
