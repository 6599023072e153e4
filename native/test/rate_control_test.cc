// rate_control_test.cc — unit checks of the path sampler, the controller's
// rules and the pacer (closed loops against a simulated path are in
// rate_control_sim_test): echo arithmetic (RTT, send interval, sent and
// delivered bytes, 32-bit stamp wrap), startup doubling per RTT round and its
// exit on queue growth, random loss without queue growth leaving the rate
// alone, a standing queue cutting it, a competitor's queue that stays however
// far the flow cuts (competing mode), receiver socket drops and receive-queue
// protection, the fixed policy, [min, max] clamping, the receiver's cap.
#include "core/rate_control.h"

#include <algorithm>
#include <cstdio>
#include <deque>

#include "test_util.h"

using namespace jetrecv::core;

namespace {

void TestDefaultsAndClamp() {
  RateController uncapped(RateConfig{0, 0, kMinRateBps});
  CHECK_EQ(uncapped.max_bps(), kUncappedRateBps);
  CHECK_EQ(uncapped.rate_bps(), kDefaultStartRateBps);
  RateController small_cap(RateConfig{10'000'000, 0, kMinRateBps});
  CHECK_EQ(small_cap.rate_bps(), 10'000'000u);
  RateController start_below(RateConfig{50'000'000, 10, 20'000'000});
  CHECK_EQ(start_below.rate_bps(), 20'000'000u);  // --rate-min is a floor
  RateController fixed(RateConfig{300'000'000, 0, kMinRateBps, RatePolicy::kFixed});
  CHECK_EQ(fixed.rate_bps(), 300'000'000u);  // fixed starts (and stays) at max
}

// The first train is 4 ms of the start rate but at least kInitialTrainMinBytes; then the
// trickle (1/kTrickleDiv of the start rate) until the first sample.
void TestFirstTrainLength() {
  RateController fast(RateConfig{0, 1'000'000'000, kMinRateBps});
  fast.OnSent(499'000);
  CHECK_EQ(fast.rate_bps(), 1'000'000'000u);
  fast.OnSent(500'000);  // 4 ms at 1 Gbit/s
  CHECK_EQ(fast.rate_bps(), 125'000'000u);
  RateController slow(RateConfig{0, 20'000'000, kMinRateBps});
  slow.OnSent(10'000);  // 4 ms at 20 Mbit/s: 7 datagrams, not yet the train
  CHECK_EQ(slow.rate_bps(), 20'000'000u);
  slow.OnSent(kInitialTrainMinBytes);
  CHECK_EQ(slow.rate_bps(), 2'500'000u);
  CHECK_EQ(InitialTrainBytes(20'000'000), kInitialTrainMinBytes);
  CHECK_EQ(InitialTrainBytes(1'000'000'000), 500'000u);
}

void TestSamplerEcho() {
  PathSampler ps;
  ps.OnSent(1'000, 10'000);
  ps.OnSent(2'000, 10'000);
  ps.OnSent(3'000, 10'000);
  RateSample s;
  // Echo of the block sent at 1000 µs, held 500 µs, feedback at 21'500 µs.
  ps.OnFeedback(21'500, PathSampler::Stamp(1'000), 500, 10'000, 1'000'000'000, &s);
  CHECK(s.has_timing);
  CHECK_EQ(s.rtt_us, 20'000u);
  CHECK_EQ(s.interval_us, 0u);  // no earlier echo: no rate sample yet
  ps.OnFeedback(23'500, PathSampler::Stamp(3'000), 500, 28'000, 1'000'000'000, &s);
  CHECK_EQ(s.rtt_us, 20'000u);
  CHECK_EQ(s.interval_us, 2'000u);
  CHECK_EQ(s.sent_bytes, 20'000u);       // the batches at 2000 and 3000 µs
  CHECK_EQ(s.delivered_bytes, 18'000u);  // one datagram lost
  // No echo (old receiver, or nothing received yet): no timing.
  ps.OnFeedback(24'000, 0, 0, 28'000, 1'000'000'000, &s);
  CHECK(!s.has_timing);
  // The 32-bit stamp wraps every 71.6 minutes; RTTs are measured across it.
  PathSampler w;
  const uint64_t t0 = (uint64_t{1} << 32) - 1'000;
  w.OnSent(t0, 1'000);
  w.OnFeedback(t0 + 50'000, PathSampler::Stamp(t0), 0, 1'000, 1'000'000'000, &s);
  CHECK(s.has_timing);
  CHECK_EQ(s.rtt_us, 50'000u);
}

// A sample of one 10 ms interval at rate `sent_bps`, `delivered` fraction of it
// arriving, with RTT `rtt_us`, the echo being of a block sent at `send_us`.
RateSample Sample(uint64_t now_us, uint64_t send_us, uint64_t rtt_us, double sent_bps, double delivered) {
  RateSample s;
  s.now_us = now_us;
  s.has_timing = true;
  s.rtt_us = rtt_us;
  s.echo_send_us = send_us;
  s.interval_us = s.send_interval_us = s.ack_interval_us = 10'000;
  s.sent_bytes = static_cast<uint64_t>(sent_bps / 8 / 100);
  s.delivered_bytes = static_cast<uint64_t>(static_cast<double>(s.sent_bytes) * delivered);
  return s;
}

// Feeds the controller 10 ms FEEDBACKs over a 40 ms path whose capacity is cap
// (above it a queue grows by the excess), with random loss `loss`; returns the
// queue (ms) at the end.
// The sample of each FEEDBACK describes what was sent one RTT (4 feedbacks) earlier.
double Drive(RateController& rc, uint64_t& now, uint64_t until, double cap, double loss) {
  double queue_ms = 0;
  std::deque<double> sent;  // rates of the last 4 intervals, oldest first
  while (now < until) {
    now += 10'000;
    sent.push_back(static_cast<double>(rc.rate_bps()));
    if (sent.size() > 4) sent.pop_front();
    const double rate = sent.front();
    queue_ms = std::max(0.0, queue_ms + (rate - cap) / cap * 10.0);
    const double through = std::min(rate, cap + queue_ms * cap / 10.0);
    RateSample s = Sample(now, now - 40'000, 40'000 + static_cast<uint64_t>(queue_ms * 1000),
                          std::min(rate, through), 1 - loss);
    rc.OnFeedback(s);
  }
  return queue_ms;
}

void TestStartupAndExitOnQueue() {
  RateController rc(RateConfig{0, 100'000'000, kMinRateBps});
  uint64_t now = 1'000'000;  // echoes are of blocks sent 40 ms before now
  // Startup grows the rate by kStartupGain per RTT (not per FEEDBACK) while no queue grows.
  Drive(rc, now, 1'100'000, 1e10, 0);
  const uint64_t r1 = rc.rate_bps();
  CHECK(rc.in_startup());
  Drive(rc, now, 1'140'000, 1e10, 0);
  std::printf("startup: %.0f -> %.0f Mbit/s in one RTT\n", r1 / 1e6, rc.rate_bps() / 1e6);
  CHECK(rc.rate_bps() >= r1 * 6 / 5 && rc.rate_bps() <= r1 * 3 / 2);
  // At a 1 Gbit/s bottleneck the queue ends startup, and the drain empties it.
  RateController b(RateConfig{0, 100'000'000, kMinRateBps});
  now = 1'000'000;
  Drive(b, now, 1'800'000, 1e9, 0);
  CHECK(!b.in_startup());
  const double q = Drive(b, now, 4'000'000, 1e9, 0);
  std::printf("1 Gbit/s bottleneck: queue %.1f ms, btl %.0f Mbit/s\n", q, b.btl_bps() / 1e6);
  CHECK(q < 30.0);  // probes and the additive step queue a little; the sim test bounds it exactly
  CHECK(b.btl_bps() > 900'000'000u && b.btl_bps() < 1'300'000'000u);
}

void TestRandomLossDoesNotCut() {
  // 5 % loss and no queue: the path took everything sent, the rate keeps growing.
  RateController rc(RateConfig{2'000'000'000, 1'000'000'000, kMinRateBps});
  uint64_t now = 1'000'000;
  Drive(rc, now, 2'000'000, 1e10, 0.05);
  std::printf("5 %% random loss: btl %.0f Mbit/s, rate %.0f Mbit/s\n", rc.btl_bps() / 1e6,
              rc.rate_bps() / 1e6);
  CHECK(rc.btl_bps() >= 1'900'000'000u);   // the estimate is the cap, not (1 - loss) x it
  CHECK(rc.rate_bps() >= 1'500'000'000u);  // at worst the 0.75 round after a probe
  CHECK_EQ(rc.loss_events(), 0u);
}

void TestStandingQueueCuts() {
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  uint64_t now = 1'000'000;
  Drive(rc, now, 4'000'000, 1e9, 0);
  const uint64_t events = rc.loss_events();
  // Another flow takes half the link: our RTT stays 20 ms above the minimum and
  // only half of what we send arrives. The rate falls towards what arrives.
  for (int i = 0; i < 60; ++i) {
    now += 10'000;
    rc.OnFeedback(Sample(now, now - 60'000, 60'000, static_cast<double>(rc.rate_bps()), 0.5));
  }
  CHECK(rc.loss_events() > events);
  CHECK(rc.rate_bps() < 700'000'000u);
}

// A competitor that does not yield to delay (TCP BBR, CUBIC): the queue stays
// 20 ms above the minimum however far this flow cuts. After >= 1 s of cuts it
// competes (btl back to where the cuts began), cuts on loss above the random
// baseline only, and yields to delay again once the queue empties.
void TestCompetitorQueue() {
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  uint64_t now = 1'000'000;
  Drive(rc, now, 4'000'000, 1e9, 0);
  const uint64_t before = rc.btl_bps();
  uint64_t least = before;
  for (int i = 0; i < 150 && !rc.competing(); ++i) {
    now += 10'000;
    rc.OnFeedback(Sample(now, now - 60'000, 60'000, static_cast<double>(rc.rate_bps()), 1));
    least = std::min(least, rc.btl_bps());
  }
  std::printf("competitor's queue: btl %.0f -> %.0f Mbit/s, competing after %.2f s at %.0f Mbit/s\n",
              before / 1e6, least / 1e6, (now - 4'000'000) / 1e6, rc.btl_bps() / 1e6);
  CHECK(rc.competing());
  CHECK_EQ(rc.competitor_events(), 1u);
  CHECK(least <= before * 6 / 10);         // it yielded first
  CHECK(rc.btl_bps() >= before * 8 / 10);  // then took back what the cuts gave up
  // Competing: the standing queue no longer cuts; loss above the baseline does (x kCompetingBackoff).
  const uint64_t events = rc.loss_events();
  for (int i = 0; i < 30; ++i) {
    now += 10'000;
    rc.OnFeedback(Sample(now, now - 60'000, 60'000, static_cast<double>(rc.rate_bps()), 1));
  }
  CHECK(rc.competing());
  CHECK_EQ(rc.loss_events(), events);
  const uint64_t btl = rc.btl_bps();
  for (int i = 0; i < 12 && rc.loss_events() == events; ++i) {
    now += 10'000;
    rc.OnFeedback(Sample(now, now - 60'000, 60'000, static_cast<double>(rc.rate_bps()), 0.95));
  }
  CHECK_EQ(rc.loss_events(), events + 1);
  CHECK(rc.btl_bps() <= static_cast<uint64_t>(btl * kCompetingBackoff * 1.05));
  // The queue empties (the competitor left): the delay signal counts again.
  for (int i = 0; i < 20; ++i) {
    now += 10'000;
    rc.OnFeedback(Sample(now, now - 40'000, 40'000, static_cast<double>(rc.rate_bps()), 1));
  }
  CHECK(!rc.competing());
}

void TestReceiverProtection() {
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  uint64_t now = 1'000'000;
  Drive(rc, now, 2'000'000, 1e9, 0);
  RateSample s = Sample(now + 10'000, now - 30'000, 40'000, 1e9, 0.6);
  s.socket_drops = 100;
  CHECK(rc.OnFeedback(s));  // receiver socket overflow: cut to what it absorbed
  CHECK(rc.rate_bps() <= 600'000'000u);
  CHECK(rc.rate_bps() >= 500'000'000u);
  RateController q(RateConfig{0, 1'000'000'000, kMinRateBps});
  now = 1'000'000;
  Drive(q, now, 2'000'000, 1e9, 0);
  RateSample full = Sample(now + 10'000, now - 30'000, 40'000, 1e9, 0.2);
  full.rx_queue_permille = 600;  // receiver threads stalled: pace below what it absorbs
  q.OnFeedback(full);
  CHECK(q.rate_bps() <= 200'000'000u);
  // The fixed policy ignores the path but not the receiver.
  RateController f(RateConfig{800'000'000, 0, kMinRateBps, RatePolicy::kFixed});
  now = 1'000'000;
  Drive(f, now, 2'000'000, 4e8, 0.1);
  CHECK_EQ(f.rate_bps(), 800'000'000u);
  f.OnFeedback(full);
  CHECK(f.rate_bps() < 800'000'000u);
  now += 10'000;
  f.OnFeedback(Sample(now, now - 40'000, 40'000, 1e8, 1));
  CHECK_EQ(f.rate_bps(), 800'000'000u);
}

// The receiver's cap (FEEDBACK rate_cap_bps) bounds every policy from the
// FEEDBACK that carries it, below --rate-max and even below --rate-min; a
// FEEDBACK without it lifts it.
void TestReceiverCap() {
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  uint64_t now = 1'000'000;
  Drive(rc, now, 2'000'000, 1e9, 0);
  CHECK(rc.rate_bps() > 500'000'000u);
  uint64_t peak = 0;
  for (int i = 0; i < 300; ++i) {  // 3 s of a 1 Gbit/s path under a 20 Mbit/s cap
    now += 10'000;
    RateSample s = Sample(now, now - 40'000, 40'000, static_cast<double>(rc.rate_bps()), 1);
    s.receiver_cap_bps = 20'000'000;
    rc.OnFeedback(s);
    CHECK_EQ(rc.receiver_cap_bps(), 20'000'000u);
    peak = std::max(peak, rc.rate_bps());
  }
  CHECK(peak <= 20'000'000u);
  CHECK(rc.rate_bps() >= 15'000'000u);      // the path is free: it holds near the cap
  Drive(rc, now, now + 3'000'000, 1e9, 0);  // FEEDBACK without the cap: it grows again
  CHECK_EQ(rc.receiver_cap_bps(), 0u);
  CHECK(rc.rate_bps() > 100'000'000u);

  RateController fixed(RateConfig{300'000'000, 0, 50'000'000, RatePolicy::kFixed});
  now += 10'000;
  RateSample s = Sample(now, now - 40'000, 40'000, 3e8, 1);
  s.receiver_cap_bps = 10'000'000;  // below --rate-min: the receiver wins
  fixed.OnFeedback(s);
  CHECK_EQ(fixed.rate_bps(), 10'000'000u);
  s.receiver_cap_bps = 500'000'000;  // above --rate-max: max holds
  fixed.OnFeedback(s);
  CHECK_EQ(fixed.rate_bps(), 300'000'000u);
}

void TestPacer() {
  // 8 Mbit/s = 1,000,000 bytes/s; burst 10,000 bytes.
  Pacer p(8'000'000, 10'000, 0);
  CHECK(p.TryConsume(10'000, 0));            // full bucket
  CHECK(!p.TryConsume(1'000, 0));            // empty now
  CHECK_EQ(p.WaitNs(1'000, 0), 1'000'001u);  // 1 ms for 1000 bytes
  CHECK(!p.TryConsume(1'000, 999'000));
  CHECK(p.TryConsume(1'000, 1'000'000));
  // A send larger than the burst goes out once the bucket is full, as a debt.
  CHECK_EQ(p.WaitNs(50'000, 1'000'000), 10'000'001u);
  CHECK(p.TryConsume(50'000, 11'000'000));
  CHECK(p.WaitNs(1, 11'000'000) > 40'000'000u);  // 40 KB of debt to repay at 1 MB/s

  // Long run: paced bytes over 1 s match the rate (plus the initial burst).
  Pacer q(80'000'000, 64'000, 0);  // 10 MB/s
  uint64_t now = 0, sent = 0;
  while (now < 1'000'000'000ull) {
    const uint64_t w = q.WaitNs(1500, now);
    if (w == 0) {
      CHECK(q.TryConsume(1500, now));
      sent += 1500;
    } else {
      now += w;
    }
  }
  CHECK(sent >= 10'000'000u && sent <= 10'000'000u + 64'000u + 1500u);
  // SetRate keeps earned tokens and changes the refill speed.
  q.SetRate(8'000'000, now);
  CHECK_EQ(q.rate_bps(), 8'000'000u);
}

}  // namespace

int main() {
  TestDefaultsAndClamp();
  TestFirstTrainLength();
  TestSamplerEcho();
  TestStartupAndExitOnQueue();
  TestRandomLossDoesNotCut();
  TestStandingQueueCuts();
  TestCompetitorQueue();
  TestReceiverProtection();
  TestReceiverCap();
  TestPacer();
  return jetrecv::test::TestExitCode();
}
