// rate_control.h — the sender's path measurement, rate controller and pacer
// (pure logic, no I/O, no clock: callers pass the time). Rates are bits/s of
// UDP payload (datagram bytes incl. headers and tag). docs/PROTOCOL-transfer.md
// §5 describes the algorithm and what it takes from BBR, Copa, LEDBAT, UDT, FASP.
//
// PathSampler turns FEEDBACK timing (the echo of a BLOCK's send stamp, how long
// the receiver held it, the receiver's datagram byte count) into RateSamples:
// an RTT sample and, over the send interval between two echoes, the bytes sent
// and the bytes the receiver got. RateController consumes them:
//  - min RTT: a 10 s min filter (a lower value needs two samples in a row);
//    when it expires a PROBE_RTT round paces at half
//    the estimate so the queue empties and the floor is measured again;
//  - queuing delay q = RTT − min RTT is the congestion signal. Its target is
//    min RTT / kQueueTargetRttDiv within [kQueueTargetMinUs, kQueueTargetMaxUs]
//    (the floor is above a busy host's scheduling noise);
//  - rounds last one RTT: a round ends when an echo is of a block sent after
//    the round began;
//  - bottleneck estimate btl = max of per-round samples over kBwWindowRounds
//    rounds (a round's sample: its echoed intervals summed, capped at the
//    highest rate paced in it and the round before). It is the rate the path *accepted*: while q is under
//    target the path took everything sent (loss there is random: it must not cut the rate), so the sample is
//    the send rate of the echoed interval; above target it is the delivery rate (what the bottleneck lets
//    through);
//  - the first train: kInitialTrainUs at the start rate (at least
//    kInitialTrainMinBytes), then a trickle until
//    its echoes give the first sample (the train's arrival spacing is the
//    bottleneck's rate if it queued: q above target, or blocks sent at the
//    start rate arriving below kTrainQueuedRatio of it); the rate then starts
//    from that sample;
//  - startup: the rate grows continuously by kStartupGain per RTT (at most
//    kStartupMaxOverBtl x btl); it ends as soon as q exceeds target
//    in two FEEDBACKs in a row or a round's least RTT rose over the previous
//    round's (queue growth, not an overshoot into drops), or
//    when btl stops growing; then drain at kStartupDrainGain x btl until q is
//    back under target, one RTT at most;
//  - probe cycle of kCycleRounds rounds: one at kProbeGain (abandoned when q
//    exceeds target; at most kProbeMaxUs), one at kDrainGain, the rest at 1;
//    the cycle starts at a phase drawn from RateConfig::seed, so flows that
//    share a bottleneck do not probe in step;
//  - cruise rounds add kFairShareBytes per RTT to btl (additive increase), but
//    only while q is at most kStepQueueFraction x target as the round ends;
//  - a standing queue (q above target through a whole round, and at least
//    kStandingWindowUs: another flow
//    came, or btl is too high) resets btl to the delivery rate, raised by the
//    flow's share of the path it saw (kShareCutExponent), and paces at
//    kQueueBackoff x that (a congestion event). Loss with rising delay is
//    congestion through this rule; loss without it changes nothing, unless a
//    round loses more than kCongestionLossFraction (no random loss is that
//    high; a min RTT taken behind another flow's standing queue hides the queue);
//  - competing mode (after Copa's): a standing queue that stays although the
//    flow yielded for kCompetitorRounds and kCompetitorMinUs belongs to a
//    sender that does not yield to delay (TCP BBR, CUBIC). The flow then takes
//    back what those cuts gave up and stops yielding to delay (its probes run
//    their full length, cruise rounds step whatever the queue, and it skips
//    PROBE_RTT: the queue is not its own); it cuts btl by
//    kCompetingBackoff on a round losing more than its random-loss baseline +
//    kCompetingLossMargin (the full queue overflowing: a loss-based flow's
//    decrease, so two flows that both compete still drain the queue), and
//    leaves the mode when a round sees the queue under target again;
//  - receiver protection (kept from the first controller): a receive queue above
//    kQueueHighPermille of its socket buffer paces below what it absorbs, and
//    receiver socket overflow resets btl to what it absorbed;
//  - policy kFixed ignores the path (delay, loss) and holds max; the receiver
//    protection still applies. Always clamped to [min, max], and to the
//    receiver's cap (RateSample::receiver_cap_bps) when one is set.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <utility>

