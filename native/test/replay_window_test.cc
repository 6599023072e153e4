// replay_window_test.cc — in order, out of order, duplicates, too old, big jumps.
#include "core/replay_window.h"

#include "test_util.h"

using jetrecv::core::ReplayWindow;

namespace {

void InOrder() {
  ReplayWindow w;
  for (uint64_t c = 0; c < 20000; ++c) CHECK(w.CheckAndUpdate(c));
  CHECK_EQ(w.next_expected(), 20000u);
  CHECK(!w.CheckAndUpdate(19999));  // duplicate of the newest
  CHECK(!w.CheckAndUpdate(0));      // far too old
}

void OutOfOrderWithinWindow() {
  ReplayWindow w;
  CHECK(w.CheckAndUpdate(100));
  CHECK(w.CheckAndUpdate(5));
  CHECK(w.CheckAndUpdate(99));
  CHECK(w.CheckAndUpdate(0));
  CHECK(!w.CheckAndUpdate(5));
  CHECK(!w.CheckAndUpdate(99));
  CHECK(!w.CheckAndUpdate(100));
  // Every counter in a reversed run is accepted exactly once.
  ReplayWindow r;
  CHECK(r.CheckAndUpdate(9000));
  for (uint64_t c = 8999; c > 9000 - ReplayWindow::kWindow; --c) CHECK(r.CheckAndUpdate(c));
  for (uint64_t c = 8999; c > 9000 - ReplayWindow::kWindow; --c) CHECK(!r.CheckAndUpdate(c));
}

void TooOld() {
  ReplayWindow w;
  const uint64_t top = 50000;
  CHECK(w.CheckAndUpdate(top));
  CHECK(w.CheckAndUpdate(top - ReplayWindow::kWindow + 1));  // oldest still inside
  CHECK(!w.CheckAndUpdate(top - ReplayWindow::kWindow));     // just outside
  CHECK(!w.CheckAndUpdate(1));
}

void LargeJump() {
  ReplayWindow w;
  for (uint64_t c = 0; c < 100; ++c) CHECK(w.CheckAndUpdate(c));
  const uint64_t far = uint64_t{1} << 40;
  CHECK(w.CheckAndUpdate(far));
  // The bitmap was cleared: counters near `far` that map to old slots are new.
  CHECK(w.CheckAndUpdate(far - 1));
  CHECK(w.CheckAndUpdate(far - 64));
  CHECK(w.CheckAndUpdate(far + 1));
  CHECK(!w.CheckAndUpdate(far - 1));
  CHECK(!w.CheckAndUpdate(50));  // from before the jump: too old now
  // A jump by exactly the bitmap size must not leave stale bits behind.
  ReplayWindow s;
  CHECK(s.CheckAndUpdate(10));
  CHECK(s.CheckAndUpdate(10 + ReplayWindow::kWindow + 64));
  CHECK(s.CheckAndUpdate(10 + 2 * (ReplayWindow::kWindow + 64)));
  CHECK(s.CheckAndUpdate(10 + 2 * (ReplayWindow::kWindow + 64) - 1));
}

void SlidingKeepsWindow() {
  // Advancing one word at a time must keep every counter of the last window.
  ReplayWindow w;
  for (uint64_t c = 0; c < 3 * ReplayWindow::kWindow; c += 2) CHECK(w.CheckAndUpdate(c));
  const uint64_t newest = 3 * ReplayWindow::kWindow - 2;
  for (uint64_t c = newest; c > newest - ReplayWindow::kWindow + 1; c -= 2) {
    CHECK(!w.CheckAndUpdate(c));     // seen
    CHECK(w.CheckAndUpdate(c - 1));  // odd ones never seen, still inside
  }
}

}  // namespace

int main() {
  InOrder();
  OutOfOrderWithinWindow();
  TooOld();
  LargeJump();
  SlidingKeepsWindow();
  return jetrecv::test::TestExitCode();
}
