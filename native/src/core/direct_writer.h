// direct_writer.h — the endpoint's O_DIRECT write service: a fixed pool of
// 4096-aligned 1 MiB staging chunks and a few writer threads that run queued
// write tasks, so RX threads never wait for the disk. ReceiveTransfer fills
// chunks and queues one task per full chunk (see receive_transfer.h).
// Memory: chunk_count * kDirectChunkBytes, reserved at construction (pages
// become resident as chunks are first used) and never grown.
// Threads: every method may be called from any thread. TryAcquireChunk never
// blocks: an empty pool returns nullptr (the caller writes buffered instead).
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/counters.h"

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
  using Task = std::function<void(bool cancelled, CounterBlock& counters)>;

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

  // Queues task for a writer thread; tasks run in FIFO order on any writer.
  // owner tags it for Cancel. Returns false (task not queued) after Stop().
  bool Submit(const void* owner, Task task);
  // Runs every queued (not yet started) task of owner with cancelled = true on
  // the calling thread and returns how many. Tasks already running are not
  // waited for: owners track their own completions.
  size_t Cancel(const void* owner);
  // Lets the writers finish every queued task, then joins them. Idempotent.
  void Stop();

 private:
  struct Item {
    const void* owner;
    Task task;
  };
  void Run(CounterBlock& counters);

  const size_t chunk_count_;
  CounterSet* const counters_;
  uint8_t* region_ = nullptr;  // chunk_count_ * kDirectChunkBytes

  mutable std::mutex pool_mu_;
  std::vector<uint8_t*> free_;  // guarded by pool_mu_

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Item> queue_;  // guarded by queue_mu_
  bool stopping_ = false;   // guarded by queue_mu_
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;  // serializes Stop()
};

}  // namespace jetrecv::core
