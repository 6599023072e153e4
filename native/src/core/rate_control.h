// rate_control.h — the sender's rate controller and pacer (pure logic, no I/O,
// no clock: callers pass the time). Rates are bits/s of UDP payload (datagram
// bytes incl. headers and tag). Algorithm (docs/PROTOCOL-transfer.md):
//  - startup: x1.25 per loss-free FEEDBACK; steady (after the first loss):
//    x1.02 per loss-free FEEDBACK; growth only when the sender actually used at
//    least half its rate, and never above 2x what the receiver reports absorbing;
//  - loss (socket_drops > 0, or NACKed blocks > kLossTolerance of blocks sent):
//    back off to max(rate/2, min(rate*0.85, receiver rate*0.95)), then ignore
//    loss reports for kLossHoldFeedbacks feedbacks (they describe the old rate);
//  - always clamped to [min, max].
#pragma once
#include <cstdint>

namespace jetrecv::core {

constexpr uint64_t kDefaultStartRateBps = 100'000'000;      // when rate_start is 0
constexpr uint64_t kUncappedRateBps = 400'000'000'000ull;   // "no cap" (rate_max 0)
constexpr uint64_t kMinRateBps = 1'000'000;
constexpr double kStartupGrowth = 1.25;
constexpr double kSteadyGrowth = 1.02;
constexpr double kLossBackoff = 0.85;
constexpr double kLossTolerance = 0.01;   // fraction of sent blocks NACKed that still counts as no loss
constexpr unsigned kLossHoldFeedbacks = 2;

struct RateConfig {
  uint64_t max_bps = 0;    // 0 = no cap (kUncappedRateBps)
  uint64_t start_bps = 0;  // 0 = min(kDefaultStartRateBps, max)
  uint64_t min_bps = kMinRateBps;
};

// What one FEEDBACK told the sender, plus what the sender did meanwhile.
struct RateSample {
  uint64_t recv_rate_Bps = 0;   // receiver: block data bytes/s over its last interval
  uint64_t nacked_blocks = 0;   // blocks in this FEEDBACK's NACK ranges
  uint64_t sent_blocks = 0;     // blocks sent since the previous FEEDBACK
  uint64_t sent_bytes = 0;      // datagram bytes sent since the previous FEEDBACK
  uint64_t interval_us = 0;     // time since the previous FEEDBACK (0 = first)
  uint32_t socket_drops = 0;    // receiver socket overflow drops since its previous FEEDBACK
  double wire_per_data = 1.0;   // datagram bytes per block data byte (>= 1)
};

class RateController {
 public:
  explicit RateController(const RateConfig& config);

  // Adapts the rate to one FEEDBACK. Returns true if it counted as a loss event.
  bool OnFeedback(const RateSample& sample);

  uint64_t rate_bps() const { return rate_bps_; }
  uint64_t max_bps() const { return max_bps_; }
  bool in_startup() const { return startup_; }
  uint64_t loss_events() const { return loss_events_; }

 private:
  uint64_t Clamp(double bps) const;

  uint64_t max_bps_;
  uint64_t min_bps_;
  uint64_t rate_bps_;
  bool startup_ = true;
  unsigned hold_ = 0;  // feedbacks whose loss reports are ignored after a back-off
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
