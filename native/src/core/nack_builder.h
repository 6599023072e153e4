// nack_builder.h — the receiver's choice of which missing blocks to NACK in a
// FEEDBACK frame. Pure logic over the files' bitmaps; one caller at a time (the
// owner serializes calls). It NACKs only blocks the sender has passed (before
// the NACK limit, a POSITION), oldest first, and does not NACK a range again
// until its hold-off has expired: the hold-off starts at max(2 feedback
// intervals, smoothed repair time + 1 interval) and doubles for a range whose
// earlier NACK went unanswered (RTO-style back-off, Karn's rule for samples).
// The base for new ranges doubles only in rounds where NACKs expire and
// nothing at all was repaired (a silent sender), and resets on any repair.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "core/block_bitmap.h"
#include "core/wire_format.h"

namespace jetrecv::core {

// Send-order position: every block before (file_index, next_block) has been
// sent; first_pass_done means every block of every file has.
struct SendPosition {
  uint32_t file_index = 0;
  uint64_t next_block = 0;
  bool first_pass_done = false;
};
// True if a is strictly later in send order than b.
bool PositionAfter(const SendPosition& a, const SendPosition& b);

constexpr uint64_t kMinNackHoldoffUs = 2'000;
constexpr uint64_t kMaxNackHoldoffUs = 2'000'000;
// Bound on ranges remembered for hold-off; when full no new ranges are NACKed
// until some are repaired or expire.
constexpr size_t kMaxTrackedNackRanges = 65536;

class NackBuilder {
 public:
  NackBuilder() = default;

  // Writes up to max_out NACK ranges into out and returns how many. files[i]
  // is file i's bitmap (file order = send order). Only blocks before `limit`
  // are considered. interval_us is the time since the previous Build (feedback
  // period), used for the hold-off; now_us is a monotonic clock. per_block_us
  // is how long one block takes at the measured receive rate (0 = unknown): a
  // range's hold-off grows by the time the sender needs to resend every block
  // NACKed ahead of it and still outstanding.
  size_t Build(const std::vector<const BlockBitmap*>& files, const SendPosition& limit, uint64_t now_us,
               uint64_t interval_us, double per_block_us, NackRange* out, size_t max_out);

  // The sender's smoothed RTT (from POSITION): the hold-off is never shorter
  // than it, so ranges are not NACKed again before their first repair could
  // arrive, even before a repair-time sample exists.
  void set_path_rtt_us(uint64_t rtt_us) { path_rtt_us_ = rtt_us; }
  uint64_t path_rtt_us() const { return path_rtt_us_; }
  // Hold-off a newly NACKed range gets right now (after the last Build).
  uint64_t base_holdoff_us() const { return base_holdoff_us_; }
  // Smoothed NACK-to-repair time, 0 until a first sample.
  uint64_t srtt_us() const { return srtt_us_; }
  size_t tracked_ranges() const { return tracked_.size(); }

 private:
  struct Tracked {
    uint64_t end;  // one past the last block of the range
    uint64_t nacked_at_us;
    uint64_t holdoff_us;
    bool first;           // first NACK of these blocks: a repair time is a valid sample
    bool expiry_counted;  // its expiry already raised the back-off
  };
  using Key = std::pair<uint32_t, uint64_t>;  // (file, first_block)

  // Emits the parts of [first, end) of `file` not covered by a live tracked
  // range; returns false when out is full.
  bool EmitUncovered(uint32_t file, uint64_t first, uint64_t end, uint64_t now_us, NackRange* out,
                     size_t max_out, size_t* n);
  // Hold-off for a range of `blocks` NACKed now, after the queue ahead of it.
  uint64_t HoldoffFor(uint64_t base_us, uint64_t blocks);

  std::map<Key, Tracked> tracked_;
  std::vector<uint64_t> scan_from_;  // per file: every block below is set (hint)
  uint64_t srtt_us_ = 0;
  uint64_t path_rtt_us_ = 0;  // sender's RTT, 0 = unknown
  uint64_t base_holdoff_us_ = kMinNackHoldoffUs;
  unsigned backoff_shift_ = 0;  // doubles the base after unanswered NACKs
  double per_block_us_ = 0;     // from the current Build
  uint64_t queued_blocks_ = 0;  // blocks in live tracked ranges + emitted this Build
};

}  // namespace jetrecv::core
