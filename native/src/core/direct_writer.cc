// direct_writer.cc — see direct_writer.h.
#include "core/direct_writer.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace jetrecv::core {

DirectWriter::DirectWriter(size_t threads, size_t chunks, CounterSet* counters)
    : chunk_count_(std::clamp<size_t>(chunks, 1, 4096)), counters_(counters) {
  // One region; untouched pages cost no RSS until a chunk is first used.
  region_ = static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, chunk_count_ * kDirectChunkBytes));
  if (region_ != nullptr) {
    free_.reserve(chunk_count_);
    for (size_t i = chunk_count_; i-- > 0;) free_.push_back(region_ + i * kDirectChunkBytes);
  }
  const size_t n = std::clamp<size_t>(threads, 1, 16);
  for (size_t i = 0; i < n; ++i) {
    CounterBlock& block = counters_->NewBlock();
    threads_.emplace_back([this, &block] { Run(block); });
  }
}

DirectWriter::~DirectWriter() {
  Stop();
  std::free(region_);
}

uint8_t* DirectWriter::TryAcquireChunk() {
  std::lock_guard lock(pool_mu_);
  if (free_.empty()) return nullptr;
  uint8_t* chunk = free_.back();
  free_.pop_back();
  return chunk;
}

void DirectWriter::ReleaseChunk(uint8_t* chunk) {
  if (chunk == nullptr) return;
  std::lock_guard lock(pool_mu_);
  free_.push_back(chunk);
}

size_t DirectWriter::free_chunks() const {
  std::lock_guard lock(pool_mu_);
  return free_.size();
}

bool DirectWriter::Submit(const void* owner, Task task) {
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_) return false;
    queue_.push_back({owner, std::move(task)});
  }
  queue_cv_.notify_one();
  return true;
}

size_t DirectWriter::Cancel(const void* owner) {
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

void DirectWriter::Stop() {
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

void DirectWriter::Run(CounterBlock& counters) {
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
