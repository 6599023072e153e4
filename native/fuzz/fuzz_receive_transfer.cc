// fuzz_receive_transfer.cc — fuzz target for ReceiveTransfer (reassembly, disk
// writes, finalize, POSITION and FEEDBACK/NACK building) with hostile BLOCK and
// POSITION frames, checked against a model of what the transfer must hold.
//
// Input: byte 0 block size, byte 1 file count; then u16 per file size (kept
// small); then ops (op%4): 0 BLOCKS u8 count, per block u8 kind (+ fields): a
// valid block, a duplicate, or a hostile header; 1 POSITION u8 file u16 block
// u8 flags; 2 FEEDBACK u16 time step, u8 cap choice; 3 Close and reopen (a
// resumed transfer keeps its partial data: it must still be consistent).
// Block data is a pattern of (file, offset), so final contents are checkable.
//
// Checks: per OnBlocks call the counters match the model exactly (new blocks
// written, bad blocks, duplicates); every FEEDBACK decodes, reports
// blocks_received and the complete flag as the model says, and NACKs only
// blocks that are missing and before the latest POSITION, inside the files;
// every file finalized holds exactly the pattern bytes, with its manifest size.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/endpoint.h"
#include "core/receive_transfer.h"
#include "fuzz_util.h"

using namespace jetrecv::core;
using jetrecv::fuzz::Reader;
using jetrecv::fuzz::Writer;

namespace {

constexpr uint32_t kTransferId = 3;
std::string* g_root = nullptr;

void Cleanup() {
  if (g_root) jetrecv::fuzz::RemoveTree(*g_root, true);
}

uint8_t Pattern(uint32_t file, uint64_t offset) {
  return static_cast<uint8_t>(offset * 7 + file * 13 + (offset >> 8));
}

uint64_t BlockLen(uint64_t size, uint32_t bs, uint64_t block) {
  const uint64_t off = block * bs;
  return off >= size ? 0 : std::min<uint64_t>(bs, size - off);
}

struct Model {
  std::vector<uint64_t> sizes;
  std::vector<uint64_t> blocks;
  std::set<std::pair<uint32_t, uint64_t>> have;
  uint64_t total = 0;
  bool FileComplete(uint32_t f) const {
    auto lo = have.lower_bound({f, 0});
    auto hi = have.lower_bound({f + 1, 0});
    return static_cast<uint64_t>(std::distance(lo, hi)) == blocks[f];
  }
};

bool Before(uint32_t file, uint64_t block_end, const SendPosition& p) {
  if (p.first_pass_done) return true;
  return file < p.file_index || (file == p.file_index && block_end <= p.next_block);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!g_root) {
    g_root = new std::string(jetrecv::fuzz::MakeTempDir("rt"));
    std::atexit(Cleanup);
  }
  Reader in(data, size);
  static const uint32_t kBlockSizes[] = {1, 3, 64, 1000};
  ReceiveSpec spec;
  spec.root = *g_root;
  spec.block_size = kBlockSizes[in.U8() & 3];
  const uint32_t bs = spec.block_size;
  const size_t nfiles = 1 + in.U8() % 4;
  Model m;
  for (size_t i = 0; i < nfiles; ++i) {
    const uint64_t sz = in.U16() % (6ull * bs + 2);
    spec.files.push_back({"dir/file" + std::to_string(i), sz, 0600, 1'500'000'000'000});
    m.sizes.push_back(sz);
    m.blocks.push_back((sz + bs - 1) / bs);
    m.total += m.blocks.back();
  }
  EventQueue events(nullptr, 1 << 16);
  Status st;
  std::unique_ptr<ReceiveTransfer> t = ReceiveTransfer::Open(spec, 1, kTransferId, &events, &st);
  if (!t) std::fprintf(stderr, "Open: %s\n", st.message.c_str());
  FUZZ_CHECK(t != nullptr);

  CounterSet counter_set;
  CounterBlock& counters = counter_set.NewBlock();
  SendPosition latest;  // the furthest POSITION fed
  uint64_t now_us = 1'000'000;
  std::vector<uint8_t> frame(65536);

