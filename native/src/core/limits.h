// limits.h — named bounds of the native core. Every queue, pool and batch is
// sized here; a full queue is a counted drop, never growth.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/wire_format.h"

namespace jetrecv::core {

// Events waiting for JS (handshake packets, control frames, file done, errors).
constexpr size_t kMaxQueuedEvents = 65536;
// recvmmsg slots per RX batch; each slot holds one (possibly GRO-coalesced)
// datagram of up to kRecvSlotBytes.
constexpr size_t kRecvBatchSlots = 32;
constexpr size_t kRecvSlotBytes = 65536;
// A GRO super-datagram never holds more than this many segments (kernel UDP_MAX_SEGMENTS).
constexpr size_t kMaxGroSegments = 64;
// One UDP_SEGMENT send carries at most this many segments and bytes of payload.
constexpr size_t kMaxGsoSegments = 64;
constexpr size_t kMaxGsoBytes = 65507 - 64;  // stay clear of the IPv4 total-length limit
// sendmmsg batch size for the non-GSO path.
constexpr size_t kSendmmsgBatch = 64;
// Replay window per (session, receive direction, lane), in packets (multiple of 64).
constexpr size_t kReplayWindowPackets = 8192;
// Receiver SO_REUSEPORT sockets (RX threads), sender lanes.
constexpr int kMaxReceiverSockets = 64;
constexpr int kMaxSenderLanes = static_cast<int>(kMaxLanes);
// RX threads wake at least this often to check for stop and run timers.
constexpr int kRxPollTimeoutMs = 20;
// Bounds on the receiver's feedback period.
constexpr uint32_t kMinFeedbackIntervalMs = 1;
constexpr uint32_t kMaxFeedbackIntervalMs = 10000;
// Largest datagram the endpoint will build (feedback frames, control frames).
constexpr size_t kFeedbackDatagramMax = 1472;

}  // namespace jetrecv::core
