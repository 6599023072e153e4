// rate_control.cc — see rate_control.h.
#include "core/rate_control.h"

#include <algorithm>
#include <iterator>

namespace jetrecv::core {

// ---- PathSampler ----------------------------------------------------------------

namespace {
constexpr size_t kMaxSendHistory = 1 << 16;  // batches remembered for echo matching
}

void PathSampler::OnSent(uint64_t now_us, uint64_t bytes) {
  sent_total_ += bytes;
  if (!history_.empty() && history_.back().first == now_us) {
    history_.back().second = sent_total_;
  } else {
    history_.emplace_back(now_us, sent_total_);
  }
  if (history_.size() > kMaxSendHistory) history_.pop_front();
}

uint64_t PathSampler::SentBy(uint64_t send_us) const {
  // Last entry sent at or before send_us.
  auto it = std::upper_bound(history_.begin(), history_.end(), send_us,
                             [](uint64_t t, const auto& e) { return t < e.first; });
  if (it == history_.begin()) return history_.empty() ? sent_total_ : history_.front().second;
  return std::prev(it)->second;
}

void PathSampler::OnFeedback(uint64_t now_us, uint32_t echo, uint32_t hold_us, uint64_t rx_bytes,
                             uint64_t paced_bps, RateSample* s) {
  s->now_us = now_us;
  s->has_timing = false;
  s->interval_us = 0;
  if (echo == 0) return;  // the receiver has no stamped block yet (or is older)
  const uint64_t age = static_cast<uint32_t>(Stamp(now_us) - echo);
  if (age > now_us) return;
  const uint64_t echo_us = now_us - age;
  const uint64_t hold = std::min<uint64_t>(hold_us, age);
  s->has_timing = true;
  s->echo_send_us = echo_us;
  s->rtt_us = std::max<uint64_t>(age - hold, 1);
  const uint64_t arrival_us = now_us - hold;
  if (have_prev_ && echo_us > prev_echo_us_) {
    const uint64_t send_iv = echo_us - prev_echo_us_;
    const uint64_t ack_iv = arrival_us > prev_arrival_us_ ? arrival_us - prev_arrival_us_ : 0;
    s->interval_us = std::max(send_iv, ack_iv);
    s->sent_bytes = SentBy(echo_us) - SentBy(prev_echo_us_);
    s->delivered_bytes = rx_bytes > prev_rx_bytes_ ? rx_bytes - prev_rx_bytes_ : 0;
    s->app_limited = static_cast<double>(s->sent_bytes) * 8e6 <
                     kAppLimitedFraction * static_cast<double>(paced_bps) * static_cast<double>(send_iv);
  }
  if (!have_prev_ || echo_us > prev_echo_us_) {
    have_prev_ = true;
    prev_echo_us_ = echo_us;
    prev_arrival_us_ = arrival_us;
    prev_rx_bytes_ = rx_bytes;
    // Keep the last entry at or before the echo (SentBy needs it), drop older ones.
    while (history_.size() > 1 && history_[1].first <= echo_us) history_.pop_front();
  }
}

// ---- RateController -------------------------------------------------------------

RateController::RateController(const RateConfig& config)
    : policy_(config.policy),
      max_bps_(config.max_bps == 0 ? kUncappedRateBps : config.max_bps),
      min_bps_(std::min(std::max<uint64_t>(config.min_bps, 1), max_bps_)),
      rate_bps_(0),
      first_phase_(2 + (config.seed * 2654435761u >> 16) % (kCycleRounds - 2)) {
  const uint64_t start =
      policy_ == RatePolicy::kFixed ? max_bps_
      : config.start_bps == 0       ? std::min(kDefaultStartRateBps, max_bps_)
                                    : config.start_bps;
  rate_bps_ = Clamp(static_cast<double>(start));
}

uint64_t RateController::Clamp(double bps) const {
  if (!(bps > static_cast<double>(min_bps_))) return min_bps_;
  if (bps >= static_cast<double>(max_bps_)) return max_bps_;
  return static_cast<uint64_t>(bps);
}

uint64_t RateController::queue_target_us() const {
  return std::clamp(min_rtt_us_ / kQueueTargetRttDiv, kQueueTargetMinUs, kQueueTargetMaxUs);
}

void RateController::AddRoundSample(double bps) {
  ++sample_seq_;
  const size_t slot = sample_seq_ % kBwWindowRounds;
  samples_[slot] = bps;
  sample_round_[slot] = sample_seq_;
}

void RateController::ResetFilter(double bps) {
  samples_.fill(0);
  sample_round_.fill(0);
  AddRoundSample(bps);
  round_max_ = 0;
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

void RateController::EnterProbeBw(unsigned phase, uint64_t now_us) {
  mode_ = Mode::kProbeBw;
  phase_ = phase % kCycleRounds;
  phase_start_us_ = now_us;
}

bool RateController::OnFeedback(const RateSample& s) {
  const double rate = static_cast<double>(rate_bps_);
  const double iv = static_cast<double>(s.interval_us);
  const double delivered_bps = iv > 0 ? static_cast<double>(s.delivered_bytes) * 8e6 / iv : 0;
  const double sent_bps = iv > 0 ? static_cast<double>(s.sent_bytes) * 8e6 / iv : 0;

  // Receiver protection 1: its socket overflowed, so it absorbs at most what
  // it got. Start again from there, a little below.
  if (hold_ > 0) {
    --hold_;  // these reports describe packets sent before the last cut
  } else if (s.socket_drops > 0) {
    const double absorbed = delivered_bps > 0 ? std::min(delivered_bps, rate) : rate * 0.5;
    ResetFilter(absorbed);
    btl_bps_ = absorbed;
    SetRate(std::max(absorbed * kCongestionBackoff, rate * 0.5));
    if (mode_ != Mode::kProbeRtt) EnterProbeBw(1, s.now_us);
    hold_ = kLossHoldFeedbacks;
    ++loss_events_;
    return true;
  }
  // Receiver protection 2: a standing receive queue. Pace below what it absorbs
  // right now (far below btl while its threads stall, e.g. in disk writeback)
  // until the queue drains; the queue keeps the receiver busy meanwhile.
  if (s.rx_queue_permille > kQueueHighPermille) {
    const double absorbing = delivered_bps > 0 ? std::min(delivered_bps, rate) : rate;
    if (mode_ == Mode::kStartup) mode_ = Mode::kDrain;
    SetRate(absorbing * (mode_ == Mode::kDrain ? kStartupDrainGain : kDrainGain));
    if (mode_ == Mode::kProbeBw && phase_ == 0) phase_ = 1;  // abandon the probe
    return false;
  }
  if (policy_ == RatePolicy::kFixed) {
    SetRate(static_cast<double>(max_bps_));
    return false;
  }
  if (!s.has_timing) return false;  // nothing measured yet: keep the rate

  // RTT: min filter (refreshed while the queue is essentially empty), smoothed RTT.
  const uint64_t rtt = s.rtt_us;
  srtt_us_ = srtt_us_ == 0 ? static_cast<double>(rtt) : srtt_us_ * 0.875 + 0.125 * static_cast<double>(rtt);
  if (min_rtt_us_ == 0 || rtt < min_rtt_us_) {
    min_rtt_us_ = rtt;
    min_rtt_stamp_us_ = s.now_us;
  } else if (rtt <= min_rtt_us_ + queue_target_us() / 4) {
    min_rtt_stamp_us_ = s.now_us;
  }
  const uint64_t target = queue_target_us();
  const uint64_t queue_us = rtt - std::min(rtt, min_rtt_us_);
  const bool queue_high = queue_us > target;
  round_min_queue_us_ = std::min(round_min_queue_us_, queue_us);

  // What the path accepted over the echoed interval: with no queue, everything
  // sent (losses there are random); with a queue, only what arrived.
  if (iv > 0) {
    const double sample = queue_high ? delivered_bps : std::max(sent_bps, delivered_bps);
    if (!s.app_limited || sample > std::max(FilterMax(), round_max_)) {
      round_max_ = std::max(round_max_, sample);
    }
  }

  // Round end: the echo is of a block sent after the round began.
  bool congestion = false;
  const bool round_end = s.echo_send_us >= round_start_us_;
  if (round_end) {
    ++round_;
    const uint64_t prev_round_start = round_start_us_;
    round_start_us_ = s.now_us;
    const bool standing_queue = round_min_queue_us_ != UINT64_MAX && round_min_queue_us_ > target;
    // Cruise rounds also add kFairShareBytes per RTT to the estimate: the same
    // amount for every flow (additive increase), so with the multiplicative cut
    // on a standing queue below, flows sharing a bottleneck converge (AIMD).
    if (mode_ == Mode::kProbeBw && phase_ >= 2 && srtt_us_ > 0 && !s.app_limited) {
      const double add = kFairShareBytes * 8e6 / std::max(srtt_us_, double(kFairShareMinRttUs));
      round_max_ = std::max(round_max_, std::max(FilterMax(), round_max_) + add);
    }
    if (round_max_ > 0) AddRoundSample(round_max_);
    round_max_ = 0;
    round_min_queue_us_ = UINT64_MAX;
    // A queue that stayed above target for a whole round: more is sent into the
    // bottleneck than it forwards (another flow came, or btl is too high).
    if (standing_queue && mode_ == Mode::kProbeBw && delivered_bps > 0) {
      ResetFilter(std::min(delivered_bps, btl_bps_));
      EnterProbeBw(1, s.now_us);
      ++loss_events_;
      congestion = true;
    } else if (mode_ == Mode::kProbeBw && phase_start_us_ <= prev_round_start) {
      EnterProbeBw(phase_ + 1, s.now_us);  // the phase lasted a whole round
    }
  }
  btl_bps_ = std::max(FilterMax(), round_max_);
  if (btl_bps_ <= 0) return congestion;

  // PROBE_RTT: the min RTT was not confirmed for a window; half the rate for
  // a round (plus a little) lets the queue empty so the floor is measured again.
  if (mode_ != Mode::kProbeRtt && mode_ != Mode::kStartup &&
      s.now_us > min_rtt_stamp_us_ + kMinRttWindowUs) {
    mode_ = Mode::kProbeRtt;
    probe_rtt_end_us_ = s.now_us + static_cast<uint64_t>(srtt_us_) + kProbeRttMinUs / 4;
    probe_rtt_min_us_ = rtt;
  }

  switch (mode_) {
    case Mode::kStartup:
      if (round_end) {
        if (btl_bps_ >= full_bw_ * kStartupFullBwGrowth) {
          full_bw_ = btl_bps_;
          full_bw_rounds_ = 0;
        } else if (!s.app_limited) {
          ++full_bw_rounds_;
        }
      }
      // Ends on queue growth (not after the overshoot's drops), or when btl stopped growing.
      if (queue_high || full_bw_rounds_ >= kStartupFullBwRounds) {
        mode_ = Mode::kDrain;
        SetRate(btl_bps_ * kStartupDrainGain);
      } else {
        SetRate(std::max(rate, btl_bps_ * kStartupGain));
      }
      break;
    case Mode::kDrain:
      if (!queue_high) {
        EnterProbeBw(first_phase_, s.now_us);
        SetRate(btl_bps_);
      } else {
        SetRate(btl_bps_ * kStartupDrainGain);
      }
      break;
    case Mode::kProbeRtt:
      probe_rtt_min_us_ = std::min(probe_rtt_min_us_, rtt);
      if (s.now_us >= probe_rtt_end_us_) {
        min_rtt_us_ = probe_rtt_min_us_;
        min_rtt_stamp_us_ = s.now_us;
        EnterProbeBw(2, s.now_us);
        SetRate(btl_bps_);
      } else {
        SetRate(btl_bps_ * kProbeRttGain);
      }
      break;
    case Mode::kProbeBw: {
      // A probe ends when it found the limit (queue) or after kProbeMaxUs;
      // the drain after it lasts as long.
      if (phase_ <= 1 && ((queue_high && phase_ == 0) || s.now_us >= phase_start_us_ + kProbeMaxUs)) {
        EnterProbeBw(phase_ + 1, s.now_us);
      }
      static constexpr double kGains[kCycleRounds] = {kProbeGain, kDrainGain, 1, 1, 1, 1, 1, 1};
      const double gain = congestion ? kQueueBackoff : kGains[phase_];
      SetRate(btl_bps_ * gain);
      break;
    }
  }
  return congestion;
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
