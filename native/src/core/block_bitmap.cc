// block_bitmap.cc — see block_bitmap.h.
#include "core/block_bitmap.h"

#include <algorithm>
#include <bit>

namespace jetrecv::core {

uint64_t BlockCount(uint64_t file_size, uint32_t block_size) {
  if (block_size == 0) return 0;
  return file_size / block_size + (file_size % block_size != 0 ? 1 : 0);
}

uint64_t BlockLength(uint64_t file_size, uint32_t block_size, uint64_t block) {
  if (block >= BlockCount(file_size, block_size)) return 0;
  const uint64_t offset = block * block_size;
  return std::min<uint64_t>(block_size, file_size - offset);
}

BlockBitmap::BlockBitmap(uint64_t block_count)
    : block_count_(block_count), word_count_(static_cast<size_t>((block_count + 63) / 64)) {}

BlockBitmap::~BlockBitmap() { delete[] words_.load(std::memory_order_acquire); }

std::atomic<uint64_t>* BlockBitmap::Words() {
  std::atomic<uint64_t>* words = words_.load(std::memory_order_acquire);
  if (words != nullptr) return words;
  auto* fresh = new std::atomic<uint64_t>[word_count_ == 0 ? 1 : word_count_];
  for (size_t i = 0; i < word_count_; ++i) fresh[i].store(0, std::memory_order_relaxed);
  if (words_.compare_exchange_strong(words, fresh, std::memory_order_acq_rel, std::memory_order_acquire)) {
    return fresh;
  }
  delete[] fresh;  // another thread allocated first: use its array
  return words;
}

bool BlockBitmap::TrySet(uint64_t block) {
  if (block >= block_count_) return false;
  const uint64_t bit = 1ull << (block % 64);
  const uint64_t before = Words()[block / 64].fetch_or(bit, std::memory_order_acq_rel);
  if (before & bit) return false;
  set_count_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

bool BlockBitmap::Test(uint64_t block) const {
  if (block >= block_count_) return false;
  return (Word(block / 64) >> (block % 64)) & 1;
}

uint64_t BlockBitmap::FirstUnset(uint64_t from) const {
  if (from >= block_count_) return block_count_;
  size_t w = from / 64;
  // Treat bits below `from` in the first word as set.
  uint64_t inverted = ~Word(w) & (~0ull << (from % 64));
  while (inverted == 0) {
    if (++w >= word_count_) return block_count_;
    inverted = ~Word(w);
  }
  const uint64_t block = w * 64ull + std::countr_zero(inverted);
  return std::min(block, block_count_);
}

bool BlockBitmap::AllSet(uint64_t first, uint64_t end) const {
  end = std::min(end, block_count_);
  if (first >= end) return true;
  return FirstUnset(first) >= end;
}

size_t BlockBitmap::MissingRangesFrom(uint64_t from_block, uint64_t below_block,
                                      std::vector<std::pair<uint64_t, uint64_t>>* out,
                                      size_t max_ranges) const {
  const uint64_t limit = std::min(below_block, block_count_);
  if (words_.load(std::memory_order_acquire) == nullptr) {  // nothing set: one gap
    if (max_ranges == 0 || from_block >= limit) return 0;
    out->emplace_back(from_block, limit - from_block);
    return 1;
  }
  size_t appended = 0;
  uint64_t pos = from_block;
  while (appended < max_ranges && pos < limit) {
    const uint64_t start = FirstUnset(pos);
    if (start >= limit) break;
    // Find the first set block after start (end of the gap).
    size_t w = start / 64;
    uint64_t set_bits = Word(w) & (~0ull << (start % 64));
    while (set_bits == 0 && ++w < word_count_) set_bits = Word(w);
    uint64_t end = set_bits == 0 ? block_count_ : w * 64ull + std::countr_zero(set_bits);
    end = std::min(end, limit);
    out->emplace_back(start, end - start);
    ++appended;
    pos = end;
  }
  return appended;
}

}  // namespace jetrecv::core
