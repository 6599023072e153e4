// receive_transfer.h — one incoming transfer: its files beneath the sandbox
// root, the bitmaps of received blocks, writes to disk, finalization, and the
// FEEDBACK frames (rate report + NACK ranges) the receiver sends back
// (receive_feedback.h).
// Partial files are created (and preallocated) at Open but kept open only in a
// bounded LRU cache (kMaxCachedFdsPerTransfer and the process budget of
// fd_cache.h); a block for a closed partial re-opens it beneath the root
// (RESOLVE_BENEATH, O_NOFOLLOW) and checks it is still the same inode.
// Threads: OnBlocks may run on several RX threads at once; OnPosition,
// BuildFeedback, Stats and Close may run on any thread. Close waits for
// in-flight OnBlocks calls (shared/exclusive lock) and makes later calls drop.
//
// Direct I/O (Open with a DirectWriter): a file of >= kMinDirectFileBytes on a
// file system that is not tmpfs and accepts O_DIRECT is cut into 1 MiB chunks
// at offsets k * kDirectChunkBytes. A chunk is none, staging (holds a pool
// buffer; block bytes are copied into it), direct (full: queued or written by a
// writer thread with one aligned pwrite on an O_DIRECT fd) or buffered (written
// with pwritev: the chunk holding EOF, chunks started when the pool was empty,
// chunks with blocks restored at resume, staging chunks a Checkpoint flushed,
// and every chunk of a file switched off direct I/O). States only move forward.
// A staged block's bit is set after its copy into staging; Checkpoint, finalize
// and Close write or wait for staged and queued bytes first, so "bit set =>
// bytes in the file" holds wherever it is observed. StageSealedBlock skips the
// copy: the RX thread decrypts the block's data straight into the chunk and sets
// the bit only once the tag verified. A forged block leaves garbage there under an
// unset bit, which is never written: a chunk is queued only when all of it is set
// blocks, FlushStaging writes only runs of set blocks, and the block's next copy
// overwrites the region.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/block_bitmap.h"
#include "core/counters.h"
#include "core/direct_writer.h"
#include "core/event_queue.h"
#include "core/fd_cache.h"
#include "core/frame_codec.h"
#include "core/partial_remover.h"
#include "core/receive_feedback.h"
#include "core/resource_budget.h"
#include "core/status.h"
#include "core/wire_format.h"
#include "core/work_queue.h"

