// feedback_backoff.h — when a receive transfer's next FEEDBACK is due. The
// feedback timer ticks every base interval; a transfer with activity since
// its last FEEDBACK (a BLOCK or POSITION frame of it arrived, duplicates
// included) reports at that tick. An idle one doubles the gap between its
// FEEDBACKs (base, 2x, 4x ...) up to kMaxIdleFeedbackUs, so a sender that
// stops sending costs about two datagrams per second per transfer; the first
// frame that arrives snaps it back to the base interval. The ceiling stays far
// below the sender's 3 s silence limit (jetrecv send reconnects after 3 s
// without a packet): an idle transfer's FEEDBACKs alone keep its session
// alive, with room for a few lost ones.
// NoteActivity may be called from any thread; Due from the timer thread only.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

namespace jetrecv::core {

constexpr uint64_t kMaxIdleFeedbackUs = 500'000;

class FeedbackBackoff {
 public:
  void NoteActivity() {
    if (!active_.load(std::memory_order_relaxed)) active_.store(true, std::memory_order_relaxed);
  }

  // True when a FEEDBACK should go out at this tick (now_us monotonic).
  bool Due(uint64_t now_us, uint64_t base_interval_us) {
    if (active_.exchange(false, std::memory_order_relaxed)) {
      gap_us_ = base_interval_us;
    } else {
      // Half a tick of slack: a tick that comes a little early still counts.
      if (now_us + base_interval_us / 2 < next_us_) return false;
      gap_us_ =
          std::min(std::max(gap_us_ * 2, base_interval_us), std::max(kMaxIdleFeedbackUs, base_interval_us));
    }
    next_us_ = now_us + gap_us_;
    return true;
  }

  uint64_t gap_us() const { return gap_us_; }

 private:
  std::atomic<bool> active_{false};
  uint64_t gap_us_ = 0;   // current gap between FEEDBACKs (timer thread)
  uint64_t next_us_ = 0;  // when the next idle FEEDBACK is due (timer thread)
};

}  // namespace jetrecv::core
