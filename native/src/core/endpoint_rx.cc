// endpoint_rx.cc — the RX threads of an Endpoint: receive batches, the DATA
// packet demultiplexer (one counted drop per reason, nothing logged per packet),
// frame dispatch and the grouped block writes; RX thread 0 of a receiver also
// runs the feedback timer between batches (endpoint_feedback.cc).
#include <poll.h>

#include <algorithm>
#include <cstring>

#include "core/endpoint.h"
#include "core/endpoint_rx_state.h"
#include "core/limits.h"

namespace jetrecv::core {

void Endpoint::RxLoop(size_t thread_index) {
  RxThreadState rx;
  rx.index = thread_index;
  rx.counters = &counters_.NewBlock();
  const bool receiver = options_.role == EndpointRole::kReceiver;
  const size_t thread_count = receiver ? sockets_.size() : 1;
  rx.handshake_rate = double(kMaxHandshakeEventsPerSecond) / double(thread_count);
  rx.handshake_budget = {rx.handshake_rate, MonotonicMicros()};
  if (receiver && options_.handshake_mac1_key)
    rx.mac1 = std::make_unique<Mac1Verifier>(*options_.handshake_mac1_key);
  const bool runs_feedback = receiver && thread_index == 0;
  const uint64_t feedback_interval_us = uint64_t{options_.feedback_interval_ms} * 1000;
  rx.next_feedback_us = MonotonicMicros() + feedback_interval_us;
  rx.feedback_packet.resize(kFeedbackDatagramMax);

  std::vector<pollfd> fds;
  if (!receiver) {
    for (auto& sock : sockets_) fds.push_back({sock.fd(), POLLIN, 0});
    fds.push_back({wake_fd_, POLLIN, 0});
  }

  while (!stopping_.load(std::memory_order_acquire)) {
    int timeout_ms = kRxPollTimeoutMs;
    if (runs_feedback) {
      uint64_t now = MonotonicMicros();
      uint64_t wait_us = rx.next_feedback_us > now ? rx.next_feedback_us - now : 0;
      timeout_ms = static_cast<int>(std::min<uint64_t>(timeout_ms, (wait_us + 999) / 1000));
    }
    if (receiver) {
      UdpSocket& sock = sockets_[thread_index];
      RxProgress& progress = rx_progress_[thread_index];
      const uint64_t recv_start_us = MonotonicMicros();
      // timeout_ms is 0 when the feedback timer is due: receive without waiting.
      int n = sock.RecvBatch(rx.buffers, timeout_ms, wake_fd_, &progress.waiting);
      if (n > 0) HandleBatch(rx, rx.buffers.datagrams);
      // Published after the batch is handled: its blocks are in the bitmaps.
      if (rx.buffers.drained) progress.drained_us.store(recv_start_us, std::memory_order_release);
      if (rx.buffers.overflow_drops > 0) {
        rx.counters->Add(CounterId::krx_socket_overflow, rx.buffers.overflow_drops);
        unreported_socket_drops_.fetch_add(rx.buffers.overflow_drops, std::memory_order_relaxed);
      }
      if (n < 0) ::poll(nullptr, 0, 1);  // unexpected socket error: don't spin
    } else {
      for (auto& p : fds) p.revents = 0;
      int r = ::poll(fds.data(), fds.size(), timeout_ms);
      if (r > 0) {
        for (size_t i = 0; i + 1 < fds.size(); ++i) {
          if ((fds[i].revents & (POLLIN | POLLERR)) == 0) continue;
          int n = sockets_[i].RecvBatch(rx.buffers, 0);
          if (n > 0) HandleBatch(rx, rx.buffers.datagrams);
          if (rx.buffers.overflow_drops > 0) {
            rx.counters->Add(CounterId::krx_socket_overflow, rx.buffers.overflow_drops);
          }
        }
      }
    }
    if (runs_feedback) {
      uint64_t now = MonotonicMicros();
      if (now >= rx.next_feedback_us) {
        RunFeedback(rx, now);
        rx.next_feedback_us = std::max(rx.next_feedback_us + feedback_interval_us, now + 1000);
      }
    }
  }
}

void Endpoint::HandleBatch(RxThreadState& rx, std::vector<RecvDatagram>& datagrams) {
  CounterBlock& counters = *rx.counters;
  const size_t n = datagrams.size();
  uint64_t bytes = 0;
  for (const auto& d : datagrams) bytes += d.len;
  counters.Add(CounterId::krx_syscalls);
  counters.Add(CounterId::krx_datagrams, n);
  counters.Add(CounterId::krx_bytes, bytes);
  if (rx.buffers.gro_batches > 0) counters.Add(CounterId::krx_gro_batches, rx.buffers.gro_batches);

  // Phase 1: resolve the session of every DATA packet under one shared lock.
  constexpr size_t kMinDataLen = kDataHeaderLen + kAeadTagLen + 1;
  rx.datagram_sessions.assign(n, nullptr);
  {
    std::shared_lock<std::shared_mutex> lock(sessions_mu_);
    uint32_t last_index = 0;
    Session* last_session = nullptr;
    for (size_t i = 0; i < n; ++i) {
      const RecvDatagram& d = datagrams[i];
      if (d.len < kMinDataLen || d.data[0] != static_cast<uint8_t>(PacketType::kData)) continue;
      uint32_t index = LoadWire<uint32_t>(d.data + 4);
      if (last_session == nullptr || index != last_index) {
        auto it = sessions_.find(index);
        if (it == sessions_.end()) continue;
        last_index = index;
        last_session = it->second.get();
        rx.touched_sessions.push_back(it->second);  // alive until the batch ends
      }
      rx.datagram_sessions[i] = last_session;
    }
  }

  // Phase 2: classify, open and dispatch; one counted exit per drop reason.
  const uint64_t now_us = MonotonicMicros();
  for (size_t i = 0; i < n; ++i) {
    RecvDatagram& d = datagrams[i];
    if (d.len < 1) {
      counters.Add(CounterId::kdrop_short);
      continue;
    }
    switch (static_cast<PacketType>(d.data[0])) {
      case PacketType::kHandshakeInit:
      case PacketType::kHandshakeResp:
      case PacketType::kHandshakeCookie: {
        if (d.len != HandshakePacketLen(d.data[0])) {
          counters.Add(CounterId::kdrop_bad_length);
          break;
        }
        // handshake_filter.h: source bucket, then mac1, then the shared budget.
        if (!handshake_sources_.Allow(reinterpret_cast<const sockaddr*>(d.from), d.from_len, now_us)) {
          counters.Add(CounterId::kdrop_handshake_source_rate);
          break;
        }
        if (rx.mac1 &&
            (d.data[0] != static_cast<uint8_t>(PacketType::kHandshakeInit) || !rx.mac1->Verify(d.data))) {
          counters.Add(CounterId::kdrop_handshake_mac1);
          break;
        }
        if (!rx.handshake_budget.Take(now_us, rx.handshake_rate, rx.handshake_rate)) {
          counters.Add(CounterId::kdrop_handshake_rate);
          break;
        }
        Event event;
        event.type = EventType::kHandshake;
        std::memcpy(&event.addr, d.from, std::min<size_t>(d.from_len, sizeof(event.addr)));
        event.addr_len = d.from_len;
        event.bytes.assign(d.data, d.data + d.len);
        if (events_.Push(std::move(event))) counters.Add(CounterId::khandshake_packets);
        break;
      }
      case PacketType::kData: {
        if (d.len < kMinDataLen) {
          counters.Add(CounterId::kdrop_bad_length);
          break;
        }
        Session* session = rx.datagram_sessions[i];
        if (session == nullptr) {
          counters.Add(CounterId::kdrop_unknown_session);
          break;
        }
        bool staged = false;
        OpenResult result = OpenData(rx, *session, d.data, d.len, &staged);
        if (result == OpenResult::kBadTag) {
          counters.Add(CounterId::kdrop_bad_tag);
          break;
        }
        if (result == OpenResult::kReplay) {
          counters.Add(CounterId::kdrop_replay);
          break;
        }
        if (!staged) HandleFrame(rx, *session, d.data + kDataHeaderLen, d.len - kDataHeaderLen - kAeadTagLen);
        break;
      }
      default: counters.Add(CounterId::kdrop_bad_type); break;
    }
  }
  FlushBlocks(rx);
  rx.touched_sessions.clear();
  rx.transfer_cache.clear();
  rx.no_staging_session = nullptr;
}

namespace {

// The frame's first bytes decrypted in place before the rest goes elsewhere: two
// AES blocks, the BLOCK header (24 bytes) and 8 data bytes, so the updates that
// follow start on a cipher block boundary (no partial-block step).
constexpr size_t kFrameHeadBytes = 32;
static_assert(kFrameHeadBytes >= kBlockFrameHeaderLen);
// Frames shorter than this are decrypted in place in one call (and a block copied into
// its staging chunk): staging a block costs a fixed ~700 instructions per packet (the
// transfer's three locks, the split update), more than copying 1416 bytes saves and far
// less than copying 8916 (callgrind, bench/README.md "Fewer copies").
constexpr size_t kMinStagedFrameBytes = 4096;

// A BLOCK frame's data for ReceiveTransfer::StageSealedBlock: its first bytes are
// already plaintext in the packet (decrypted with the header), the rest is
// decrypted by the open under way.
class StagingBlockData final : public SealedBlockData {
 public:
  StagingBlockData(Session::PacketOpen& open, const uint8_t* plain, size_t plain_len)
      : open_(open), plain_(plain), plain_len_(plain_len) {}