  while (!in.empty()) {
    const uint8_t op = in.U8() % 4;
    if (op == 0) {
      const size_t count = in.U8() % 80;  // > kMaxRunBlocks: runs are split
      std::vector<BlockFrameHeader> headers(count);
      std::vector<std::vector<uint8_t>> payloads(count);
      std::vector<BlockRef> refs(count);
      uint64_t want_new = 0, want_bad = 0, want_dup = 0;
      std::set<std::pair<uint32_t, uint64_t>> seen = m.have;
      uint32_t last_file = 0;
      uint64_t last_block = 0;
      for (size_t k = 0; k < count; ++k) {
        BlockFrameHeader& h = headers[k];
        h.type = static_cast<uint8_t>(FrameType::kBlock);
        h.transfer_id = kTransferId;
        const uint8_t kind = in.U8();
        uint64_t len;
        switch (kind % 4) {
          case 0:  // the block after the previous one (makes runs)
            h.file_index = last_file;
            h.offset = (last_block + (k > 0 ? 1 : 0)) * bs;
            len = h.file_index < nfiles ? BlockLen(m.sizes[h.file_index], bs, h.offset / bs) : 1;
            break;
          case 1:  // a chosen block
            h.file_index = in.U8() % nfiles;
            h.offset = uint64_t{in.U8()} * bs;
            len = BlockLen(m.sizes[h.file_index], bs, h.offset / bs);
            break;
          case 2:  // hostile header
            h.transfer_id = (kind & 0x10) ? in.U32() : kTransferId;
            h.file_index = in.U32();
            h.offset = in.U64();
            len = in.U16() % (2 * bs + 2);
            break;
          default:  // chosen block, length off by one
            h.file_index = in.U8() % nfiles;
            h.offset = uint64_t{in.U8()} * bs;
            len = BlockLen(m.sizes[h.file_index], bs, h.offset / bs) + ((kind & 0x10) ? 1 : -1);
            break;
        }
        if (len == 0 || len > 65536) len = 1;
        last_file = h.file_index;
        last_block = bs ? h.offset / bs : 0;
        payloads[k].resize(len);
        for (uint64_t j = 0; j < len; ++j) payloads[k][j] = Pattern(h.file_index, h.offset + j);
        refs[k] = {&headers[k], payloads[k].data(), payloads[k].size()};
        // The model: valid iff right transfer, file, block-aligned offset in range, exact length.
        const bool valid = h.transfer_id == kTransferId && h.file_index < nfiles && h.offset % bs == 0 &&
                           h.offset / bs < m.blocks[h.file_index] &&
                           len == BlockLen(m.sizes[h.file_index], bs, h.offset / bs);
        if (!valid)
          ++want_bad;
        else if (!seen.insert({h.file_index, h.offset / bs}).second)
          ++want_dup;
        else
          ++want_new;
      }
      const uint64_t w0 = counters.Get(CounterId::kblocks_written);
      const uint64_t b0 = counters.Get(CounterId::kdrop_bad_block);
      const uint64_t d0 = counters.Get(CounterId::kdrop_duplicate_block);
      t->OnBlocks(refs.data(), refs.size(), counters);
      FUZZ_CHECK(counters.Get(CounterId::kblocks_written) - w0 == want_new);
      FUZZ_CHECK(counters.Get(CounterId::kdrop_bad_block) - b0 == want_bad);
      FUZZ_CHECK(counters.Get(CounterId::kdrop_duplicate_block) - d0 == want_dup);
      FUZZ_CHECK(counters.Get(CounterId::kwrite_errors) == 0);
      m.have = std::move(seen);
    } else if (op == 1) {
      PositionFrame p{};
      p.type = static_cast<uint8_t>(FrameType::kPosition);
      p.transfer_id = kTransferId;
      const uint8_t f = in.U8();
      p.file_index = f >= 0xf0 ? 0xffffff00u + f : f % (nfiles + 1);
      p.next_block = in.U16();
      if (p.next_block == 0xffff) p.next_block = ~0ull;
      p.flags = in.U8() & 1;
      t->OnPosition(p);
      SendPosition sp{p.file_index, p.next_block, p.flags != 0};
      if (PositionAfter(sp, latest)) latest = sp;
    } else if (op == 2) {
      now_us += uint64_t{in.U16()} * 50;
      static const size_t kCaps[] = {0,
                                     kFeedbackFrameHeaderLen,
                                     kFeedbackFrameHeaderLen + kNackRangeLen,
                                     kFeedbackFrameHeaderLen + 3 * kNackRangeLen,
                                     1440,
                                     65536};
      const size_t cap = kCaps[in.U8() % 6];
      const size_t n = t->BuildFeedback(now_us, 0, 0, frame.data(), cap);
      if (cap < kFeedbackFrameHeaderLen) {
        FUZZ_CHECK(n == 0);
        continue;
      }
      FUZZ_CHECK(n >= kFeedbackFrameHeaderLen && n <= cap);
      FeedbackFrameHeader h;
      std::vector<NackRange> ranges;
      FUZZ_CHECK(DecodeFeedbackFrame(frame.data(), n, &h, &ranges));
      FUZZ_CHECK(h.transfer_id == kTransferId);
      FUZZ_CHECK(h.blocks_received == m.have.size());
      const bool complete = m.have.size() == m.total;
      FUZZ_CHECK(((h.flags & kFeedbackFlagComplete) != 0) == complete);
      if (complete) FUZZ_CHECK(ranges.empty());
      for (const NackRange& r : ranges) {
        FUZZ_CHECK(r.file_index < nfiles && r.block_count > 0);
        FUZZ_CHECK(r.first_block < m.blocks[r.file_index] &&
                   r.block_count <= m.blocks[r.file_index] - r.first_block);
        FUZZ_CHECK(Before(r.file_index, r.first_block + r.block_count, latest));
        for (uint64_t b = r.first_block; b < r.first_block + r.block_count; ++b) {
          FUZZ_CHECK(m.have.count({r.file_index, b}) == 0);  // never NACK a block we hold
        }
      }
    } else {
      t->Close(false);
      FUZZ_CHECK(t->Stats().blocks_received == m.have.size());
      // Reopen: partials are reused, so data already written stays but the
      // bitmaps start empty (resume state comes from checkpoints, not here).
      t = ReceiveTransfer::Open(spec, 1, kTransferId, &events, &st);
      FUZZ_CHECK(t != nullptr);
      m.have.clear();
      latest = SendPosition{};
      now_us += 1'000'000;
    }
  }
  const ReceiveStats stats = t->Stats();
  FUZZ_CHECK(stats.blocks_received == m.have.size() && stats.total_blocks == m.total);
  FUZZ_CHECK(!stats.failed);
  t->Close(true);
  // Finalized files hold exactly the pattern bytes and their manifest size.
  for (uint32_t f = 0; f < nfiles; ++f) {
    const std::string path = *g_root + "/" + spec.files[f].path;
    const int fd = ::open(path.c_str(), O_RDONLY);
    const bool complete = m.FileComplete(f);
    if (complete) {
      FUZZ_CHECK(fd >= 0);
      std::vector<uint8_t> buf(m.sizes[f] + 1);
      const ssize_t got = ::pread(fd, buf.data(), buf.size(), 0);
      FUZZ_CHECK(got == static_cast<ssize_t>(m.sizes[f]));
      for (uint64_t j = 0; j < m.sizes[f]; ++j) FUZZ_CHECK(buf[j] == Pattern(f, j));
    }
    if (fd >= 0) ::close(fd);
  }
  jetrecv::fuzz::RemoveTree(*g_root, false);
  return 0;
}

