// partial_remover.cc — see partial_remover.h.
#include "core/partial_remover.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "core/sandbox_fs.h"

namespace jetrecv::core {

namespace {
// Unlinks per slice: short enough that a finalization queued behind it waits little.
constexpr size_t kSliceFiles = 256;
}  // namespace

struct PartialRemover::Job {
  int root_fd = -1;
  std::vector<std::string> paths;
  size_t next = 0;  // touched by one slice at a time
  ~Job() {
    if (root_fd >= 0) close(root_fd);
  }
};

PartialRemover::PartialRemover(std::shared_ptr<WorkQueue> queue) : queue_(std::move(queue)) {}

PartialRemover::~PartialRemover() { Drain(std::chrono::milliseconds(0)); }

void PartialRemover::Remove(int root_fd, std::vector<std::string> rel_paths) {
  if (rel_paths.empty() || root_fd < 0) return;
  auto job = std::make_shared<Job>();
  job->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
  job->paths = std::move(rel_paths);
  if (job->root_fd >= 0 && Submit(job)) return;
  for (const std::string& p : job->paths) UnlinkBeneath(root_fd, p);  // best effort
}

bool PartialRemover::Submit(const std::shared_ptr<Job>& job) {
  const uint64_t files = job->next == 0 ? job->paths.size() : 0;
  {
    std::lock_guard lock(mu_);
    if (draining_ || queue_ == nullptr) return false;
    pending_files_ += files;
    ++queued_slices_;
  }
  if (queue_->Submit(this, [this, job](bool cancelled, CounterBlock&) { RunSlice(job, cancelled); })) {
    return true;
  }
  std::lock_guard lock(mu_);  // the queue stopped: the caller unlinks
  pending_files_ -= files;
  --queued_slices_;
  idle_cv_.notify_all();
  return false;
}

void PartialRemover::RunSlice(const std::shared_ptr<Job>& job, bool cancelled) {
  const size_t end = cancelled ? job->paths.size() : std::min(job->paths.size(), job->next + kSliceFiles);
  if (!cancelled) {
    for (size_t i = job->next; i < end; ++i) UnlinkBeneath(job->root_fd, job->paths[i]);  // may be gone
  }
  const size_t done = end - job->next;
  job->next = end;
  bool more = false;
  {
    std::lock_guard lock(mu_);
    pending_files_ -= done;
    if (cancelled) dropped_ += done;
    more = end < job->paths.size() && !draining_;
    if (end < job->paths.size() && draining_) {  // drained mid-job: the rest stays
      pending_files_ -= job->paths.size() - end;
      dropped_ += job->paths.size() - end;
    }
    if (more) ++queued_slices_;  // the next slice, queued below
    --queued_slices_;
    idle_cv_.notify_all();
  }
  if (more && !queue_->Submit(this, [this, job](bool c, CounterBlock&) { RunSlice(job, c); })) {
    std::lock_guard lock(mu_);  // the queue stopped: the rest stays for the start-up sweep
    pending_files_ -= job->paths.size() - end;
    dropped_ += job->paths.size() - end;
    --queued_slices_;
    idle_cv_.notify_all();
  }
}

uint64_t PartialRemover::Drain(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  idle_cv_.wait_for(lock, limit, [this] { return queued_slices_ == 0; });
  draining_ = true;
  const uint64_t before = dropped_;
  lock.unlock();
  if (queue_ != nullptr) queue_->Cancel(this);  // queued slices run here, cancelled
  lock.lock();
  idle_cv_.wait(lock, [this] { return queued_slices_ == 0; });  // running slices: one each
  return dropped_ - before;
}

uint64_t PartialRemover::pending() const {
  std::lock_guard lock(mu_);
  return pending_files_;
}

}  // namespace jetrecv::core
