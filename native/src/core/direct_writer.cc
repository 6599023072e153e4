// direct_writer.cc — see direct_writer.h.
#include "core/direct_writer.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace jetrecv::core {

DirectWriter::DirectWriter(size_t threads, size_t chunks, CounterSet* counters)
    : chunk_count_(std::clamp<size_t>(chunks, 1, 4096)), queue_(threads, counters) {
  // One region; untouched pages cost no RSS until a chunk is first used.
  region_ = static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, chunk_count_ * kDirectChunkBytes));
  if (region_ != nullptr) {
    free_.reserve(chunk_count_);
    for (size_t i = chunk_count_; i-- > 0;) free_.push_back(region_ + i * kDirectChunkBytes);
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

}  // namespace jetrecv::core
