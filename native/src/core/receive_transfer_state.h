// receive_transfer_state.h — private to receive_transfer*.cc: the per-file
// state of a ReceiveTransfer (FileState) and of its direct I/O (DirectState).
// receive_transfer.cc holds the buffered path, finalize and checkpoints
// (FEEDBACK: receive_feedback.cc); receive_transfer_direct.cc the O_DIRECT staging path.
#pragma once
#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/block_bitmap.h"
#include "core/direct_writer.h"
#include "core/receive_transfer.h"

namespace jetrecv::core {
namespace receive_internal {

// Blocks written by one pwritev at most (well under IOV_MAX).
inline constexpr size_t kMaxRunBlocks = 64;

// pwrite of all len bytes (retries EINTR and short writes); errno or 0.
inline int PwriteAll(int fd, const uint8_t* data, size_t len, uint64_t offset) {
  while (len > 0) {
    const ssize_t w = pwrite(fd, data, len, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    data += w;
    len -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return 0;
}

}  // namespace receive_internal

// Direct-I/O state of one file (see receive_transfer.h). Lock order: the
// file's fd_mu before mu.
struct ReceiveTransfer::DirectState {
  enum : uint8_t { kNone = 0, kStaging, kDirect, kBuffered };
  struct Staging {
    uint8_t* buf = nullptr;  // a DirectWriter chunk
    uint64_t filled = 0;     // bytes of set blocks copied in
  };
  explicit DirectState(uint64_t size) : chunks((size + kDirectChunkBytes - 1) / kDirectChunkBytes, kNone) {
    chunks.back() = kBuffered;  // the EOF chunk: every direct write is a full chunk
  }

  std::mutex mu;
  std::condition_variable cv;                     // an in-flight write completed
  std::vector<uint8_t> chunks;                    // state per chunk; guarded by mu
  std::unordered_map<uint64_t, Staging> staging;  // by chunk index; guarded by mu
  int fd = -1;                    // O_DIRECT fd, opened on demand, closed when idle; guarded by mu
  bool fd_direct = true;          // fd still has O_DIRECT; guarded by mu
  bool enabled = true;            // false: chunks leaving `none` go buffered; guarded by mu
  bool wrote_direct = false;      // a direct write of this file succeeded; guarded by mu
  bool finalize_pending = false;  // complete: the last write to finish finalizes; guarded by mu
  uint64_t next_seq = 0;          // sequence number of the last queued chunk; guarded by mu
  std::set<uint64_t> inflight;    // queued or running writes; guarded by mu
};

struct ReceiveTransfer::FileState {
  FileState(const ReceiveFileSpec& spec, uint32_t block_size)
      : path(spec.path),
        size(spec.size),
        mode(spec.mode & 0777),
        mtime_ms(spec.mtime_ms),
        blocks(BlockCount(spec.size, block_size)),
        bitmap(blocks) {}

  const std::string path;
  const uint64_t size;
  const uint32_t mode;
  const int64_t mtime_ms;
  const uint64_t blocks;
  std::string partial;
  BlockBitmap bitmap;

  // Writers hold fd_mu shared while they use fd; finalize and Close take it
  // exclusively to close fd (-1 afterwards), so a write never hits a reused fd.
  // fd is -1 before the first use, after eviction from the cache (re-opened
  // on demand) and after finalize (finalized == true).
  std::shared_mutex fd_mu;
  int fd = -1;    // guarded by fd_mu
  dev_t dev = 0;  // the partial's inode, set at Open: a re-open
  ino_t ino = 0;  //   must find the same file
  std::atomic<bool> finalizing{false};
  std::atomic<bool> finalized{false};

  // Write-behind state.
  std::atomic<uint64_t> high_water{0};       // highest end offset written
  std::atomic<uint64_t> unflushed_bytes{0};  // written since the last writeback kick
  std::mutex wb_mu;
  uint64_t flushed_end = 0;  // writeback started for [0, flushed_end); guarded by wb_mu
  uint64_t dropped_end = 0;  // DONTNEED given for [0, dropped_end); guarded by wb_mu

  // Checkpoint state, guarded by ReceiveTransfer::checkpoint_mu_: the final file
  // was synced by a checkpoint (or was already final at a resumed Open).
  bool done_synced = false;

  // Set at Open for a file written with direct I/O; null otherwise.
  std::unique_ptr<DirectState> direct;
};

}  // namespace jetrecv::core
