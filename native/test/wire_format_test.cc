// wire_format_test.cc — layouts of the wire structs and the frame codec
// (encode -> decode round trips, byte positions, malformed frames refused).
#include "core/wire_format.h"

#include <cstring>
#include <vector>

#include "core/endpoint.h"
#include "test_util.h"

using namespace jetrecv::core;

namespace {

void Sizes() {
  CHECK_EQ(sizeof(DataHeader), 16u);
  CHECK_EQ(sizeof(BlockFrameHeader), 24u);
  CHECK_EQ(sizeof(FeedbackFrameHeader), 64u);  // 56 on the wire without the cap flag
  CHECK_EQ(sizeof(NackRange), 16u);
  CHECK_EQ(sizeof(PositionFrame), 24u);
  CHECK_EQ(kBlockPacketOverhead, 56u);
  // CONTROL with the largest payload fits a 1472-byte datagram.
  CHECK(kDataHeaderLen + kControlFrameHeaderLen + kMaxControlPayload + kAeadTagLen <= 1472u);
}

void DataHeaderLayout() {
  DataHeader h{};
  h.type = static_cast<uint8_t>(PacketType::kData);
  h.lane = 7;
  h.receiver_index = 0x11223344;
  h.counter = 0x0102030405060708ull;
  uint8_t bytes[kDataHeaderLen];
  StoreWire(bytes, h);
  const uint8_t expected[kDataHeaderLen] = {3, 7, 0, 0, 0x44, 0x33, 0x22, 0x11, 8, 7, 6, 5, 4, 3, 2, 1};
  CHECK(std::memcmp(bytes, expected, sizeof(expected)) == 0);
  DataHeader back = LoadWire<DataHeader>(bytes);
  CHECK_EQ(back.receiver_index, 0x11223344u);
  CHECK_EQ(back.counter, 0x0102030405060708ull);
}

void ControlFrame() {
  const uint8_t payload[] = {0x0a, 0x03, 'a', 'b', 'c'};
  uint8_t frame[64];
  size_t len = EncodeControlFrame(payload, sizeof(payload), frame, sizeof(frame));
  CHECK_EQ(len, kControlFrameHeaderLen + sizeof(payload));
  CHECK_EQ(frame[0], static_cast<uint8_t>(FrameType::kControl));
  const uint8_t* out;
  size_t out_len;
  CHECK(DecodeControlFrame(frame, len, &out, &out_len));
  CHECK_EQ(out_len, sizeof(payload));
  CHECK(std::memcmp(out, payload, sizeof(payload)) == 0);
  // Empty payload is a valid frame; too small a buffer or too big a payload is not.
  CHECK_EQ(EncodeControlFrame(nullptr, 0, frame, sizeof(frame)), kControlFrameHeaderLen);
  CHECK_EQ(EncodeControlFrame(payload, sizeof(payload), frame, 6), 0u);
  std::vector<uint8_t> big(kMaxControlPayload + 1), big_frame(kMaxControlPayload + 64);
  CHECK_EQ(EncodeControlFrame(big.data(), big.size(), big_frame.data(), big_frame.size()), 0u);
  CHECK(!DecodeControlFrame(frame, 3, &out, &out_len));
  frame[0] = static_cast<uint8_t>(FrameType::kBlock);
  CHECK(!DecodeControlFrame(frame, len, &out, &out_len));
}

void BlockFrame() {
  BlockFrameHeader h{};
  h.transfer_id = 77;
  h.file_index = 3;
  h.offset = uint64_t{1} << 33;
  const uint8_t data[] = {9, 8, 7, 6, 5};
  uint8_t frame[64];
  size_t len = EncodeBlockFrame(h, data, sizeof(data), frame, sizeof(frame));
  CHECK_EQ(len, kBlockFrameHeaderLen + sizeof(data));
  CHECK_EQ(frame[0], static_cast<uint8_t>(FrameType::kBlock));
  CHECK_EQ(frame[4], 77u);      // transfer_id at 4, LE
  CHECK_EQ(frame[8], 3u);       // file_index at 8
  CHECK_EQ(frame[16 + 4], 2u);  // offset at 16: 2^33 -> byte 4 = 0x02
  BlockFrameHeader back;
  const uint8_t* out;
  size_t out_len;
  CHECK(DecodeBlockFrame(frame, len, &back, &out, &out_len));
  CHECK_EQ(back.transfer_id, 77u);
  CHECK_EQ(back.file_index, 3u);
  CHECK_EQ(back.offset, uint64_t{1} << 33);
  CHECK_EQ(out_len, sizeof(data));
  CHECK(std::memcmp(out, data, sizeof(data)) == 0);
  CHECK(!DecodeBlockFrame(frame, kBlockFrameHeaderLen, &back, &out, &out_len));  // no data
  CHECK_EQ(EncodeBlockFrame(h, data, sizeof(data), frame, kBlockFrameHeaderLen), 0u);
  // Data read in place behind the header (the sender's path): the header alone is written.
  uint8_t in_place[64] = {};
  std::memcpy(in_place + kBlockFrameHeaderLen, data, sizeof(data));
  len = EncodeBlockFrame(h, in_place + kBlockFrameHeaderLen, sizeof(data), in_place, sizeof(in_place));
  CHECK_EQ(len, kBlockFrameHeaderLen + sizeof(data));
  CHECK(std::memcmp(in_place, frame, len) == 0);
}

void FeedbackFrame() {
  FeedbackFrameHeader h{};
  h.flags = kFeedbackFlagComplete;
  h.transfer_id = 5;
  h.feedback_seq = 12;
  h.recv_rate = 1'000'000'000;
  h.blocks_received = 4242;
  h.socket_drops = 3;
  h.echo_stamp = 0xfffffff0u;
  h.echo_hold_us = 1234;
  h.rx_datagram_bytes = 1ull << 40;
  NackRange ranges[2] = {{1, 10, 100}, {2, 1, 0}};
  uint8_t frame[128];
  size_t len = EncodeFeedbackFrame(h, ranges, 2, frame, sizeof(frame));
  CHECK_EQ(len, kFeedbackFrameHeaderLen + 2 * kNackRangeLen);
  CHECK_EQ(frame[2], 2u);  // range_count at 2
  FeedbackFrameHeader back;
  std::vector<NackRange> out;
  CHECK(DecodeFeedbackFrame(frame, len, &back, &out));
  CHECK_EQ(back.flags, kFeedbackFlagComplete | kFeedbackFlagTiming);
  CHECK_EQ(back.echo_stamp, 0xfffffff0u);
  CHECK_EQ(back.echo_hold_us, 1234u);
  CHECK_EQ(back.rx_datagram_bytes, 1ull << 40);
  CHECK_EQ(back.transfer_id, 5u);
  CHECK_EQ(back.feedback_seq, 12u);
  CHECK_EQ(back.recv_rate, 1'000'000'000u);
  CHECK_EQ(back.blocks_received, 4242u);
  CHECK_EQ(back.socket_drops, 3u);
  REQUIRE(out.size() == 2);
  {
    // A protocol-1 receiver's 40-byte header (no timing flag) decodes with timing 0.
    uint8_t v1[kFeedbackFrameHeaderV1Len + kNackRangeLen];
    std::memcpy(v1, frame, kFeedbackFrameHeaderV1Len);
    v1[1] = kFeedbackFlagComplete;
    v1[2] = 1;
    std::memcpy(v1 + kFeedbackFrameHeaderV1Len, frame + kFeedbackFrameHeaderLen, kNackRangeLen);
    FeedbackFrameHeader old;
    std::vector<NackRange> old_ranges;
    CHECK(DecodeFeedbackFrame(v1, sizeof(v1), &old, &old_ranges));
    CHECK_EQ(old.echo_stamp, 0u);
    CHECK_EQ(old.rx_datagram_bytes, 0u);
    CHECK_EQ(old.blocks_received, 4242u);
    REQUIRE(old_ranges.size() == 1);
    CHECK_EQ(old_ranges[0].block_count, 10u);
    // The timing flag with a 40-byte header is malformed.
    v1[1] = kFeedbackFlagTiming;
    v1[2] = 0;
    CHECK(!DecodeFeedbackFrame(v1, kFeedbackFrameHeaderV1Len, &old, &old_ranges));
  }
  CHECK_EQ(out[0].file_index, 1u);
  CHECK_EQ(out[0].block_count, 10u);
  CHECK_EQ(out[0].first_block, 100u);
  CHECK_EQ(out[1].file_index, 2u);
  // Length must match range_count exactly.
  CHECK(!DecodeFeedbackFrame(frame, len - 1, &back, &out));
  CHECK(!DecodeFeedbackFrame(frame, len + 16, &back, &out));
  CHECK_EQ(EncodeFeedbackFrame(h, ranges, 2, frame, 50), 0u);
  CHECK_EQ(back.rate_cap_bps, 0u);  // no cap flag: no receiver cap

  // The receiver's cap: flag bit2, a 64-byte header with rate_cap_bps at 56.
  h.flags = kFeedbackFlagRateCap;
  h.rate_cap_bps = 20'000'000;
  len = EncodeFeedbackFrame(h, ranges, 2, frame, sizeof(frame));
  CHECK_EQ(len, kFeedbackFrameHeaderCapLen + 2 * kNackRangeLen);
  uint64_t wire_cap;
  std::memcpy(&wire_cap, frame + 56, 8);
  CHECK_EQ(wire_cap, 20'000'000u);
  CHECK(DecodeFeedbackFrame(frame, len, &back, &out));
  CHECK_EQ(back.flags, kFeedbackFlagRateCap | kFeedbackFlagTiming);
  CHECK_EQ(back.rate_cap_bps, 20'000'000u);
  CHECK_EQ(back.rx_datagram_bytes, 1ull << 40);
  REQUIRE(out.size() == 2);
  CHECK_EQ(out[0].first_block, 100u);
  CHECK(!DecodeFeedbackFrame(frame, len - 8, &back, &out));  // cap flag, 56-byte header
  frame[1] = kFeedbackFlagRateCap;                           // cap without timing: malformed
  CHECK(!DecodeFeedbackFrame(frame, len, &back, &out));
  CHECK_EQ(FeedbackHeaderLen(0), kFeedbackFrameHeaderV1Len);
  CHECK_EQ(FeedbackHeaderLen(kFeedbackFlagTiming), kFeedbackFrameHeaderLen);
}

void PositionFrameCodec() {
  PositionFrame p{};
  p.flags = kPositionFlagFirstPassDone;
  p.transfer_id = 9;
  p.file_index = 4;
  p.next_block = 123456789;
  uint8_t frame[kPositionFrameLen];
  CHECK_EQ(EncodePositionFrame(p, frame, sizeof(frame) - 1), 0u);
  CHECK_EQ(EncodePositionFrame(p, frame, sizeof(frame)), kPositionFrameLen);
  CHECK_EQ(frame[0], static_cast<uint8_t>(FrameType::kPosition));
  PositionFrame back;
  CHECK(DecodePositionFrame(frame, sizeof(frame), &back));
  CHECK_EQ(back.flags, kPositionFlagFirstPassDone);
  CHECK_EQ(back.transfer_id, 9u);
  CHECK_EQ(back.file_index, 4u);
  CHECK_EQ(back.next_block, 123456789u);
  CHECK(!DecodePositionFrame(frame, sizeof(frame) - 1, &back));
  frame[0] = static_cast<uint8_t>(FrameType::kControl);
  CHECK(!DecodePositionFrame(frame, sizeof(frame), &back));
}

}  // namespace

int main() {
  Sizes();
  DataHeaderLayout();
  ControlFrame();
  BlockFrame();
  FeedbackFrame();
  PositionFrameCodec();
  return jetrecv::test::TestExitCode();
}
