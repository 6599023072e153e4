// rate_control_test.cc — the delivery-rate controller: startup doubles while the
// receiver's absorbed rate grows and leaves once it stops growing; the probe /
// drain / cruise cycle keeps the rate at the bottleneck; socket drops at the
// receiver cut the rate to what it absorbed (then a hold); app-limited rounds
// do not lower the estimate; random loss on the path does not collapse the
// rate (closed-loop simulations at 0-20 % loss, with and without a receive
// buffer); always within [min, max]. The pacer's token bucket paces at its rate.
#include "core/rate_control.h"

#include <algorithm>
#include <cstdio>

#include "test_util.h"

using namespace jetrecv::core;

namespace {

constexpr double kWire = 1.0;  // tests use datagram bytes == data bytes unless stated

// A report from a receiver that absorbed `recv_bps` while the sender sent at `rate` for 10 ms.
RateSample Report(uint64_t rate_bps, uint64_t recv_bps) {
  RateSample s;
  s.interval_us = 10'000;
  s.sent_bytes = rate_bps / 8 / 100;
  s.sent_blocks = s.sent_bytes / 1000 + 1;
  s.recv_rate_Bps = recv_bps / 8;
  s.wire_per_data = kWire;
  return s;
}
RateSample Clean(uint64_t rate_bps) { return Report(rate_bps, rate_bps); }

void TestDefaultsAndClamp() {
  RateController uncapped(RateConfig{0, 0, kMinRateBps});
  CHECK_EQ(uncapped.max_bps(), kUncappedRateBps);
  CHECK_EQ(uncapped.rate_bps(), kDefaultStartRateBps);
  RateController small_cap(RateConfig{10'000'000, 0, kMinRateBps});
  CHECK_EQ(small_cap.rate_bps(), 10'000'000u);  // default start capped by max
  RateController start_above(RateConfig{50'000'000, 80'000'000, kMinRateBps});
  CHECK_EQ(start_above.rate_bps(), 50'000'000u);
  RateController start_below(RateConfig{50'000'000, 10, kMinRateBps});
  CHECK_EQ(start_below.rate_bps(), kMinRateBps);
}

void TestStartupDoublesUpToMax() {
  RateController rc(RateConfig{1'000'000'000, 100'000'000, kMinRateBps});
  RateSample nothing = Clean(100'000'000);
  nothing.recv_rate_Bps = 0;  // no sample yet: keep the start rate
  rc.OnFeedback(nothing);
  CHECK_EQ(rc.rate_bps(), 100'000'000u);
  rc.OnFeedback(Clean(100'000'000));
  CHECK_EQ(rc.rate_bps(), 200'000'000u);  // kStartupGain x what the receiver absorbed
  uint64_t prev = rc.rate_bps();
  bool reached = false;
  for (int i = 0; i < 20 && !reached; ++i) {
    CHECK(!rc.OnFeedback(Clean(rc.rate_bps())));
    CHECK(rc.rate_bps() >= prev);
    CHECK(rc.rate_bps() <= 1'000'000'000u);
    prev = rc.rate_bps();
    if (prev == 1'000'000'000u) reached = true;
  }
  CHECK(reached);
}

void TestStartupExitsAtCapacity() {
  // The receiver absorbs 2 Gbit/s at most; startup must stop and settle there.
  const uint64_t capacity = 2'000'000'000;
  RateController rc(RateConfig{0, 100'000'000, kMinRateBps});
  int rounds = 0;
  while (rc.in_startup() && rounds < 50) {
    rc.OnFeedback(Report(rc.rate_bps(), std::min(rc.rate_bps(), capacity)));
    ++rounds;
  }
  CHECK(!rc.in_startup());
  CHECK(rounds < 15);
  CHECK_EQ(rc.btl_bps(), capacity);
  CHECK(rc.rate_bps() < capacity);  // draining the queue startup built
  // One full cycle averages the bottleneck: probes above it, drains below.
  double sum = 0;
  for (unsigned i = 0; i < 2 + kCycleRounds; ++i) {
    rc.OnFeedback(Report(rc.rate_bps(), std::min(rc.rate_bps(), capacity)));
    if (i >= 2) sum += static_cast<double>(rc.rate_bps());
  }
  const double avg = sum / kCycleRounds;
  CHECK(avg > 0.95 * capacity && avg < 1.05 * capacity);
  std::printf("startup left after %d rounds; cycle average %.3f x capacity\n", rounds, avg / capacity);
}

void TestAppLimitedKeepsEstimate() {
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  for (int i = 0; i < 6; ++i) rc.OnFeedback(Report(rc.rate_bps(), std::min<uint64_t>(rc.rate_bps(), 1'000'000'000)));
  const uint64_t btl = rc.btl_bps();
  CHECK_EQ(btl, 1'000'000'000u);
  // The tail of a transfer: the sender uses a tenth of its rate; the receiver
  // absorbs only that. The estimate must not follow it down.
  for (int i = 0; i < 40; ++i) {
    RateSample idle = Report(rc.rate_bps(), 50'000'000);
    idle.sent_bytes /= 10;
    idle.nacked_blocks = 100;
    CHECK(!rc.OnFeedback(idle));
  }
  CHECK_EQ(rc.btl_bps(), btl);
  CHECK(rc.rate_bps() >= btl * 3 / 4);
}

void TestSocketDropsCut() {
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  RateSample drops = Report(1'000'000'000, 700'000'000);
  drops.socket_drops = 50;
  CHECK(rc.OnFeedback(drops));
  CHECK_EQ(rc.rate_bps(), 630'000'000u);  // kCongestionBackoff x 700M absorbed
  CHECK_EQ(rc.btl_bps(), 700'000'000u);
  CHECK(!rc.in_startup());
  CHECK_EQ(rc.loss_events(), 1u);
  // The next kLossHoldFeedbacks reports describe the old rate: no further cut.
  for (unsigned i = 0; i < kLossHoldFeedbacks; ++i) CHECK(!rc.OnFeedback(drops));
  CHECK_EQ(rc.loss_events(), 1u);
  // After the hold a collapse cuts again, by at most half.
  RateSample collapse = Report(rc.rate_bps(), 8'000);
  collapse.socket_drops = 1;
  const uint64_t before = rc.rate_bps();
  CHECK(rc.OnFeedback(collapse));
  CHECK_EQ(rc.rate_bps(), before / 2);
  CHECK_EQ(rc.loss_events(), 2u);
  // NACKs alone (random loss on the path) are no congestion signal.
  RateController nacks(RateConfig{0, 500'000'000, kMinRateBps});
  RateSample lossy = Report(500'000'000, 475'000'000);
  lossy.nacked_blocks = lossy.sent_blocks / 20;  // 5 %
  CHECK(!nacks.OnFeedback(lossy));
  CHECK(nacks.rate_bps() > 500'000'000u);
  // Never below the minimum.
  RateController floor(RateConfig{0, 2'000'000, 1'500'000});
  RateSample bad = Report(2'000'000, 8);
  bad.socket_drops = 1;
  for (int i = 0; i < 20; ++i) floor.OnFeedback(bad);
  CHECK_EQ(floor.rate_bps(), 1'500'000u);
}

struct LoopResult {
  double avg_rate = 0;    // mean paced rate over the second half, bits/s
  double goodput = 0;     // mean absorbed rate over the second half
  double overflow = 0;    // fraction of sent bytes lost to the receive buffer overflowing
};

// Closed loop, 10 ms rounds: a receiver absorbing at most `capacity` behind a
// buffer of `buffer_rounds` rounds of capacity (0 = none: any excess overflows),
// on a path that loses `random_loss` of the datagrams before they reach it.
// With report_queue the receiver reports its queue fill (rx_queue_permille).
LoopResult RunLoop(uint64_t capacity, double random_loss, double buffer_rounds, int rounds,
                   bool report_queue = true) {
  RateController rc(RateConfig{0, 100'000'000, kMinRateBps});
  const double cap_bytes = static_cast<double>(capacity) / 8 / 100;  // per round
  const double buffer_cap = buffer_rounds * cap_bytes;
  double queue = 0, sent_total = 0, overflow_total = 0, rate_sum = 0, good_sum = 0;
  int counted = 0;
  for (int i = 0; i < rounds; ++i) {
    const double sent = static_cast<double>(rc.rate_bps()) / 8 / 100;
    queue += sent * (1 - random_loss);
    const double absorbed = std::min(queue, cap_bytes);
    queue -= absorbed;
    double dropped = 0;
    if (queue > buffer_cap) {
      dropped = queue - buffer_cap;
      queue = buffer_cap;
    }
    RateSample s;
    s.interval_us = 10'000;
    s.sent_bytes = static_cast<uint64_t>(sent);
    s.sent_blocks = static_cast<uint64_t>(sent / 8900) + 1;
    s.recv_rate_Bps = static_cast<uint64_t>(absorbed * 100);
    s.socket_drops = static_cast<uint32_t>(dropped / 8900 + (dropped > 0 ? 1 : 0));
    if (report_queue && buffer_cap > 0) s.rx_queue_permille = static_cast<uint32_t>(1000 * queue / buffer_cap);
    s.wire_per_data = kWire;
    rc.OnFeedback(s);
    sent_total += sent;
    overflow_total += dropped;
    if (i >= rounds / 2) {
      rate_sum += static_cast<double>(rc.rate_bps());
      good_sum += absorbed * 8 * 100;
      ++counted;
    }
  }
  return {rate_sum / counted, good_sum / counted, overflow_total / sent_total};
}

void TestQueueSignal() {
  // Startup ends as soon as the receiver's queue fills, before any drop.
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  RateSample q = Clean(1'000'000'000);
  q.rx_queue_permille = kQueueHighPermille + 1;
  CHECK(!rc.OnFeedback(q));
  CHECK(!rc.in_startup());
  CHECK_EQ(rc.rate_bps(), static_cast<uint64_t>(1'000'000'000 * kStartupDrainGain));
  CHECK_EQ(rc.loss_events(), 0u);
  // A receiver that stalls (disk writeback) absorbs almost nothing while its
  // queue fills: the rate follows what it absorbs, not the estimate, and
  // returns to the estimate once the queue has drained.
  RateController st(RateConfig{0, 1'000'000'000, kMinRateBps});
  for (int i = 0; i < 30; ++i) st.OnFeedback(Report(st.rate_bps(), std::min<uint64_t>(st.rate_bps(), 2'000'000'000)));
  CHECK_EQ(st.btl_bps(), 2'000'000'000u);
  RateSample stall = Report(st.rate_bps(), 100'000'000);
  stall.rx_queue_permille = 600;
  st.OnFeedback(stall);
  CHECK(st.rate_bps() <= 100'000'000u);
  CHECK_EQ(st.btl_bps(), 2'000'000'000u);
  RateSample drained = Report(st.rate_bps(), 2'000'000'000);  // the backlog is written
  drained.rx_queue_permille = 10;
  st.OnFeedback(drained);
  CHECK(st.rate_bps() >= 1'400'000'000u);
  CHECK_EQ(st.loss_events(), 0u);
  // Without the queue report (an older receiver) a buffer that overflows now
  // and then still settles, at the cost of some overflow.
  const LoopResult r = RunLoop(2'000'000'000, 0, 3, 2000, /*report_queue=*/false);
  std::printf("no queue report: goodput %.2f Gbit/s, overflow %.2f%%\n", r.goodput / 1e9, 100 * r.overflow);
  CHECK(r.goodput >= 0.9 * 2e9);
  CHECK(r.overflow < 0.05);
}

void TestClosedLoop() {
  for (const uint64_t capacity : {300'000'000ull, 2'000'000'000ull, 7'000'000'000ull}) {
    for (const double buffer_rounds : {0.0, 3.0}) {
      for (const double loss : {0.0, 0.01, 0.05, 0.2}) {
        const LoopResult r = RunLoop(capacity, loss, buffer_rounds, 2000);
        const double c = static_cast<double>(capacity);
        std::printf("capacity %.1f Gbit/s, buffer %.0f rounds, random loss %2.0f%%: rate %.2f, "
                    "goodput %.2f Gbit/s (%.0f%% of capacity), overflow %.2f%%\n",
                    c / 1e9, buffer_rounds, loss * 100, r.avg_rate / 1e9, r.goodput / 1e9,
                    100 * r.goodput / c, 100 * r.overflow);
        // Random loss does not collapse the rate: goodput stays near what the
        // path can give, (1 - loss) x capacity, with some margin for probing.
        const double floor = loss >= 0.2 ? 0.55 : 0.8;
        CHECK(r.goodput >= floor * (1 - loss) * c);
        CHECK(r.avg_rate <= 1.2 * c);
        // Overflow (retransmissions caused by the sender itself) stays small,
        // and none at all with a buffer that holds the probe.
        CHECK(r.overflow < (buffer_rounds > 0 ? 0.001 : 0.05));
      }
    }
  }
}

void TestPacer() {
  // 8 Mbit/s = 1,000,000 bytes/s; burst 10,000 bytes.
  Pacer p(8'000'000, 10'000, 0);
  CHECK(p.TryConsume(10'000, 0));      // full bucket
  CHECK(!p.TryConsume(1'000, 0));      // empty now
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
  TestStartupDoublesUpToMax();
  TestStartupExitsAtCapacity();
  TestAppLimitedKeepsEstimate();
  TestSocketDropsCut();
  TestQueueSignal();
  TestClosedLoop();
  TestPacer();
  return jetrecv::test::TestExitCode();
}
