// replay_window.h — RFC 6479-style sliding replay window for one (session,
// direction, lane). Call CheckAndUpdate only after the packet's tag verified.
// Not thread-safe: the owner (Session, per lane) serializes calls.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

#include "core/limits.h"

namespace jetrecv::core {

class ReplayWindow {
 public:
  // Counters more than kWindow behind the highest accepted counter are too old.
  static constexpr uint64_t kWindow = kReplayWindowPackets;

  // True and records counter if it was never seen and is inside the window;
  // false for a duplicate or a too-old counter (state unchanged).
  bool CheckAndUpdate(uint64_t counter);
  // Highest counter accepted so far plus one (0 before the first packet).
  uint64_t next_expected() const { return next_; }

 private:
  static constexpr size_t kWordBits = 64;
  // One extra word beyond the window so that the word holding the newest counter
  // can be partially filled while the full window of older counters stays intact.
  static constexpr size_t kWords = kReplayWindowPackets / kWordBits + 1;
  static_assert(kReplayWindowPackets % kWordBits == 0);

  uint64_t next_ = 0;  // highest accepted counter + 1
  std::array<uint64_t, kWords> bitmap_{};
};

}  // namespace jetrecv::core
