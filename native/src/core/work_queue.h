// work_queue.h — a FIFO of tasks run by a few worker threads, so the threads
// that queue them (RX threads) never wait for the disk. Used by the O_DIRECT
// writer (chunk writes) and by receive transfers (finalize: sync, rename, sync
// of the directory). Threads: every method may be called from any thread.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/counters.h"

namespace jetrecv::core {

class WorkQueue {
 public:
  // A queued task. cancelled: removed by Cancel() before it ran (runs on the
  // cancelling thread); counters: the running thread's block.
  using Task = std::function<void(bool cancelled, CounterBlock& counters)>;

  // threads 1..16 (clamped). counters must outlive the queue.
  WorkQueue(size_t threads, CounterSet* counters);
  ~WorkQueue();  // Stop()
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues task; tasks start in FIFO order on any worker. owner tags it for
  // Cancel. Returns false (task not queued) after Stop().
  bool Submit(const void* owner, Task task);
  // Runs every queued (not yet started) task of owner with cancelled = true on
  // the calling thread and returns how many. Tasks already running are not
  // waited for: owners track their own completions.
  size_t Cancel(const void* owner);
  // Lets the workers finish every queued task, then joins them. Idempotent.
  void Stop();

 private:
  struct Item {
    const void* owner;
    Task task;
  };
  void Run(CounterBlock& counters);

  CounterSet* const counters_;
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Item> queue_;  // guarded by queue_mu_
  bool stopping_ = false;   // guarded by queue_mu_
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;  // serializes Stop()
};

}  // namespace jetrecv::core
