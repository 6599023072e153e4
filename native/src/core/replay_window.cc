// replay_window.cc — bitmap of the last kWindow counters, indexed by counter
// modulo the bitmap size (RFC 6479): advancing clears only the words skipped.
#include "core/replay_window.h"

namespace jetrecv::core {

bool ReplayWindow::CheckAndUpdate(uint64_t counter) {
  constexpr uint64_t kBits = kWords * kWordBits;
  if (counter >= next_) {
    // Advance: clear every word between the old newest word and the new one.
    uint64_t old_word = next_ == 0 ? 0 : (next_ - 1) / kWordBits;
    uint64_t new_word = counter / kWordBits;
    if (next_ == 0) {
      bitmap_.fill(0);
    } else if (new_word - old_word >= kWords) {
      bitmap_.fill(0);
    } else {
      for (uint64_t w = old_word + 1; w <= new_word; ++w) bitmap_[w % kWords] = 0;
    }
    next_ = counter + 1;
  } else if (next_ - 1 - counter >= kWindow) {
    return false;  // too old
  }
  uint64_t bit_index = counter % kBits;
  uint64_t& word = bitmap_[bit_index / kWordBits];
  uint64_t mask = uint64_t{1} << (bit_index % kWordBits);
  if (word & mask) return false;  // duplicate
  word |= mask;
  return true;
}

}  // namespace jetrecv::core
