// receive_transfer.cc — see receive_transfer.h.
#include "core/receive_transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <set>
#include <unordered_map>

#include "core/dest_claims.h"
#include "core/fd_cache.h"
#include "core/iovec_util.h"
#include "core/receive_transfer_state.h"
#include "core/sandbox_fs.h"

namespace jetrecv::core {

using receive_internal::kMaxRunBlocks;
using receive_internal::PwriteAll;

namespace {

constexpr uint64_t kPageMask = ~uint64_t{4095};

uint64_t UnixMicros() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

// Every ancestor directory of rel ("a/b/c" -> "a", "a/b").
void AddAncestors(const std::string& rel, std::set<std::string>* dirs) {
  for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
    dirs->insert(rel.substr(0, slash));
  }
}

// a + b, saturating at UINT64_MAX (manifest sums from a hostile sender).
uint64_t SatAdd(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

Status InvalidSpec(const std::string& message, const std::string& path) {
  return Status::Error(EINVAL, message, kErrPathInvalid, path);
}

std::mutex g_trace_mu;
std::function<void(const char*, const std::string&)> g_finalize_trace;  // guarded by g_trace_mu

void Trace(const char* step, const std::string& path) {
  std::lock_guard lock(g_trace_mu);
  if (g_finalize_trace) g_finalize_trace(step, path);
}

}  // namespace

void SetFinalizeTraceForTesting(std::function<void(const char* step, const std::string& path)> trace) {
  std::lock_guard lock(g_trace_mu);
  g_finalize_trace = std::move(trace);
}

ReceiveTransfer::ReceiveTransfer(uint32_t session, uint32_t transfer_id, EventSink* events)
    : session_(session), transfer_id_(transfer_id), events_(events), feedback_(transfer_id) {}

ReceiveTransfer::~ReceiveTransfer() {
  Close(false);
  if (root_fd_ >= 0) close(root_fd_);  // kept after Close for Checkpoint
}

uint64_t ReceiveTransfer::BookkeepingBytes(const ReceiveSpec& spec) {
  constexpr uint64_t kPerTransfer = sizeof(ReceiveTransfer) + 4096;  // + feedback and NACK state
  // FileState, its pointers in files_/bitmaps_, heap overhead, and the final
  // and partial path strings.
  constexpr uint64_t kPerFile = sizeof(FileState) + 2 * sizeof(void*) + 64;
  uint64_t bytes = kPerTransfer;
  for (const ReceiveFileSpec& f : spec.files) {
    bytes = SatAdd(bytes,
                   kPerFile + 2 * f.path.size() + BlockBitmap::BytesFor(BlockCount(f.size, spec.block_size)));
    if (f.size >= kMinDirectFileBytes)
      bytes = SatAdd(bytes, sizeof(DirectState) + f.size / kDirectChunkBytes + 1);
  }
  return bytes;
}

uint64_t ReceiveTransfer::UnbackedBytes() const {
  const uint64_t sparse = sparse_bytes_.load(std::memory_order_relaxed);
  const uint64_t received = bytes_received_.load(std::memory_order_relaxed);
  return sparse > received ? sparse - received : 0;
}

std::unique_ptr<ReceiveTransfer> ReceiveTransfer::Open(const ReceiveSpec& spec, uint32_t session,
                                                       uint32_t transfer_id, EventSink* events,
                                                       Status* status, std::shared_ptr<DirectWriter> direct,
                                                       std::shared_ptr<WorkQueue> finalizer,
                                                       ReceiveBudget* budget) {
  *status = Status::Ok();
  if (spec.block_size == 0 || spec.block_size > kMaxBlockSize) {
    *status = Status::Error(EINVAL,
                            "block size " + std::to_string(spec.block_size) + " is out of range 1.." +
                                std::to_string(kMaxBlockSize),
                            kErrInvalidArgument);
    return nullptr;
  }
  if (!PartialTagValid(spec.partial_tag)) {
    *status = Status::Error(EINVAL, "invalid partial tag '" + spec.partial_tag + "'", kErrInvalidArgument);
    return nullptr;
  }
  if (spec.files.size() > UINT32_MAX) {
    *status = Status::Error(EINVAL, "too many files in one transfer", kErrInvalidArgument);
    return nullptr;
  }

  // Lexical checks and conflicts, before anything touches the disk.
  std::set<std::string> file_paths, dir_paths, partial_paths;
  for (const ReceiveFileSpec& f : spec.files) {
    const std::string reason = RelPathError(f.path);
    if (!reason.empty()) {
      *status = InvalidSpec("file path " + reason + ": '" + f.path + "'", f.path);
      return nullptr;
    }
    if (!file_paths.insert(f.path).second) {
      *status = InvalidSpec("file path appears twice in the transfer: " + f.path, f.path);
      return nullptr;
    }
    AddAncestors(f.path, &dir_paths);
    partial_paths.insert(PartialPathFor(f.path, spec.partial_tag));
  }
  for (const std::string& d : spec.empty_dirs) {
    const std::string reason = RelPathError(d);
    if (!reason.empty()) {
      *status = InvalidSpec("directory path " + reason + ": '" + d + "'", d);
      return nullptr;
    }
    dir_paths.insert(d);
    AddAncestors(d, &dir_paths);
  }
  for (const std::string& p : file_paths) {
    if (dir_paths.count(p) != 0) {
      *status = InvalidSpec("path is both a file and a directory in the transfer: " + p, p);
      return nullptr;
    }
    if (partial_paths.count(p) != 0) {
      *status = InvalidSpec("file path collides with another file's partial name: " + p, p);
      return nullptr;
    }
  }

  std::unique_ptr<ReceiveTransfer> t(new ReceiveTransfer(session, transfer_id, events));
  t->block_size_ = spec.block_size;
  t->sync_on_finalize_ = spec.sync_on_finalize;
  t->resumable_ = spec.resumable;
  t->partial_tag_ = spec.partial_tag;
  t->direct_ = std::move(direct);
  t->finalizer_ = std::move(finalizer);
  // Claimed before anything touches the disk: a busy path costs nothing.
  Status st =
      ClaimDestinations(spec.root, std::vector<std::string>(file_paths.begin(), file_paths.end()), t.get());
  if (!st.ok()) {
    *status = st;
    t->closed_ = true;
    return nullptr;  // the destructor releases (nothing claimed)
  }
  st = OpenRoot(spec.root, &t->root_fd_);
  if (!st.ok()) {
    *status = st;
    t->closed_ = true;
    ReleaseDestinations(t.get());
    return nullptr;
  }
  if (budget != nullptr) {
    // Admission before anything is created or allocated (resource_budget.h).
    // Disk: what each file's existing partial does not hold allocated already
    // (resume); files resumed as finalized need nothing.
    std::set<uint32_t> done(spec.resume_done.begin(), spec.resume_done.end());
    ReceiveDemand demand;
    demand.memory = BookkeepingBytes(spec);
    demand.files = spec.files.size();
    for (uint32_t i = 0; i < spec.files.size(); ++i) {
      const ReceiveFileSpec& f = spec.files[i];
      demand.blocks = SatAdd(demand.blocks, BlockCount(f.size, spec.block_size));
      if (done.count(i) != 0) continue;
      struct stat pst {};
      uint64_t held = 0;
      if (fstatat(t->root_fd_, PartialPathFor(f.path).c_str(), &pst, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISREG(pst.st_mode)) {
        held = static_cast<uint64_t>(pst.st_blocks) * 512;
      }
      demand.disk_need = SatAdd(demand.disk_need, f.size - std::min(f.size, held));
    }
    st = budget->Admit(demand, t->root_fd_, &t->grant_);
    if (!st.ok()) {
      *status = st;
      t->closed_ = true;
      return nullptr;
    }
  }
  for (const std::string& d : spec.empty_dirs) {
    st = MakeDirsBeneath(t->root_fd_, d, 0755);
    if (!st.ok()) {
      *status = st;
      t->Close(true);
      return nullptr;
    }
  }
  // Resume input, by file (ranges naming unknown files are ignored).
  std::set<uint32_t> resume_done(spec.resume_done.begin(), spec.resume_done.end());
  std::vector<std::vector<ResumeRange>> resume_ranges(spec.files.size());
  for (const ResumeRange& r : spec.resume_ranges) {
    if (r.file_index < spec.files.size() && r.block_count != 0) resume_ranges[r.file_index].push_back(r);
  }
  t->files_.reserve(spec.files.size());
  t->fd_lru_.SetFileCount(spec.files.size());
  for (uint32_t i = 0; i < spec.files.size(); ++i) {
    const ReceiveFileSpec& f = spec.files[i];
    auto file = std::make_unique<FileState>(f, spec.block_size);
    t->total_blocks_ += file->blocks;
    if (resume_done.count(i) != 0 && file->blocks != 0 && t->ResumeFinalizedFile(i, *file)) {
      t->files_.push_back(std::move(file));
      continue;
    }
    PartialOpenInfo info;
    st = OpenPartialBeneath(t->root_fd_, f.path, f.size, &file->fd, &file->partial, &info, spec.partial_tag);
    if (!st.ok()) {
      *status = st;
      t->Close(true);  // removes the partials created so far
      return nullptr;
    }
    if (info.sparse) t->sparse_bytes_.fetch_add(f.size, std::memory_order_relaxed);
    const bool trusted = info.reused && info.prior_size == f.size;
    if (trusted && !resume_ranges[i].empty()) {
      t->blocks_resumed_ += t->ApplyResumeRanges(*file, resume_ranges[i]);
    } else if (info.reused && info.prior_size != 0) {
      // A stale partial nobody vouches for: start it from zero, never trust it.
      int err = 0;
      if (ftruncate(file->fd, 0) != 0 || ftruncate(file->fd, static_cast<off_t>(f.size)) != 0) err = errno;
      if (err == 0 && f.size > 0 && fallocate(file->fd, 0, 0, static_cast<off_t>(f.size)) != 0 &&
          errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL) {
        err = errno;
      }
      if (err != 0) {
        *status = Status::Error(err, "cannot reset stale partial of " + f.path + ": " + std::strerror(err),
                                kErrIo, f.path);
        t->files_.push_back(std::move(file));
        t->Close(true);
        return nullptr;
      }
    }
    struct stat pst {};
    if (fstat(file->fd, &pst) == 0) {
      file->dev = pst.st_dev;
      file->ino = pst.st_ino;
    }
    // Direct I/O: large files, not on tmpfs (it is the page cache), where an
    // O_DIRECT open of the partial works (EINVAL: the file system has none).
    struct statfs sfs {};
    int probe = -1;
    if (t->direct_ && f.size >= kMinDirectFileBytes && fstatfs(file->fd, &sfs) == 0 &&
        sfs.f_type != TMPFS_MAGIC && t->OpenPartialForWrite(*file, O_WRONLY | O_DIRECT, &probe) == 0) {
      close(probe);
      file->direct = std::make_unique<DirectState>(f.size);
      t->has_direct_files_ = true;
      // Chunks with blocks restored from a checkpoint can never fill by staging.
      for (uint64_t b = 0; file->bitmap.CountSet() != 0 && b < file->blocks; ++b) {
        if (!file->bitmap.Test(b)) continue;
        const uint64_t first = b * spec.block_size / kDirectChunkBytes;
        const uint64_t last =
            (b * spec.block_size + BlockLength(f.size, spec.block_size, b) - 1) / kDirectChunkBytes;
        for (uint64_t c = first; c <= last; ++c) file->direct->chunks[c] = DirectState::kBuffered;
      }
    }
    {  // keep it open while the cache has room (files arrive in order), else close
      std::lock_guard cache_lock(t->cache_mu_);
      if (!t->fd_lru_.TryAdd(i)) {
        close(file->fd);
        file->fd = -1;
      }
    }
    t->files_.push_back(std::move(file));
  }
  for (const auto& f : t->files_) t->bitmaps_.push_back(&f->bitmap);
  {
    uint64_t bytes = 0;
    for (const auto& f : t->files_) {
      if (f->bitmap.CountSet() == 0) continue;
      for (uint64_t b = 0; b < f->blocks; ++b) {
        if (f->bitmap.Test(b)) bytes += BlockLength(f->size, t->block_size_, b);
      }
    }
    t->blocks_received_.store(t->blocks_resumed_, std::memory_order_relaxed);
    t->bytes_received_.store(bytes, std::memory_order_relaxed);
  }

  // Empty files are complete already. (Open has no counter block of its own,
  // so files_completed does not count them.)
  // Resumed files whose every block is held were written but not renamed
  // before the crash: finalize them now as well.
  if (t->grant_) {  // the disk promise now follows the data actually received
    const ReceiveTransfer* self = t.get();
    t->grant_->TrackUnbacked([self] { return self->UnbackedBytes(); });
  }
  CounterBlock unused;
  for (uint32_t i = 0; i < t->files_.size(); ++i) {
    FileState& f = *t->files_[i];
    if (f.finalized.load() || !f.bitmap.Complete()) continue;
    f.finalizing.store(true);
    st = t->FinalizeFile(i, f, unused);
    if (!st.ok()) {
      *status = st;
      t->Close(true);
      return nullptr;
    }
  }
  return t;
}

int ReceiveTransfer::EnsureOpen(uint32_t index, FileState& file) {
  std::lock_guard cache_lock(cache_mu_);
  {
    std::shared_lock fd_lock(file.fd_mu);
    if (file.fd >= 0 || file.finalized.load(std::memory_order_acquire)) return 0;
  }
  fd_lru_.Add(index, [this](uint32_t victim) {
    FileState& f = *files_[victim];
    std::unique_lock fd_lock(f.fd_mu);  // waits for writes in progress on it
    if (f.fd >= 0) {
      close(f.fd);  // no fdatasync: Checkpoint re-opens and syncs closed partials
      f.fd = -1;
    }
  });
  // Beneath the root, never through a symlink; O_NONBLOCK so a FIFO swapped in
  // cannot block the RX thread (it is refused below).
  int fd = -1;
  Status st = OpenFileBeneath(root_fd_, file.partial, O_RDWR | O_NONBLOCK, &fd);
  if (!st.ok()) {
    fd_lru_.Remove(index);
    return st.err != 0 ? st.err : EIO;
  }
  struct stat pst {};
  if (fstat(fd, &pst) != 0 || !S_ISREG(pst.st_mode) || pst.st_dev != file.dev || pst.st_ino != file.ino) {
    close(fd);
    fd_lru_.Remove(index);
    return EIO;  // the partial was replaced: never write into another file
  }
  std::unique_lock fd_lock(file.fd_mu);
  if (file.fd >= 0 || file.finalized.load(std::memory_order_acquire)) {
    close(fd);
    fd_lru_.Remove(index);
    return 0;
  }
  file.fd = fd;
  return 0;
}

size_t ReceiveTransfer::open_fd_count() const {
  std::lock_guard cache_lock(cache_mu_);
  return fd_lru_.size();
}

bool ReceiveTransfer::ResumeFinalizedFile(uint32_t index, FileState& file) {
  int fd = -1;
  if (!OpenFileBeneath(root_fd_, file.path, O_RDONLY, &fd).ok()) return false;
  struct stat st {};
  const bool ok =
      fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == file.size &&
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000 == file.mtime_ms;
  close(fd);
  if (!ok) return false;
  for (uint64_t b = 0; b < file.blocks; ++b) file.bitmap.TrySet(b);
  file.partial = PartialPathFor(file.path, partial_tag_);
  file.finalizing.store(true);
  file.finalized.store(true);
  file.done_synced = true;  // synced by the checkpoint that reported it done
  blocks_resumed_ += file.blocks;
  files_done_.fetch_add(1, std::memory_order_acq_rel);
  PushFileDone(index);
  return true;
}

uint64_t ReceiveTransfer::ApplyResumeRanges(FileState& file, const std::vector<ResumeRange>& ranges) {
  uint64_t set = 0;
  for (const ResumeRange& r : ranges) {
    if (r.first_block >= file.blocks) continue;
    const uint64_t end = r.first_block + std::min(r.block_count, file.blocks - r.first_block);
    for (uint64_t b = r.first_block; b < end; ++b) set += file.bitmap.TrySet(b) ? 1 : 0;
  }
  return set;
}

void ReceiveTransfer::ReceiveBlocks(const BlockRef* blocks, size_t n, CounterBlock& counters, bool replayed) {
  feedback_.NoteActivity();
  std::shared_lock lifecycle(lifecycle_mu_);
  if (closed_ || failed_.load(std::memory_order_acquire)) {
    counters.Add(CounterId::kdrop_transfer_failed, n);
    return;
  }
  auto block_index = [this](const BlockRef& b) { return BlockIndexOf(*b.header, b.len); };
  // A run that added blocks to file index: finalize it if it is now complete.
  auto finalize_if_complete = [&](uint32_t index, FileState& file) {
    if (file.bitmap.Complete() && !file.finalizing.exchange(true) && !DeferFinalize(file)) {
      ScheduleFinalize(index, counters);
    }
  };

  if (replayed)
    feedback_.RecordReplayTiming(blocks, n);
  else
    feedback_.RecordTiming(blocks, n);
  uint64_t accepted_blocks = 0, accepted_bytes = 0;
  size_t i = 0;
  while (i < n) {
    if (blocks[i].staged) {  // StageSealedBlock stored it and set its bit
      const uint32_t file_index = blocks[i].header->file_index;
      ++accepted_blocks;
      accepted_bytes += blocks[i].len;
      finalize_if_complete(file_index, *files_[file_index]);
      ++i;
      continue;
    }
    const uint64_t block = block_index(blocks[i]);
    if (block == ~0ull) {
      counters.Add(CounterId::kdrop_bad_block);
      ++i;
      continue;
    }
    const uint32_t file_index = blocks[i].header->file_index;
    FileState& file = *files_[file_index];
    if (file.bitmap.Test(block)) {
      counters.Add(CounterId::kdrop_duplicate_block);
      ++i;
      continue;
    }
    // Extend a run of contiguous, valid, new blocks of the same file.
    size_t count = 1;
    while (i + count < n && count < kMaxRunBlocks) {
      const BlockRef& next = blocks[i + count];
      if (next.staged || next.header->file_index != file_index) break;
      const uint64_t next_block = block_index(next);
      if (next_block != block + count || file.bitmap.Test(next_block)) break;
      ++count;
    }

    bool added = false;
    {
      std::shared_lock fd_lock(file.fd_mu);
      if (file.fd < 0) {
        if (file.finalized.load(std::memory_order_acquire)) {
          counters.Add(CounterId::kdrop_duplicate_block, count);  // all duplicates
          i += count;
          continue;
        }
        fd_lock.unlock();  // not cached: re-open the partial, then retry this run
        const int err = EnsureOpen(file_index, file);
        if (err != 0) {
          counters.Add(CounterId::kwrite_errors);
          counters.Add(CounterId::kdrop_transfer_failed, n - i);
          Fail(file_index, err, "cannot reopen partial file of " + file.path + ": " + std::strerror(err));
          break;
        }
        continue;
      }
      fd_lru_.Touch(file_index);
      uint64_t run_bytes = 0, run_new = 0;
      const int err =
          file.direct != nullptr
              ? WriteRunDirect(file_index, file, blocks + i, count, counters, &run_new, &run_bytes)
              : WriteRunBuffered(file, blocks + i, count, counters, &run_new, &run_bytes);
      accepted_blocks += run_new;
      accepted_bytes += run_bytes;
      if (err != 0) {
        fd_lock.unlock();
        counters.Add(CounterId::kwrite_errors);
        counters.Add(CounterId::kdrop_transfer_failed, n - i);
        Fail(file_index, err, "cannot write " + file.path + ": " + std::strerror(err));
        break;
      }
      added = run_new != 0;
    }
    if (added) finalize_if_complete(file_index, file);
    i += count;
  }
  if (accepted_blocks != 0) {
    counters.Add(CounterId::kblocks_written, accepted_blocks);
    counters.Add(CounterId::kbytes_written, accepted_bytes);
    blocks_received_.fetch_add(accepted_blocks, std::memory_order_relaxed);
    bytes_received_.fetch_add(accepted_bytes, std::memory_order_relaxed);
    last_recv_us_.store(UnixMicros(), std::memory_order_relaxed);
  }
}

uint64_t ReceiveTransfer::BlockIndexOf(const BlockFrameHeader& h, size_t len) const {
  if (h.transfer_id != transfer_id_ || h.file_index >= files_.size()) return ~0ull;
  if (h.offset % block_size_ != 0) return ~0ull;
  const FileState& f = *files_[h.file_index];
  const uint64_t block = h.offset / block_size_;
  if (block >= f.blocks || len != BlockLength(f.size, block_size_, block)) return ~0ull;
  return block;
}

int ReceiveTransfer::WriteRunBuffered(FileState& file, const BlockRef* blocks, size_t count,
                                      CounterBlock& counters, uint64_t* new_blocks, uint64_t* new_bytes) {
  const int err = WriteRun(file, blocks, count);
  if (err != 0) return err;
  uint64_t run_bytes = 0;
  for (size_t k = 0; k < count; ++k) {
    if (file.bitmap.TrySet(blocks[k].header->offset / block_size_)) {
      ++*new_blocks;
      run_bytes += blocks[k].len;
    } else {
      counters.Add(CounterId::kdrop_duplicate_block);  // another thread won the race
    }
  }
  *new_bytes += run_bytes;
  WriteBehind(file, blocks[count - 1].header->offset + blocks[count - 1].len, run_bytes);
  return 0;
}

int ReceiveTransfer::WriteRun(FileState& file, const BlockRef* blocks, size_t count) {
  iovec iov[kMaxRunBlocks];
  for (size_t k = 0; k < count; ++k) {
    iov[k].iov_base = const_cast<uint8_t*>(blocks[k].data);
    iov[k].iov_len = blocks[k].len;
  }
  off_t offset = static_cast<off_t>(blocks[0].header->offset);
  iovec* cur = iov;
  int left = static_cast<int>(count);
  while (left > 0) {
    const ssize_t w = pwritev(file.fd, cur, left, offset);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    offset += w;
    // Advance past what was written (a short write happens e.g. at ENOSPC).
    AdvanceIovecs(&cur, &left, static_cast<size_t>(w));
  }
  return 0;
}

void ReceiveTransfer::WriteBehind(FileState& file, uint64_t end_offset, uint64_t len) {
  uint64_t hw = file.high_water.load(std::memory_order_relaxed);
  while (end_offset > hw &&
         !file.high_water.compare_exchange_weak(hw, end_offset, std::memory_order_relaxed)) {
  }
  if (file.unflushed_bytes.fetch_add(len, std::memory_order_relaxed) + len < kWriteBehindChunk) {
    return;
  }
  std::unique_lock lock(file.wb_mu, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is doing it
  file.unflushed_bytes.store(0, std::memory_order_relaxed);
  const uint64_t target = file.high_water.load(std::memory_order_relaxed) & kPageMask;
  if (target <= file.flushed_end) return;
  // Start writeback of the new range (does not wait), and drop the range whose
  // writeback started one round ago (pages still under writeback are kept).
  // Best effort: errors here resurface on pwritev or fdatasync.
  sync_file_range(file.fd, static_cast<off_t>(file.flushed_end),
                  static_cast<off_t>(target - file.flushed_end), SYNC_FILE_RANGE_WRITE);
  if (file.flushed_end > file.dropped_end) {
    posix_fadvise(file.fd, static_cast<off_t>(file.dropped_end),
                  static_cast<off_t>(file.flushed_end - file.dropped_end), POSIX_FADV_DONTNEED);
  }
  file.dropped_end = file.flushed_end;
  file.flushed_end = target;
}

int ReceiveTransfer::OpenPartialForWrite(const FileState& file, int flags, int* fd) const {
  *fd = -1;
  int f = -1;
  Status st = OpenFileBeneath(root_fd_, file.partial, flags | O_NONBLOCK, &f);
  if (!st.ok()) return st.err != 0 ? st.err : EIO;
  struct stat pst {};
  if (fstat(f, &pst) != 0 || !S_ISREG(pst.st_mode) || pst.st_dev != file.dev || pst.st_ino != file.ino) {
    close(f);
    return EIO;  // the partial was replaced: never write into another file
  }
  *fd = f;
  return 0;
}

void ReceiveTransfer::PushFileDone(uint32_t index) {
  if (events_ == nullptr) return;
  Event e;
  e.type = EventType::kFileDone;
  e.session = session_;
  e.transfer = transfer_id_;
  e.file = index;
  events_->Push(std::move(e));
}

Status ReceiveTransfer::FinalizeFile(uint32_t index, FileState& file, CounterBlock& counters) {
  std::unique_lock fd_lock(file.fd_mu);
  if (file.finalized.load(std::memory_order_acquire)) return Status::Ok();
  if (file.fd < 0) {  // not cached: a temporary fd, beneath the root, same inode
    int fd = -1;
    Status st = OpenFileBeneath(root_fd_, file.partial, O_RDWR | O_NONBLOCK, &fd);
    if (!st.ok()) return st;
    struct stat pst {};
    if (fstat(fd, &pst) != 0 || pst.st_dev != file.dev || pst.st_ino != file.ino) {
      close(fd);
      return Status::Error(EIO, "cannot finalize " + file.path + ": its partial file was replaced", kErrDisk,
                           file.path);
    }
    file.fd = fd;  // closed below or by Close()
  }
  if (file.direct != nullptr) {  // every byte in the file before the rename
    std::unique_lock lock(file.direct->mu);
    const int err = FlushStaging(file, file.fd);  // nothing staged normally: full chunks were queued
    WaitDirect(file, lock, UINT64_MAX);
    CloseDirectFdIfIdle(file);
    if (err != 0) {
      return Status::Error(err, "cannot write " + file.path + ": " + std::strerror(err), kErrDisk, file.path);
    }
    if (direct_lost_.load(std::memory_order_acquire)) {
      return Status::Error(EIO, "cannot finalize " + file.path + ": a direct write of the transfer failed",
                           kErrDisk, file.path);
    }
  }
  // Durable before it has its final name: data, then the rename, then the directory entry.
  if (sync_on_finalize_) {
    if (fdatasync(file.fd) != 0) {
      const int err = errno;
      return Status::Error(err, "cannot sync " + file.path + ": " + std::strerror(err), kErrDisk, file.path);
    }
    Trace("sync", file.path);
  }
  Status st = FinalizeBeneath(root_fd_, file.fd, file.partial, file.path, file.mode, file.mtime_ms);
  if (!st.ok()) return st;
  Trace("rename", file.path);
  close(file.fd);
  file.fd = -1;
  file.finalized.store(true, std::memory_order_release);
  fd_lock.unlock();
  {
    std::lock_guard cache_lock(cache_mu_);
    fd_lru_.Remove(index);
  }
  if (sync_on_finalize_) {
    const size_t slash = file.path.rfind('/');
    st = SyncDirBeneath(root_fd_, slash == std::string::npos ? std::string() : file.path.substr(0, slash));
    if (!st.ok()) return Status::Error(st.err, st.message, kErrDisk, file.path);
    Trace("syncdir", file.path);
    counters.Add(CounterId::kfiles_synced_on_finalize);
  }
  files_done_.fetch_add(1, std::memory_order_acq_rel);
  counters.Add(CounterId::kfiles_completed);
  PushFileDone(index);
  return Status::Ok();
}

void ReceiveTransfer::FinalizeOrFail(uint32_t index, CounterBlock& counters) {
  Status st = FinalizeFile(index, *files_[index], counters);
  if (!st.ok()) {
    counters.Add(CounterId::kwrite_errors);
    Fail(index, st.err, st.message);
  }
}

void ReceiveTransfer::ScheduleFinalize(uint32_t index, CounterBlock& counters) {
  if (finalizer_ != nullptr) {
    {
      std::lock_guard lock(finalize_mu_);
      ++finalize_pending_;
    }
    if (finalizer_->Submit(
            this, [this, index](bool cancelled, CounterBlock& c) { RunFinalizeTask(index, cancelled, c); })) {
      return;
    }
    std::lock_guard lock(finalize_mu_);  // stopped (endpoint closing): finalize here
    --finalize_pending_;
  }
  FinalizeOrFail(index, counters);
}

void ReceiveTransfer::RunFinalizeTask(uint32_t index, bool cancelled, CounterBlock& counters) {
  if (!cancelled) {
    // Not had: Close is running; the file stays a partial (kept if resumable, all
    // its blocks set, so a resume finalizes it at Open).
    std::shared_lock<std::shared_mutex> lifecycle(lifecycle_mu_, std::try_to_lock);
    if (lifecycle.owns_lock() && !closed_ && !failed_.load(std::memory_order_acquire)) {
      FinalizeOrFail(index, counters);
    }
  }
  std::lock_guard lock(finalize_mu_);
  --finalize_pending_;
  finalize_cv_.notify_all();  // under the lock: the last touch of the transfer
}

void ReceiveTransfer::Fail(uint32_t file_index, int err, const std::string& message) {
  if (failed_.exchange(true, std::memory_order_acq_rel)) return;  // first error wins
  if (events_ == nullptr) return;
  Event e;
  e.type = EventType::kTransferError;
  e.session = session_;
  e.transfer = transfer_id_;
  e.file = file_index;
  e.err = err;
  e.code = kErrDisk;
  e.message = message;
  events_->Push(std::move(e));
}

void ReceiveTransfer::OnPosition(const PositionFrame& position) {
  if (position.transfer_id != transfer_id_) return;
  feedback_.NoteActivity();
  feedback_.OnPosition(position);
}

size_t ReceiveTransfer::BuildFeedback(uint64_t now_us, uint32_t socket_drops, uint32_t rx_queue_permille,
                                      uint8_t* frame, size_t cap, uint64_t rx_drained_us) {
  if (failed_.load(std::memory_order_acquire)) return 0;
  {
    std::shared_lock lifecycle(lifecycle_mu_);
    if (closed_) return 0;
  }
  ReceiveFeedback::Report report;
  report.bytes_received = bytes_received_.load(std::memory_order_relaxed);
  report.blocks_received = blocks_received_.load(std::memory_order_relaxed);
  report.complete = Complete();
  report.socket_drops = socket_drops;
  report.rx_queue_permille = rx_queue_permille;
  report.rx_drained_us = rx_drained_us;
  return feedback_.Build(now_us, report, bitmaps_, block_size_, frame, cap);
}

ReceiveStats ReceiveTransfer::Stats() const {
  ReceiveStats s;
  s.bytes_received = bytes_received_.load(std::memory_order_relaxed);
  s.blocks_received = blocks_received_.load(std::memory_order_relaxed);
  s.total_blocks = total_blocks_;
  s.files_done = files_done_.load(std::memory_order_acquire);
  s.last_recv_us = last_recv_us_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_acquire);
  s.blocks_resumed = blocks_resumed_;
  s.recv_rate_bps = feedback_.recv_rate_Bps() * 8;
  return s;
}

bool ReceiveTransfer::Complete() const {
  return files_done_.load(std::memory_order_acquire) == files_.size();
}

void ReceiveTransfer::Close(bool remove_partials, PartialRemover* remover) {
  std::unique_lock lifecycle(lifecycle_mu_);
  if (closed_) return;
  closed_ = true;
  remove_partials = remove_partials || !resumable_;  // nothing may resume it: keep nothing
  if (finalizer_ != nullptr) {
    // Running finalizations held lifecycle_mu_ shared (done now) or skip; queued ones are dropped.
    finalizer_->Cancel(this);
    std::unique_lock lock(finalize_mu_);
    finalize_cv_.wait(lock, [this] { return finalize_pending_ == 0; });
  }
  // The partials are about to go: queued direct writes are dropped unrun.
  if (direct_ && remove_partials) direct_->Cancel(this);
  std::lock_guard cache_lock(cache_mu_);
  fd_lru_.Clear();
  std::vector<std::string> doomed;  // partials to unlink
  for (auto& f : files_) {
    std::unique_lock fd_lock(f->fd_mu);
    if (f->direct != nullptr) {
      DirectState& d = *f->direct;
      std::unique_lock lock(d.mu);
      if (!d.staging.empty()) {
        // Keeping the partial: write what is staged (a later Checkpoint reports it).
        int err = EIO;
        if (!remove_partials && !f->finalized.load()) {
          int tmp = -1;
          if (f->fd >= 0 || OpenPartialForWrite(*f, O_WRONLY, &tmp) == 0) {
            err = FlushStaging(*f, f->fd >= 0 ? f->fd : tmp);
          }
          if (tmp >= 0) close(tmp);
        }
        if (err != 0) direct_lost_.store(true, std::memory_order_release);  // bits without bytes
        for (auto& [chunk, st] : d.staging) direct_->ReleaseChunk(st.buf);
        d.staging.clear();
      }
      WaitDirect(*f, lock, UINT64_MAX);  // running (or, keeping partials, queued) writes
      CloseDirectFdIfIdle(*f);
    }
    if (f->fd >= 0) {
      close(f->fd);
      f->fd = -1;
    }
    if (remove_partials && !f->finalized.load() && root_fd_ >= 0 && !f->partial.empty()) {
      doomed.push_back(f->partial);
    }
  }
  // Best effort: a partial may already be gone. Its name is this transfer's own, so a
  // later transfer to the same path never meets it (the claims can go now).
  if (remover != nullptr) {
    remover->Remove(root_fd_, std::move(doomed));
  } else {
    for (const std::string& p : doomed) UnlinkBeneath(root_fd_, p);
  }
  ReleaseDestinations(this);
  // root_fd_ stays open until the destructor: a Checkpoint after Close re-opens
  // the partials beneath it.
}

Status ReceiveTransfer::Checkpoint(ReceiveCheckpoint* out) {
  *out = ReceiveCheckpoint{};
  std::lock_guard cp_lock(checkpoint_mu_);
  std::shared_lock lifecycle(lifecycle_mu_);  // Close waits for us; fds stay valid
  if (root_fd_ < 0) return Status::Error(EBADF, "transfer has no sandbox root", kErrIo);
  auto direct_lost = [] {
    return Status::Error(
        EIO, "a direct write of this transfer failed: its received ranges are not checkpointed", kErrDisk);
  };
  if (direct_lost_.load(std::memory_order_acquire)) return direct_lost();
  auto disk_error = [&](uint32_t index, int err, const std::string& what, const std::string& path) {
    const std::string message = "cannot " + what + " " + path + ": " + std::strerror(err);
    if (!closed_) Fail(index, err, message);
    return Status::Error(err, message, kErrDisk, path);
  };
  std::set<std::string> dirs_to_sync;
  std::vector<std::pair<uint64_t, uint64_t>> missing;
  for (uint32_t i = 0; i < files_.size(); ++i) {
    FileState& f = *files_[i];
    if (f.blocks == 0) continue;  // nothing to hold; Open finalizes empty files at once
    bool done = f.finalized.load(std::memory_order_acquire);
    std::vector<ResumeRange> held;
    uint64_t held_blocks = 0;
    if (!done) {
      // Snapshot first: a bit is set only after its pwritev returned, so the
      // sync below covers every block of the snapshot.
      missing.clear();
      f.bitmap.MissingRanges(f.blocks, &missing, SIZE_MAX);
      uint64_t next = 0;
      for (const auto& [first, count] : missing) {
        if (first > next) held.push_back({i, next, first - next});
        next = first + count;
      }
      if (next < f.blocks) held.push_back({i, next, f.blocks - next});
      for (const ResumeRange& r : held) held_blocks += r.block_count;
      if (held.empty()) continue;
      if (f.direct != nullptr) {
        // Staged bytes go to the file (buffered), then the direct writes queued
        // so far complete: the snapshot's bits all name bytes in the file.
        DirectState& d = *f.direct;
        uint64_t target = 0;
        int err = 0;
        {
          std::shared_lock fd_lock(f.fd_mu);
          std::lock_guard lock(d.mu);
          if (!d.staging.empty()) {
            int tmp = -1;
            if (f.fd >= 0 || (err = OpenPartialForWrite(f, O_WRONLY, &tmp)) == 0) {
              err = FlushStaging(f, f.fd >= 0 ? f.fd : tmp);
            }
            if (tmp >= 0) close(tmp);
          }
          target = d.next_seq;
        }
        std::unique_lock lock(d.mu);
        WaitDirect(f, lock, target);
        CloseDirectFdIfIdle(f);
        lock.unlock();
        if (err != 0) return disk_error(i, err, "write", f.path);
      }
      bool synced = false;
      {
        std::shared_lock fd_lock(f.fd_mu);
        if (f.fd >= 0) {
          if (fdatasync(f.fd) != 0) return disk_error(i, errno, "sync", f.path);
          synced = true;
        }
      }
      if (!synced) {
        if (f.finalized.load(std::memory_order_acquire)) {
          done = true;  // finalized meanwhile: report it done below
        } else {
          int fd = -1;
          Status st = OpenFileBeneath(root_fd_, f.partial, O_RDONLY, &fd);
          if (!st.ok()) continue;  // removed (Close with remove_partials): nothing held
          const int rc = fdatasync(fd);
          const int err = errno;
          close(fd);
          if (rc != 0) return disk_error(i, err, "sync", f.path);
        }
      }
    }
    if (done) {
      if (!f.done_synced) {
        int fd = -1;
        if (OpenFileBeneath(root_fd_, f.path, O_RDONLY, &fd).ok()) {
          const int rc = fdatasync(fd);
          const int err = errno;
          close(fd);
          if (rc != 0) return disk_error(i, err, "sync", f.path);
        }
        const size_t slash = f.path.rfind('/');
        dirs_to_sync.insert(slash == std::string::npos ? std::string() : f.path.substr(0, slash));
        f.done_synced = true;
      }
      out->done_files.push_back(i);
      out->blocks_held += f.blocks;
      out->bytes_held += f.size;
      continue;
    }
    for (const ResumeRange& r : held) {
      out->ranges.push_back(r);
      out->bytes_held += r.block_count * block_size_;
      if (r.first_block + r.block_count == f.blocks) {  // the last block may be short
        out->bytes_held -= block_size_ - BlockLength(f.size, block_size_, f.blocks - 1);
      }
    }
    out->blocks_held += held_blocks;
  }
  // The renames of newly finalized files (best effort: a directory removed
  // since then has nothing left to make durable).
  for (const std::string& dir : dirs_to_sync) SyncDirBeneath(root_fd_, dir);
  if (direct_lost_.load(std::memory_order_acquire)) return direct_lost();
  return Status::Ok();
}

}  // namespace jetrecv::core