namespace jetrecv::core {

struct ReceiveFileSpec {
  std::string path;  // relative to root (already joined with destinationPath)
  uint64_t size = 0;
  uint32_t mode = 0644;  // applied at finalize, masked with 0777 (no setuid/setgid/sticky)
  int64_t mtime_ms = 0;  // Unix ms, applied at finalize
};

// Blocks [first_block, first_block + block_count) of file file_index.
struct ResumeRange {
  uint32_t file_index = 0;
  uint64_t first_block = 0;
  uint64_t block_count = 0;
};

struct ReceiveSpec {
  std::string root;  // absolute sandbox directory; nothing is created outside it
  uint32_t block_size = 0;
  std::vector<ReceiveFileSpec> files;   // index = file_index on the wire = send order
  std::vector<std::string> empty_dirs;  // relative to root
  // Finalize order per file: fdatasync of the partial, rename to the final
  // name, fsync of its directory, then the kFileDone event (so "done" means
  // durable across power loss). Runs on the finalizer WorkQueue when Open got
  // one (RX threads never wait for the disk). false: rename only (scratch
  // space; a power loss may leave a final name with missing data).
  bool sync_on_finalize = true;
  // Owner of the partials: PartialPathFor(path, partial_tag). "" = legacy
  // untagged names (records from before tags).
  std::string partial_tag;
  // The transfer may resume later: Close without remove_partials keeps the
  // partials. false: every Close removes the partials of unfinished files.
  bool resumable = true;
  // Resume from an earlier run's Checkpoint(). Applied at Open only where it is
  // safe: a file in resume_done counts as finalized if its final name holds a
  // regular file of the manifest size and mtime; resume_ranges of a file are set
  // in its bitmap only if its partial was reused with exactly the manifest size.
  // Every other file starts from zero: an existing partial is truncated first.
  std::vector<uint32_t> resume_done;
  std::vector<ResumeRange> resume_ranges;
};

// What Checkpoint() made durable: apply it with ReceiveSpec::resume_* later.
struct ReceiveCheckpoint {
  std::vector<uint32_t> done_files;  // finalized (renamed into place and synced)
  std::vector<ResumeRange> ranges;   // held blocks of the other files, synced
  uint64_t blocks_held = 0;          // blocks covered by done_files and ranges
  uint64_t bytes_held = 0;
};

struct ReceiveStats {
  uint64_t bytes_received = 0;   // distinct block bytes written
  uint64_t blocks_received = 0;  // distinct blocks written
  uint64_t total_blocks = 0;
  uint64_t files_done = 0;    // finalized (renamed into place)
  double recv_rate_bps = 0;   // bits/s of block data over the last feedback interval
  uint64_t last_recv_us = 0;  // Unix µs of the last accepted block, 0 = none yet
  bool failed = false;
  uint64_t blocks_resumed = 0;  // blocks restored from a checkpoint at Open (in blocks_received)
};

// The data of one BLOCK frame whose header is decrypted but not verified yet (the
// receive path's Session::PacketOpen). StageSealedBlock calls DecryptTo over the
// data in order, then Verify once.
class SealedBlockData {
 public:
  virtual ~SealedBlockData() = default;
  // Decrypts the next len bytes of the block's data to out.
  virtual void DecryptTo(uint8_t* out, size_t len) = 0;
  // After all of the data: true if the packet is authentic (tag, replay window).
  virtual bool Verify() = 0;
};

enum class StageResult : uint8_t {
  kNotStaged,  // nothing decrypted: open the packet in place and pass the block to OnBlocks
  kStaged,     // verified, in its staging chunk, bit set: pass it to OnBlocks with staged = true
  kRejected,   // Verify failed: drop the packet
};

// Largest block size a transfer may use.
constexpr uint32_t kMaxBlockSize = static_cast<uint32_t>(kMaxDatagram - kBlockPacketOverhead);
// Write-behind: start writeback every kWriteBehindChunk of new data per file and
// drop already-flushed pages from the page cache one chunk later.
constexpr uint64_t kWriteBehindChunk = 8ull << 20;

// Test hook: called with ("sync" | "rename" | "syncdir", relative final path)
// as FinalizeFile does each step, on the finalizing thread. nullptr: none.
void SetFinalizeTraceForTesting(std::function<void(const char* step, const std::string& path)> trace);

class ReceiveTransfer {
 public:
  // Validates spec (block size 1..kMaxBlockSize, paths, no duplicate or
  // conflicting paths) and creates the empty dirs and every partial file
  // (preallocated now, so ENOSPC shows at Open; only the first ones stay open);
  // size-0 files are finalized at once and get their kFileDone event. On failure
  // removes the partials it created, sets *status (err = errno or EINVAL; code
  // JETRECV_ERR_PATH_ESCAPE for EXDEV, JETRECV_ERR_PATH_INVALID for lexical
  // errors, JETRECV_ERR_IO otherwise; path = the offending relative path) and
  // returns nullptr. events must outlive the transfer. direct: the endpoint's
  // O_DIRECT writer (nullptr = every write buffered).
  // finalizer: where completed files are finalized (nullptr = on the thread
  // that completed them). Every destination path is claimed for the transfer
  // until Close (dest_claims.h): a path another open transfer is receiving is
  // refused with JETRECV_ERR_PATH_BUSY before anything touches the disk.
  // budget: the endpoint's
  // ReceiveBudget (nullptr = no limits); after the lexical checks and before
  // anything is created or allocated, the transfer is admitted there (its
  // BookkeepingBytes, and the bytes its files still need on disk) or refused
  // with the budget's status; the grant is held until the transfer is destroyed.
  static std::unique_ptr<ReceiveTransfer> Open(const ReceiveSpec& spec, uint32_t session,
                                               uint32_t transfer_id, EventSink* events, Status* status,
                                               std::shared_ptr<DirectWriter> direct = nullptr,
                                               std::shared_ptr<WorkQueue> finalizer = nullptr,
                                               ReceiveBudget* budget = nullptr);

  // Upper bound of the memory a transfer of spec allocates for its bookkeeping:
  // per-file state and paths, block bitmaps at full size (they are allocated
  // lazily, at a file's first block, but may all fill), direct-I/O chunk maps.
  static uint64_t BookkeepingBytes(const ReceiveSpec& spec);

