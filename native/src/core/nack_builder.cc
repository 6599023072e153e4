// nack_builder.cc — see nack_builder.h.
#include "core/nack_builder.h"

#include <algorithm>

namespace jetrecv::core {

bool PositionAfter(const SendPosition& a, const SendPosition& b) {
  if (a.first_pass_done != b.first_pass_done) return a.first_pass_done;
  if (a.file_index != b.file_index) return a.file_index > b.file_index;
  return a.next_block > b.next_block;
}

namespace {
// Ranges per MissingRangesFrom call while scanning.
constexpr size_t kScanChunk = 64;
constexpr unsigned kMaxBackoffShift = 6;
constexpr uint64_t kMaxNackRangeBlocks = 0xffffffffull;  // NackRange.block_count is u32
}  // namespace

uint64_t NackBuilder::HoldoffFor(uint64_t base_us, uint64_t blocks) {
  queued_blocks_ += blocks;
  const double drain_us = per_block_us_ * static_cast<double>(queued_blocks_);
  const double total = static_cast<double>(base_us) + drain_us;
  return total >= static_cast<double>(kMaxNackHoldoffUs) ? kMaxNackHoldoffUs : static_cast<uint64_t>(total);
}

bool NackBuilder::EmitUncovered(uint32_t file, uint64_t first, uint64_t end, uint64_t now_us, NackRange* out,
                                size_t max_out, size_t* n) {
  // Live tracked ranges never overlap each other (new ones are made only from
  // uncovered parts), so walking them in order splits [first, end) correctly.
  auto it = tracked_.lower_bound(Key{file, first});
  if (it != tracked_.begin()) {
    auto prev = std::prev(it);
    if (prev->first.first == file && prev->second.end > first) it = prev;
  }
  uint64_t pos = first;
  while (pos < end) {
    // Next tracked range of this file that overlaps [pos, end).
    while (it != tracked_.end() && it->first.first == file && it->second.end <= pos) ++it;
    const bool overlaps = it != tracked_.end() && it->first.first == file && it->first.second < end;
    const uint64_t gap_end = overlaps ? std::max(pos, it->first.second) : end;
    if (gap_end > pos) {
      // [pos, gap_end) is not tracked at all: a first NACK.
      uint64_t piece = pos;
      while (piece < gap_end) {
        if (*n >= max_out || tracked_.size() >= kMaxTrackedNackRanges) return false;
        const uint64_t piece_end = std::min(gap_end, piece + kMaxNackRangeBlocks);
        out[*n] = NackRange{file, static_cast<uint32_t>(piece_end - piece), piece};
        ++*n;
        tracked_.emplace(
            Key{file, piece},
            Tracked{piece_end, now_us, HoldoffFor(base_holdoff_us_, piece_end - piece), true, false});
        piece = piece_end;
      }
      pos = gap_end;
      continue;
    }
    // pos lies inside tracked range `it`.
    Tracked& t = it->second;
    const uint64_t covered_end = std::min(end, t.end);
    if (now_us < t.nacked_at_us + t.holdoff_us) {  // live: the sender may still answer
      pos = covered_end;
      ++it;
      continue;
    }
    // Expired and still (partly) missing: NACK [pos, ...) again, with a hold-off
    // no shorter than the last one; the parts of the old entry before and after stay
    // tracked as they were.
    if (*n >= max_out) return false;
    const Tracked old = t;
    const uint64_t old_first = it->first.second;
    const uint64_t piece_end = std::min(covered_end, pos + kMaxNackRangeBlocks);
    const uint64_t holdoff =
        std::min(kMaxNackHoldoffUs, std::max(HoldoffFor(base_holdoff_us_, piece_end - pos), old.holdoff_us));
    it = tracked_.erase(it);
    if (old_first < pos) {
      Tracked head = old;
      head.end = pos;
      tracked_.emplace_hint(it, Key{file, old_first}, head);
    }
    out[*n] = NackRange{file, static_cast<uint32_t>(piece_end - pos), pos};
    ++*n;
    it = tracked_.emplace_hint(it, Key{file, pos}, Tracked{piece_end, now_us, holdoff, false, false});
    if (old.end > piece_end) {
      it = tracked_.emplace_hint(std::next(it), Key{file, piece_end}, old);
    } else {
      ++it;
    }
    pos = piece_end;
  }
  return true;
}

size_t NackBuilder::Build(const std::vector<const BlockBitmap*>& files, const SendPosition& limit,
                          uint64_t now_us, uint64_t interval_us, double per_block_us, NackRange* out,
                          size_t max_out) {
  if (scan_from_.size() != files.size()) scan_from_.assign(files.size(), 0);
  per_block_us_ = per_block_us > 0 ? per_block_us : 0;
  queued_blocks_ = 0;

  // 1. Retire tracked ranges that were repaired; learn the repair time from
  //    first NACKs (Karn: a re-NACKed range gives an ambiguous sample).
  bool unanswered = false;
  bool repaired = false;
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    const auto [file, first] = it->first;
    Tracked& t = it->second;
    if (file >= files.size() || files[file]->AllSet(first, t.end)) {
      repaired = repaired || file < files.size();
      if (file < files.size() && t.first) {
        const uint64_t sample = now_us > t.nacked_at_us ? now_us - t.nacked_at_us : 0;
        srtt_us_ = srtt_us_ == 0 ? sample : (srtt_us_ * 7 + sample) / 8;
        backoff_shift_ = 0;
      }
      it = tracked_.erase(it);
      continue;
    }
    if (now_us >= t.nacked_at_us + t.holdoff_us) {
      if (!t.expiry_counted) unanswered = true;
      t.expiry_counted = true;
    } else {
      queued_blocks_ += t.end - first;  // still being resent ahead of new NACKs
    }
    ++it;
  }
  // Back off only while the sender answers nothing at all. A repair in this round
  // shows it is answering: an expired NACK then means its resend was lost (random
  // loss), and doubling every hold-off would only stretch the tail of a lossy transfer.
  if (repaired) {
    backoff_shift_ = 0;
  } else if (unanswered && backoff_shift_ < kMaxBackoffShift) {
    ++backoff_shift_;
  }

