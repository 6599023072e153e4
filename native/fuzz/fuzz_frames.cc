// fuzz_frames.cc — fuzz target for the plaintext frame decoders of DATA packets
// (DecodeControlFrame, DecodeBlockFrame, DecodeFeedbackFrame, DecodePositionFrame
// in core/endpoint.h). Every decoder sees every input. Checks: no crash or
// out-of-bounds read (ASan under libFuzzer), outputs stay inside the input, and
// whatever decodes re-encodes to the same bytes (the codec is a bijection on
// valid frames).
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/endpoint.h"
#include "fuzz_util.h"

using namespace jetrecv::core;
using jetrecv::fuzz::Writer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private copy of exactly `size` bytes, so ASan catches reads past the end.
  std::vector<uint8_t> frame(data, data + size);
  const uint8_t* f = frame.data();
  std::vector<uint8_t> out(size + 64);

  const uint8_t* payload = nullptr;
  size_t payload_len = 0;
  if (DecodeControlFrame(f, size, &payload, &payload_len)) {
    FUZZ_CHECK(payload == f + kControlFrameHeaderLen);
    FUZZ_CHECK(payload_len == size - kControlFrameHeaderLen && payload_len <= kMaxControlPayload);
    size_t n = EncodeControlFrame(payload, payload_len, out.data(), out.size());
    FUZZ_CHECK(n == size);
    // The encoder writes zero reserved bytes; the rest must match.
    FUZZ_CHECK(std::memcmp(out.data() + 4, f + 4, size - 4) == 0 && out[0] == f[0]);
  }

  BlockFrameHeader bh;
  const uint8_t* block = nullptr;
  size_t block_len = 0;
  if (DecodeBlockFrame(f, size, &bh, &block, &block_len)) {
    FUZZ_CHECK(block_len > 0 && block == f + kBlockFrameHeaderLen &&
               block_len == size - kBlockFrameHeaderLen);
    size_t n = EncodeBlockFrame(bh, block, block_len, out.data(), out.size());
    FUZZ_CHECK(n == size && std::memcmp(out.data(), f, size) == 0);
  }

  FeedbackFrameHeader fh;
  std::vector<NackRange> ranges;
  if (DecodeFeedbackFrame(f, size, &fh, &ranges)) {
    FUZZ_CHECK(ranges.size() == fh.range_count);
    // A protocol-1 frame (no timing flag) has the 40-byte header, one with the rate cap flag
    // (only with timing) 64 bytes; the encoder writes only the timing layouts, so only those
    // frames re-encode to the same bytes.
    const bool timing = (f[1] & kFeedbackFlagTiming) != 0;
    const bool rate_cap = (f[1] & kFeedbackFlagRateCap) != 0;
    FUZZ_CHECK(timing || !rate_cap);
    const size_t header_len = rate_cap ? kFeedbackFrameHeaderCapLen
                              : timing ? kFeedbackFrameHeaderLen
                                       : kFeedbackFrameHeaderV1Len;
    FUZZ_CHECK(rate_cap || fh.rate_cap_bps == 0);
    FUZZ_CHECK(size == header_len + ranges.size() * kNackRangeLen);
    if (timing) {
      size_t n = EncodeFeedbackFrame(fh, ranges.data(), ranges.size(), out.data(), out.size());
      FUZZ_CHECK(n == size && std::memcmp(out.data(), f, size) == 0);
    }
  } else {
    FUZZ_CHECK(ranges.empty());
  }

  PositionFrame pos;
  if (DecodePositionFrame(f, size, &pos)) {
    FUZZ_CHECK(size == kPositionFrameLen && pos.type == static_cast<uint8_t>(FrameType::kPosition));
  }
  return 0;
}

namespace jetrecv::fuzz {
void FuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  out->push_back(Writer().U8(0x02).U8(0).U16(0).Raw({1, 2, 3}).bytes);                       // CONTROL
  out->push_back(Writer().U8(0x01).U8(0).U16(0).U32(5).U32(1).U32(0).U64(512).U8(9).bytes);  // BLOCK
  Writer fb;
  fb.U8(0x04).U8(0).U16(2).U32(5).U64(1).U64(1000).U64(3).U32(0).U32(0);
  fb.U32(0).U32(2).U64(0).U32(1).U32(1).U64(7);
  out->push_back(fb.bytes);  // FEEDBACK (protocol 1), 2 ranges
  Writer fb2;
  fb2.U8(0x04).U8(0x02).U16(1).U32(5).U64(1).U64(1000).U64(3).U32(0).U32(0);
  fb2.U32(123456).U32(40).U64(1 << 20);  // timing: echoed stamp, hold time, datagram bytes
  fb2.U32(0).U32(2).U64(0);
  out->push_back(fb2.bytes);  // FEEDBACK with timing, 1 range
  Writer fb3;
  fb3.U8(0x04).U8(0x06).U16(0).U32(5).U64(2).U64(1000).U64(3).U32(0).U32(0);
  fb3.U32(123456).U32(40).U64(1 << 20).U64(20'000'000);  // timing, then the receiver's rate cap
  out->push_back(fb3.bytes);                             // FEEDBACK with a rate cap, no range
  out->push_back(Writer().U8(0x05).U8(1).U16(0).U32(5).U32(2).U32(0).U64(3).bytes);  // POSITION
}
}  // namespace jetrecv::fuzz
