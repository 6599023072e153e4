// work_queue.cc — see work_queue.h.
#include "core/work_queue.h"

#include <algorithm>
#include <utility>

namespace jetrecv::core {

WorkQueue::WorkQueue(size_t threads, CounterSet* counters) : counters_(counters) {
  const size_t n = std::clamp<size_t>(threads, 1, 16);
  for (size_t i = 0; i < n; ++i) {
    CounterBlock& block = counters_->NewBlock();
    threads_.emplace_back([this, &block] { Run(block); });
  }
}

WorkQueue::~WorkQueue() { Stop(); }

bool WorkQueue::Submit(const void* owner, Task task) {
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_) return false;
    queue_.push_back({owner, std::move(task)});
  }
  queue_cv_.notify_one();
  return true;
}

size_t WorkQueue::Cancel(const void* owner) {
  std::vector<Task> cancelled;
  {
    std::lock_guard lock(queue_mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->owner == owner) {
        cancelled.push_back(std::move(it->task));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Task& t : cancelled) t(/*cancelled=*/true, counters_->shared());
  return cancelled.size();
}

void WorkQueue::Stop() {
  std::lock_guard stop_lock(stop_mu_);
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void WorkQueue::Run(CounterBlock& counters) {
  for (;;) {
    Item item;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    item.task(/*cancelled=*/false, counters);
  }
}

}  // namespace jetrecv::core
