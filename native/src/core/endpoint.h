// endpoint.h — one jetrecv UDP endpoint: its sockets, RX threads, sessions
// table, receive transfers (receiver role) or TX engine (sender role), counters
// and the event queue for JS. Glue only, no JS types; the binding wraps it.
//
// Threads: `sockets` RX threads (receiver: one per SO_REUSEPORT socket; sender:
// one thread polling every lane socket), plus the TX engine's tx_threads (sender).
// RX thread 0 also runs the receiver's feedback timer between receive batches.
// Every public method may be called from any thread (in practice the JS thread).
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/counters.h"
#include "core/direct_writer.h"
#include "core/early_blocks.h"
#include "core/event_queue.h"
#include "core/frame_codec.h"
#include "core/handshake_filter.h"
#include "core/partial_remover.h"
#include "core/receive_transfer.h"
#include "core/resource_budget.h"
#include "core/send_transfer.h"
#include "core/session.h"
#include "core/status.h"
#include "core/tx_engine.h"
#include "core/udp_socket.h"
#include "core/wire_format.h"
#include "core/work_queue.h"

namespace jetrecv::core {

// ---- Endpoint ----------------------------------------------------------------
enum class EndpointRole : uint8_t { kReceiver, kSender };

struct EndpointOptions {
  EndpointRole role = EndpointRole::kReceiver;
  std::string bind_address = "0.0.0.0";
  uint16_t port = 0;     // receiver: data port (0 = any); sender: ignored (ephemeral)
  int sockets = 1;       // receiver: 1..kMaxReceiverSockets; sender: lanes 1..kMaxSenderLanes
  int rcvbuf_bytes = 0;  // 0 = kernel default
  int sndbuf_bytes = 0;
  size_t max_datagram = 1472;          // sender: UDP payload cap per datagram
  uint32_t feedback_interval_ms = 20;  // receiver: FEEDBACK period per transfer
  // Receiver: O_DIRECT writes for large files on disk file systems (a
  // DirectWriter with these threads and 1 MiB staging chunks, shared by every
  // transfer of the endpoint). false: every write goes through the page cache.
  bool direct_io = false;
  size_t direct_io_threads = kDefaultDirectThreads;
  size_t tx_threads = 1;  // sender: TX threads, cut to the lane count (tx_engine.h)
  size_t direct_io_chunks = kDefaultDirectChunks;
  // Receiver: bookkeeping memory one transfer / all live transfers may reserve
  // (ReceiveBudget; both >= 1 MiB, per-transfer <= total).
  ReceiveBudgetLimits receive_budget;
  // Bound of the JS event queue (EventQueue); tests make it small to force overflows.
  size_t event_queue_capacity = kMaxQueuedEvents;
  // Receiver: mac1 key of the server's static key (BLAKE2b-256("mac1----" || key)). When set,
  // INITs whose mac1 does not verify, and RESP/COOKIE packets, are dropped on the RX
  // thread before they spend the handshake budget (handshake_filter.h).
  std::optional<std::array<uint8_t, 32>> handshake_mac1_key;
  std::function<void()> doorbell;  // see EventQueue::SetDoorbell
  // Receiver: BLOCKs of a transfer not open yet are held (early_blocks.h) within these
  // caps; session_bytes 0 = off (they are dropped as drop_unknown_transfer).
  EarlyBlockLimits early_blocks;
};

// Native cap on handshake events (all sources together), spent only by packets that
// passed their source's bucket and mac1 (handshake_filter.h); JS rate-limits DH per source.
constexpr uint32_t kMaxHandshakeEventsPerSecond = 4096;

class Endpoint {
 public:
  // Opens the sockets and starts the threads. On failure returns nullptr and
  // sets *status (EINVAL for bad options, errno of socket/bind).
  static std::unique_ptr<Endpoint> Open(const EndpointOptions& options, Status* status);
  ~Endpoint();  // Close()
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  EndpointRole role() const { return options_.role; }
  // Receiver: the bound data port; sender: lane 0's port.
  uint16_t local_port() const { return local_port_; }
  // What the kernel granted on socket 0 (getsockopt values).
  int granted_rcvbuf() const { return granted_rcvbuf_; }
  int granted_sndbuf() const { return granted_sndbuf_; }

