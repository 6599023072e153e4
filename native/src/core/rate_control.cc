// rate_control.cc — see rate_control.h.
#include "core/rate_control.h"

#include <algorithm>
#include <cmath>
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
  s->sent_total_bytes = sent_total_;
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
    s->send_interval_us = send_iv;
    s->ack_interval_us = ack_iv;
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
  const uint64_t start = policy_ == RatePolicy::kFixed ? max_bps_
                         : config.start_bps == 0       ? std::min(kDefaultStartRateBps, max_bps_)
                                                       : config.start_bps;
  rate_bps_ = Clamp(static_cast<double>(start));
  start_bps_ = rate_bps_;
}

uint64_t RateController::Clamp(double bps) const {
  const uint64_t hi = receiver_cap_bps_ != 0 ? std::min(max_bps_, receiver_cap_bps_) : max_bps_;
  if (!(bps > static_cast<double>(std::min(min_bps_, hi)))) return std::min(min_bps_, hi);
  if (bps >= static_cast<double>(hi)) return hi;
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

void RateController::OnSent(uint64_t sent_total_bytes) {
  if (policy_ == RatePolicy::kFair && mode_ == Mode::kStartup && FilterMax() <= 0 &&
      sent_total_bytes >= InitialTrainBytes(start_bps_)) {
    SetRate(static_cast<double>(start_bps_) / kTrickleDiv);
  }
}

bool RateController::OnFeedback(const RateSample& s) {
  // The receiver's cap holds from this FEEDBACK on, whatever the rules below do.
  receiver_cap_bps_ = s.receiver_cap_bps;
  rate_bps_ = Clamp(static_cast<double>(rate_bps_));
  const double rate = static_cast<double>(rate_bps_);
  const double iv = static_cast<double>(s.interval_us);
  const double delivered_bps = iv > 0 ? static_cast<double>(s.delivered_bytes) * 8e6 / iv : 0;

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
    if (mode_ == Mode::kStartup) {
      mode_ = Mode::kDrain;
      drain_start_us_ = s.now_us;
    }
    SetRate(absorbing * (mode_ == Mode::kDrain ? kStartupDrainGain : kDrainGain));
    if (mode_ == Mode::kProbeBw && phase_ == 0) phase_ = 1;  // abandon the probe
    return false;
  }
  if (policy_ == RatePolicy::kFixed) {
    SetRate(static_cast<double>(max_bps_));
    return false;
  }
  // The first train: until the first bandwidth sample, send InitialTrainBytes
  // at the start rate, then trickle at 1/kTrickleDiv of it. The train's
  // arrival spacing measures the bottleneck (the first sample), so an unknown
  // path is never flooded for a whole RTT at a start rate it cannot carry.
  const bool no_sample_yet = mode_ == Mode::kStartup && FilterMax() <= 0;
  OnSent(s.sent_total_bytes);
  if (!s.has_timing) return false;  // nothing measured yet

  // RTT: min filter (refreshed while the queue is essentially empty), smoothed RTT.
  const uint64_t rtt = s.rtt_us;
  srtt_us_ = srtt_us_ == 0 ? static_cast<double>(rtt) : srtt_us_ * 0.875 + 0.125 * static_cast<double>(rtt);
  // A lower minimum needs two FEEDBACKs in a row below the current one (the
  // larger of them is taken): one stray sample (a host clock or scheduling
  // glitch) would otherwise read as a standing queue for 10 s.
  if (min_rtt_us_ == 0) {
    min_rtt_us_ = rtt;
    min_rtt_stamp_us_ = s.now_us;
  } else if (rtt < min_rtt_us_) {
    if (low_rtt_candidate_us_ != 0) {
      min_rtt_us_ = std::max(rtt, low_rtt_candidate_us_);
      min_rtt_stamp_us_ = s.now_us;
      low_rtt_candidate_us_ = 0;
    } else {
      low_rtt_candidate_us_ = rtt;
    }
  } else {
    low_rtt_candidate_us_ = 0;
    if (rtt <= min_rtt_us_ + queue_target_us() / 4) min_rtt_stamp_us_ = s.now_us;  // confirmed
  }
  const uint64_t target = queue_target_us();
  const uint64_t queue_us = rtt - std::min(rtt, min_rtt_us_);
  const bool queue_high = queue_us > target;
  round_min_queue_us_ = std::min(round_min_queue_us_, queue_us);
  high_queue_feedbacks_ = queue_high ? high_queue_feedbacks_ + 1 : 0;
  round_min_rtt_us_ = std::min(round_min_rtt_us_, rtt);

  // Accumulate the round: what the path accepted over the echoed intervals
  // (with no queue everything sent — losses there are random — with a queue
  // only what arrived), over the longer of the send and arrival spans.
  if (s.interval_us > 0 && no_sample_yet) {
    // The first train's echoes give the first sample. If it queued, the
    // bottleneck is slower than the start rate and the delivery rate over one
    // FEEDBACK interval (the train's arrival spacing) is its rate; if it did
    // not, the path carried the start rate (an interval reaching into the
    // trickle would understate it). It queued if the queuing delay is above
    // target, or if the interval lies in the train (sent at the start rate or
    // faster) and arrived at below kTrainQueuedRatio of the start rate: two
    // FEEDBACKs close together (a receiver's late timer) see little queue growth
    // between them, and a start rate read as the path's would flood a slow link.
    const double start = static_cast<double>(start_bps_);
    const double send_bps = s.send_interval_us > 0 ? static_cast<double>(s.sent_bytes) * 8e6 /
                                                         static_cast<double>(s.send_interval_us)
                                                   : 0;
    const double arrival_bps = s.ack_interval_us > 0 ? static_cast<double>(s.delivered_bytes) * 8e6 /
                                                           static_cast<double>(s.ack_interval_us)
                                                     : start;
    const bool queued =
        queue_high || (send_bps >= kTrainQueuedRatio * start && arrival_bps < kTrainQueuedRatio * start);
    AddRoundSample(
        queued ? std::min(static_cast<double>(s.delivered_bytes) * 8e6 / static_cast<double>(s.interval_us),
                          start)
               : start);
  } else if (s.interval_us > 0) {
    acc_accepted_ += queue_high ? s.delivered_bytes : std::max(s.sent_bytes, s.delivered_bytes);
    acc_delivered_ += s.delivered_bytes;
    acc_sent_ += s.sent_bytes;
    acc_send_us_ += s.send_interval_us;
    acc_ack_us_ += s.ack_interval_us;
    ++acc_samples_;
    if (s.app_limited) ++acc_app_limited_;
  }
  round_max_rate_ = std::max(round_max_rate_, rate);

  // Round end: the echo is of a block sent after the round began.
  bool congestion = false;
  const bool round_end = s.echo_send_us >= round_start_us_;
  if (round_end) {
    ++round_;
    const uint64_t prev_round_start = round_start_us_;
    round_start_us_ = s.now_us;
    // The standing queue is judged over at least kStandingWindowUs (several
    // FEEDBACKs), so a short path's single sample after a burst does not count.
    bool standing_queue = false;
    uint64_t window_min_queue_us = UINT64_MAX;
    if (s.now_us >= queue_window_start_us_ + kStandingWindowUs) {
      window_min_queue_us = round_min_queue_us_;
      standing_queue = round_min_queue_us_ != UINT64_MAX && round_min_queue_us_ > target;
      round_min_queue_us_ = UINT64_MAX;
      queue_window_start_us_ = s.now_us;
    }
    // Loss far above any random loss is congestion even without a delay signal
    // (a min RTT measured behind another flow's standing queue hides the queue).
    const bool heavy_loss =
        acc_sent_ > 0 &&
        static_cast<double>(acc_delivered_) < (1 - kCongestionLossFraction) * static_cast<double>(acc_sent_);
    if (heavy_loss) standing_queue = true;
    if (heavy_loss && mode_ == Mode::kStartup) startup_rtt_rise_ = true;
    // The round's loss: a baseline (random loss) from rounds with no standing
    // queue; competing, a round losing clearly more is congestion (a full queue).
    const double round_loss =
        acc_sent_ > 0
            ? std::clamp(1 - static_cast<double>(acc_delivered_) / static_cast<double>(acc_sent_), 0.0, 1.0)
            : 0;
    if (!competing_ && !standing_queue && mode_ == Mode::kProbeBw && acc_sent_ > 0) {
      loss_baseline_ += (round_loss - loss_baseline_) / 8;
    }
    const bool competing_loss = competing_ && mode_ == Mode::kProbeBw && acc_sent_ > 0 &&
                                round_loss > loss_baseline_ + kCompetingLossMargin &&
                                round_ >= competing_cut_round_ + 2;
    const double span = static_cast<double>(std::max(acc_send_us_, acc_ack_us_));
    double round_delivered_bps = 0;
    if (span > 0) {
      // Nothing sent in the last two rounds was paced above their highest rate:
      // a burst (a late TX thread catching up) must not read as capacity.
      const double cap = std::max(round_max_rate_, prev_round_max_rate_);
      const uint64_t accepted = heavy_loss ? acc_delivered_ : acc_accepted_;
      double sample = std::min(static_cast<double>(accepted) * 8e6 / span, cap);
      round_delivered_bps = static_cast<double>(acc_delivered_) * 8e6 / span;
      const bool app_limited = 2 * acc_app_limited_ > acc_samples_;
      // Cruise rounds also add kFairShareBytes per RTT to the estimate: the same
      // amount for every flow (additive increase), so with the multiplicative cut
      // on a standing queue below, flows sharing a bottleneck converge (AIMD).
      // Not once the queue is rising toward the target (above kStepQueueFraction
      // of it as the round ends): the rate already fills the link, and a step
      // then only overshoots into the standing-queue cut.
      if (mode_ == Mode::kProbeBw && phase_ >= 2 && !app_limited &&
          (competing_ ? !competing_loss
                      : !standing_queue && static_cast<double>(queue_us) <=
                                               kStepQueueFraction * static_cast<double>(target))) {
        const double step = std::min(kFairShareBytes * 8e6 / std::max(srtt_us_, double(kFairShareMinRttUs)),
                                     kFairShareMaxFraction * FilterMax());
        sample = std::max(sample, FilterMax() + step);
      }
      if (!app_limited || sample > FilterMax()) AddRoundSample(sample);
    }
    acc_accepted_ = acc_delivered_ = acc_sent_ = acc_send_us_ = acc_ack_us_ = 0;
    acc_samples_ = acc_app_limited_ = 0;
    prev_round_max_rate_ = round_max_rate_;
    round_max_rate_ = 0;
    // Startup: a round whose least RTT grew (HyStart-like) means the queue has
    // started to build — one RTT before it would pass the target.
    if (mode_ == Mode::kStartup && prev_round_min_rtt_us_ != UINT64_MAX &&
        round_min_rtt_us_ >=
            prev_round_min_rtt_us_ + std::max(kStartupRttRiseMinUs, min_rtt_us_ / kStartupRttRiseDiv)) {
      startup_rtt_rise_ = true;
    }
    prev_round_min_rtt_us_ = round_min_rtt_us_;
    round_min_rtt_us_ = UINT64_MAX;
    // A queue that stayed above target for a whole round: more is sent into the
    // bottleneck than it forwards (another flow came, or btl is too high).
    // Competing: the queue emptied (a window's least under target), so the
    // competitor left or yields; the delay signal counts again.
    if (competing_ && window_min_queue_us <= target) competing_ = false;
    const bool delay_standing =
        standing_queue && !heavy_loss && !competing_ && mode_ == Mode::kProbeBw && round_delivered_bps > 0;
    if (!delay_standing) {
      standing_streak_ = 0;
    } else if (standing_streak_++ == 0) {
      streak_queue_us_ = window_min_queue_us;
      streak_start_us_ = s.now_us;
      streak_delivered_bps_ = round_delivered_bps;
      streak_btl_bps_ = std::max(FilterMax(), btl_bps_);
    }
    const bool queue_kept = static_cast<double>(window_min_queue_us) >=
                            kCompetitorQueueKept * static_cast<double>(streak_queue_us_);
    const bool competitor = delay_standing && queue_kept && standing_streak_ >= kCompetitorRounds &&
                            s.now_us >= streak_start_us_ + kCompetitorMinUs &&
                            round_delivered_bps <= kCompetitorYield * streak_delivered_bps_;
    if (competitor) {
      // This flow yielded and the queue stayed: a competitor's that does not
      // yield to delay. Take back what the streak's cuts gave up and compete.
      competing_ = true;
      ResetFilter(streak_btl_bps_);
      standing_streak_ = 0;
      ++competitor_events_;
      EnterProbeBw(2, s.now_us);
    } else if (competing_loss && !heavy_loss) {
      // Competing, the queue overflowed: multiplicative decrease (a loss-based
      // flow's), so two flows that both compete drain the queue now and then.
      ResetFilter(std::max(FilterMax(), btl_bps_) * kCompetingBackoff);
      competing_cut_round_ = round_;
      EnterProbeBw(2, s.now_us);
      ++loss_events_;
      congestion = true;
    } else if (standing_queue && mode_ == Mode::kProbeBw && round_delivered_bps > 0 &&
               (!competing_ || heavy_loss)) {
      // Reset to the delivery rate (the flow's share), less far the smaller
      // that share is of the path: AIMD alone would keep the ratio of the shares.
      const double delivered = std::min(round_delivered_bps, std::max(FilterMax(), btl_bps_));
      const double share = path_bps_ > 0 ? std::max(delivered / path_bps_, kShareCutMinShare) : 1;
      const double reset =
          path_bps_ > 0 ? std::min(path_bps_, delivered * std::pow(share, -kShareCutExponent)) : delivered;
      ResetFilter(reset);
      EnterProbeBw(1, s.now_us);
      ++loss_events_;
      congestion = true;
    } else if (mode_ == Mode::kProbeBw && phase_start_us_ <= prev_round_start) {
      EnterProbeBw(phase_ + 1, s.now_us);  // the phase lasted a whole round
    }
  }
  btl_bps_ = FilterMax();
  if (round_end) path_bps_ *= 1 - 1 / kPathDecayRounds;
  path_bps_ = std::max(path_bps_, btl_bps_);
  if (btl_bps_ <= 0) {
    last_feedback_us_ = s.now_us;
    return congestion;
  }
  if (no_sample_yet) SetRate(btl_bps_);  // what the first train measured; startup grows from there

  // PROBE_RTT: the min RTT was not confirmed for a window; half the rate for
  // a round (plus a little) lets the queue empty so the floor is measured again.
  if (mode_ != Mode::kProbeRtt && mode_ != Mode::kStartup && !competing_ &&
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
      // Ends on queue growth (two FEEDBACKs in a row: one can be a scheduling
      // hiccup) — not after the overshoot's drops — or when btl stopped growing.
      if (high_queue_feedbacks_ >= 2 || startup_rtt_rise_ || full_bw_rounds_ >= kStartupFullBwRounds) {
        mode_ = Mode::kDrain;
        drain_start_us_ = s.now_us;
        SetRate(btl_bps_ * kStartupDrainGain);
      } else if (srtt_us_ > 0 && s.now_us > last_feedback_us_) {
        // Grow smoothly, kStartupGain per RTT (not in steps at round ends), and
        // never beyond kStartupMaxOverBtl x what was measured: when the queue
        // shows up one RTT late, it holds ~0.12 RTT of overshoot, not a full RTT.
        const double dt = static_cast<double>(s.now_us - last_feedback_us_);
        const double now_rate = static_cast<double>(rate_bps_);  // may have been set from the first sample
        const double grown = now_rate * std::pow(kStartupGain, std::min(dt, srtt_us_) / srtt_us_);
        SetRate(std::max(now_rate, std::min(grown, btl_bps_ * kStartupMaxOverBtl)));
      }
      break;
    case Mode::kDrain:
      // Until the queue is gone, or for one RTT at most (at half the estimate
      // that removes ~RTT/2 of queue, more than startup's overshoot).
      if (!queue_high || s.now_us >= drain_start_us_ + static_cast<uint64_t>(srtt_us_)) {
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
      if (phase_ <= 1 &&
          ((queue_high && phase_ == 0 && !competing_) || s.now_us >= phase_start_us_ + kProbeMaxUs)) {
        EnterProbeBw(phase_ + 1, s.now_us);
      }
      static constexpr double kGains[kCycleRounds] = {kProbeGain, kDrainGain, 1, 1, 1, 1, 1, 1};
      const double gain = congestion ? kQueueBackoff : kGains[phase_];
      SetRate(btl_bps_ * gain);
      break;
    }
  }
  last_feedback_us_ = s.now_us;
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
  tokens_ =
      std::min(static_cast<double>(burst_bytes_), tokens_ + elapsed_s * static_cast<double>(rate_bps_) / 8.0);
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
