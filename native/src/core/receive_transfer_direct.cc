// receive_transfer_direct.cc — the O_DIRECT path of ReceiveTransfer (see the
// "Direct I/O" part of receive_transfer.h): staging blocks into DirectWriter
// chunks, queuing full chunks, the writer-thread completion, flushing staged
// bytes for checkpoints and close.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "core/fd_cache.h"
#include "core/receive_transfer.h"
#include "core/receive_transfer_state.h"
#include "core/sandbox_fs.h"

namespace jetrecv::core {

using receive_internal::kMaxRunBlocks;
using receive_internal::PwriteAll;

int ReceiveTransfer::WriteRunDirect(uint32_t index, FileState& file, const BlockRef* blocks, size_t count,
                                    CounterBlock& counters, uint64_t* new_blocks, uint64_t* new_bytes) {
  DirectState& d = *file.direct;
  // Sub-runs {start, n} of blocks[] with no staging chunk: written buffered below.
  std::pair<size_t, size_t> buffered[kMaxRunBlocks];
  size_t n_buffered = 0;
  {
    std::lock_guard lock(d.mu);
    for (size_t k = 0; k < count; ++k) {
      const BlockRef& b = blocks[k];
      const uint64_t off = b.header->offset;
      const uint64_t end = off + b.len;
      const uint64_t block = off / block_size_;
      if (file.bitmap.Test(block)) {  // staged by another thread meanwhile
        counters.Add(CounterId::kdrop_duplicate_block);
        continue;
      }
      const uint64_t c0 = off / kDirectChunkBytes, c1 = (end - 1) / kDirectChunkBytes;
      bool staged = false;
      for (uint64_t c = c0; c <= c1; ++c) {
        PrepareChunk(file, c, counters);
        staged = staged || d.chunks[c] == DirectState::kStaging;
      }
      if (!staged) {
        if (n_buffered != 0 && buffered[n_buffered - 1].first + buffered[n_buffered - 1].second == k) {
          ++buffered[n_buffered - 1].second;
        } else {
          buffered[n_buffered++] = {k, 1};
        }
        continue;
      }
      // Copy each piece into its staging chunk; a piece in a buffered chunk (a
      // block straddling two chunks) is written now, before the bit is set.
      for (uint64_t c = c0; c <= c1; ++c) {
        const uint64_t lo = std::max(off, c * kDirectChunkBytes);
        const uint64_t hi = std::min(end, (c + 1) * kDirectChunkBytes);
        if (d.chunks[c] == DirectState::kStaging) {
          std::memcpy(d.staging[c].buf + (lo - c * kDirectChunkBytes), b.data + (lo - off), hi - lo);
        } else if (const int err = PwriteAll(file.fd, b.data + (lo - off), hi - lo, lo); err != 0) {
          return err;
        }
      }
      // Staged blocks are set only here, under mu, so this always succeeds.
      if (!file.bitmap.TrySet(block)) {
        counters.Add(CounterId::kdrop_duplicate_block);
        continue;
      }
      ++*new_blocks;
      *new_bytes += b.len;
      if (const int err = AddStaged(index, file, off, end, counters); err != 0) return err;
    }
  }
  // Chunks that are buffered or direct (late retransmits): pwritev as without direct I/O.
  for (size_t r = 0; r < n_buffered; ++r) {
    const auto [start, n] = buffered[r];
    if (const int err = WriteRunBuffered(file, blocks + start, n, counters, new_blocks, new_bytes);
        err != 0) {
      return err;
    }
  }
  return 0;
}

int ReceiveTransfer::AddStaged(uint32_t index, FileState& file, uint64_t off, uint64_t end,
                               CounterBlock& counters) {
  DirectState& d = *file.direct;
  for (uint64_t c = off / kDirectChunkBytes; c <= (end - 1) / kDirectChunkBytes; ++c) {
    if (d.chunks[c] != DirectState::kStaging) continue;
    DirectState::Staging& st = d.staging[c];
    const uint64_t piece = std::min(end, (c + 1) * kDirectChunkBytes) - std::max(off, c * kDirectChunkBytes);
    // The chunk's first block prepares the next chunk, so that the blocks after it in
    // the same receive batch find that one staging too (StageSealedBlock never
    // prepares a chunk: only a verified block does, here).
    if (st.filled == 0 && c + 1 < d.chunks.size()) PrepareChunk(file, c + 1, counters);
    st.filled += piece;
    if (st.filled == kDirectChunkBytes) {
      if (const int err = SubmitChunk(index, file, c); err != 0) return err;
    }
  }
  return 0;
}

StageResult ReceiveTransfer::StageSealedBlock(const BlockFrameHeader& header, size_t len,
                                              SealedBlockData& data, CounterBlock& counters) {
  if (direct_ == nullptr) return StageResult::kNotStaged;
  std::shared_lock lifecycle(lifecycle_mu_);
  if (closed_ || failed_.load(std::memory_order_acquire)) return StageResult::kNotStaged;
  const uint64_t block = BlockIndexOf(header, len);
  if (block == ~0ull) return StageResult::kNotStaged;
  const uint32_t index = header.file_index;
  FileState& file = *files_[index];
  if (file.direct == nullptr) return StageResult::kNotStaged;
  std::shared_lock fd_lock(file.fd_mu);
  if (file.fd < 0) return StageResult::kNotStaged;  // SubmitChunk's fallback writes through it
  DirectState& d = *file.direct;
  std::unique_lock lock(d.mu);
  if (file.bitmap.Test(block)) return StageResult::kNotStaged;  // a duplicate: counted by OnBlocks
  const uint64_t off = header.offset, end = off + len;
  const uint64_t c0 = off / kDirectChunkBytes, c1 = (end - 1) / kDirectChunkBytes;
  if (c1 > c0 + 1) return StageResult::kNotStaged;  // a block larger than a chunk: never at 64 KiB
  uint8_t* bufs[2];
  for (uint64_t c = c0; c <= c1; ++c) {
    if (d.chunks[c] != DirectState::kStaging) return StageResult::kNotStaged;
    bufs[c - c0] = d.staging.find(c)->second.buf;
  }
  for (uint64_t c = c0; c <= c1; ++c) {
    const uint64_t lo = std::max(off, c * kDirectChunkBytes);
    const uint64_t hi = std::min(end, (c + 1) * kDirectChunkBytes);
    data.DecryptTo(bufs[c - c0] + (lo - c * kDirectChunkBytes), hi - lo);
  }
  // Rejected: the region holds garbage under an unset bit (receive_transfer.h).
  if (!data.Verify()) return StageResult::kRejected;
  file.bitmap.TrySet(block);  // staged blocks are set only under mu: always succeeds
  counters.Add(CounterId::kblocks_decrypted_to_staging);
  if (const int err = AddStaged(index, file, off, end, counters); err != 0) {
    lock.unlock();
    counters.Add(CounterId::kwrite_errors);
    Fail(index, err, "cannot write " + file.path + ": " + std::strerror(err));
  }
  return StageResult::kStaged;
}

void ReceiveTransfer::PrepareChunk(FileState& file, uint64_t chunk, CounterBlock& counters) {
  DirectState& d = *file.direct;
  uint8_t& state = d.chunks[chunk];
  if (state != DirectState::kNone) return;
  if (!d.enabled) {
    state = DirectState::kBuffered;
    return;
  }
  uint8_t* buf = direct_->TryAcquireChunk();  // never waits: a full pool means buffered
  if (buf == nullptr) {
    state = DirectState::kBuffered;
    counters.Add(CounterId::kdirect_pool_exhausted);
    return;
  }
  if (d.fd < 0) {
    int fd = -1;
    int err = EMFILE;  // process fd budget spent: this chunk goes buffered
    if (FdBudgetAcquire(false)) {
      err = OpenPartialForWrite(file, O_WRONLY | O_DIRECT, &fd);
      if (err != 0) FdBudgetRelease();
    }
    if (err != 0) {
      direct_->ReleaseChunk(buf);
      state = DirectState::kBuffered;
      if (err == EINVAL) {  // O_DIRECT refused after all: the whole file goes buffered
        d.enabled = false;
        counters.Add(CounterId::kdirect_files_disabled);
      }
      return;
    }
    d.fd = fd;
  }
  state = DirectState::kStaging;
  d.staging[chunk] = DirectState::Staging{buf, 0};
}

int ReceiveTransfer::SubmitChunk(uint32_t index, FileState& file, uint64_t chunk) {
  DirectState& d = *file.direct;
  auto it = d.staging.find(chunk);
  uint8_t* buf = it->second.buf;
  d.staging.erase(it);
  d.chunks[chunk] = DirectState::kDirect;
  const uint64_t seq = ++d.next_seq;
  d.inflight.insert(seq);
  const int fd = d.fd;  // stays open while seq is in flight
  if (direct_->Submit(this, [this, index, chunk, buf, fd, seq](bool cancelled, CounterBlock& counters) {
        RunChunkWrite(index, chunk, buf, fd, seq, cancelled, counters);
      })) {
    return 0;
  }
  // The writer has stopped (endpoint closing): write the chunk here, buffered.
  d.inflight.erase(seq);
  d.chunks[chunk] = DirectState::kBuffered;
  const int err = PwriteAll(file.fd, buf, kDirectChunkBytes, chunk * kDirectChunkBytes);
  direct_->ReleaseChunk(buf);
  CloseDirectFdIfIdle(file);
  return err;
}

void ReceiveTransfer::RunChunkWrite(uint32_t index, uint64_t chunk, uint8_t* buf, int fd, uint64_t seq,
                                    bool cancelled, CounterBlock& counters) {
  FileState& file = *files_[index];
  DirectState& d = *file.direct;
  const uint64_t offset = chunk * kDirectChunkBytes;
  int err = 0;
  bool direct = false;
  if (!cancelled) {
    bool fd_direct;
    {
      std::lock_guard lock(d.mu);
      fd_direct = d.fd_direct;
    }
    err = PwriteAll(fd, buf, kDirectChunkBytes, offset);
    direct = err == 0 && fd_direct;
    bool first = false;
    if (err == EINVAL) {
      std::lock_guard lock(d.mu);
      first = !d.wrote_direct;
    }
    if (first) {
      // EINVAL before any direct write of this file worked: O_DIRECT is not
      // usable here after all. Clear it on the fd, write this chunk buffered,
      // and send the file's later chunks the buffered way.
      const int flags = fcntl(fd, F_GETFL);
      if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_DIRECT) == 0) {
        err = PwriteAll(fd, buf, kDirectChunkBytes, offset);
      }
      std::lock_guard lock(d.mu);
      if (d.fd_direct) {
        d.fd_direct = false;
        d.enabled = false;
        counters.Add(CounterId::kdirect_files_disabled);
      }
    }
  }
  if (cancelled) {
    direct_lost_.store(true, std::memory_order_release);
  } else if (err != 0) {
    // Like a failed pwritev, but the blocks' bits are already set: from now on
    // Checkpoint refuses and the file is never finalized.
    direct_lost_.store(true, std::memory_order_release);
    counters.Add(CounterId::kwrite_errors);
    Fail(index, err, "cannot write " + file.path + ": " + std::strerror(err));
  } else if (direct) {
    counters.Add(CounterId::kbytes_written_direct, kDirectChunkBytes);
  }
  direct_->ReleaseChunk(buf);
  // Held (shared) across the completion when it can be had: then the transfer
  // outlives a finalize run below. Not had: Close is running and takes over.
  // (Cancelled tasks run inside Close, which holds it exclusively.)
  std::shared_lock<std::shared_mutex> lifecycle;
  if (!cancelled) lifecycle = std::shared_lock(lifecycle_mu_, std::try_to_lock);
  const bool may_finalize = lifecycle.owns_lock() && !closed_;
  bool finalize = false;
  {
    std::lock_guard lock(d.mu);
    if (direct) d.wrote_direct = true;
    d.inflight.erase(seq);
    if (may_finalize && d.finalize_pending && d.inflight.empty()) {
      d.finalize_pending = false;
      finalize = true;
    }
    CloseDirectFdIfIdle(file);
    d.cv.notify_all();  // without the lifecycle lock, the last touch of the transfer
  }
  if (finalize && !failed_.load(std::memory_order_acquire)) FinalizeOrFail(index, counters);
}

