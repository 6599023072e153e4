// receive_feedback.cc — see receive_feedback.h.
#include "core/receive_feedback.h"

#include <time.h>

#include <algorithm>

namespace jetrecv::core {
namespace {

// Feedback snapshots of the POSITION kept for the reorder delay.
constexpr size_t kMaxPositionHistory = 256;

uint32_t MonotonicMicros32() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint32_t>(static_cast<uint64_t>(ts.tv_sec) * 1'000'000 +
                               static_cast<uint64_t>(ts.tv_nsec) / 1000);
}
// Serial-number order of 32-bit stamps (they wrap every 71.6 minutes).
bool StampNewer(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }
// Echo order of (stamp << 32 | arrival µs): a newer stamp, or the same stamp (one sender
// batch) arrived later.
bool EchoAfter(uint64_t a, uint64_t b) {
  const uint32_t sa = static_cast<uint32_t>(a >> 32), sb = static_cast<uint32_t>(b >> 32);
  if (sa != sb) return StampNewer(sa, sb);
  return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)) > 0;
}

}  // namespace

ReceiveFeedback::Timing ReceiveFeedback::Measure(const BlockRef* blocks, size_t n) {
  Timing t;
  const BlockRef* newest = nullptr;
  for (size_t i = 0; i < n; ++i) {
    t.bytes += blocks[i].len + kBlockPacketOverhead;
    const uint32_t st = blocks[i].header->send_stamp;
    // A sender batch shares one stamp: the echo is the batch's last arrival, which is
    // where the sender's count of the batch (PathSampler::SentBy) ends too.
    if (st != 0 && (t.stamp == 0 || !StampNewer(t.stamp, st))) {
      t.stamp = st;
      newest = &blocks[i];
    }
  }
  if (newest != nullptr) {
    t.arrival_us32 =
        newest->arrival_us != 0 ? static_cast<uint32_t>(newest->arrival_us) : MonotonicMicros32();
  }
  return t;
}

void ReceiveFeedback::Apply(const Timing& t) {
  rx_datagram_bytes_.fetch_add(t.bytes, std::memory_order_relaxed);
  if (t.stamp == 0) return;
  const uint64_t packed = uint64_t{t.stamp} << 32 | t.arrival_us32;
  uint64_t cur = newest_stamp_.load(std::memory_order_relaxed);
  while ((cur == 0 || EchoAfter(packed, cur)) &&
         !newest_stamp_.compare_exchange_weak(cur, packed, std::memory_order_relaxed)) {
  }
}

void ReceiveFeedback::RecordTiming(const BlockRef* blocks, size_t n) { Apply(Measure(blocks, n)); }

void ReceiveFeedback::RecordReplayTiming(const BlockRef* blocks, size_t n) {
  if (n == 0) return;
  std::lock_guard lock(mu_);  // ordered against Build: reported_stamp_ and deferred_
  if (reported_stamp_ != 0) {
    // A FEEDBACK went out with a live block's echo: skip the replayed blocks sent before
    // it (they arrived before it), count the rest as live.
    size_t first_newer = 0;
    while (first_newer < n && (blocks[first_newer].header->send_stamp == 0 ||
                               !StampNewer(blocks[first_newer].header->send_stamp, reported_stamp_))) {
      ++first_newer;
    }
    blocks += first_newer;
    n -= first_newer;
    if (n == 0) return;
  }
  // The first sender batch (one stamp) is reported now, the rest at the next FEEDBACK.
  size_t first_batch = 1;
  while (first_batch < n && blocks[first_batch].header->send_stamp == blocks[0].header->send_stamp) {
    ++first_batch;
  }
  Apply(Measure(blocks, first_batch));
  const Timing rest = Measure(blocks + first_batch, n - first_batch);
  deferred_.bytes += rest.bytes;
  if (rest.stamp != 0 && (deferred_.stamp == 0 || !StampNewer(deferred_.stamp, rest.stamp))) {
    deferred_.stamp = rest.stamp;
    deferred_.arrival_us32 = rest.arrival_us32;
  }
}

void ReceiveFeedback::OnPosition(const PositionFrame& position) {
  SendPosition p;
  p.file_index = position.file_index;
  p.next_block = position.next_block;
  p.first_pass_done = (position.flags & kPositionFlagFirstPassDone) != 0;
  std::lock_guard lock(mu_);
  if (PositionAfter(p, position_)) position_ = p;
  if (position.srtt_us != 0) nacks_.set_path_rtt_us(position.srtt_us);
}

