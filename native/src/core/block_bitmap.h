// block_bitmap.h — which blocks of one file have been received (and written).
// Bits are set with atomic fetch_or, so several RX threads may TrySet at once;
// reads (Test, MissingRanges) are lock-free and may run concurrently with sets
// (they see each bit either before or after its set, never torn).
// The words are allocated lazily, at the first TrySet (all threads racing for
// it agree on one array): a bitmap no block was set in costs no memory, and
// reads of it see every block unset. Budgets count BytesFor(block_count).
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
  ~BlockBitmap();
  BlockBitmap(const BlockBitmap&) = delete;
  BlockBitmap& operator=(const BlockBitmap&) = delete;

  uint64_t block_count() const { return block_count_; }
  // Bytes of words a bitmap of block_count blocks holds once allocated.
  static uint64_t BytesFor(uint64_t block_count) { return (block_count / 64 + (block_count % 64 != 0)) * 8; }
  // Bytes of words allocated now (0 until the first TrySet).
  uint64_t allocated_bytes() const {
    return words_.load(std::memory_order_acquire) != nullptr ? BytesFor(block_count_) : 0;
  }

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
                           std::vector<std::pair<uint64_t, uint64_t>>* out, size_t max_ranges) const;

 private:
  uint64_t Word(size_t i) const {
    const std::atomic<uint64_t>* words = words_.load(std::memory_order_acquire);
    return words != nullptr ? words[i].load(std::memory_order_acquire) : 0;
  }
  // The word array, allocated (zeroed) by the first caller.
  std::atomic<uint64_t>* Words();

  uint64_t block_count_;
  size_t word_count_;
  std::atomic<std::atomic<uint64_t>*> words_{nullptr};  // null until the first TrySet
  std::atomic<uint64_t> set_count_{0};
};

}  // namespace jetrecv::core