  // Bytes the transfer's sparse partials (tmpfs, no fallocate) may still
  // allocate: their total size minus the bytes received so far (0 when every
  // partial was preallocated). The budget's disk promise of a live transfer.
  uint64_t UnbackedBytes() const;
  ~ReceiveTransfer();  // Close(false)
  ReceiveTransfer(const ReceiveTransfer&) = delete;
  ReceiveTransfer& operator=(const ReceiveTransfer&) = delete;

  uint32_t session() const { return session_; }
  uint32_t transfer_id() const { return transfer_id_; }

  // Verified BLOCK frames of this transfer (RX threads, concurrently). Bad ones
  // count drop_bad_block, known ones drop_duplicate_block, after failure or
  // close drop_transfer_failed. Runs of contiguous blocks are written with one
  // pwritev straight from the packet buffers; bits are set after the write.
  // Blocks of staging chunks (direct I/O) are copied instead; their bits are
  // set after the copy, and the full chunk is queued to the DirectWriter.
  void OnBlocks(const BlockRef* blocks, size_t n, CounterBlock& counters) {
    ReceiveBlocks(blocks, n, counters, false);
  }
  // Early blocks held before the open (early_blocks.h), in arrival order, each with its
  // BlockRef::arrival_us: handled as OnBlocks does, their path timing as
  // ReceiveFeedback::RecordReplayTiming reports it (any thread).
  void OnReplayedBlocks(const BlockRef* blocks, size_t n, CounterBlock& counters) {
    ReceiveBlocks(blocks, n, counters, true);
  }

  // Direct I/O without the staging copy (any RX thread). header: the frame's
  // decrypted, unverified BLOCK header; len: its data length. If the block is valid
  // and new and all of its bytes fall in chunks that are already staging, decrypts
  // the data straight into them, verifies, and only then sets the bit (and queues
  // chunks that became full; counters: a failed fallback write). Anything else is
  // kNotStaged with nothing decrypted (chunks in `none` are prepared by OnBlocks,
  // after verification, so a forgery never takes a pool chunk or opens a file).
  StageResult StageSealedBlock(const BlockFrameHeader& header, size_t len, SealedBlockData& data,
                               CounterBlock& counters);
  // True if some file of the transfer is written with direct I/O (set at Open): only
  // then can StageSealedBlock stage anything.
  bool has_direct_files() const { return has_direct_files_; }

  // The sender's POSITION frame; positions only move forward.
  void OnPosition(const PositionFrame& position);

  // Feedback timer: true when this transfer's FEEDBACK is due at this tick
  // (every base interval while its frames arrive, backing off to about once a
  // second while none do; feedback_backoff.h). Call before BuildFeedback.
  bool FeedbackDue(uint64_t now_us, uint64_t base_interval_us) {
    return feedback_.Due(now_us, base_interval_us);
  }

  // Writes one FEEDBACK frame (header + NACK ranges) into frame[0..cap) and
  // returns its length (0 if cap < kFeedbackFrameHeaderLen or the transfer has
  // failed or closed). now_us: monotonic µs; socket_drops and rx_queue_permille:
  // the endpoint's (FeedbackFrameHeader); rx_drained_us: every datagram queued on
  // the RX sockets before it is handled (ReceiveFeedback::Report; the default: all
  // of them). Call about every feedback interval.
  size_t BuildFeedback(uint64_t now_us, uint32_t socket_drops, uint32_t rx_queue_permille, uint8_t* frame,
                       size_t cap, uint64_t rx_drained_us = UINT64_MAX);

  // The receiver's cap on the sender's rate, sent in every later FEEDBACK
  // (bits/s of UDP payload; 0 = none). Only for transfer protocol 3 senders:
  // older ones cannot decode the longer header. Any thread.
  void SetRateCap(uint64_t bps) { feedback_.set_rate_cap_bps(bps); }
  uint64_t rate_cap_bps() const { return feedback_.rate_cap_bps(); }

  ReceiveStats Stats() const;
  // True when every file is finalized.
  bool Complete() const;

  // Number of partial files currently open (tests).
  size_t open_fd_count() const;

