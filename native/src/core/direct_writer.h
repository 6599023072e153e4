// direct_writer.h — the endpoint's O_DIRECT write service: a fixed pool of
// 4096-aligned 1 MiB staging chunks and a few writer threads that run queued
// write tasks, so RX threads never wait for the disk. ReceiveTransfer fills
// chunks and queues one task per full chunk (see receive_transfer.h); the
// tasks run on the writer's own WorkQueue.
// Memory: chunk_count * kDirectChunkBytes, reserved at construction (pages
// become resident as chunks are first used) and never grown.
// Threads: every method may be called from any thread. TryAcquireChunk never
// blocks: an empty pool returns nullptr (the caller writes buffered instead).
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "core/counters.h"
#include "core/work_queue.h"

namespace jetrecv::core {

// Bytes per staging chunk; direct writes are exactly this long, at file offsets
// that are multiples of it.
inline constexpr size_t kDirectChunkBytes = size_t{1} << 20;
// Alignment of every chunk buffer (O_DIRECT needs the logical block size; 4096 covers all).
inline constexpr size_t kDirectAlign = 4096;
inline constexpr size_t kDefaultDirectThreads = 2;
inline constexpr size_t kDefaultDirectChunks = 64;  // 64 MiB for the whole endpoint
// Files smaller than this are always written buffered.
inline constexpr uint64_t kMinDirectFileBytes = uint64_t{8} << 20;

class DirectWriter {
 public:
  // A queued write. cancelled: removed by Cancel() before it ran (runs on the
  // cancelling thread); counters: the running thread's block.
  using Task = WorkQueue::Task;

  // threads 1..16, chunks 1..4096 (clamped). counters must outlive the writer.
  DirectWriter(size_t threads, size_t chunks, CounterSet* counters);
  ~DirectWriter();  // Stop()
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  // A free chunk buffer (kDirectChunkBytes, kDirectAlign-aligned, contents
  // undefined) or nullptr when the pool is empty or allocation failed. Never blocks.
  uint8_t* TryAcquireChunk();
  // Gives a buffer from TryAcquireChunk back to the pool.
  void ReleaseChunk(uint8_t* chunk);
  size_t chunk_count() const { return chunk_count_; }
  size_t free_chunks() const;

  // See WorkQueue (the writer threads).
  bool Submit(const void* owner, Task task) { return queue_.Submit(owner, std::move(task)); }
  size_t Cancel(const void* owner) { return queue_.Cancel(owner); }
  void Stop() { queue_.Stop(); }

 private:
  const size_t chunk_count_;
  uint8_t* region_ = nullptr;  // chunk_count_ * kDirectChunkBytes

  mutable std::mutex pool_mu_;
  std::vector<uint8_t*> free_;  // guarded by pool_mu_

  WorkQueue queue_;  // last: its threads stop before the region is freed
};

}  // namespace jetrecv::core
