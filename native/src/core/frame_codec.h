// frame_codec.h — the plaintext frames inside DATA packets (wire_format.h):
// encoders used by the shipped send paths and decoders used by the RX path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/wire_format.h"

namespace jetrecv::core {

// Packets are read and written with memcpy into aligned structs, never by
// casting packet pointers (see wire_format.h).
template <class T>
T LoadWire(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}
template <class T>
void StoreWire(uint8_t* p, const T& value) {
  std::memcpy(p, &value, sizeof(T));
}

// One verified BLOCK frame: header fields are already copied out of the packet
// (aligned); data points into the packet buffer and must stay valid for the call.
// staged: ReceiveTransfer::StageSealedBlock already decrypted it into its staging
// chunk and set its bit (data is then unused): OnBlocks only accounts for it.
struct BlockRef {
  const BlockFrameHeader* header;
  const uint8_t* data;
  size_t len;
  bool staged = false;
  // Monotonic µs the datagram arrived; 0 = it is being handled as it arrives (a
  // replayed early block carries its own: ReceiveTransfer::OnReplayedBlocks).
  uint64_t arrival_us = 0;
};

// CONTROL: writes the 4-byte header and payload into frame; returns the frame
// length, or 0 if payload_len > kMaxControlPayload or cap is too small.
size_t EncodeControlFrame(const uint8_t* payload, size_t payload_len, uint8_t* frame, size_t cap);
// BLOCK: header + data; returns the frame length or 0 if cap is too small.
// data may already sit at frame + kBlockFrameHeaderLen (read there in place):
// then only the header is written.
// Inline: the sender calls it once per datagram.
inline size_t EncodeBlockFrame(const BlockFrameHeader& header, const uint8_t* data, size_t len,
                               uint8_t* frame, size_t cap) {
  if (kBlockFrameHeaderLen + len > cap) return 0;
  BlockFrameHeader h = header;
  h.type = static_cast<uint8_t>(FrameType::kBlock);
  StoreWire(frame, h);
  if (len > 0 && data != frame + kBlockFrameHeaderLen) std::memcpy(frame + kBlockFrameHeaderLen, data, len);
  return kBlockFrameHeaderLen + len;
}
// Length of a FEEDBACK header with these flags: 40 (no timing), 56 (timing),
// 64 (timing + rate cap); 0 for the cap flag without timing (malformed).
size_t FeedbackHeaderLen(uint8_t flags);
// FEEDBACK: header (type, the timing flag and range_count set from n; 64 bytes
// with rate_cap_bps when flags has kFeedbackFlagRateCap) + ranges; 0 if it
// does not fit.
size_t EncodeFeedbackFrame(const FeedbackFrameHeader& header, const NackRange* ranges, size_t n,
                           uint8_t* frame, size_t cap);
// POSITION: the fixed-size frame (type set); returns kPositionFrameLen or 0 if cap is too small.
size_t EncodePositionFrame(const PositionFrame& position, uint8_t* frame, size_t cap);

// Decoders return false for a malformed frame (wrong type byte, wrong length,
// non-zero reserved header bytes where the format requires them).
bool DecodeControlFrame(const uint8_t* frame, size_t len, const uint8_t** payload, size_t* payload_len);
// A BLOCK frame carries at least one data byte.
bool DecodeBlockFrame(const uint8_t* frame, size_t len, BlockFrameHeader* header, const uint8_t** data,
                      size_t* data_len);
// Ranges are appended to *ranges (cleared first); len must be exactly
// FeedbackHeaderLen(flags) + range_count * kNackRangeLen.
bool DecodeFeedbackFrame(const uint8_t* frame, size_t len, FeedbackFrameHeader* header,
                         std::vector<NackRange>* ranges);
bool DecodePositionFrame(const uint8_t* frame, size_t len, PositionFrame* position);

}  // namespace jetrecv::core