namespace jetrecv::fuzz {
void FuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  {  // block size 64, 2 files of 130 and 64 bytes: every block in runs, POSITION, FEEDBACK.
    Writer w;
    w.U8(2).U8(1).U16(130).U16(64);
    w.U8(1).U8(1).U16(1).U8(0);  // POSITION file 1 block 1
    w.U8(2).U16(100).U8(4);      // FEEDBACK: NACKs everything before it, later
    w.U8(2).U16(100).U8(4);
    w.U8(0).U8(3).U8(1).U8(0).U8(0).U8(0).U8(0);  // blocks (0,0) (0,1) (0,2)
    w.U8(2).U16(1000).U8(5);
    w.U8(0).U8(2).U8(1).U8(1).U8(0).U8(1).U8(1).U8(0);  // (1,0) twice
    w.U8(2).U16(1000).U8(5);
    out->push_back(w.bytes);
  }
  {  // block size 1, hostile headers and off-by-one lengths, reopen, tiny caps.
    Writer w;
    w.U8(0).U8(2).U16(10).U16(3);
    w.U8(0).U8(4).U8(2).U32(7).U64(0).U16(1).U8(0x12).U32(99).U32(0).U64(0).U16(1);
    w.U8(3).U8(0).U8(1).U8(1).U8(3).U8(0x13).U8(0).U8(1);
    w.U8(1).U8(0xff).U16(0xffff).U8(1);
    w.U8(2).U16(10).U8(1).U8(2).U16(10).U8(2).U8(2).U16(10).U8(3);
    w.U8(3);
    w.U8(0).U8(70);
    for (int k = 0; k < 70; ++k) w.U8(0);
    w.U8(2).U16(5000).U8(5);
    out->push_back(w.bytes);
  }
}
}  // namespace jetrecv::fuzz
