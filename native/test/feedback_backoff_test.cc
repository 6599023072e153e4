// feedback_backoff_test.cc — an idle transfer's FEEDBACK gap doubles up to
// kMaxIdleFeedbackUs; activity snaps it back to the base interval.
#include "core/feedback_backoff.h"

#include "test_util.h"

using namespace jetrecv::core;

namespace {

// FEEDBACKs sent by ticks every base_us over [start, start + span).
int CountDue(FeedbackBackoff& b, uint64_t start, uint64_t span, uint64_t base_us) {
  int sent = 0;
  for (uint64_t now = start; now < start + span; now += base_us) sent += b.Due(now, base_us) ? 1 : 0;
  return sent;
}

void TestIdleBacksOff() {
  constexpr uint64_t base = 10'000;  // 10 ms ticks
  FeedbackBackoff b;
  // First second idle: 10, 20, 40 ... 320 ms gaps, then the 500 ms ceiling.
  const int first = CountDue(b, 0, 2'000'000, base);
  CHECK(first <= 11);
  CHECK(first >= 8);
  CHECK_EQ(b.gap_us(), kMaxIdleFeedbackUs);
  // Steady idle: two per second.
  const int steady = CountDue(b, 2'000'000, 10'000'000, base);
  CHECK(steady >= 19 && steady <= 21);
}

void TestActivitySnapsBack() {
  constexpr uint64_t base = 10'000;
  FeedbackBackoff b;
  CountDue(b, 0, 3'000'000, base);
  CHECK_EQ(b.gap_us(), kMaxIdleFeedbackUs);
  b.NoteActivity();
  CHECK(b.Due(3'000'000, base));  // the very next tick
  CHECK_EQ(b.gap_us(), base);
  // Busy: every tick with activity reports.
  int sent = 0;
  for (uint64_t now = 3'010'000; now < 3'510'000; now += base) {
    b.NoteActivity();
    sent += b.Due(now, base) ? 1 : 0;
  }
  CHECK_EQ(sent, 50);
  CHECK(b.Due(3'510'000, base));   // idle again: the base gap first...
  CHECK(!b.Due(3'520'000, base));  // ...then doubled (20 ms)
  CHECK(b.Due(3'530'000, base));
}

void TestSlowBaseInterval() {
  // A base interval above the idle ceiling is never stretched.
  FeedbackBackoff b;
  CHECK_EQ(CountDue(b, 0, 20'000'000, 2'000'000), 10);
  CHECK_EQ(b.gap_us(), 2'000'000u);
}

}  // namespace

int main() {
  TestIdleBacksOff();
  TestActivitySnapsBack();
  TestSlowBaseInterval();
  return jetrecv::test::TestExitCode();
}
