// rate_control.cc — see rate_control.h.
#include "core/rate_control.h"

#include <algorithm>

namespace jetrecv::core {

RateController::RateController(const RateConfig& config)
    : max_bps_(config.max_bps == 0 ? kUncappedRateBps : config.max_bps),
      min_bps_(std::min(std::max<uint64_t>(config.min_bps, 1), max_bps_)),
      rate_bps_(0) {
  const uint64_t start =
      config.start_bps == 0 ? std::min(kDefaultStartRateBps, max_bps_) : config.start_bps;
  rate_bps_ = Clamp(static_cast<double>(start));
}

uint64_t RateController::Clamp(double bps) const {
  if (!(bps > static_cast<double>(min_bps_))) return min_bps_;
  if (bps >= static_cast<double>(max_bps_)) return max_bps_;
  return static_cast<uint64_t>(bps);
}

bool RateController::OnFeedback(const RateSample& s) {
  const double rate = static_cast<double>(rate_bps_);
  const double recv_wire_bps =
      static_cast<double>(s.recv_rate_Bps) * 8.0 * std::max(1.0, s.wire_per_data);

  bool loss = false;
  if (hold_ > 0) {
    --hold_;  // these reports describe packets sent before the last back-off
  } else if (s.socket_drops > 0) {
    loss = true;
  } else if (s.sent_blocks > 0 && s.nacked_blocks > 0) {
    loss = static_cast<double>(s.nacked_blocks) >
           kLossTolerance * static_cast<double>(s.sent_blocks);
  }

  if (loss) {
    double target = rate * kLossBackoff;
    if (recv_wire_bps > 0) target = std::min(target, recv_wire_bps * 0.95);
    target = std::max(target, rate * 0.5);
    rate_bps_ = Clamp(target);
    startup_ = false;
    hold_ = kLossHoldFeedbacks;
    ++loss_events_;
    return true;
  }

  if (s.interval_us == 0) return false;  // first report: nothing to measure against
  const double used_bps =
      static_cast<double>(s.sent_bytes) * 8.0 * 1e6 / static_cast<double>(s.interval_us);
  if (used_bps < rate * 0.5) return false;  // application-limited: no evidence for more
  double next = rate * (startup_ ? kStartupGrowth : kSteadyGrowth);
  // Never run far ahead of what the receiver shows it absorbs.
  if (recv_wire_bps > 0) next = std::min(next, std::max(rate, recv_wire_bps * 2.0));
  rate_bps_ = Clamp(next);
  return false;
}

Pacer::Pacer(uint64_t rate_bps, uint64_t burst_bytes, uint64_t now_ns)
    : rate_bps_(std::max<uint64_t>(rate_bps, 1)),
      burst_bytes_(burst_bytes),
      tokens_(static_cast<double>(burst_bytes)),
      last_ns_(now_ns) {}

void Pacer::Refill(uint64_t now_ns) {
  if (now_ns <= last_ns_) return;
  const double elapsed_s = static_cast<double>(now_ns - last_ns_) * 1e-9;
  last_ns_ = now_ns;
  tokens_ = std::min(static_cast<double>(burst_bytes_),
                     tokens_ + elapsed_s * static_cast<double>(rate_bps_) / 8.0);
}

void Pacer::SetRate(uint64_t rate_bps, uint64_t now_ns) {
  Refill(now_ns);  // tokens earned so far count at the old rate
  rate_bps_ = std::max<uint64_t>(rate_bps, 1);
}

bool Pacer::TryConsume(uint64_t bytes, uint64_t now_ns) {
  Refill(now_ns);
  const double need = std::min(static_cast<double>(bytes), static_cast<double>(burst_bytes_));
  if (tokens_ < need) return false;
  tokens_ -= static_cast<double>(bytes);  // may go negative: a send above the burst is a debt
  return true;
}

uint64_t Pacer::WaitNs(uint64_t bytes, uint64_t now_ns) {
  Refill(now_ns);
  const double need = std::min(static_cast<double>(bytes), static_cast<double>(burst_bytes_));
  if (tokens_ >= need) return 0;
  const double wait_s = (need - tokens_) * 8.0 / static_cast<double>(rate_bps_);
  return static_cast<uint64_t>(wait_s * 1e9) + 1;
}

}  // namespace jetrecv::core