namespace jetrecv::core {

constexpr uint64_t kDefaultStartRateBps = 100'000'000;     // when rate_start is 0
constexpr uint64_t kUncappedRateBps = 400'000'000'000ull;  // "no cap" (rate_max 0)
constexpr uint64_t kMinRateBps = 1'000'000;
// The first train (until the first bandwidth sample): this long at the start
// rate, but at least kInitialTrainMinBytes, then 1/kTrickleDiv of it. The floor:
// a low start rate's 4 ms is a handful of datagrams, too few to queue past the
// target or to fill one echoed interval on a path half as fast, and the start
// rate was then taken as the path's (InitialTrainBytes).
constexpr uint64_t kInitialTrainUs = 4'000;
constexpr uint64_t kInitialTrainMinBytes = 64 * 1024;
constexpr uint64_t InitialTrainBytes(uint64_t start_bps) {
  return start_bps / 8 * kInitialTrainUs / 1'000'000 > kInitialTrainMinBytes
             ? start_bps / 8 * kInitialTrainUs / 1'000'000
             : kInitialTrainMinBytes;
}
constexpr double kTrickleDiv = 8;
// The first train queued if it arrived below this x the start rate (see OnFeedback).
constexpr double kTrainQueuedRatio = 0.8;
constexpr double kStartupGain = 1.25;  // per RTT, applied continuously
constexpr double kStartupMaxOverBtl = 1.5;
// Startup also ends when a round's least RTT exceeds the previous round's by
// max(kStartupRttRiseMinUs, min RTT / kStartupRttRiseDiv).
constexpr uint64_t kStartupRttRiseMinUs = 1'000;
constexpr uint64_t kStartupRttRiseDiv = 64;
constexpr double kStartupFullBwGrowth = 1.1;
constexpr unsigned kStartupFullBwRounds = 3;
constexpr double kStartupDrainGain = 0.5;
constexpr double kProbeGain = 1.15;
constexpr double kDrainGain = 0.75;
constexpr double kQueueBackoff = 0.85;  // standing queue: pace at this x delivery rate
// The standing-queue cut resets btl to delivery x (delivery / path)^-kShareCutExponent
// (at most path), path = btl's highest value, decaying by 1/kPathDecayRounds per
// round: a flow holding less of what it saw the path carry gives up less.
constexpr double kShareCutExponent = 0.5;
constexpr double kPathDecayRounds = 30;
constexpr double kShareCutMinShare = 0.05;
// Competing mode: kCompetitorRounds standing-queue rounds in a row, over at least
// kCompetitorMinUs, in which this flow's delivery fell to at most kCompetitorYield
// x the streak's first while the queue's least stayed at least kCompetitorQueueKept
// x the streak's first: the queue is not this flow's to drain. btl returns to its
// value before the streak. (Two jetrecv flows drain a queue when both yield; a
// newcomer's startup fills it for a few rounds, hence the time floor.)
constexpr unsigned kCompetitorRounds = 8;
constexpr uint64_t kCompetitorMinUs = 1'000'000;  // and the streak lasted this long
constexpr double kCompetitorYield = 0.6;
constexpr double kCompetitorQueueKept = 0.5;
// Competing: a round losing more than the random-loss baseline (an average over
// rounds without a standing queue) + this is congestion: btl x kCompetingBackoff
// (CUBIC's factor), at most every other round.
constexpr double kCompetingLossMargin = 0.005;
constexpr double kCompetingBackoff = 0.7;
// A round losing more than this is congested whatever the delay says.
constexpr double kCongestionLossFraction = 0.25;
constexpr unsigned kCycleRounds = 8;
// Additive increase per cruise round (bytes per RTT, RTT floored): see OnFeedback.
constexpr double kFairShareBytes = 98304;
constexpr uint64_t kFairShareMinRttUs = 20'000;
constexpr double kFairShareMaxFraction = 0.1;  // of btl: a slow link is not overrun by the step
// The step is taken only while the queuing delay as the round ends is at most
// this fraction of the target (a rising queue means the link is full).
constexpr double kStepQueueFraction = 0.75;
constexpr unsigned kBwWindowRounds = 10;
constexpr uint64_t kMinRttWindowUs = 10'000'000;
constexpr uint64_t kProbeRttMinUs = 200'000;  // PROBE_RTT lasts max(this, one round)
constexpr double kProbeRttGain = 0.5;
constexpr uint64_t kQueueTargetMinUs = 5'000;
constexpr uint64_t kQueueTargetMaxUs = 10'000;
constexpr uint64_t kQueueTargetRttDiv = 8;
// A standing queue is the least queuing delay over at least one round and this long.
constexpr uint64_t kStandingWindowUs = 30'000;
// A probe (and the drain after it) lasts one round but at most this long, so
// the queue it builds on a long path stays ~(kProbeGain - 1) x this.
constexpr uint64_t kProbeMaxUs = 60'000;
constexpr double kCongestionBackoff = 0.9;  // receiver socket overflow
constexpr unsigned kLossHoldFeedbacks = 2;
constexpr uint32_t kQueueHighPermille = 250;
// A sample counts as application-limited when the sender used less than this
// fraction of its paced rate.
constexpr double kAppLimitedFraction = 0.8;

enum class RatePolicy : uint8_t {
  kFair = 0,   // measures the path and yields to a standing queue (shares with TCP)
  kFixed = 1,  // holds max whatever the path does (dedicated links); receiver protection only
};

struct RateConfig {
  uint64_t max_bps = 0;    // 0 = no cap (kUncappedRateBps)
  uint64_t start_bps = 0;  // 0 = min(kDefaultStartRateBps, max)
  uint64_t min_bps = kMinRateBps;
  RatePolicy policy = RatePolicy::kFair;
  uint32_t seed = 0;  // picks the first probe-cycle phase (e.g. the transfer id)
};

// What one FEEDBACK told the sender.
struct RateSample {
  uint64_t now_us = 0;  // sender clock when the FEEDBACK arrived
  // Path timing (has_timing: the receiver echoed a send stamp and PathSampler
  // matched it with the previous echo).
  bool has_timing = false;
  uint64_t rtt_us = 0;            // now − echoed send time − receiver hold
  uint64_t echo_send_us = 0;      // send time of the newest block the receiver had
  uint64_t send_interval_us = 0;  // between the send times of the two echoed blocks
  uint64_t ack_interval_us = 0;   // between their arrivals (sender clock, via the hold)
  uint64_t interval_us = 0;       // max of the two; 0 = no rate sample in this FEEDBACK
  uint64_t sent_bytes = 0;        // datagram bytes sent in that send interval
  uint64_t delivered_bytes = 0;   // datagram bytes the receiver got in that interval
  bool app_limited = false;       // the sender had less to send than its rate allowed
  uint64_t sent_total_bytes = 0;  // datagram bytes sent so far (PathSampler)
  // Receiver protection.
  uint32_t socket_drops = 0;       // receiver socket overflow drops since its previous FEEDBACK
  uint32_t rx_queue_permille = 0;  // receiver's fullest socket queue, 1/1000 of its buffer
  // The receiver's cap on this transfer (FEEDBACK rate_cap_bps; 0 = none):
  // the rate never exceeds min(max, this), not even the floor min.
  uint64_t receiver_cap_bps = 0;
};

// Sender-side bookkeeping that turns FEEDBACK timing into RateSamples. Send
// stamps on the wire are the low 32 bits of the sender's µs clock (an RTT must
// stay under 71 minutes).
class PathSampler {
 public:
  static uint32_t Stamp(uint64_t now_us) { return static_cast<uint32_t>(now_us); }
  // A batch of datagram bytes went out, stamped Stamp(now_us).
  void OnSent(uint64_t now_us, uint64_t bytes);
  // One FEEDBACK's timing: echo (0 = none), hold_us, the receiver's cumulative
  // datagram bytes. Fills the timing part of *s (has_timing false when there is
  // no echo yet or no earlier echo to measure an interval from). paced_bps: the
  // current rate, to tell application-limited intervals.
  void OnFeedback(uint64_t now_us, uint32_t echo, uint32_t hold_us, uint64_t rx_bytes, uint64_t paced_bps,
                  RateSample* s);
  uint64_t sent_total() const { return sent_total_; }

