// send_transfer.cc — see send_transfer.h.
#include "core/send_transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/block_bitmap.h"
#include "core/fd_cache.h"

namespace jetrecv::core {

SendTransfer::SendTransfer(std::shared_ptr<Session> session, uint32_t transfer_id, uint32_t block_size,
                           const RateConfig& rate, uint64_t now_ns)
    : session_(std::move(session)),
      transfer_id_(transfer_id),
      block_size_(block_size),
      rate_(rate),
      pacer_(rate_.rate_bps(), 64 * 1024, now_ns) {}

SendTransfer::~SendTransfer() {
  for (FdCache& c : caches_) {
    for (int fd : c.fd) {
      if (fd >= 0) close(fd);
    }
  }  // each cache's lru gives its budget slots back
}

Status SendTransfer::AcquireFd(uint32_t file, int* fd, size_t cache) {
  const SourceFile& f = files_[file];
  FdCache& c = caches_[cache];
  if (c.fd.empty()) {
    c.fd.assign(files_.size(), -1);
    c.lru.SetFileCount(files_.size());
  }
  c.lru.Touch(file);
  if (c.fd[file] >= 0) {
    *fd = c.fd[file];
    return Status::Ok();
  }
  *fd = -1;
  c.lru.Add(file, [&c](uint32_t victim) {
    close(c.fd[victim]);
    c.fd[victim] = -1;
  });
  const int nfd = open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nfd < 0) {
    const int err = errno;
    c.lru.Remove(file);
    return Status::Error(err, "cannot open " + f.path + ": " + std::strerror(err), kErrIo, f.path);
  }
  struct stat st {};
  if (fstat(nfd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != f.size) {
    const int err = errno;
    const bool stat_failed = st.st_mode == 0;
    close(nfd);
    c.lru.Remove(file);
    if (stat_failed) {
      return Status::Error(err, "cannot stat " + f.path + ": " + std::strerror(err), kErrIo, f.path);
    }
    if (!S_ISREG(st.st_mode)) {
      return Status::Error(EINVAL, "not a regular file: " + f.path, kErrIo, f.path);
    }
    return Status::Error(EINVAL,
                         "size of " + f.path + " changed: expected " + std::to_string(f.size) +
                             " bytes, found " + std::to_string(st.st_size),
                         kErrIo, f.path);
  }
  posix_fadvise(nfd, 0, 0, POSIX_FADV_SEQUENTIAL);
  c.fd[file] = nfd;
  *fd = nfd;
  return Status::Ok();
}

std::unique_ptr<SendTransfer> SendTransfer::Open(std::shared_ptr<Session> session, uint32_t transfer_id,
                                                 const SendSpec& spec, uint64_t now_ns, Status* status) {
  *status = Status::Ok();
  RateConfig rate;
  rate.max_bps = spec.rate_max_bps;
  rate.start_bps = spec.rate_start_bps;
  if (spec.rate_min_bps != 0) rate.min_bps = spec.rate_min_bps;
  rate.policy = spec.rate_policy;
  rate.seed = transfer_id;
  std::unique_ptr<SendTransfer> t(
      new SendTransfer(std::move(session), transfer_id, spec.block_size, rate, now_ns));
  t->files_.reserve(spec.files.size());
  for (const SendFileSpec& f : spec.files) {
    SourceFile src;
    src.path = f.path;
    src.size = f.size;
    src.blocks = BlockCount(f.size, spec.block_size);
    struct stat st {};
    if (stat(f.path.c_str(), &st) != 0) {
      const int err = errno;
      *status = Status::Error(err, "cannot open " + f.path + ": " + std::strerror(err), kErrIo, f.path);
      return nullptr;
    }
    if (!S_ISREG(st.st_mode)) {
      *status = Status::Error(EINVAL, "not a regular file: " + f.path, kErrIo, f.path);
      return nullptr;
    }
    if (static_cast<uint64_t>(st.st_size) != f.size) {
      *status = Status::Error(EINVAL,
                              "size of " + f.path + " changed: expected " + std::to_string(f.size) +
                                  " bytes, found " + std::to_string(st.st_size),
                              kErrIo, f.path);
      return nullptr;
    }
    if (access(f.path.c_str(), R_OK) != 0) {  // unreadable: fail now, not mid-transfer
      const int err = errno;
      *status = Status::Error(err, "cannot open " + f.path + ": " + std::strerror(err), kErrIo, f.path);
      return nullptr;
    }
    t->files_.push_back(src);  // not opened until first use (AcquireFd)
    t->total_blocks_ += src.blocks;
  }
  t->stats_.total_blocks = t->total_blocks_;
  std::lock_guard lock(t->mu_);
  t->MergeHeldLocked(spec.have);
  if (spec.early_bytes > 0) {
    // Before the accept only the first train goes out (InitialTrainBytes of the start rate).
    t->awaiting_accept_ = true;
    t->early_budget_ = std::min(spec.early_bytes, InitialTrainBytes(t->rate_.rate_bps()));
  }
  t->AdvanceCursorPastEmptyFiles();
  return t;
}

void SendTransfer::MergeHeldLocked(const std::vector<HeldRange>& have) {
  for (const HeldRange& h : have) {
    if (h.file_index >= files_.size() || h.block_count == 0) continue;
    const uint64_t blocks = files_[h.file_index].blocks;
    if (h.first_block >= blocks) continue;
    uint64_t first = h.first_block;
    uint64_t end = first + std::min(h.block_count, blocks - first);
    auto it = held_.lower_bound(RangeKey{h.file_index, first});
    if (it != held_.begin()) {
      auto prev = std::prev(it);
      if (prev->first.first == h.file_index && prev->second >= first) {
        first = prev->first.second;
        end = std::max(end, prev->second);
        it = held_.erase(prev);
      }
    }
    while (it != held_.end() && it->first.first == h.file_index && it->first.second <= end) {
      end = std::max(end, it->second);
      it = held_.erase(it);
    }
    held_.emplace(RangeKey{h.file_index, first}, end);
  }
  stats_.blocks_resumed = 0;
  for (const auto& [key, end] : held_) stats_.blocks_resumed += end - key.second;
}

void SendTransfer::Accept(const std::vector<HeldRange>& have) {
  std::lock_guard lock(mu_);
  if (!awaiting_accept_) return;
  awaiting_accept_ = false;
  early_budget_ = 0;
  // Blocks of `have` the train already sent were duplicates: only the rest is skipped.
  MergeHeldLocked(have);
  AdvanceCursorPastEmptyFiles();
}

bool SendTransfer::awaiting_accept() const {
  std::lock_guard lock(mu_);
  return awaiting_accept_;
}

void SendTransfer::AdvanceCursorPastEmptyFiles() {
  for (;;) {
    while (cursor_file_ < files_.size() && cursor_block_ >= files_[cursor_file_].blocks) {
      ++cursor_file_;
      cursor_block_ = 0;
    }
    if (cursor_file_ >= files_.size() || held_.empty()) break;
    const uint64_t held_end = HeldEnd(cursor_file_, cursor_block_);  // resume: skip held blocks
    if (held_end == cursor_block_) break;
    cursor_block_ = held_end;
  }
  cursor_done_ = cursor_file_ >= files_.size();
  UpdateFirstPassDone();
}

void SendTransfer::UpdateFirstPassDone() {
  if (first_pass_done_ || !cursor_done_ || !unsent_.empty()) return;
  for (const BlockBatch& c : claims_) {
    if (!c.retransmit) return;
  }
  first_pass_done_ = true;
  stats_.first_pass_done = true;
}

uint64_t SendTransfer::HeldEnd(uint32_t file, uint64_t block) const {
  auto it = held_.upper_bound(RangeKey{file, block});
  if (it == held_.begin()) return block;
  --it;
  return it->first.first == file && it->second > block ? it->second : block;
}

uint64_t SendTransfer::NextHeldStart(uint32_t file, uint64_t block) const {
  auto it = held_.lower_bound(RangeKey{file, block});
  return it != held_.end() && it->first.first == file ? it->first.second : UINT64_MAX;
}

bool SendTransfer::Sent(uint32_t file, uint64_t block) const {
  if (cursor_done_ || file < cursor_file_) return true;
  return file == cursor_file_ && block < cursor_block_;
}

void SendTransfer::AddRange(RangeMap& m, uint32_t file, uint64_t first, uint64_t end) {
  auto it = m.lower_bound(RangeKey{file, first});
  if (it != m.begin()) {
    auto prev = std::prev(it);
    if (prev->first.first == file && prev->second >= first) {
      first = prev->first.second;
      end = std::max(end, prev->second);
      it = m.erase(prev);
    }
  }
  while (it != m.end() && it->first.first == file && it->first.second <= end) {
    end = std::max(end, it->second);
    it = m.erase(it);
  }
  m.emplace(RangeKey{file, first}, end);
}

void SendTransfer::RemoveRange(RangeMap& m, uint32_t file, uint64_t first, uint64_t end) {
  auto it = m.lower_bound(RangeKey{file, first});
  if (it != m.begin()) {
    auto prev = std::prev(it);
    if (prev->first.first == file && prev->second > first) it = prev;
  }
  while (it != m.end() && it->first.first == file && it->first.second < end) {
    const uint64_t s = it->first.second;
    const uint64_t e = it->second;
    it = m.erase(it);
    if (s < first) m.emplace(RangeKey{file, s}, first);
    if (e > end) {
      m.emplace(RangeKey{file, end}, e);
      break;
    }
  }
}

void SendTransfer::DropNotYetSent(uint32_t file, uint64_t first, uint64_t end) {
  for (const BlockBatch& c : claims_) {
    if (c.file == file) RemoveRange(pending_, file, c.first_block, c.first_block + c.count);
  }
  auto it = unsent_.lower_bound(RangeKey{file, first});
  if (it != unsent_.begin() && std::prev(it)->first.first == file) --it;
  for (; it != unsent_.end() && it->first.first == file && it->first.second < end; ++it) {
    RemoveRange(pending_, file, it->first.second, it->second);
  }
}

uint64_t SendTransfer::TailCopyBudget() const {
  // The repairs that follow the first pass are about the losses of its last RTT:
  // loss (retransmitted / sent so far) x the blocks in flight in one RTT (btl x srtt).
  const double segment = static_cast<double>(block_size_ + kBlockPacketOverhead);
  const double bdp_blocks =
      static_cast<double>(rate_.btl_bps()) * static_cast<double>(rate_.srtt_us()) / 8e6 / segment;
  const double loss = stats_.blocks_sent > 0 ? static_cast<double>(stats_.blocks_retransmitted) /
                                                   static_cast<double>(stats_.blocks_sent)
                                             : 0;
  const auto from_path = static_cast<uint64_t>(kTailCopyLossBdps * loss * bdp_blocks);
  return std::max({kTailCopyFloorBlocks, stats_.blocks_retransmitted / kTailCopyShareDiv, from_path});
}

uint64_t SendTransfer::RangeBlocks(const RangeMap& m, uint64_t cap) {
  uint64_t n = 0;
  for (const auto& [key, end] : m) {
    n += end - key.second;
    if (n > cap) return cap + 1;
  }
  return n;
}

bool SendTransfer::PlanBatch(size_t max_blocks, BlockBatch* batch) {
  std::lock_guard lock(mu_);
  return PlanLocked(max_blocks, batch);
}

bool SendTransfer::PlanLocked(size_t max_blocks, BlockBatch* batch) {
  if (stats_.receiver_complete || max_blocks == 0) return false;
  batch->paced_bytes = 0;
  // NACKed ranges first, then the tail copies (only after the first pass), then
  // first-pass blocks handed back, then new blocks.
  RangeMap* from = !pending_.empty()       ? &pending_
                   : !tail_copies_.empty() ? &tail_copies_
                   : !unsent_.empty()      ? &unsent_
                                           : nullptr;
  if (from != nullptr) {
    const auto& [key, end] = *from->begin();
    batch->file = key.first;
    batch->first_block = key.second;
    batch->count = static_cast<uint32_t>(std::min<uint64_t>(end - key.second, max_blocks));
    batch->retransmit = from != &unsent_;
    batch->tail_copy = from == &tail_copies_;
    RemoveRange(*from, batch->file, batch->first_block, batch->first_block + batch->count);
  } else {
    if (cursor_done_) return false;
    const SourceFile& f = files_[cursor_file_];
    batch->file = cursor_file_;
    batch->first_block = cursor_block_;
    const uint64_t stop = std::min(f.blocks, NextHeldStart(cursor_file_, cursor_block_));
    batch->count = static_cast<uint32_t>(std::min<uint64_t>(stop - cursor_block_, max_blocks));
    batch->retransmit = false;
    batch->tail_copy = false;
    cursor_block_ += batch->count;
    AdvanceCursorPastEmptyFiles();
  }
  claims_.push_back(*batch);
  return true;
}

uint64_t SendTransfer::ClaimPacedBatch(size_t max_blocks, uint64_t now_ns, BlockBatch* batch) {
  std::lock_guard lock(mu_);
  if (!HasWorkLocked()) return kNoBatch;
  // Batch size: at most max_blocks, and about kTxBatchDurationNs at the current rate.
  const uint64_t segment = block_size_ + kBlockPacketOverhead;
  const uint64_t rate = rate_.rate_bps();
  if (pacer_.rate_bps() != rate) pacer_.SetRate(rate, now_ns);
  const uint64_t rate_bytes = rate / 8 * kTxBatchDurationNs / 1'000'000'000ull;
  size_t blocks = std::clamp<size_t>(rate_bytes / segment, 1, std::max<size_t>(max_blocks, 1));
  if (awaiting_accept_) {  // the first train only (SendSpec::early_bytes)
    blocks = std::min<size_t>(blocks, early_budget_ / segment);
    if (blocks == 0) return kNoBatch;
  }
  pacer_.SetBurst(std::max<uint64_t>(2 * rate_bytes, blocks * segment));
  // Budget given back by short sends is spent first; the rest comes from the pacer.
  const uint64_t planned = blocks * segment;
  const uint64_t from_credit = std::min(pace_credit_, planned);
  if (planned > from_credit) {
    const uint64_t wait = pacer_.WaitNs(planned - from_credit, now_ns);
    if (wait != 0) return wait;
  }
  if (!PlanLocked(blocks, batch)) return kNoBatch;
  // The claim may be shorter than planned (end of a range or file): take only its bytes.
  const uint64_t take = static_cast<uint64_t>(batch->count) * segment;
  const uint64_t credit_used = std::min(pace_credit_, take);
  pace_credit_ -= credit_used;
  if (take > credit_used) pacer_.TryConsume(take - credit_used, now_ns);
  if (awaiting_accept_) early_budget_ -= std::min(early_budget_, take);
  batch->paced_bytes = take;
  claims_.back().paced_bytes = take;
  return 0;
}

void SendTransfer::CommitBatch(const BlockBatch& batch, uint32_t sent, uint64_t datagram_bytes,
                               uint64_t stamp_us) {
  std::lock_guard lock(mu_);
  for (auto it = claims_.begin(); it != claims_.end(); ++it) {
    if (it->file == batch.file && it->first_block == batch.first_block) {
      claims_.erase(it);
      break;
    }
  }
  sent = std::min(sent, batch.count);
  if (batch.paced_bytes > datagram_bytes) pace_credit_ += batch.paced_bytes - datagram_bytes;
  const uint64_t sent_end = batch.first_block + sent;
  const uint64_t batch_end = batch.first_block + batch.count;
  // Blocks that did not go out are handed back: a NACKed range stays NACKed, a
  // first-pass block is sent (as first pass) by the next claim. Not once the
  // receiver holds everything.
  if (sent_end < batch_end && !stats_.receiver_complete) {
    RangeMap& back = batch.tail_copy ? tail_copies_ : batch.retransmit ? pending_ : unsent_;
    AddRange(back, batch.file, sent_end, batch_end);
  }
  if (sent > 0) {
    path_.OnSent(stamp_us, datagram_bytes);
    rate_.OnSent(path_.sent_total());
    const SourceFile& f = files_[batch.file];
    uint64_t data_bytes = 0;
    for (uint32_t k = 0; k < sent; ++k) data_bytes += BlockLength(f.size, block_size_, batch.first_block + k);
    if (batch.tail_copy) {
      stats_.blocks_retransmitted += sent;
      stats_.blocks_tail_copies += sent;
    } else if (batch.retransmit) {
      stats_.blocks_retransmitted += sent;
      // A late repair (after the first pass) is sent a second time, within bounds.
      const uint64_t budget = TailCopyBudget();
      uint64_t claimed_copies = 0;  // tail copies on other threads, not yet committed
      for (const BlockBatch& c : claims_) claimed_copies += c.tail_copy ? c.count : 0;
      if (first_pass_done_ &&
          stats_.blocks_tail_copies + claimed_copies + RangeBlocks(tail_copies_) + sent <= budget &&
          RangeBlocks(pending_, kTailCopyQueueBlocks) <= kTailCopyQueueBlocks) {
        AddRange(tail_copies_, batch.file, batch.first_block, sent_end);
      }
    }
    stats_.blocks_sent += sent;
    stats_.bytes_sent += data_bytes;
  }
  UpdateFirstPassDone();
}

PositionFrame SendTransfer::Position() const {
  std::lock_guard lock(mu_);
  // The first pass has sent everything before the earliest first-pass block that
  // is still unclaimed, claimed by a thread, or handed back unsent.
  RangeKey next{cursor_file_, cursor_block_};
  if (!unsent_.empty()) next = std::min(next, unsent_.begin()->first);
  for (const BlockBatch& c : claims_) {
    if (!c.retransmit) next = std::min(next, RangeKey{c.file, c.first_block});
  }
  PositionFrame p{};
  p.flags = first_pass_done_ ? kPositionFlagFirstPassDone : 0;
  p.transfer_id = transfer_id_;
  p.file_index = first_pass_done_ ? static_cast<uint32_t>(files_.size()) : next.first;
  p.next_block = first_pass_done_ ? 0 : next.second;
  p.srtt_us = static_cast<uint32_t>(std::min<uint64_t>(rate_.srtt_us(), UINT32_MAX));
  return p;
}

bool SendTransfer::OnFeedback(const FeedbackFrameHeader& header, const NackRange* ranges, size_t n,
                              uint64_t now_ns) {
  std::lock_guard lock(mu_);
  if (have_feedback_ && header.feedback_seq <= last_feedback_seq_) return false;  // stale
  have_feedback_ = true;
  last_feedback_seq_ = header.feedback_seq;
  stats_.blocks_acked = header.blocks_received;

  if (header.flags & kFeedbackFlagComplete) {
    pending_.clear();
    unsent_.clear();
    tail_copies_.clear();
    if (stats_.receiver_complete) return false;
    stats_.receiver_complete = true;
    return true;
  }

  uint64_t nacked = 0;
  for (size_t i = 0; i < n; ++i) {
    const NackRange& r = ranges[i];
    if (r.file_index >= files_.size() || r.block_count == 0 || r.first_block >= files_[r.file_index].blocks ||
        r.block_count > files_[r.file_index].blocks - r.first_block) {
      ++ignored_ranges_;
      continue;
    }
    uint64_t end = r.first_block + r.block_count;
    // A NACK for blocks the first pass has not sent yet is premature: they
    // will go out anyway. Keep only the part already sent.
    if (!Sent(r.file_index, r.first_block)) {
      ++ignored_ranges_;
      continue;
    }
    if (!cursor_done_ && r.file_index == cursor_file_) end = std::min(end, cursor_block_);
    AddRange(pending_, r.file_index, r.first_block, end);
    DropNotYetSent(r.file_index, r.first_block, end);
    nacked += end - r.first_block;
  }

  (void)nacked;  // NACKs are not a rate signal (docs/PROTOCOL-transfer.md §5)
  RateSample sample;
  path_.OnFeedback(now_ns / 1000, header.echo_stamp, header.echo_hold_us, header.rx_datagram_bytes,
                   rate_.rate_bps(), &sample);
  sample.socket_drops = header.socket_drops;
  sample.rx_queue_permille = header.rx_queue_permille;
  sample.receiver_cap_bps = header.rate_cap_bps;
  rate_.OnFeedback(sample);
  return false;
}

uint64_t SendTransfer::rate_bps() const {
  std::lock_guard lock(mu_);
  return rate_.rate_bps();
}

SendStats SendTransfer::Stats() const {
  std::lock_guard lock(mu_);
  SendStats s = stats_;
  s.rate_bps = static_cast<double>(rate_.rate_bps());
  s.first_pass_done = first_pass_done_;
  s.competing_events = rate_.competitor_events();
  return s;
}

bool SendTransfer::receiver_complete() const {
  std::lock_guard lock(mu_);
  return stats_.receiver_complete;
}

bool SendTransfer::first_pass_done() const {
  std::lock_guard lock(mu_);
  return first_pass_done_;
}

bool SendTransfer::HasWorkLocked() const {
  return !stats_.receiver_complete &&
         (!pending_.empty() || !tail_copies_.empty() || !unsent_.empty() || !cursor_done_);
}

bool SendTransfer::has_pending_work() const {
  std::lock_guard lock(mu_);
  return HasWorkLocked();
}

uint64_t SendTransfer::ignored_ranges() const {
  std::lock_guard lock(mu_);
  return ignored_ranges_;
}

}  // namespace jetrecv::core
