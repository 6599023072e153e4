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
    FUZZ_CHECK(block_len > 0 && block == f + kBlockFrameHeaderLen && block_len == size - kBlockFrameHeaderLen);
    size_t n = EncodeBlockFrame(bh, block, block_len, out.data(), out.size());
    FUZZ_CHECK(n == size && std::memcmp(out.data(), f, size) == 0);
  }

  FeedbackFrameHeader fh;
  std::vector<NackRange> ranges;
  if (DecodeFeedbackFrame(f, size, &fh, &ranges)) {
    FUZZ_CHECK(ranges.size() == fh.range_count);
    FUZZ_CHECK(size == kFeedbackFrameHeaderLen + ranges.size() * kNackRangeLen);
    size_t n = EncodeFeedbackFrame(fh, ranges.data(), ranges.size(), out.data(), out.size());
    FUZZ_CHECK(n == size && std::memcmp(out.data(), f, size) == 0);
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
  out->push_back(Writer().U8(0x02).U8(0).U16(0).Raw({1, 2, 3}).bytes);           // CONTROL
  out->push_back(Writer().U8(0x01).U8(0).U16(0).U32(5).U32(1).U32(0).U64(512).U8(9).bytes);  // BLOCK
  Writer fb;
  fb.U8(0x04).U8(0).U16(2).U32(5).U64(1).U64(1000).U64(3).U32(0).U32(0);
  fb.U32(0).U32(2).U64(0).U32(1).U32(1).U64(7);
  out->push_back(fb.bytes);                                                         // FEEDBACK, 2 ranges
  out->push_back(Writer().U8(0x05).U8(1).U16(0).U32(5).U32(2).U32(0).U64(3).bytes);  // POSITION
}
}  // namespace jetrecv::fuzz