 private:
  uint64_t SentBy(uint64_t send_us) const;  // cumulative bytes sent at or before send_us

  std::deque<std::pair<uint64_t, uint64_t>> history_;  // (send µs, cumulative bytes after it)
  uint64_t sent_total_ = 0;
  bool have_prev_ = false;
  uint64_t prev_echo_us_ = 0;
  uint64_t prev_arrival_us_ = 0;  // receiver arrival of the echoed block, in sender time
  uint64_t prev_rx_bytes_ = 0;
};

class RateController {
 public:
  enum class Mode : uint8_t { kStartup, kDrain, kProbeBw, kProbeRtt };

  explicit RateController(const RateConfig& config);

  // Adapts the rate to one FEEDBACK. Returns true if it counted as a congestion
  // event (the rate was cut: receiver socket overflow or a standing queue).
  bool OnFeedback(const RateSample& sample);
  // After each send: ends the first train once it holds InitialTrainBytes of the
  // start rate (FEEDBACK may come much later on a long path).
  void OnSent(uint64_t sent_total_bytes);

  uint64_t rate_bps() const { return rate_bps_; }
  uint64_t max_bps() const { return max_bps_; }
  uint64_t min_bps() const { return min_bps_; }
  // The receiver's cap from the newest FEEDBACK (0 = none).
  uint64_t receiver_cap_bps() const { return receiver_cap_bps_; }
  // Current bottleneck estimate (bits/s of datagrams), 0 before the first sample.
  uint64_t btl_bps() const { return static_cast<uint64_t>(btl_bps_); }
  uint64_t min_rtt_us() const { return min_rtt_us_; }
  uint64_t path_bps() const { return static_cast<uint64_t>(path_bps_); }
  uint64_t srtt_us() const { return static_cast<uint64_t>(srtt_us_); }
  uint64_t queue_target_us() const;
  bool in_startup() const { return mode_ == Mode::kStartup; }
  Mode mode() const { return mode_; }
  uint64_t rounds() const { return round_; }
  uint64_t loss_events() const { return loss_events_; }
  // Competing with a sender that does not yield to delay (see kCompetitorRounds).
  bool competing() const { return competing_; }
  uint64_t competitor_events() const { return competitor_events_; }