  // Stops and joins every thread, closes transfers (partials kept), sessions and
  // sockets. Idempotent; after it, every command returns kErrClosed.
  void Close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // Sums every thread's counters into out[0..min(n, kCounterCount)).
  void ReadCounters(uint64_t* out, size_t n) const { counters_.Sum(out, n); }
  CounterSet& counters() { return counters_; }
  // Moves up to max queued events into *out; see EventQueue::Drain.
  size_t DrainEvents(std::vector<Event>* out, size_t max) { return events_.Drain(out, max); }
  // Events lost to a full queue since the previous call.
  uint64_t TakeDroppedEvents() { return events_.TakeDropped(); }

  // Sends a raw datagram (handshake packets) from socket 0.
  Status SendRaw(const sockaddr_storage& dst, socklen_t dst_len, const uint8_t* data, size_t len);

  // Adds a session; config.local_index must be unused (kErrDuplicateSession).
  Status AddSession(const SessionConfig& config);
  // Removes a session: closes its receive transfers (partials kept, they matter
  // for resume) and stops its send transfers. kErrUnknownSession if absent.
  Status RemoveSession(uint32_t local_index);
  // Seals payload (<= kMaxControlPayload) in a CONTROL frame on lane 0 and sends
  // it to the session's peer from socket 0.
  Status SendControl(uint32_t local_index, const uint8_t* payload, size_t len);
  std::optional<SessionStats> GetSessionStats(uint32_t local_index) const;

  // Receiver role.
  // Safe on any thread (the binding runs it on a worker): holds no endpoint lock while it
  // creates the partials. A session removed (or the endpoint closed) meanwhile: the new
  // transfer is closed again (partials kept only if resumable) and kErrUnknownSession
  // (kErrClosed) returned.
  Status OpenReceiveTransfer(uint32_t local_index, uint32_t transfer_id, const ReceiveSpec& spec);
  std::optional<ReceiveStats> GetReceiveTransferStats(uint32_t local_index, uint32_t transfer_id) const;
  Status CloseReceiveTransfer(uint32_t local_index, uint32_t transfer_id, bool remove_partials);
  // The transfer was refused (or its open failed): frees the early blocks held for it
  // (counted early_blocks_freed); they are never held again for this id. No-op when
  // early blocks are off.
  Status DiscardEarlyBlocks(uint32_t local_index, uint32_t transfer_id);
  // Checkpoint/resume: a reference to an open receive transfer, for a
  // ReceiveTransfer::Checkpoint() that runs off the JS thread (the reference
  // keeps the transfer alive even if it is closed or its session removed
  // meanwhile; the checkpoint then covers what was written before the close).
  // Sets *out, or returns kErrUnknownTransfer / kErrWrongRole / kErrClosed.
  Status ReceiveTransferRef(uint32_t local_index, uint32_t transfer_id,
                            std::shared_ptr<ReceiveTransfer>* out) const;

  // Sender role.
  Status StartSendTransfer(uint32_t local_index, uint32_t transfer_id, const SendSpec& spec);
  // The receiver accepted a transfer started with SendSpec::early_bytes (TxEngine::Accept).
  Status AcceptSendTransfer(uint32_t local_index, uint32_t transfer_id, const std::vector<HeldRange>& have);
  std::optional<SendStats> GetSendTransferStats(uint32_t local_index, uint32_t transfer_id) const;
  Status StopSendTransfer(uint32_t local_index, uint32_t transfer_id);

  // Fuzzing/test hook (native/fuzz): runs `datagrams` through the RX path exactly
  // as if one recvmmsg had returned them (demux, AEAD open, replay check, frame
  // dispatch, block writes), on the calling thread. Packets are decrypted in
  // place. Serialized by its own mutex; safe alongside the real RX threads.
  void InjectDatagramsForTesting(std::vector<RecvDatagram>& datagrams);

 private:
  using TransferKey = std::pair<uint32_t, uint32_t>;  // (session local index, transfer id)
  struct RxThreadState;

  explicit Endpoint(const EndpointOptions& options);
  Status Start();
  Status CheckOpen() const;
  Status CheckRole(EndpointRole role, const char* what) const;
  std::shared_ptr<Session> FindSession(uint32_t local_index) const;
  std::shared_ptr<ReceiveTransfer> FindReceiveTransfer(uint32_t local_index, uint32_t transfer_id) const;

