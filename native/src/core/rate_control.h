// rate_control.h — the sender's rate controller and pacer (pure logic, no I/O,
// no clock: callers pass the time). Rates are bits/s of UDP payload (datagram
// bytes incl. headers and tag). The controller is delivery-rate based, so random
// loss on the path does not collapse the rate (docs/PROTOCOL-transfer.md §5):
//  - every FEEDBACK is one *round*; its sample is what the receiver absorbed
//    (recv_rate x wire overhead). The bottleneck estimate `btl` is the max of
//    the last kBwWindowRounds samples; a round in which the sender did not use
//    its rate (application-limited: the tail, a slow disk) gives no sample
//    unless it raises the max, so idle periods keep the estimate;
//  - startup: rate = max(rate, kStartupGain x btl) until btl stops growing by
//    kStartupFullBwGrowth for kStartupFullBwRounds rounds, then two rounds at
//    kStartupDrainGain to empty the queue startup built;
//  - then a cycle of kCycleRounds rounds paced at btl x {probe, probe, drain,
//    drain, 1, 1, 1, 1} gains: the probe finds new capacity, the drain empties
//    the queue the probe built (and a little more, so no standing queue stays). Random loss p leaves btl steady while
//    probe gain x (1 - p) >= 1, i.e. up to ~20 % loss;
//  - a receive queue above kQueueHighPermille of the receiver's socket buffer
//    (FEEDBACK rx_queue_permille) means the rate is above what it absorbs:
//    startup ends, a probe is abandoned, and the round is paced at the drain
//    gain times what the receiver absorbed in its last interval (not btl: a
//    receiver stalled in disk writeback absorbs far less) until the queue is
//    low again;
//  - congestion at the receiver (socket_drops > 0: its socket overflowed) resets
//    btl to what it absorbed and paces at kCongestionBackoff x that, then ignores
//    drops for kLossHoldFeedbacks rounds (they describe the old rate);
//  - always clamped to [min, max].
#pragma once
#include <array>
#include <cstdint>

namespace jetrecv::core {

constexpr uint64_t kDefaultStartRateBps = 100'000'000;      // when rate_start is 0
constexpr uint64_t kUncappedRateBps = 400'000'000'000ull;   // "no cap" (rate_max 0)
constexpr uint64_t kMinRateBps = 1'000'000;
constexpr double kStartupGain = 2.0;
constexpr double kStartupFullBwGrowth = 1.25;
constexpr unsigned kStartupFullBwRounds = 3;
constexpr double kProbeGain = 1.25;
constexpr double kDrainGain = 0.7;          // cycle: drains a little more than the probe adds
constexpr double kStartupDrainGain = 0.5;   // after startup: empties the queue it built
constexpr unsigned kCycleRounds = 8;
constexpr unsigned kBwWindowRounds = 10;
constexpr double kCongestionBackoff = 0.9;
constexpr unsigned kLossHoldFeedbacks = 2;
constexpr uint32_t kQueueHighPermille = 250;
// A round counts as application-limited when the sender used less than this
// fraction of its paced rate.
constexpr double kAppLimitedFraction = 0.8;

struct RateConfig {
  uint64_t max_bps = 0;    // 0 = no cap (kUncappedRateBps)
  uint64_t start_bps = 0;  // 0 = min(kDefaultStartRateBps, max)
  uint64_t min_bps = kMinRateBps;
};

// What one FEEDBACK told the sender, plus what the sender did meanwhile.
struct RateSample {
  uint64_t recv_rate_Bps = 0;   // receiver: block data bytes/s over its last interval
  uint64_t nacked_blocks = 0;   // blocks in this FEEDBACK's NACK ranges (statistics only)
  uint64_t sent_blocks = 0;     // blocks sent since the previous FEEDBACK
  uint64_t sent_bytes = 0;      // datagram bytes sent since the previous FEEDBACK
  uint64_t interval_us = 0;     // time since the previous FEEDBACK (0 = first)
  uint32_t socket_drops = 0;    // receiver socket overflow drops since its previous FEEDBACK
  uint32_t rx_queue_permille = 0;  // receiver's fullest socket queue, 1/1000 of its buffer
  double wire_per_data = 1.0;   // datagram bytes per block data byte (>= 1)
};

class RateController {
 public:
  enum class Mode : uint8_t { kStartup, kDrain, kCycle };

  explicit RateController(const RateConfig& config);

  // Adapts the rate to one FEEDBACK. Returns true if it counted as a congestion
  // (loss) event, i.e. the receiver's socket overflowed and the rate was cut.
  bool OnFeedback(const RateSample& sample);

  uint64_t rate_bps() const { return rate_bps_; }
  uint64_t max_bps() const { return max_bps_; }
  // Current bottleneck estimate (bits/s of datagrams), 0 before the first sample.
  uint64_t btl_bps() const { return static_cast<uint64_t>(btl_bps_); }
  bool in_startup() const { return mode_ == Mode::kStartup; }
  Mode mode() const { return mode_; }
  uint64_t loss_events() const { return loss_events_; }

 private:
  uint64_t Clamp(double bps) const;
  void AddSample(double bps);
  void ResetFilter(double bps);
  double FilterMax() const;

  uint64_t max_bps_;
  uint64_t min_bps_;
  uint64_t rate_bps_;
  Mode mode_ = Mode::kStartup;
  uint64_t round_ = 0;
  // Max filter over the last kBwWindowRounds samples: sample number q (from 1)
  // lives in slot q % kBwWindowRounds.
  uint64_t sample_seq_ = 0;
  std::array<double, kBwWindowRounds> samples_{};
  std::array<uint64_t, kBwWindowRounds> sample_round_{};  // its q, 0 = empty
  double btl_bps_ = 0;
  double full_bw_ = 0;          // startup: btl at the last significant growth
  unsigned full_bw_rounds_ = 0; // startup: rounds without significant growth
  unsigned phase_ = 0;          // drain / cycle position
  unsigned hold_ = 0;           // rounds whose drop reports are ignored after a cut
  uint64_t loss_events_ = 0;
};

// Token bucket in bytes, refilled at rate_bps; holds at most burst_bytes.
class Pacer {
 public:
  Pacer(uint64_t rate_bps, uint64_t burst_bytes, uint64_t now_ns);

  void SetRate(uint64_t rate_bps, uint64_t now_ns);
  void SetBurst(uint64_t burst_bytes) { burst_bytes_ = burst_bytes; }
  // Takes bytes if the bucket holds them (or is full: a send larger than the
  // burst still goes out, once the bucket is full). Returns true if taken.
  bool TryConsume(uint64_t bytes, uint64_t now_ns);
  // Nanoseconds until TryConsume(bytes) would succeed (0 = now).
  uint64_t WaitNs(uint64_t bytes, uint64_t now_ns);
  uint64_t rate_bps() const { return rate_bps_; }

 private:
  void Refill(uint64_t now_ns);

  uint64_t rate_bps_;
  uint64_t burst_bytes_;
  double tokens_;  // bytes
  uint64_t last_ns_;
};

}  // namespace jetrecv::core