 private:
  uint64_t Clamp(double bps) const;
  void AddRoundSample(double bps);
  void ResetFilter(double bps);
  double FilterMax() const;
  void EnterProbeBw(unsigned phase, uint64_t now_us);
  void SetRate(double bps) { rate_bps_ = Clamp(bps); }

  const RatePolicy policy_;
  uint64_t max_bps_;
  uint64_t min_bps_;
  uint64_t receiver_cap_bps_ = 0;  // 0 = none; see RateSample
  uint64_t rate_bps_;
  uint64_t start_bps_ = 0;
  Mode mode_ = Mode::kStartup;

  // Rounds: a round ends when an echo is of a block sent at or after round_start_us_.
  uint64_t round_ = 0;
  uint64_t round_start_us_ = 0;
  // The current round's sums (one bandwidth sample per round, so the noise
  // of single FEEDBACK intervals averages out).
  uint64_t acc_accepted_ = 0, acc_delivered_ = 0, acc_sent_ = 0, acc_send_us_ = 0, acc_ack_us_ = 0;
  unsigned acc_samples_ = 0, acc_app_limited_ = 0;
  double round_max_rate_ = 0, prev_round_max_rate_ = 0;  // highest paced rate per round
  uint64_t round_min_queue_us_ = UINT64_MAX;             // least queuing delay since queue_window_start_us_
  uint64_t queue_window_start_us_ = 0;
  // Max filter over the last kBwWindowRounds round samples (slot = seq % size).
  uint64_t sample_seq_ = 0;
  std::array<double, kBwWindowRounds> samples_{};
  std::array<uint64_t, kBwWindowRounds> sample_round_{};  // its seq, 0 = empty
  double btl_bps_ = 0;
  double path_bps_ = 0;  // btl's decaying maximum (kPathDecayRounds)

  uint64_t min_rtt_us_ = 0;  // 0 = no sample yet
  uint64_t min_rtt_stamp_us_ = 0;
  uint64_t low_rtt_candidate_us_ = 0;  // one sample below min_rtt_us_, awaiting a second
  double srtt_us_ = 0;
  uint64_t probe_rtt_end_us_ = 0;
  uint64_t probe_rtt_min_us_ = UINT64_MAX;

  unsigned high_queue_feedbacks_ = 0;  // consecutive FEEDBACKs with the queue above target
  uint64_t round_min_rtt_us_ = UINT64_MAX, prev_round_min_rtt_us_ = UINT64_MAX;
  bool startup_rtt_rise_ = false;
  uint64_t drain_start_us_ = 0;
  uint64_t last_feedback_us_ = 0;  // now_us of the previous timed FEEDBACK
  double full_bw_ = 0;             // startup: btl at the last significant growth
  unsigned full_bw_rounds_ = 0;
  unsigned phase_ = 0;           // probe cycle position
  unsigned first_phase_;         // from RateConfig::seed
  uint64_t phase_start_us_ = 0;  // when the current phase began
  unsigned hold_ = 0;            // feedbacks whose drop reports are ignored after a cut
  uint64_t loss_events_ = 0;
  // Standing-queue rounds in a row, and the first one's least queue, delivery and btl before its cut.
  unsigned standing_streak_ = 0;
  uint64_t streak_queue_us_ = 0, streak_start_us_ = 0;
  double streak_delivered_bps_ = 0, streak_btl_bps_ = 0;
  bool competing_ = false;
  double loss_baseline_ = 0;  // random loss per round (EWMA over rounds without a standing queue)
  uint64_t competing_cut_round_ = 0;
  uint64_t competitor_events_ = 0;
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
