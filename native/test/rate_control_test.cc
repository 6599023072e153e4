// rate_control_test.cc — the rate controller grows without loss (fast in
// startup, slowly after the first loss), backs off on loss reports toward the
// receiver's rate, ignores loss reports for a hold period after a back-off,
// does not grow when application-limited, stays within [min, max]; in a
// closed loop against a receiver of fixed capacity it settles near that
// capacity with little loss. The pacer's token bucket paces at its rate.
#include "core/rate_control.h"

#include <algorithm>
#include <cstdio>

#include "test_util.h"

using namespace jetrecv::core;

namespace {

constexpr double kWire = 1.0;  // tests use datagram bytes == data bytes unless stated

// A loss-free report from a receiver that got everything sent at `rate` for 10 ms.
RateSample Clean(uint64_t rate_bps) {
  RateSample s;
  s.interval_us = 10'000;
  s.sent_bytes = rate_bps / 8 / 100;
  s.sent_blocks = s.sent_bytes / 1000 + 1;
  s.recv_rate_Bps = rate_bps / 8;
  s.wire_per_data = kWire;
  return s;
}

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

void TestGrowsWithoutLossUpToMax() {
  RateController rc(RateConfig{1'000'000'000, 100'000'000, kMinRateBps});
  uint64_t prev = rc.rate_bps();
  bool reached = false;
  for (int i = 0; i < 100; ++i) {
    CHECK(!rc.OnFeedback(Clean(rc.rate_bps())));
    CHECK(rc.rate_bps() >= prev);
    CHECK(rc.rate_bps() <= 1'000'000'000u);
    prev = rc.rate_bps();
    if (prev == 1'000'000'000u) reached = true;
  }
  CHECK(reached);
  CHECK(rc.in_startup());
  // Startup grows by kStartupGrowth per report: 100M -> 125M after one.
  RateController one(RateConfig{1'000'000'000, 100'000'000, kMinRateBps});
  one.OnFeedback(Clean(100'000'000));
  CHECK_EQ(one.rate_bps(), 125'000'000u);
}

void TestFirstReportAndAppLimited() {
  RateController rc(RateConfig{0, 100'000'000, kMinRateBps});
  RateSample first = Clean(100'000'000);
  first.interval_us = 0;  // first FEEDBACK: nothing to compare with
  rc.OnFeedback(first);
  CHECK_EQ(rc.rate_bps(), 100'000'000u);
  RateSample idle = Clean(100'000'000);
  idle.sent_bytes = 100'000'000 / 8 / 100 / 4;  // used a quarter of the rate
  for (int i = 0; i < 10; ++i) rc.OnFeedback(idle);
  CHECK_EQ(rc.rate_bps(), 100'000'000u);
  // The receiver's measured rate bounds growth to 2x of it.
  RateSample slow = Clean(100'000'000);
  slow.recv_rate_Bps = 60'000'000 / 8;
  for (int i = 0; i < 10; ++i) rc.OnFeedback(slow);
  CHECK_EQ(rc.rate_bps(), 120'000'000u);
}

void TestBacksOffOnLoss() {
  // Socket drops at the receiver: back off toward what it absorbed.
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  RateSample drops = Clean(1'000'000'000);
  drops.recv_rate_Bps = 700'000'000 / 8;
  drops.socket_drops = 50;
  CHECK(rc.OnFeedback(drops));
  CHECK_EQ(rc.rate_bps(), 665'000'000u);  // min(0.85 * 1G, 0.95 * 700M)
  CHECK(!rc.in_startup());
  CHECK_EQ(rc.loss_events(), 1u);

  // The next kLossHoldFeedbacks reports describe the old rate: no further cut.
  for (unsigned i = 0; i < kLossHoldFeedbacks; ++i) {
    const uint64_t before = rc.rate_bps();
    CHECK(!rc.OnFeedback(drops));
    CHECK(rc.rate_bps() >= before);
  }
  // After the hold, loss cuts again, by at most half per event.
  RateSample collapse = Clean(rc.rate_bps());
  collapse.recv_rate_Bps = 1'000;  // receiver reports almost nothing
  collapse.socket_drops = 1;
  const uint64_t before = rc.rate_bps();
  CHECK(rc.OnFeedback(collapse));
  CHECK_EQ(rc.rate_bps(), before / 2);

  // NACKed blocks above the tolerance count as loss; below it they do not.
  RateController nacks(RateConfig{0, 500'000'000, kMinRateBps});
  RateSample light = Clean(500'000'000);
  light.sent_blocks = 1000;
  light.nacked_blocks = 5;  // 0.5%
  CHECK(!nacks.OnFeedback(light));
  CHECK(nacks.rate_bps() > 500'000'000u);
  RateSample heavy = Clean(nacks.rate_bps());
  heavy.sent_blocks = 1000;
  heavy.nacked_blocks = 50;  // 5%
  const uint64_t pre = nacks.rate_bps();
  CHECK(nacks.OnFeedback(heavy));
  CHECK(nacks.rate_bps() < pre);
  // NACKs while nothing was sent (tail of the transfer) say nothing about the rate.
  RateController tail(RateConfig{0, 500'000'000, kMinRateBps});
  RateSample idle = Clean(500'000'000);
  idle.sent_blocks = 0;
  idle.sent_bytes = 0;
  idle.nacked_blocks = 100;
  CHECK(!tail.OnFeedback(idle));
  CHECK_EQ(tail.rate_bps(), 500'000'000u);

  // Never below the minimum.
  RateController floor(RateConfig{0, 2'000'000, 1'500'000});
  RateSample bad = Clean(2'000'000);
  bad.recv_rate_Bps = 1;
  bad.socket_drops = 1;
  for (int i = 0; i < 20; ++i) floor.OnFeedback(bad);
  CHECK_EQ(floor.rate_bps(), 1'500'000u);
}

void TestSteadyGrowthIsSlow() {
  RateController rc(RateConfig{0, 1'000'000'000, kMinRateBps});
  RateSample loss = Clean(1'000'000'000);
  loss.socket_drops = 1;
  rc.OnFeedback(loss);
  const uint64_t after_cut = rc.rate_bps();
  rc.OnFeedback(Clean(rc.rate_bps()));  // hold period: grows (no loss) at steady pace
  rc.OnFeedback(Clean(rc.rate_bps()));
  rc.OnFeedback(Clean(rc.rate_bps()));
  const double growth = static_cast<double>(rc.rate_bps()) / static_cast<double>(after_cut);
  CHECK(growth > 1.05 && growth < 1.07);  // 1.02^3
}

// Closed loop: a receiver absorbing at most `capacity`; anything above is
// dropped at its socket. The controller must settle near the capacity.
void TestSettlesAtReceiverCapacity() {
  for (const uint64_t capacity : {300'000'000ull, 2'000'000'000ull, 7'000'000'000ull}) {
    RateController rc(RateConfig{10'000'000'000, 100'000'000, kMinRateBps});
    uint64_t sent_total = 0, lost_total = 0;
    uint64_t min_late = UINT64_MAX, max_late = 0;
    for (int i = 0; i < 2000; ++i) {
      const uint64_t rate = rc.rate_bps();
      const uint64_t got = std::min(rate, capacity);
      RateSample s;
      s.interval_us = 10'000;
      s.sent_bytes = rate / 8 / 100;
      s.sent_blocks = s.sent_bytes / 8900;
      s.recv_rate_Bps = got / 8;
      s.wire_per_data = kWire;
      const uint64_t lost_bytes = (rate - got) / 8 / 100;
      s.socket_drops = static_cast<uint32_t>(lost_bytes / 8900);
      s.nacked_blocks = s.socket_drops;
      rc.OnFeedback(s);
      sent_total += s.sent_bytes;
      lost_total += lost_bytes;
      if (i >= 1000) {
        min_late = std::min(min_late, rc.rate_bps());
        max_late = std::max(max_late, rc.rate_bps());
      }
    }
    const double loss = static_cast<double>(lost_total) / static_cast<double>(sent_total);
    std::printf("capacity %.1f Gbit/s: settled in [%.2f, %.2f] Gbit/s, loss %.2f%%\n",
                capacity / 1e9, min_late / 1e9, max_late / 1e9, loss * 100);
    CHECK(min_late >= capacity * 6 / 10);
    CHECK(max_late <= capacity * 12 / 10);
    CHECK(loss < 0.05);
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
  TestGrowsWithoutLossUpToMax();
  TestFirstReportAndAppLimited();
  TestBacksOffOnLoss();
  TestSteadyGrowthIsSlow();
  TestSettlesAtReceiverCapacity();
  TestPacer();
  return jetrecv::test::TestExitCode();
}