  // Closes every fd; with remove_partials (always, for a transfer that is not
  // resumable) also unlinks the partials of files not yet finalized. Queued
  // finalizations are dropped, running ones waited for; the destination
  // claims are released. Idempotent; later OnBlocks calls drop. Direct I/O:
  // without remove_partials, staged bytes are written (buffered) and queued
  // direct writes waited for; with it, queued ones are cancelled and running
  // ones waited for. No writer thread touches the files after Close returns.
  // remover: where the partials are unlinked (queued there, gone some time after
  // Close returns); nullptr: here.
  void Close(bool remove_partials, PartialRemover* remover = nullptr);

  // Checkpoint: snapshots the bitmaps, then makes what they cover durable
  // (fdatasync of each partial with held blocks; for files finalized since the
  // previous checkpoint, fdatasync of the final file and fsync of its
  // directory) and returns it. Blocking (run it off the JS thread). Works on an
  // open or a closed transfer (closed: partials are re-opened beneath the root;
  // a removed partial contributes nothing). One checkpoint runs at a time. A
  // failed fdatasync returns JETRECV_ERR_DISK and fails an open transfer.
  // Direct I/O: after the snapshot, staged bytes are written buffered (their
  // chunks become buffered) and the direct writes queued so far are waited
  // for, then the fdatasync runs. Once a direct write has failed, every later
  // Checkpoint returns JETRECV_ERR_DISK (its bits no longer mean "on disk").
  Status Checkpoint(ReceiveCheckpoint* out);

 private:
  void ReceiveBlocks(const BlockRef* blocks, size_t n, CounterBlock& counters, bool replayed);
  struct FileState;
  struct DirectState;
  ReceiveTransfer(uint32_t session, uint32_t transfer_id, EventSink* events);

  // Writes blocks[first..first+count) (contiguous, same file); returns errno or 0.
  int WriteRun(FileState& file, const BlockRef* blocks, size_t count);
  // WriteRun, then sets the blocks' bits (duplicates counted) and kicks write-behind;
  // adds the new ones to *new_blocks / *new_bytes. Returns errno or 0.
  int WriteRunBuffered(FileState& file, const BlockRef* blocks, size_t count, CounterBlock& counters,
                       uint64_t* new_blocks, uint64_t* new_bytes);
  // Direct-I/O file: stages or writes blocks[0..count) (new blocks of one run)
  // and sets their bits; adds what it accepted to *new_blocks / *new_bytes.
  // Caller holds file.fd_mu shared with file.fd >= 0. Returns errno or 0.
  int WriteRunDirect(uint32_t index, FileState& file, const BlockRef* blocks, size_t count,
                     CounterBlock& counters, uint64_t* new_blocks, uint64_t* new_bytes);
  // Index of the block a BLOCK frame names, or ~0 if the frame is invalid.
  uint64_t BlockIndexOf(const BlockFrameHeader& header, size_t len) const;
  // Requires file.direct->mu: bytes [off, end) of a block whose bit was just set are
  // in their staging chunks (pieces in other chunks already written): counts them
  // as filled, queues the chunks that became full, and prepares the chunk after one
  // that got its first block (PrepareChunk). Returns errno or 0.
  int AddStaged(uint32_t index, FileState& file, uint64_t off, uint64_t end, CounterBlock& counters);
  // Requires file.direct->mu: decides the state of a chunk still in `none`.
  void PrepareChunk(FileState& file, uint64_t chunk, CounterBlock& counters);
  // Requires file.direct->mu: queues staging chunk `chunk` (full) for a writer thread.
  int SubmitChunk(uint32_t index, FileState& file, uint64_t chunk);
  // Writer thread: one queued chunk write and its completion.
  void RunChunkWrite(uint32_t index, uint64_t chunk, uint8_t* buf, int fd, uint64_t seq, bool cancelled,
                     CounterBlock& counters);
  // Requires file.direct->mu: writes the present bytes of every staging chunk
  // through buffered_fd and marks them buffered. Returns errno or 0.
  int FlushStaging(FileState& file, int buffered_fd);
  // Requires file.direct->mu (in lock): waits until every direct write queued
  // up to sequence number seq has completed.
  void WaitDirect(FileState& file, std::unique_lock<std::mutex>& lock, uint64_t seq);
  // The file just became complete: true if direct writes of it are still in
  // flight, so the writer thread finishing the last one finalizes it (RX
  // threads never wait for the disk); false = the caller finalizes now.
  bool DeferFinalize(FileState& file);
  // Requires file.direct->mu: closes the O_DIRECT fd if nothing is staged or queued.
  void CloseDirectFdIfIdle(FileState& file);
  // Opens the partial for buffered writes beneath the root (same inode as at
  // Open); *fd must be closed by the caller. Returns errno or 0.
  int OpenPartialForWrite(const FileState& file, int flags, int* fd) const;
  void WriteBehind(FileState& file, uint64_t end_offset, uint64_t len);
  // Syncs (if asked), applies mode/mtime, renames into place, syncs the
  // directory (if asked), closes the fd, queues kFileDone. On error returns it.
  Status FinalizeFile(uint32_t index, FileState& file, CounterBlock& counters);
  // FinalizeFile; a failure fails the transfer.
  void FinalizeOrFail(uint32_t index, CounterBlock& counters);
  // File index just became complete (its finalizing flag taken): finalize it
  // on the finalizer queue, or here without one.
  void ScheduleFinalize(uint32_t index, CounterBlock& counters);
  // Finalizer thread: one queued finalization (skipped once Close runs).
  void RunFinalizeTask(uint32_t index, bool cancelled, CounterBlock& counters);
  // Queues the kFileDone event of file index (if there is an event sink).
  void PushFileDone(uint32_t index);
  // Marks the transfer failed; the first failure queues kTransferError.
  void Fail(uint32_t file_index, int err, const std::string& message);
  // Makes file.fd valid (re-opens the partial, closing the least recently used
  // cached fd first if at the cap); 0 or errno. Caller holds lifecycle_mu_ shared
  // and no fd_mu. A finalized file is left closed (returns 0).
  int EnsureOpen(uint32_t index, FileState& file);
  // Open-time resume of file `index` (see ReceiveSpec::resume_*).
  bool ResumeFinalizedFile(uint32_t index, FileState& file);
  // Sets the blocks of ranges in file's bitmap; returns the number set.
  uint64_t ApplyResumeRanges(FileState& file, const std::vector<ResumeRange>& ranges);

