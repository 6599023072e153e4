// receive_feedback.h — the FEEDBACK side of one receive transfer: the sender's
// POSITION and its history (NACKs wait out the reorder delay), the path timing
// of its BLOCK datagrams, the receive rate, the NACK builder and the backoff of
// an idle transfer (feedback_backoff.h). Build writes the FEEDBACK frame with
// EncodeFeedbackFrame (docs/PROTOCOL-transfer.md §3).
// Threads: NoteActivity, RecordTiming and OnPosition from any RX thread; Due
// and Build from the feedback timer; recv_rate_Bps from any thread.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "core/block_bitmap.h"
#include "core/feedback_backoff.h"
#include "core/frame_codec.h"
#include "core/nack_builder.h"
#include "core/wire_format.h"

namespace jetrecv::core {

class ReceiveFeedback {
 public:
  explicit ReceiveFeedback(uint32_t transfer_id) : transfer_id_(transfer_id) {}

  // A BLOCK or POSITION frame of the transfer arrived (duplicates included).
  void NoteActivity() { backoff_.NoteActivity(); }
  // BLOCK datagram bytes and the newest send_stamp with its arrival time (a sender
  // batch shares a stamp: its last block's arrival, where PathSampler::SentBy counts
  // the batch to).
  void RecordTiming(const BlockRef* blocks, size_t n);
  // The same for early blocks replayed at the open (arrival order, BlockRef::arrival_us
  // set): reported as a live train's FEEDBACKs would report it, the next one as of
  // the first sender batch's (blocks[0]'s stamp) last arrival and the one after as
  // of the rest, so the sender's first delivery sample spans the train's real
  // arrival spacing, not the replay. If a block that arrived after them is echoed
  // first, that FEEDBACK counts them all.
  // If a FEEDBACK already echoed a block sent after them (a live block that arrived
  // after the open and before the replay), they are not counted at all: they
  // arrived before that echo, and counting them later would put a whole train's
  // bytes into one later interval (a delivery sample of twice the path's rate).
  void RecordReplayTiming(const BlockRef* blocks, size_t n);
  // The sender's POSITION (of this transfer); positions only move forward.
  void OnPosition(const PositionFrame& position);

  // True when this transfer's FEEDBACK is due at this tick (feedback_backoff.h).
  bool Due(uint64_t now_us, uint64_t base_interval_us) { return backoff_.Due(now_us, base_interval_us); }

  // What the transfer reports besides this object's own state.
  struct Report {
    uint64_t bytes_received = 0;  // distinct block bytes
    uint64_t blocks_received = 0;
    bool complete = false;      // every file finalized: no NACKs, kFeedbackFlagComplete
    uint32_t socket_drops = 0;  // the endpoint's socket drops since the last round
    uint32_t rx_queue_permille = 0;
    // Every datagram queued on the receiver's sockets before this monotonic µs is
    // handled (in the bitmaps): a POSITION recorded later waits, its lanes' blocks
    // may still sit in another RX thread's queue (Endpoint::RxDrainedUs).
    uint64_t rx_drained_us = UINT64_MAX;
  };
  // Updates the receive rate and the NACK limit, builds the NACK ranges over
  // bitmaps and writes the FEEDBACK frame into frame[0..cap); returns its length
  // (0 if the header does not fit: kFeedbackFrameHeaderLen, or
  // kFeedbackFrameHeaderCapLen while a rate cap is set). now_us: monotonic µs.
  size_t Build(uint64_t now_us, const Report& report, const std::vector<const BlockBitmap*>& bitmaps,
               uint32_t block_size, uint8_t* frame, size_t cap);

  // Block bytes/s over the last feedback interval.
  double recv_rate_Bps() const;

  // The receiver's cap on the sender's rate (bits/s of UDP payload; 0 = none),
  // carried by every later FEEDBACK (kFeedbackFlagRateCap). Any thread.
  void set_rate_cap_bps(uint64_t bps) { rate_cap_bps_.store(bps, std::memory_order_relaxed); }
  uint64_t rate_cap_bps() const { return rate_cap_bps_.load(std::memory_order_relaxed); }

 private:
  // Datagram bytes and the newest send_stamp (0 = none) with its arrival.
  struct Timing {
    uint64_t bytes = 0;
    uint32_t stamp = 0;
    uint32_t arrival_us32 = 0;
  };
  static Timing Measure(const BlockRef* blocks, size_t n);
  void Apply(const Timing& t);

  const uint32_t transfer_id_;
  FeedbackBackoff backoff_;
  // Path timing (any RX thread): BLOCK datagram bytes received (duplicates
  // included), and the newest send_stamp seen with its arrival (stamp << 32 |
  // low 32 bits of the arrival µs; 0 = none).
  std::atomic<uint64_t> rx_datagram_bytes_{0};
  std::atomic<uint64_t> newest_stamp_{0};
  std::atomic<uint64_t> rate_cap_bps_{0};

  mutable std::mutex mu_;  // guards everything below
  SendPosition position_;  // latest POSITION
  // (time of a feedback, POSITION then): NACKs use the newest POSITION that is
  // older than the reorder delay, so blocks still queued are not NACKed.
  std::deque<std::pair<uint64_t, SendPosition>> position_history_;
  SendPosition nack_limit_;
  NackBuilder nacks_;
  Timing deferred_;              // replayed timing held back until after the next FEEDBACK
  uint32_t reported_stamp_ = 0;  // the newest echo a FEEDBACK carried (0 = none yet)
  std::vector<NackRange> nack_scratch_;
  uint64_t feedback_seq_ = 0;
  uint64_t last_feedback_us_ = 0;
  uint64_t bytes_at_last_feedback_ = 0;
  double recv_rate_Bps_ = 0;
};

}  // namespace jetrecv::core