  void DecryptTo(uint8_t* out, size_t len) override {
    const size_t copied = std::min(len, plain_len_);
    std::memcpy(out, plain_, copied);
    plain_ += copied;
    plain_len_ -= copied;
    if (len > copied) open_.Decrypt(out + copied, len - copied);
  }
  bool Verify() override {
    result_ = open_.Finish();
    return result_ == OpenResult::kOk;
  }
  OpenResult result() const { return result_; }

 private:
  Session::PacketOpen& open_;
  const uint8_t* plain_;
  size_t plain_len_;
  OpenResult result_ = OpenResult::kBadTag;
};

}  // namespace

OpenResult Endpoint::OpenData(RxThreadState& rx, Session& session, uint8_t* packet, size_t len,
                              bool* staged) {
  *staged = false;
  Session::PacketOpen open;
  if (const OpenResult begun = open.Begin(session, packet, len); begun != OpenResult::kOk) return begun;
  uint8_t* frame = packet + kDataHeaderLen;
  const size_t frame_len = open.frame_len();
  if (direct_writer_ == nullptr || frame_len < kMinStagedFrameBytes || &session == rx.no_staging_session) {
    return open.FinishInPlace();
  }
  const size_t head = kFrameHeadBytes;
  open.Decrypt(frame, head);
  if (frame[0] == static_cast<uint8_t>(FrameType::kBlock)) {
    const BlockFrameHeader header = LoadWire<BlockFrameHeader>(frame);  // not verified yet
    ReceiveTransfer* transfer = BatchTransfer(rx, session.local_index(), header.transfer_id);
    if (transfer != nullptr && !transfer->has_direct_files()) rx.no_staging_session = &session;
    if (transfer != nullptr && transfer->has_direct_files()) {
      StagingBlockData data(open, frame + kBlockFrameHeaderLen, head - kBlockFrameHeaderLen);
      const size_t data_len = frame_len - kBlockFrameHeaderLen;
      switch (transfer->StageSealedBlock(header, data_len, data, *rx.counters)) {
        case StageResult::kStaged:
          rx.block_headers.push_back(header);
          rx.pending_blocks.push_back({transfer, rx.block_headers.size() - 1, nullptr, data_len, true});
          *staged = true;
          return OpenResult::kOk;
        case StageResult::kRejected: return data.result();
        case StageResult::kNotStaged: break;
      }
    }
  }
  open.Decrypt(frame + head, frame_len - head);
  return open.Finish();
}

ReceiveTransfer* Endpoint::BatchTransfer(RxThreadState& rx, uint32_t session, uint32_t transfer_id) {
  for (const auto& c : rx.transfer_cache) {
    if (c.session == session && c.transfer_id == transfer_id) return c.transfer.get();
  }
  rx.transfer_cache.push_back({session, transfer_id, FindReceiveTransfer(session, transfer_id)});
  return rx.transfer_cache.back().transfer.get();  // kept alive by the cache until the batch ends
}

void Endpoint::HandleFrame(RxThreadState& rx, Session& session, uint8_t* frame, size_t frame_len) {
  CounterBlock& counters = *rx.counters;
  const bool receiver = options_.role == EndpointRole::kReceiver;
  const uint32_t session_index = session.local_index();
  auto find_transfer = [&](uint32_t transfer_id) { return BatchTransfer(rx, session_index, transfer_id); };

  switch (static_cast<FrameType>(frame_len > 0 ? frame[0] : 0)) {
    case FrameType::kBlock: {
      BlockFrameHeader header;
      const uint8_t* data;
      size_t data_len;
      if (!receiver || !DecodeBlockFrame(frame, frame_len, &header, &data, &data_len)) {
        counters.Add(CounterId::kdrop_bad_frame);
        return;
      }
      ReceiveTransfer* transfer = find_transfer(header.transfer_id);
      if (transfer == nullptr) transfer = HoldEarlyBlock(rx, session_index, header, data, data_len);
      if (transfer == nullptr) return;
      rx.block_headers.push_back(header);
      rx.pending_blocks.push_back({transfer, rx.block_headers.size() - 1, data, data_len, false});
      return;
    }
    case FrameType::kControl: {
      const uint8_t* payload;
      size_t payload_len;
      if (!DecodeControlFrame(frame, frame_len, &payload, &payload_len)) {
        counters.Add(CounterId::kdrop_bad_frame);
        return;
      }
      Event event;
      event.type = EventType::kControl;
      event.session = session_index;
      event.bytes.assign(payload, payload + payload_len);
      if (events_.Push(std::move(event))) counters.Add(CounterId::kcontrol_recv);
      return;
    }
    case FrameType::kFeedback: {
      FeedbackFrameHeader header;
      if (receiver || !DecodeFeedbackFrame(frame, frame_len, &header, &rx.nack_ranges)) {
        counters.Add(CounterId::kdrop_bad_frame);
        return;
      }
      counters.Add(CounterId::kfeedback_recv);
      if (!tx_engine_->OnFeedback(session_index, header, rx.nack_ranges.data(), rx.nack_ranges.size())) {
        counters.Add(CounterId::kdrop_unknown_transfer);
      }
      return;
    }
    case FrameType::kPosition: {
      PositionFrame position;
      if (!receiver || !DecodePositionFrame(frame, frame_len, &position)) {
        counters.Add(CounterId::kdrop_bad_frame);
        return;
      }
      ReceiveTransfer* transfer = find_transfer(position.transfer_id);
      if (transfer == nullptr) {
        counters.Add(CounterId::kdrop_unknown_transfer);
        return;
      }
      counters.Add(CounterId::kposition_recv);
      transfer->OnPosition(position);
      return;
    }
    default: counters.Add(CounterId::kdrop_bad_frame); return;
  }
}

ReceiveTransfer* Endpoint::HoldEarlyBlock(RxThreadState& rx, uint32_t session, const BlockFrameHeader& header,
                                          const uint8_t* data, size_t len) {
  if (early_blocks_ != nullptr) {
    switch (early_blocks_->Hold(session, header, data, len, MonotonicMicros())) {
      case EarlyBlockStore::HoldResult::kHeld:
        rx.counters->Add(CounterId::kearly_blocks_held);
        return nullptr;
      case EarlyBlockStore::HoldResult::kOverCap: break;
      case EarlyBlockStore::HoldResult::kUsedId:
        // Opened after this batch looked it up (Take marks the id used after the insert)?
        for (auto& c : rx.transfer_cache) {
          if (c.session == session && c.transfer_id == header.transfer_id && c.transfer == nullptr) {
            c.transfer = FindReceiveTransfer(session, header.transfer_id);
            if (c.transfer != nullptr) return c.transfer.get();
          }
        }
        break;
    }
  }
  rx.counters->Add(CounterId::kdrop_unknown_transfer);
  return nullptr;
}

void Endpoint::FlushBlocks(RxThreadState& rx) {
  if (rx.pending_blocks.empty()) return;
  // Group by transfer (stable: keeps arrival order, so contiguous runs stay together).
  // A batch almost always holds one transfer: skip the sort (and its buffer allocation).
  const ReceiveTransfer* first_transfer = rx.pending_blocks.front().transfer;
  const bool one_transfer =
      std::all_of(rx.pending_blocks.begin(), rx.pending_blocks.end(),
                  [first_transfer](const auto& p) { return p.transfer == first_transfer; });
  if (!one_transfer) {
    std::stable_sort(rx.pending_blocks.begin(), rx.pending_blocks.end(),
                     [](const auto& a, const auto& b) { return a.transfer < b.transfer; });
  }
  size_t start = 0;
  while (start < rx.pending_blocks.size()) {
    ReceiveTransfer* transfer = rx.pending_blocks[start].transfer;
    rx.block_refs.clear();
    size_t end = start;
    while (end < rx.pending_blocks.size() && rx.pending_blocks[end].transfer == transfer) {
      const auto& p = rx.pending_blocks[end];
      rx.block_refs.push_back({&rx.block_headers[p.header_index], p.data, p.len, p.staged});
      ++end;
    }
    transfer->OnBlocks(rx.block_refs.data(), rx.block_refs.size(), *rx.counters);
    start = end;
  }
  rx.pending_blocks.clear();
  rx.block_headers.clear();
}

}  // namespace jetrecv::core