  void RxLoop(size_t thread_index);
  void HandleBatch(RxThreadState& rx, std::vector<RecvDatagram>& datagrams);
  // Opens DATA packet (len bytes) of session. A receiver's BLOCK frame whose data
  // can go straight into an O_DIRECT staging chunk is decrypted there and queued
  // in rx.pending_blocks as staged (*staged = true, nothing left to do); every other
  // frame is decrypted in place for HandleFrame. Returns the open's verdict.
  OpenResult OpenData(RxThreadState& rx, Session& session, uint8_t* packet, size_t len, bool* staged);
  // The receive transfer (session, transfer_id) or null, cached for the batch.
  ReceiveTransfer* BatchTransfer(RxThreadState& rx, uint32_t session, uint32_t transfer_id);
  void HandleFrame(RxThreadState& rx, Session& session, uint8_t* frame, size_t frame_len);
  void FlushBlocks(RxThreadState& rx);
  // A verified BLOCK of a transfer the batch found unopened: held (early_blocks.h), or
  // returned to be received if the transfer opened since (the hold refuses its id from
  // the open on; the batch's cache is updated), or dropped as drop_unknown_transfer.
  ReceiveTransfer* HoldEarlyBlock(RxThreadState& rx, uint32_t session, const BlockFrameHeader& header,
                                  const uint8_t* data, size_t len);
  // Replays the early blocks held for a transfer just opened (OpenReceiveTransfer).
  void ReplayEarlyBlocks(uint32_t local_index, uint32_t transfer_id, ReceiveTransfer& transfer);
  void RunFeedback(RxThreadState& rx, uint64_t now_us);

  const EndpointOptions options_;
  CounterSet counters_;
  SourceBuckets handshake_sources_{kHandshakeSourceRate, kHandshakeSourceBurst};
  EventQueue events_;
  std::vector<UdpSocket> sockets_;  // fixed after Open; closed by Close
  std::vector<std::thread> rx_threads_;
  int wake_fd_ = -1;  // eventfd written by Close to wake RX threads
  std::atomic<bool> stopping_{false};
  std::atomic<bool> closed_{false};
  std::mutex close_mu_;
  uint16_t local_port_ = 0;
  int granted_rcvbuf_ = 0;
  int granted_sndbuf_ = 0;
  std::unique_ptr<TxEngine> tx_engine_;  // sender role only
  // Receiver with direct_io; stopped by Close after the transfers closed.
  std::shared_ptr<DirectWriter> direct_writer_;
  // Receiver: finalizes completed files (sync, rename, directory sync) off the
  // RX threads; stopped by Close after the transfers closed.
  std::shared_ptr<WorkQueue> finalizer_;
  // Receiver: BLOCKs sent before their transfer's open (null = off).
  std::unique_ptr<EarlyBlockStore> early_blocks_;
  // Receiver: admits every receive transfer (memory and disk; resource_budget.h).
  std::shared_ptr<ReceiveBudget> receive_budget_;
  // Receiver: unlinks the partials of closed transfers that cannot resume, on the
  // finalizer threads; Close waits for it (bounded) before stopping them.
  std::unique_ptr<PartialRemover> remover_;
  // Socket overflow drops not yet reported in a FEEDBACK (all RX threads add).
  std::atomic<uint64_t> unreported_socket_drops_{0};
  // Receiver: how far each RX thread has handled its socket's queue, for the
  // NACK limit (endpoint_feedback.cc). Written by its RX thread once per batch.
  struct alignas(64) RxProgress {
    // Every datagram queued on the socket before this monotonic µs is handled
    // (the start of the last receive call that found the queue empty).
    std::atomic<uint64_t> drained_us{0};
    // Waiting for the socket with nothing taken off it (UdpSocket::RecvBatch).
    std::atomic<bool> waiting{false};
  };
  std::unique_ptr<RxProgress[]> rx_progress_;  // one per socket (receiver)
  // The receive-queue point every RX thread has handled (RxProgress), now_us at most.
  uint64_t RxDrainedUs(size_t feedback_thread, uint64_t now_us) const;

  mutable std::shared_mutex sessions_mu_;
  std::unordered_map<uint32_t, std::shared_ptr<Session>> sessions_;  // guarded by sessions_mu_

  mutable std::shared_mutex transfers_mu_;
  std::map<TransferKey, std::shared_ptr<ReceiveTransfer>> receive_transfers_;  // transfers_mu_

  std::mutex test_rx_mu_;
  std::unique_ptr<RxThreadState> test_rx_;  // InjectDatagramsForTesting only; test_rx_mu_
};

}  // namespace jetrecv::core
