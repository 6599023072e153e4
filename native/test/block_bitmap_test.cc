// block_bitmap_test.cc — BlockCount/BlockLength edge sizes, TrySet and
// duplicates (also from two threads), Complete, MissingRanges (gaps at start,
// middle, end, below_block limit, max_ranges cap), and the NackBuilder's
// position limit and hold-off.
#include "core/block_bitmap.h"

#include <thread>
#include <utility>
#include <vector>

#include "core/nack_builder.h"
#include "test_util.h"

using namespace jetrecv::core;
using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

namespace {

void TestBlockArithmetic() {
  constexpr uint32_t bs = 1000;
  CHECK_EQ(BlockCount(0, bs), 0u);
  CHECK_EQ(BlockLength(0, bs, 0), 0u);
  CHECK_EQ(BlockCount(1, bs), 1u);
  CHECK_EQ(BlockLength(1, bs, 0), 1u);
  CHECK_EQ(BlockCount(bs - 1, bs), 1u);
  CHECK_EQ(BlockLength(bs - 1, bs, 0), bs - 1);
  CHECK_EQ(BlockCount(bs, bs), 1u);  // exact: no extra empty block
  CHECK_EQ(BlockLength(bs, bs, 0), bs);
  CHECK_EQ(BlockLength(bs, bs, 1), 0u);
  CHECK_EQ(BlockCount(bs + 1, bs), 2u);
  CHECK_EQ(BlockLength(bs + 1, bs, 0), bs);
  CHECK_EQ(BlockLength(bs + 1, bs, 1), 1u);
  CHECK_EQ(BlockCount(7 * bs, bs), 7u);
  CHECK_EQ(BlockLength(7 * bs, bs, 6), bs);
  CHECK_EQ(BlockLength(7 * bs, bs, 7), 0u);
  // > 4 GiB, block size not a power of two: 64-bit offsets throughout.
  const uint64_t big = (5ull << 30) + 123;  // 5 GiB + 123
  const uint32_t bs2 = 8916;
  const uint64_t count = BlockCount(big, bs2);
  CHECK_EQ(count, big / bs2 + 1);
  CHECK_EQ(BlockLength(big, bs2, count - 1), big - (count - 1) * bs2);
  CHECK_EQ(BlockLength(big, bs2, count - 2), bs2);
  const uint64_t big_exact = 4ull * 1024 * 1024 * 1024 + 4096ull * 1024;  // multiple of 4096
  CHECK_EQ(BlockCount(big_exact, 4096), big_exact / 4096);
  CHECK_EQ(BlockLength(big_exact, 4096, big_exact / 4096 - 1), 4096u);
}

void TestTrySetAndComplete() {
  BlockBitmap empty(0);
  CHECK(empty.Complete());
  CHECK(!empty.TrySet(0));

  BlockBitmap b(130);  // spans three words
  CHECK(!b.Complete());
  CHECK(b.TrySet(0));
  CHECK(!b.TrySet(0));  // duplicate
  CHECK(b.Test(0));
  CHECK(!b.Test(1));
  CHECK(!b.TrySet(130));  // out of range
  CHECK(!b.Test(130));
  CHECK_EQ(b.CountSet(), 1u);
  for (uint64_t i = 1; i < 130; ++i) CHECK(b.TrySet(i));
  CHECK_EQ(b.CountSet(), 130u);
  CHECK(b.Complete());
  CHECK_EQ(b.FirstUnset(0), 130u);
}

void TestConcurrentTrySet() {
  // Two threads set every block; each block is won exactly once.
  constexpr uint64_t n = 100000;
  BlockBitmap b(n);
  uint64_t won[2] = {0, 0};
  std::thread t0([&] {
    for (uint64_t i = 0; i < n; ++i) won[0] += b.TrySet(i);
  });
  std::thread t1([&] {
    for (uint64_t i = n; i-- > 0;) won[1] += b.TrySet(i);
  });
  t0.join();
  t1.join();
  CHECK_EQ(won[0] + won[1], n);
  CHECK_EQ(b.CountSet(), n);
  CHECK(b.Complete());
}

void TestMissingRanges() {
  BlockBitmap b(200);
  Ranges r;
  CHECK_EQ(b.MissingRanges(200, &r, 10), 1u);  // all missing: one range
  CHECK(r == Ranges({{0, 200}}));

  for (uint64_t i = 0; i < 200; ++i) b.TrySet(i);
  r.clear();
  CHECK_EQ(b.MissingRanges(200, &r, 10), 0u);  // none missing

  BlockBitmap g(200);
  for (uint64_t i = 0; i < 200; ++i) {
    const bool missing = i < 3 || (i >= 63 && i < 66) || i == 100 || i >= 190;
    if (!missing) g.TrySet(i);
  }
  r.clear();
  CHECK_EQ(g.MissingRanges(200, &r, 10), 4u);  // start, across a word edge, middle, end
  CHECK(r == Ranges({{0, 3}, {63, 3}, {100, 1}, {190, 10}}));
  r.clear();
  CHECK_EQ(g.MissingRanges(195, &r, 10), 4u);  // below_block clips the last range
  CHECK(r == Ranges({{0, 3}, {63, 3}, {100, 1}, {190, 5}}));
  r.clear();
  CHECK_EQ(g.MissingRanges(100, &r, 10), 2u);  // a gap starting at the limit is excluded
  CHECK(r == Ranges({{0, 3}, {63, 3}}));
  r.clear();
  CHECK_EQ(g.MissingRanges(64, &r, 10), 2u);  // limit inside a gap
  CHECK(r == Ranges({{0, 3}, {63, 1}}));
  r.clear();
  CHECK_EQ(g.MissingRanges(200, &r, 2), 2u);  // max_ranges cap, oldest first
  CHECK(r == Ranges({{0, 3}, {63, 3}}));
  r.clear();
  CHECK_EQ(g.MissingRanges(1000, &r, 10), 4u);  // limit past the end is clamped
  r.clear();
  CHECK_EQ(g.MissingRangesFrom(64, 200, &r, 10), 3u);  // from inside a gap
  CHECK(r == Ranges({{64, 2}, {100, 1}, {190, 10}}));
  CHECK(g.AllSet(3, 63));
  CHECK(!g.AllSet(3, 64));
  CHECK_EQ(g.FirstUnset(3), 63u);
}

// NackBuilder: NACKs only below the limit, oldest first; no repeat within the
// hold-off; a repeat after it; no NACK once repaired.
void TestNackBuilder() {
  BlockBitmap f0(10), f1(10);
  for (uint64_t i = 0; i < 10; ++i) {
    if (i != 2 && i != 3) f0.TrySet(i);  // f0 misses 2,3
    if (i != 1 && i != 8) f1.TrySet(i);  // f1 misses 1 and 8
  }
  std::vector<const BlockBitmap*> files{&f0, &f1};
  NackBuilder nb;
  NackRange out[16];
  SendPosition limit{1, 5, false};  // f0 fully passed, f1 up to block 5
  uint64_t now = 1'000'000;
  size_t n = nb.Build(files, limit, now, 10'000, 0, out, 16);
  REQUIRE(n == 2);
  CHECK_EQ(out[0].file_index, 0u);
  CHECK_EQ(out[0].first_block, 2u);
  CHECK_EQ(out[0].block_count, 2u);
  CHECK_EQ(out[1].file_index, 1u);
  CHECK_EQ(out[1].first_block, 1u);
  CHECK_EQ(out[1].block_count, 1u);  // block 8 is beyond the limit: in flight

  // Within the hold-off (2 x 10 ms): nothing again, even with a later limit...
  limit = SendPosition{2, 0, true};
  n = nb.Build(files, limit, now + 10'000, 10'000, 0, out, 16);
  REQUIRE(n == 1);  // ...except the newly passed block 8
  CHECK_EQ(out[0].file_index, 1u);
  CHECK_EQ(out[0].first_block, 8u);

  // f0's gap gets repaired; after the hold-off only f1 block 1 is NACKed again.
  f0.TrySet(2);
  f0.TrySet(3);
  n = nb.Build(files, limit, now + 25'000, 10'000, 0, out, 16);
  REQUIRE(n == 1);
  CHECK_EQ(out[0].file_index, 1u);
  CHECK_EQ(out[0].first_block, 1u);
  CHECK(nb.srtt_us() > 0);  // the repair of a first NACK gave a sample

  // max_out caps the frame.
  BlockBitmap sparse(100);
  for (uint64_t i = 0; i < 100; i += 2) sparse.TrySet(i);  // odd blocks missing
  std::vector<const BlockBitmap*> one{&sparse};
  NackBuilder nb2;
  n = nb2.Build(one, SendPosition{0, 0, true}, now, 10'000, 0, out, 16);
  CHECK_EQ(n, 16u);
  CHECK_EQ(out[0].first_block, 1u);
  CHECK_EQ(out[15].first_block, 31u);
  // The next feedback continues past the held-off ranges instead of repeating them.
  n = nb2.Build(one, SendPosition{0, 0, true}, now + 1'000, 10'000, 0, out, 16);
  CHECK_EQ(n, 16u);
  CHECK_EQ(out[0].first_block, 33u);

  // Hold-off grows with the blocks queued ahead: at 1 ms per block, a 50-block
  // gap gets 20 ms + 50 ms before it may be NACKed again.
  BlockBitmap wide(100);
  for (uint64_t i = 50; i < 100; ++i) wide.TrySet(i);
  std::vector<const BlockBitmap*> w{&wide};
  NackBuilder nb3;
  CHECK_EQ(nb3.Build(w, SendPosition{0, 0, true}, now, 10'000, 1000.0, out, 16), 1u);
  CHECK_EQ(nb3.Build(w, SendPosition{0, 0, true}, now + 30'000, 10'000, 1000.0, out, 16), 0u);
  CHECK_EQ(nb3.Build(w, SendPosition{0, 0, true}, now + 60'000, 10'000, 1000.0, out, 16), 0u);
  CHECK_EQ(nb3.Build(w, SendPosition{0, 0, true}, now + 75'000, 10'000, 1000.0, out, 16), 1u);
  CHECK_EQ(out[0].block_count, 50u);

  // Back-off: the base hold-off doubles only in rounds where NACKs expire and
  // nothing was repaired (a silent sender), and resets once something is.
  BlockBitmap lossy(100);
  for (uint64_t i = 0; i < 100; ++i) {
    if (i != 10 && i != 20 && i != 30) lossy.TrySet(i);
  }
  std::vector<const BlockBitmap*> l{&lossy};
  NackBuilder nb4;
  CHECK_EQ(nb4.Build(l, SendPosition{0, 0, true}, now, 10'000, 0, out, 16), 3u);
  CHECK_EQ(nb4.base_holdoff_us(), 20'000u);
  // 30 ms later all three expired unanswered: silent sender, the base doubles.
  CHECK_EQ(nb4.Build(l, SendPosition{0, 0, true}, now + 30'000, 10'000, 0, out, 16), 3u);
  CHECK_EQ(nb4.base_holdoff_us(), 40'000u);
  // The sender answers block 10 but block 20's resend was lost: no further doubling,
  // the base returns to normal.
  lossy.TrySet(10);
  nb4.Build(l, SendPosition{0, 0, true}, now + 80'000, 10'000, 0, out, 16);
  CHECK_EQ(nb4.base_holdoff_us(), 20'000u);
}

}  // namespace

// Words are allocated at the first TrySet: a huge bitmap nobody writes to costs
// nothing, and reads of an unallocated bitmap see every block unset.
void TestLazyWords() {
  const uint64_t blocks = 5ull << 34;  // 5 TiB of 256-byte blocks: 2.5 GiB of bits
  BlockBitmap big(blocks);
  CHECK_EQ(big.allocated_bytes(), 0u);
  CHECK_EQ(BlockBitmap::BytesFor(blocks), blocks / 8);
  CHECK(!big.Test(0));
  CHECK(!big.Test(blocks - 1));
  CHECK_EQ(big.FirstUnset(12345), 12345u);
  CHECK(!big.Complete());
  Ranges missing;
  CHECK_EQ(big.MissingRanges(1000, &missing, 4), 1u);
  CHECK(missing == (Ranges{{0, 1000}}));
  CHECK_EQ(big.allocated_bytes(), 0u);  // reads never allocate

  BlockBitmap small(130);
  CHECK_EQ(small.allocated_bytes(), 0u);
  CHECK(small.TrySet(129));
  CHECK_EQ(small.allocated_bytes(), 24u);  // three words
  CHECK(!small.TrySet(129));
  CHECK(small.Test(129));
  CHECK_EQ(small.CountSet(), 1u);
  CHECK_EQ(small.FirstUnset(0), 0u);

  // Several threads racing for the first set: one allocation wins, no bit is lost.
  BlockBitmap raced(1 << 16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&raced, t] {
      for (uint64_t b = t; b < (1 << 16); b += 4) raced.TrySet(b);
    });
  }
  for (auto& th : threads) th.join();
  CHECK(raced.Complete());
  CHECK_EQ(raced.allocated_bytes(), (1u << 16) / 8);
}

int main() {
  TestBlockArithmetic();
  TestLazyWords();
  TestTrySetAndComplete();
  TestConcurrentTrySet();
  TestMissingRanges();
  TestNackBuilder();
  return jetrecv::test::TestExitCode();
}
