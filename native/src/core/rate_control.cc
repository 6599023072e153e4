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

void RateController::AddSample(double bps) {
  ++sample_seq_;
  const size_t slot = sample_seq_ % kBwWindowRounds;
  samples_[slot] = bps;
  sample_round_[slot] = sample_seq_;
}

void RateController::ResetFilter(double bps) {
  samples_.fill(0);
  sample_round_.fill(0);
  AddSample(bps);
}

double RateController::FilterMax() const {
  double m = 0;
  for (size_t i = 0; i < kBwWindowRounds; ++i) {
    // Sequence numbers start at 1, so a slot with 0 was never written.
    if (sample_round_[i] != 0 && sample_round_[i] + kBwWindowRounds > sample_seq_) {
      m = std::max(m, samples_[i]);
    }
  }
  return m;
}

bool RateController::OnFeedback(const RateSample& s) {
  ++round_;
  const double rate = static_cast<double>(rate_bps_);
  const double delivered =
      static_cast<double>(s.recv_rate_Bps) * 8.0 * std::max(1.0, s.wire_per_data);
  const double used_bps =
      s.interval_us == 0
          ? 0.0
          : static_cast<double>(s.sent_bytes) * 8.0 * 1e6 / static_cast<double>(s.interval_us);
  const bool app_limited = s.interval_us == 0 || used_bps < rate * kAppLimitedFraction;

  // Congestion at the receiver: its socket overflowed, so it absorbs at most
  // what it reported. Start again from there, a little below.
  if (hold_ > 0) {
    --hold_;  // these reports describe packets sent before the last cut
  } else if (s.socket_drops > 0) {
    const double absorbed = delivered > 0 ? std::min(delivered, rate) : rate * 0.5;
    ResetFilter(absorbed);
    btl_bps_ = absorbed;
    rate_bps_ = Clamp(std::max(absorbed * kCongestionBackoff, rate * 0.5));
    mode_ = Mode::kCycle;
    phase_ = 3;  // one drain round empties the receiver's queue, then cruise
    hold_ = kLossHoldFeedbacks;
    ++loss_events_;
    return true;
  }

  // Bottleneck estimate: max of recent samples. A round in which the sender
  // did not use its rate says only that the path carries at least that much.
  const double current_max = FilterMax();
  if (delivered > 0 && (!app_limited || delivered > std::max(current_max, btl_bps_))) {
    AddSample(delivered);
  }
  const double m = FilterMax();
  if (m > 0) btl_bps_ = m;
  if (btl_bps_ <= 0) return false;  // nothing measured yet: keep the start rate

  // A standing queue at the receiver: pace below what it absorbs right now
  // (which is far below btl while its threads stall, e.g. in disk writeback)
  // until the queue drains; the queue itself keeps the receiver busy meanwhile.
  if (s.rx_queue_permille > kQueueHighPermille) {
    if (mode_ == Mode::kStartup) {
      mode_ = Mode::kDrain;
      phase_ = 0;
    }
    const double absorbing = std::min(btl_bps_, delivered);
    if (mode_ == Mode::kDrain) {
      rate_bps_ = Clamp(absorbing * kStartupDrainGain);
    } else {
      rate_bps_ = Clamp(absorbing * kDrainGain);
      if (phase_ < 2) phase_ = 2;  // abandon the probe
    }
    return false;
  }

  switch (mode_) {
    case Mode::kStartup:
      if (btl_bps_ >= full_bw_ * kStartupFullBwGrowth) {
        full_bw_ = btl_bps_;
        full_bw_rounds_ = 0;
      } else if (!app_limited) {
        ++full_bw_rounds_;
      }
      if (full_bw_rounds_ >= kStartupFullBwRounds) {
        mode_ = Mode::kDrain;
        phase_ = 1;
        rate_bps_ = Clamp(btl_bps_ * kStartupDrainGain);
      } else {
        rate_bps_ = Clamp(std::max(rate, btl_bps_ * kStartupGain));
      }
      return false;
    case Mode::kDrain:
      rate_bps_ = Clamp(btl_bps_ * kStartupDrainGain);
      if (++phase_ >= 2) {
        mode_ = Mode::kCycle;
        phase_ = 4;  // cruise before the next probe
      }
      return false;
    case Mode::kCycle: {
      static constexpr double kGains[kCycleRounds] = {kProbeGain, kProbeGain, kDrainGain, kDrainGain,
                                                      1.0,        1.0,        1.0,        1.0};
      rate_bps_ = Clamp(btl_bps_ * kGains[phase_ % kCycleRounds]);
      phase_ = (phase_ + 1) % kCycleRounds;
      return false;
    }
  }
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