bool ReceiveTransfer::DeferFinalize(FileState& file) {
  if (file.direct == nullptr) return false;
  DirectState& d = *file.direct;
  std::lock_guard lock(d.mu);
  if (d.inflight.empty()) return false;
  d.finalize_pending = true;  // the writer finishing the last queued chunk finalizes
  return true;
}

int ReceiveTransfer::FlushStaging(FileState& file, int buffered_fd) {
  DirectState& d = *file.direct;
  for (auto it = d.staging.begin(); it != d.staging.end();) {
    const uint64_t c = it->first;
    const uint64_t lo = c * kDirectChunkBytes, hi = lo + kDirectChunkBytes;  // never the EOF chunk
    // Runs of set blocks, clipped to the chunk: exactly the bytes copied in.
    uint64_t b = lo / block_size_;
    const uint64_t last = (hi - 1) / block_size_;
    while (b <= last) {
      if (!file.bitmap.Test(b)) {
        ++b;
        continue;
      }
      uint64_t e = b;
      while (e + 1 <= last && file.bitmap.Test(e + 1)) ++e;
      const uint64_t from = std::max(lo, b * block_size_);
      const uint64_t to = std::min(hi, (e + 1) * block_size_);
      if (const int err = PwriteAll(buffered_fd, it->second.buf + (from - lo), to - from, from); err != 0) {
        return err;  // this chunk stays staging; Close releases it
      }
      b = e + 1;
    }
    d.chunks[c] = DirectState::kBuffered;
    direct_->ReleaseChunk(it->second.buf);
    it = d.staging.erase(it);
  }
  return 0;
}

void ReceiveTransfer::WaitDirect(FileState& file, std::unique_lock<std::mutex>& lock, uint64_t seq) {
  DirectState& d = *file.direct;
  d.cv.wait(lock, [&] { return d.inflight.empty() || *d.inflight.begin() > seq; });
}

void ReceiveTransfer::CloseDirectFdIfIdle(FileState& file) {
  DirectState& d = *file.direct;
  if (d.fd < 0 || !d.staging.empty() || !d.inflight.empty()) return;
  close(d.fd);
  d.fd = -1;
  FdBudgetRelease();
}

}  // namespace jetrecv::core