  // 2. Hold-off for ranges NACKed now: two feedback intervals, or the repair
  //    time plus one interval, scaled up while NACKs go unanswered.
  const uint64_t rtt = std::max(srtt_us_, path_rtt_us_);
  const uint64_t from_rtt = rtt == 0 ? 0 : rtt + rtt / 4 + interval_us;
  base_holdoff_us_ = std::clamp<uint64_t>(std::max(2 * interval_us, from_rtt) << backoff_shift_,
                                          kMinNackHoldoffUs, kMaxNackHoldoffUs);

  // 3. Scan files in send order up to the limit, oldest gaps first.
  size_t n = 0;
  std::vector<std::pair<uint64_t, uint64_t>> missing;
  for (uint32_t f = 0; f < files.size() && n < max_out; ++f) {
    uint64_t below;
    if (limit.first_pass_done || f < limit.file_index) {
      below = files[f]->block_count();
    } else if (f == limit.file_index) {
      below = std::min(limit.next_block, files[f]->block_count());
    } else {
      break;
    }
    scan_from_[f] = files[f]->FirstUnset(scan_from_[f]);
    uint64_t cursor = scan_from_[f];
    while (cursor < below && n < max_out) {
      missing.clear();
      files[f]->MissingRangesFrom(cursor, below, &missing, kScanChunk);
      if (missing.empty()) break;
      for (const auto& [first, count] : missing) {
        if (!EmitUncovered(f, first, first + count, now_us, out, max_out, &n)) return n;
      }
      cursor = missing.back().first + missing.back().second;
    }
  }
  return n;
}

}  // namespace jetrecv::core
