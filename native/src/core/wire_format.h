// wire_format.h — the jetrecv UDP wire format as data (see docs/PROTOCOL.md).
// Every multi-byte field is little-endian. Structs here describe layouts; code
// reads and writes them with the Load/Store helpers, never by casting packet
// pointers (alignment), so the layouts are pinned with static_assert.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace jetrecv::core {

// The structs below are copied to and from packets with memcpy, which matches the
// little-endian wire format only on a little-endian host.
static_assert(std::endian::native == std::endian::little, "jetrecv assumes a little-endian host");

// ---- Packet types: byte 0 of every datagram ---------------------------------
enum class PacketType : uint8_t {
  kHandshakeInit = 0x01,    // initiator -> responder, exactly kHandshakeInitLen bytes, to JS
  kHandshakeResp = 0x02,    // responder -> initiator, exactly kHandshakeRespLen bytes, to JS
  kData = 0x03,             // DataHeader + AEAD ciphertext of one Frame + 16-byte tag
  kHandshakeCookie = 0x04,  // responder under load -> initiator, exactly kHandshakeCookieLen bytes, to JS
};

// Handshake packets are built and checked in TS (docs/PROTOCOL-handshake.md); the addon
// forwards a handshake type to JS only at exactly its length.
constexpr size_t kHandshakeInitLen = 152;
constexpr size_t kHandshakeRespLen = 80;
constexpr size_t kHandshakeCookieLen = 64;

// The length of handshake packet type `type`, or 0 if `type` is not a handshake type.
constexpr size_t HandshakePacketLen(uint8_t type) {
  switch (static_cast<PacketType>(type)) {
    case PacketType::kHandshakeInit: return kHandshakeInitLen;
    case PacketType::kHandshakeResp: return kHandshakeRespLen;
    case PacketType::kHandshakeCookie: return kHandshakeCookieLen;
    default: return 0;
  }
}
constexpr size_t kAeadTagLen = 16;
constexpr size_t kAeadKeyLen = 32;
constexpr size_t kAeadNonceLen = 12;

// ---- DATA packet header (16 bytes, clear, authenticated as AAD) ------------------
//  0  u8  type = kData
//  1  u8  lane            sender-chosen lane (socket) id, 0..kMaxLanes-1
//  2  u16 reserved        must be 0
//  4  u32 receiver_index  session index chosen by the side that receives this packet
//  8  u64 counter         per (session, direction, lane); starts at 0, never reused
// Nonce (12 bytes) = u32 lane (LE) || u64 counter (LE).
// Key for a packet = epoch key (direction base key, lane, counter >> kEpochShift).
struct DataHeader {
  uint8_t type;
  uint8_t lane;
  uint16_t reserved;
  uint32_t receiver_index;
  uint64_t counter;
};
constexpr size_t kDataHeaderLen = 16;
constexpr unsigned kEpochShift = 22;  // new AEAD key every 2^22 packets per lane
constexpr unsigned kMaxLanes = 16;

// ---- Frames: the plaintext of a DATA packet is exactly one frame -------------
enum class FrameType : uint8_t {
  kBlock = 0x01,     // sender -> receiver, file data; handled in C++
  kControl = 0x02,   // both ways; protobuf ControlEnvelope, handed to JS
  kFeedback = 0x04,  // receiver -> sender; NACK ranges + rate report; handled in C++
  kPosition = 0x05,  // sender -> receiver; how far the first pass has got; C++
};

// BLOCK (24-byte header, then the block's bytes)
//  0 u8 type=kBlock  1 u8 flags(0)  2 u16 reserved
//  4 u32 transfer_id  8 u32 file_index
// 12 u32 send_stamp  low 32 bits of the sender's monotonic µs clock when the
//                    batch was sent (0 = none: senders before transfer protocol 2)
// 16 u64 offset (multiple of the transfer's block size)
// data length = min(block_size, file_size - offset), > 0
struct BlockFrameHeader {
  uint8_t type;
  uint8_t flags;
  uint16_t reserved;
  uint32_t transfer_id;
  uint32_t file_index;
  uint32_t send_stamp;
  uint64_t offset;
};
constexpr size_t kBlockFrameHeaderLen = 24;

// CONTROL (4-byte header, then protobuf bytes, at most kMaxControlPayload)
//  0 u8 type=kControl  1..3 reserved
constexpr size_t kControlFrameHeaderLen = 4;
constexpr size_t kMaxControlPayload = 1200;  // fits a 1472-byte datagram with headers

