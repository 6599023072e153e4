// endpoint_feedback.cc — the receiver's feedback timer: every feedback interval
// (run on RX thread 0 between batches) each due transfer's FEEDBACK frame is
// built, sealed and sent to its session's peer.
#include <algorithm>

#include "core/endpoint.h"
#include "core/endpoint_rx_state.h"

namespace jetrecv::core {

uint64_t Endpoint::RxDrainedUs(size_t feedback_thread, uint64_t now_us) const {
  // One socket holds every lane in send order: a POSITION is handled after the
  // blocks sent before it (the feedback thread runs between batches).
  if (sockets_.size() == 1) return now_us;
  uint64_t point = now_us;
  for (size_t i = 0; i < sockets_.size(); ++i) {
    const RxProgress& progress = rx_progress_[i];
    // Queue seen empty, then its thread seen waiting (or it is this thread, between
    // batches): whatever that thread took off the queue before is handled, since it
    // clears `waiting` before it takes any. Checked in this order, so now_us holds.
    if (!sockets_[i].Readable() && (i == feedback_thread || progress.waiting.load())) continue;
    point = std::min(point, progress.drained_us.load(std::memory_order_acquire));
  }
  return point;
}

void Endpoint::RunFeedback(RxThreadState& rx, uint64_t now_us) {
  if (early_blocks_) rx.counters->Add(CounterId::kearly_blocks_freed, early_blocks_->Expire(now_us));
  std::vector<std::pair<TransferKey, std::shared_ptr<ReceiveTransfer>>> transfers;
  {
    std::shared_lock<std::shared_mutex> lock(transfers_mu_);
    if (receive_transfers_.empty()) return;
    transfers.assign(receive_transfers_.begin(), receive_transfers_.end());
  }
  // Every transfer's FEEDBACK of this round reports the drops of the whole
  // endpoint since the previous round (the sockets are shared by all transfers).
  const uint64_t drops = unreported_socket_drops_.exchange(0, std::memory_order_relaxed);
  const uint32_t socket_drops = static_cast<uint32_t>(std::min<uint64_t>(drops, UINT32_MAX));
  // ... and how full the fullest receive queue is (the sender drains it; PROTOCOL-transfer §5).
  uint32_t queue_permille = 0;
  for (const UdpSocket& sock : sockets_) queue_permille = std::max(queue_permille, sock.QueueFillPermille());
  // NACKs wait until every RX thread has handled what was queued at a POSITION.
  const uint64_t rx_drained_us = RxDrainedUs(rx.index, now_us);
  uint8_t* packet = rx.feedback_packet.data();
  const size_t frame_cap = rx.feedback_packet.size() - kDataHeaderLen - kAeadTagLen;
  const uint64_t feedback_interval_us = uint64_t{options_.feedback_interval_ms} * 1000;
  std::shared_ptr<Session> session;
  for (auto& [key, transfer] : transfers) {
    if (!session || session->local_index() != key.first) session = FindSession(key.first);
    if (!session) continue;
    if (!transfer->FeedbackDue(now_us, feedback_interval_us)) continue;  // idle: backed off
    size_t frame_len = transfer->BuildFeedback(now_us, socket_drops, queue_permille, packet + kDataHeaderLen,
                                               frame_cap, rx_drained_us);
    if (frame_len == 0) continue;
    size_t packet_len = session->SealInPlace(0, packet, frame_len);
    if (packet_len == 0) continue;
    if (sockets_[0].SendTo(session->peer(), session->peer_len(), packet, packet_len, rx.counters) > 0) {
      rx.counters->Add(CounterId::kfeedback_sent);
    }
  }
}

}  // namespace jetrecv::core