size_t ReceiveFeedback::Build(uint64_t now_us, const Report& report,
                              const std::vector<const BlockBitmap*>& bitmaps, uint32_t block_size,
                              uint8_t* frame, size_t cap) {
  const uint64_t rate_cap_bps = rate_cap_bps_.load(std::memory_order_relaxed);
  const uint8_t cap_flag = rate_cap_bps != 0 ? kFeedbackFlagRateCap : 0;
  const size_t header_len = FeedbackHeaderLen(kFeedbackFlagTiming | cap_flag);
  if (cap < header_len) return 0;
  std::lock_guard lock(mu_);
  const uint64_t interval_us =
      last_feedback_us_ != 0 && now_us > last_feedback_us_ ? now_us - last_feedback_us_ : 0;
  const uint64_t bytes = report.bytes_received;
  if (interval_us != 0) {
    recv_rate_Bps_ =
        static_cast<double>(bytes - bytes_at_last_feedback_) * 1e6 / static_cast<double>(interval_us);
  }
  bytes_at_last_feedback_ = bytes;
  last_feedback_us_ = now_us;

  // NACK only below a POSITION known for at least the reorder delay: blocks
  // sent just before a POSITION may still wait in another socket's queue. It
  // is one feedback interval, or the smoothed NACK-to-repair time if longer —
  // but at most a quarter of the sender's RTT (POSITION srtt_us) when known: a
  // repair time is mostly the RTT, and waiting a whole RTT before the first
  // NACK would add one RTT to every transfer's tail.
  uint64_t reorder_us = nacks_.srtt_us();
  if (nacks_.path_rtt_us() != 0) reorder_us = std::min(reorder_us, nacks_.path_rtt_us() / 4);
  const uint64_t reorder_delay_us =
      std::min(kMaxNackHoldoffUs, std::max<uint64_t>({interval_us, reorder_us, 1}));
  // ... and only once every RX thread has handled what was queued when it was
  // recorded: a lane on another RX thread may lag by more than the delay.
  while (!position_history_.empty() && position_history_.front().first + reorder_delay_us <= now_us &&
         position_history_.front().first <= report.rx_drained_us) {
    if (PositionAfter(position_history_.front().second, nack_limit_)) {
      nack_limit_ = position_history_.front().second;
    }
    position_history_.pop_front();
  }
  position_history_.emplace_back(now_us, position_);
  while (position_history_.size() > kMaxPositionHistory) {
    if (PositionAfter(position_history_.front().second, nack_limit_)) {
      nack_limit_ = position_history_.front().second;
    }
    position_history_.pop_front();
  }
  const SendPosition limit = nack_limit_;

  size_t range_count = 0;
  if (!report.complete) {
    const size_t max_ranges = std::min<size_t>((cap - header_len) / kNackRangeLen, UINT16_MAX);
    nack_scratch_.resize(max_ranges);
    const double per_block_us =
        recv_rate_Bps_ > 0 ? static_cast<double>(block_size) * 1e6 / recv_rate_Bps_ : 0;
    range_count =
        nacks_.Build(bitmaps, limit, now_us, interval_us, per_block_us, nack_scratch_.data(), max_ranges);
  }

  FeedbackFrameHeader h{};
  h.flags = (report.complete ? kFeedbackFlagComplete : 0) | cap_flag;
  h.rate_cap_bps = rate_cap_bps;
  h.transfer_id = transfer_id_;
  h.feedback_seq = ++feedback_seq_;
  h.recv_rate = static_cast<uint64_t>(recv_rate_Bps_);
  h.blocks_received = report.blocks_received;
  h.socket_drops = report.socket_drops;
  h.rx_queue_permille = report.rx_queue_permille;
  // The rest of a replayed train waits for the next FEEDBACK (RecordReplayTiming) only while
  // the echo is not a block that arrived after it: then it was all delivered before the echo.
  if (deferred_.bytes != 0) {
    const uint64_t echo = newest_stamp_.load(std::memory_order_relaxed);
    if (echo != 0 &&
        (deferred_.stamp == 0 || EchoAfter(echo, uint64_t{deferred_.stamp} << 32 | deferred_.arrival_us32))) {
      Apply(deferred_);
      deferred_ = Timing{};
    }
  }
  const uint64_t newest = newest_stamp_.load(std::memory_order_relaxed);
  if (newest != 0) {
    h.echo_stamp = static_cast<uint32_t>(newest >> 32);
    h.echo_hold_us = MonotonicMicros32() - static_cast<uint32_t>(newest);
    reported_stamp_ = h.echo_stamp;
  }
  h.rx_datagram_bytes = rx_datagram_bytes_.load(std::memory_order_relaxed);
  // The rest of a replayed train counts from the next FEEDBACK on (RecordReplayTiming).
  if (deferred_.bytes != 0) {
    Apply(deferred_);
    deferred_ = Timing{};
  }
  return EncodeFeedbackFrame(h, nack_scratch_.data(), range_count, frame, cap);
}

double ReceiveFeedback::recv_rate_Bps() const {
  std::lock_guard lock(mu_);
  return recv_rate_Bps_;
}

}  // namespace jetrecv::core
