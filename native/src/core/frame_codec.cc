// frame_codec.cc — encoders and decoders of the frames (frame_codec.h).
#include "core/frame_codec.h"

#include "core/limits.h"

namespace jetrecv::core {

size_t EncodeControlFrame(const uint8_t* payload, size_t payload_len, uint8_t* frame, size_t cap) {
  const size_t len = kControlFrameHeaderLen + payload_len;
  if (payload_len > kMaxControlPayload || len > cap) return 0;
  frame[0] = static_cast<uint8_t>(FrameType::kControl);
  frame[1] = frame[2] = frame[3] = 0;
  if (payload_len > 0) std::memcpy(frame + kControlFrameHeaderLen, payload, payload_len);
  return len;
}

size_t FeedbackHeaderLen(uint8_t flags) {
  if ((flags & kFeedbackFlagRateCap) != 0) {
    return (flags & kFeedbackFlagTiming) != 0 ? kFeedbackFrameHeaderCapLen : 0;
  }
  return (flags & kFeedbackFlagTiming) != 0 ? kFeedbackFrameHeaderLen : kFeedbackFrameHeaderV1Len;
}

size_t EncodeFeedbackFrame(const FeedbackFrameHeader& header, const NackRange* ranges, size_t n,
                           uint8_t* frame, size_t cap) {
  const size_t header_len = FeedbackHeaderLen(header.flags | kFeedbackFlagTiming);
  const size_t len = header_len + n * kNackRangeLen;
  if (n > UINT16_MAX || len > cap) return 0;
  FeedbackFrameHeader h = header;
  h.type = static_cast<uint8_t>(FrameType::kFeedback);
  h.flags |= kFeedbackFlagTiming;
  h.range_count = static_cast<uint16_t>(n);
  std::memcpy(frame, &h, header_len);
  // sizeof(NackRange) == kNackRangeLen (wire_format.h): an array of them is the wire layout.
  if (n > 0) std::memcpy(frame + header_len, ranges, n * kNackRangeLen);
  return len;
}

size_t EncodePositionFrame(const PositionFrame& position, uint8_t* frame, size_t cap) {
  if (cap < kPositionFrameLen) return 0;
  PositionFrame p = position;
  p.type = static_cast<uint8_t>(FrameType::kPosition);
  StoreWire(frame, p);
  return kPositionFrameLen;
}

bool DecodeControlFrame(const uint8_t* frame, size_t len, const uint8_t** payload, size_t* payload_len) {
  if (len < kControlFrameHeaderLen || frame[0] != static_cast<uint8_t>(FrameType::kControl) ||
      len - kControlFrameHeaderLen > kMaxControlPayload) {
    return false;
  }
  *payload = frame + kControlFrameHeaderLen;
  *payload_len = len - kControlFrameHeaderLen;
  return true;
}

bool DecodeBlockFrame(const uint8_t* frame, size_t len, BlockFrameHeader* header, const uint8_t** data,
                      size_t* data_len) {
  if (len <= kBlockFrameHeaderLen || frame[0] != static_cast<uint8_t>(FrameType::kBlock)) {
    return false;
  }
  *header = LoadWire<BlockFrameHeader>(frame);
  *data = frame + kBlockFrameHeaderLen;
  *data_len = len - kBlockFrameHeaderLen;
  return true;
}

bool DecodeFeedbackFrame(const uint8_t* frame, size_t len, FeedbackFrameHeader* header,
                         std::vector<NackRange>* ranges) {
  ranges->clear();
  if (len < kFeedbackFrameHeaderV1Len || frame[0] != static_cast<uint8_t>(FrameType::kFeedback)) {
    return false;
  }
  // Protocol 1 receivers send the 40-byte header: the timing fields stay 0;
  // without the cap flag rate_cap_bps stays 0 (no receiver cap).
  const size_t header_len = FeedbackHeaderLen(frame[1]);
  if (header_len == 0 || len < header_len) return false;
  *header = FeedbackFrameHeader{};
  std::memcpy(header, frame, header_len);
  if (len != header_len + size_t{header->range_count} * kNackRangeLen) return false;
  ranges->reserve(header->range_count);
  for (size_t i = 0; i < header->range_count; ++i) {
    ranges->push_back(LoadWire<NackRange>(frame + header_len + i * kNackRangeLen));
  }
  return true;
}

bool DecodePositionFrame(const uint8_t* frame, size_t len, PositionFrame* position) {
  if (len != kPositionFrameLen || frame[0] != static_cast<uint8_t>(FrameType::kPosition)) {
    return false;
  }
  *position = LoadWire<PositionFrame>(frame);
  return true;
}

}  // namespace jetrecv::core
