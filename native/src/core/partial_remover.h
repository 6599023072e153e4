// partial_remover.h — unlinks the partial files of closed transfers that cannot resume,
// on the finalizer WorkQueue, one slice at a time, so that closing a transfer of a
// million files returns at once (transfers are closed on the JS thread). A slice
// re-queues the next one at the tail: finalizations of other transfers run in between.
// Partial names are unique per transfer (.NAME.TAG.jrpart), so nothing else can take one
// over while it waits here; a partial still queued when the process ends is an orphan
// the start-up sweep removes. Threads: every method may be called from any thread.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/work_queue.h"

namespace jetrecv::core {

class PartialRemover {
 public:
  // queue: where the unlinks run (nullptr: inline, in Remove).
  explicit PartialRemover(std::shared_ptr<WorkQueue> queue);
  ~PartialRemover();  // Drain(0): drops what is still queued
  PartialRemover(const PartialRemover&) = delete;
  PartialRemover& operator=(const PartialRemover&) = delete;

  // Queues the unlink of rel_paths (partials relative to root_fd; root_fd is duplicated,
  // the caller keeps its own). Missing files are skipped. Without a queue, or once the
  // queue or this remover stopped taking work, unlinks here.
  void Remove(int root_fd, std::vector<std::string> rel_paths);
  // Waits until every queued unlink ran, at most `limit`; then drops the rest (left for
  // the start-up sweep) and waits for the slices still running. Later Removes unlink
  // inline. Returns how many partials were dropped.
  uint64_t Drain(std::chrono::milliseconds limit);
  // Partials queued and not yet unlinked.
  uint64_t pending() const;

 private:
  struct Job;
  // Worker: unlinks one slice of job, then queues the next (or finishes the job).
  void RunSlice(const std::shared_ptr<Job>& job, bool cancelled);
  // False (nothing queued) once draining or the queue stopped.
  bool Submit(const std::shared_ptr<Job>& job);

  const std::shared_ptr<WorkQueue> queue_;
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;  // a slice ended
  uint64_t pending_files_ = 0;       // guarded by mu_
  size_t queued_slices_ = 0;         // queued or running; guarded by mu_
  uint64_t dropped_ = 0;             // guarded by mu_
  bool draining_ = false;            // guarded by mu_
};

}  // namespace jetrecv::core
