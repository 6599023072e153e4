// block_bitmap.h — which blocks of one file have been received (and written).
// Bits are set with atomic fetch_or, so several RX threads may TrySet at once;
// reads (Test, MissingRanges) are lock-free and may run concurrently with sets
// (they see each bit either before or after its set, never torn).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace jetrecv::core {

// Number of blocks of a file: ceil(file_size / block_size). Size 0 has 0 blocks;
// an exact multiple of the block size gets no extra empty block. block_size > 0.
uint64_t BlockCount(uint64_t file_size, uint32_t block_size);

// Byte length of block `block` of the file: block_size for every block but the
// last, the remainder (1..block_size) for the last, 0 if block >= BlockCount.
uint64_t BlockLength(uint64_t file_size, uint32_t block_size, uint64_t block);

class BlockBitmap {
 public:
  // A bitmap of block_count blocks, all unset.
  explicit BlockBitmap(uint64_t block_count);
  BlockBitmap(const BlockBitmap&) = delete;
  BlockBitmap& operator=(const BlockBitmap&) = delete;

  uint64_t block_count() const { return block_count_; }

  // Sets the bit of `block`. Returns true if this call set it, false if it was
  // already set or block >= block_count. Thread-safe.
  bool TrySet(uint64_t block);
  // True if the bit of `block` is set (false for block >= block_count).
  bool Test(uint64_t block) const;
  // True if every block in [first, end) is set (true for an empty range).
  bool AllSet(uint64_t first, uint64_t end) const;
  // Number of set blocks.
  uint64_t CountSet() const { return set_count_.load(std::memory_order_acquire); }
  // True when every block is set (a bitmap of 0 blocks is complete).
  bool Complete() const { return CountSet() == block_count_; }
  // The first unset block at or after `from`, or block_count if there is none.
  uint64_t FirstUnset(uint64_t from) const;

  // Appends to *out the ranges of unset blocks below min(below_block,
  // block_count), oldest (lowest) first, as {first_block, block_count} pairs,
  // at most max_ranges of them. Returns how many were appended.
  size_t MissingRanges(uint64_t below_block, std::vector<std::pair<uint64_t, uint64_t>>* out,
                       size_t max_ranges) const {
    return MissingRangesFrom(0, below_block, out, max_ranges);
  }
  // Same, restricted to blocks in [from_block, below_block).
  size_t MissingRangesFrom(uint64_t from_block, uint64_t below_block,
                           std::vector<std::pair<uint64_t, uint64_t>>* out,
                           size_t max_ranges) const;

 private:
  uint64_t Word(size_t i) const { return words_[i].load(std::memory_order_acquire); }

  uint64_t block_count_;
  size_t word_count_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
  std::atomic<uint64_t> set_count_{0};
};

}  // namespace jetrecv::core