  const uint32_t session_;
  const uint32_t transfer_id_;
  EventSink* const events_;
  std::shared_ptr<DirectWriter> direct_;  // null: no direct I/O
  std::shared_ptr<WorkQueue> finalizer_;  // null: finalize inline
  std::mutex finalize_mu_;
  std::condition_variable finalize_cv_;  // a queued finalization ended
  size_t finalize_pending_ = 0;          // queued or running; guarded by finalize_mu_
  // A direct write failed or was cancelled: bits no longer imply data on disk.
  std::atomic<bool> direct_lost_{false};
  uint32_t block_size_ = 0;
  bool has_direct_files_ = false;
  bool sync_on_finalize_ = true;
  bool resumable_ = true;
  std::string partial_tag_;
  int root_fd_ = -1;
  std::vector<std::unique_ptr<FileState>> files_;
  std::vector<const BlockBitmap*> bitmaps_;  // files_[i]->bitmap, for NackBuilder
  uint64_t total_blocks_ = 0;

  // Shared by OnBlocks, exclusive for Close: fds stay valid during a write.
  mutable std::shared_mutex lifecycle_mu_;
  bool closed_ = false;  // guarded by lifecycle_mu_

  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> blocks_received_{0};
  std::atomic<uint64_t> files_done_{0};
  std::atomic<uint64_t> last_recv_us_{0};
  uint64_t blocks_resumed_ = 0;  // set at Open
  std::mutex checkpoint_mu_;     // one Checkpoint at a time

  // fd cache. Lock order: lifecycle_mu_, cache_mu_, then a FileState::fd_mu.
  mutable std::mutex cache_mu_;
  FdLru fd_lru_;  // the open partials (fd_cache.h); guarded by cache_mu_ but Touch

  ReceiveFeedback feedback_;  // POSITION, timing, rate, NACKs; activity from OnBlocks/OnPosition

  std::atomic<uint64_t> sparse_bytes_{0};  // size of the partials sized sparsely at Open
  // Last member, so it is destroyed first: the budget stops asking UnbackedBytes
  // before the rest of the transfer goes away.
  std::unique_ptr<ReceiveBudget::Grant> grant_;
};

}  // namespace jetrecv::core
