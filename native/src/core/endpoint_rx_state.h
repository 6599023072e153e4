// endpoint_rx_state.h — private to endpoint*.cc: the state of one RX thread
// (endpoint_rx.cc) that the feedback timer (endpoint_feedback.cc) shares.
#pragma once
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/endpoint.h"

namespace jetrecv::core {

inline uint64_t MonotonicMicros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// State of one RX thread; only that thread touches it.
struct Endpoint::RxThreadState {
  struct PendingBlock {
    ReceiveTransfer* transfer;
    size_t header_index;  // into block_headers
    const uint8_t* data;
    size_t len;
    bool staged;  // BlockRef::staged
  };
  struct CachedTransfer {
    uint32_t session;
    uint32_t transfer_id;
    std::shared_ptr<ReceiveTransfer> transfer;  // null: known to be absent
  };

  size_t index = 0;
  CounterBlock* counters = nullptr;
  RecvBatchBuffers buffers;
  // Per batch: sessions resolved for each datagram, kept alive until the batch ends.
  std::vector<Session*> datagram_sessions;
  std::vector<std::shared_ptr<Session>> touched_sessions;
  std::vector<CachedTransfer> transfer_cache;
  // The session whose last BLOCK in this batch was for a transfer without direct-I/O
  // files: its next packets in the batch are opened in place in one call (OpenData).
  const Session* no_staging_session = nullptr;
  std::vector<BlockFrameHeader> block_headers;
  std::vector<PendingBlock> pending_blocks;
  std::vector<BlockRef> block_refs;
  std::vector<NackRange> nack_ranges;
  // Handshake budget (this thread's share of kMaxHandshakeEventsPerSecond) and mac1 check.
  TokenBucket handshake_budget;
  double handshake_rate = 0;
  std::unique_ptr<Mac1Verifier> mac1;
  // Feedback timer (receiver, thread 0).
  uint64_t next_feedback_us = 0;
  std::vector<uint8_t> feedback_packet;
};

}  // namespace jetrecv::core