// FEEDBACK (56-byte header, then range_count NackRange entries)
//  0 u8 type=kFeedback  1 u8 flags (bit0: receiver has every block of the transfer;
//                                   bit1: timing fields 40..55 present)
//  2 u16 range_count    4 u32 transfer_id
//  8 u64 feedback_seq   (increases by 1 per feedback sent for this transfer)
// 16 u64 recv_rate     bytes of block data per second over the last interval
// 24 u64 blocks_received (distinct blocks held by the receiver, whole transfer)
// 32 u32 socket_drops  (receiver-socket overflow drops since the previous feedback)
// 36 u32 rx_queue_permille  fullest receive socket's queue, in 1/1000 of its buffer
//                           (0 from receivers that do not measure it)
// 40 u32 echo_stamp    send_stamp of the newest BLOCK received (0 = none yet)
// 44 u32 echo_hold_us  µs between that BLOCK's arrival and this FEEDBACK
// 48 u64 rx_datagram_bytes  BLOCK datagram bytes received for this transfer
//                           (duplicates included), whole transfer
// 56 u64 rate_cap_bps  only with flags bit2 (header 64 bytes): the receiver's cap
//                      on this transfer's send rate, bits/s of UDP payload (the
//                      unit of the sender's --rate-max); sent only to transfer
//                      protocol 3 senders, and only while a cap applies
// A receiver before transfer protocol 2 sends the 40-byte header without bit1;
// it decodes with the timing fields 0. Without bit2 there is no receiver cap.
struct FeedbackFrameHeader {
  uint8_t type;
  uint8_t flags;
  uint16_t range_count;
  uint32_t transfer_id;
  uint64_t feedback_seq;
  uint64_t recv_rate;
  uint64_t blocks_received;
  uint32_t socket_drops;
  uint32_t rx_queue_permille;
  uint32_t echo_stamp;
  uint32_t echo_hold_us;
  uint64_t rx_datagram_bytes;
  uint64_t rate_cap_bps;  // on the wire only with kFeedbackFlagRateCap
};
constexpr size_t kFeedbackFrameHeaderLen = 56;     // with the timing fields
constexpr size_t kFeedbackFrameHeaderV1Len = 40;   // without the timing fields
constexpr size_t kFeedbackFrameHeaderCapLen = 64;  // with the timing fields and rate_cap_bps
constexpr uint8_t kFeedbackFlagComplete = 0x01;
constexpr uint8_t kFeedbackFlagTiming = 0x02;
constexpr uint8_t kFeedbackFlagRateCap = 0x04;

// NACK range: blocks [first_block, first_block + block_count) of file_index are missing
struct NackRange {
  uint32_t file_index;
  uint32_t block_count;
  uint64_t first_block;
};
constexpr size_t kNackRangeLen = 16;

// POSITION (24 bytes): every block before (file_index, next_block) in send order
// has been sent at least once. flags bit0: first pass finished (all blocks sent once).
//  0 u8 type=kPosition 1 u8 flags 2 u16 reserved 4 u32 transfer_id
//  8 u32 file_index 12 u32 srtt_us (sender's smoothed RTT, 0 = unknown) 16 u64 next_block
struct PositionFrame {
  uint8_t type;
  uint8_t flags;
  uint16_t reserved;
  uint32_t transfer_id;
  uint32_t file_index;
  uint32_t srtt_us;
  uint64_t next_block;
};
constexpr size_t kPositionFrameLen = 24;
constexpr uint8_t kPositionFlagFirstPassDone = 0x01;

static_assert(sizeof(DataHeader) == kDataHeaderLen);
static_assert(sizeof(BlockFrameHeader) == kBlockFrameHeaderLen);
static_assert(sizeof(FeedbackFrameHeader) == kFeedbackFrameHeaderCapLen);
static_assert(sizeof(NackRange) == kNackRangeLen);
static_assert(sizeof(PositionFrame) == kPositionFrameLen);

// Per-datagram overhead of a BLOCK packet: header + frame header + tag = 56 bytes.
constexpr size_t kBlockPacketOverhead = kDataHeaderLen + kBlockFrameHeaderLen + kAeadTagLen;
constexpr size_t kMaxDatagram = 65507;

}  // namespace jetrecv::core
