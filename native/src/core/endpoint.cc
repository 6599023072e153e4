// endpoint.cc — an Endpoint's lifecycle (open, start, close), its sessions and
// transfers tables and the commands on them. The RX threads are in
// endpoint_rx.cc, the receiver's feedback timer in endpoint_feedback.cc, the
// frame codec in frame_codec.cc.
#include "core/endpoint.h"

#include <openssl/crypto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/endpoint_rx_state.h"
#include "core/limits.h"
#include "core/reuseport_steering.h"

namespace jetrecv::core {

namespace {

// Finalizer threads of a receiver: file syncs of different files overlap.
constexpr size_t kFinalizeThreads = 2;
// Endpoint::Close waits this long for queued partial removals, then leaves the rest.
constexpr std::chrono::milliseconds kPartialRemovalDrain{5000};

Status Closed() { return Status::Error(EBADF, "the endpoint is closed", kErrClosed); }

Status UnknownSession(uint32_t local_index) {
  return Status::Error(ENOENT, "no session with local index " + std::to_string(local_index),
                       kErrUnknownSession);
}

Status UnknownTransfer(uint32_t local_index, uint32_t transfer_id) {
  return Status::Error(
      ENOENT, "no transfer " + std::to_string(transfer_id) + " on session " + std::to_string(local_index),
      kErrUnknownTransfer);
}

Status SendStatus(int result, const char* what) {
  if (result > 0) return Status::Ok();
  if (result == 0) {
    return Status::Error(EAGAIN, std::string(what) + ": socket send buffer full", kErrWouldBlock);
  }
  return Status::Error(-result, std::string(what) + ": " + std::strerror(-result), kErrSocket);
}

}  // namespace

Endpoint::Endpoint(const EndpointOptions& options)
    : options_(options), events_(&counters_, options.event_queue_capacity) {
  events_.SetDoorbell(options.doorbell);
  if (options.role == EndpointRole::kReceiver) {
    receive_budget_ = ReceiveBudget::Create(options.receive_budget);
    if (options.early_blocks.session_bytes > 0)
      early_blocks_ = std::make_unique<EarlyBlockStore>(options.early_blocks);
  }
}

Endpoint::~Endpoint() { Close(); }

void Endpoint::InjectDatagramsForTesting(std::vector<RecvDatagram>& datagrams) {
  if (closed() || datagrams.empty()) return;
  std::lock_guard<std::mutex> lock(test_rx_mu_);
  if (!test_rx_) {
    test_rx_ = std::make_unique<RxThreadState>();
    test_rx_->index = ~size_t{0};  // not an RX thread: never runs the feedback timer
    test_rx_->counters = &counters_.NewBlock();
    test_rx_->handshake_rate = double(kMaxHandshakeEventsPerSecond);
    test_rx_->handshake_budget = {test_rx_->handshake_rate, MonotonicMicros()};
    if (options_.handshake_mac1_key)
      test_rx_->mac1 = std::make_unique<Mac1Verifier>(*options_.handshake_mac1_key);
  }
  test_rx_->buffers.gro_batches = 0;
  HandleBatch(*test_rx_, datagrams);
}

std::unique_ptr<Endpoint> Endpoint::Open(const EndpointOptions& options, Status* status) {
  const bool receiver = options.role == EndpointRole::kReceiver;
  const int max_sockets = receiver ? kMaxReceiverSockets : kMaxSenderLanes;
  if (options.sockets < 1 || options.sockets > max_sockets) {
    *status = Status::Error(
        EINVAL,
        "sockets must be 1.." + std::to_string(max_sockets) + ", got " + std::to_string(options.sockets),
        kErrInvalidArgument);
    return nullptr;
  }
  if (!receiver && (options.max_datagram <= kBlockPacketOverhead || options.max_datagram > kMaxDatagram)) {
    *status =
        Status::Error(EINVAL,
                      "maxDatagram must be " + std::to_string(kBlockPacketOverhead + 1) + ".." +
                          std::to_string(kMaxDatagram) + ", got " + std::to_string(options.max_datagram),
                      kErrInvalidArgument);
    return nullptr;
  }
  if (receiver && (options.feedback_interval_ms < kMinFeedbackIntervalMs ||
                   options.feedback_interval_ms > kMaxFeedbackIntervalMs)) {
    *status = Status::Error(EINVAL,
                            "feedbackIntervalMs must be " + std::to_string(kMinFeedbackIntervalMs) + ".." +
                                std::to_string(kMaxFeedbackIntervalMs) + ", got " +
                                std::to_string(options.feedback_interval_ms),
                            kErrInvalidArgument);
    return nullptr;
  }
  const ReceiveBudgetLimits& limits = options.receive_budget;
  if (receiver && (limits.max_transfer_memory < (1u << 20) || limits.max_total_memory < (1u << 20) ||
                   limits.max_transfer_memory > limits.max_total_memory)) {
    *status = Status::Error(
        EINVAL,
        "receive memory limits must be >= 1 MiB with the per-transfer one <= the total, got " +
            std::to_string(limits.max_transfer_memory) + " and " + std::to_string(limits.max_total_memory),
        kErrInvalidArgument);
    return nullptr;
  }
  const EarlyBlockLimits& early = options.early_blocks;
  if (receiver && early.session_bytes > 0 && (early.total_bytes < early.session_bytes || early.ttl_us == 0)) {
    *status = Status::Error(EINVAL,
                            "early block limits need a receiver-wide cap >= the per-session one (" +
                                std::to_string(early.session_bytes) + "), got " +
                                std::to_string(early.total_bytes) + ", and a time to live > 0",
                            kErrInvalidArgument);
    return nullptr;
  }
  std::unique_ptr<Endpoint> endpoint(new Endpoint(options));
  *status = endpoint->Start();
  if (!status->ok()) {
    endpoint->Close();
    return nullptr;
  }
  return endpoint;
}

Status Endpoint::Start() {
  const bool receiver = options_.role == EndpointRole::kReceiver;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    return Status::Error(errno, std::string("eventfd(): ") + std::strerror(errno), kErrSocket);
  }
  uint16_t port = receiver ? options_.port : 0;
  for (int i = 0; i < options_.sockets; ++i) {
    UdpSocket sock;
    Status st = UdpSocket::Open(options_.bind_address, port, /*reuseport=*/receiver, options_.rcvbuf_bytes,
                                options_.sndbuf_bytes, &sock);
    if (!st.ok()) {
      if (st.code.empty()) st.code = st.err == EINVAL ? kErrInvalidArgument : kErrSocket;
      return st;
    }
    // Receiver sockets all share the first one's port (SO_REUSEPORT group).
    if (receiver && i == 0) port = sock.local_port();
    sockets_.push_back(std::move(sock));
  }
  // RX threads by session and lane, not by 4-tuple hash (reuseport_steering.h). Where
  // the kernel refuses the program, the hash stays: slower spread, same results.
  if (receiver && sockets_.size() > 1) (void)AttachLaneSteering(sockets_[0].fd(), sockets_.size());
  local_port_ = sockets_[0].local_port();
  granted_rcvbuf_ = sockets_[0].granted_rcvbuf();
  granted_sndbuf_ = sockets_[0].granted_sndbuf();
  if (receiver && options_.direct_io) {
    direct_writer_ =
        std::make_shared<DirectWriter>(options_.direct_io_threads, options_.direct_io_chunks, &counters_);
  }
  if (receiver) {
    finalizer_ = std::make_shared<WorkQueue>(kFinalizeThreads, &counters_);
    remover_ = std::make_unique<PartialRemover>(finalizer_);
  }
  if (!receiver) {
    std::vector<UdpSocket*> lanes;
    for (auto& sock : sockets_) lanes.push_back(&sock);
    std::vector<CounterBlock*> tx_counters;  // one block per TX thread
    for (size_t i = 0; i < std::clamp<size_t>(options_.tx_threads, 1, lanes.size()); ++i) {
      tx_counters.push_back(&counters_.NewBlock());
    }
    tx_engine_ =
        std::make_unique<TxEngine>(std::move(lanes), options_.max_datagram, std::move(tx_counters), &events_);
  }
  const size_t threads = receiver ? sockets_.size() : 1;
  if (receiver) rx_progress_ = std::make_unique<RxProgress[]>(threads);
  // OPENSSL_thread_stop frees this thread's OpenSSL state (error queue) at exit.
  for (size_t i = 0; i < threads; ++i) {
    rx_threads_.emplace_back([this, i] {
      RxLoop(i);
      OPENSSL_thread_stop();
    });
  }
  return Status::Ok();
}

void Endpoint::Close() {
  std::lock_guard<std::mutex> lock(close_mu_);
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  stopping_.store(true, std::memory_order_release);
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }
  for (auto& t : rx_threads_) {
    if (t.joinable()) t.join();
  }
  rx_threads_.clear();
  if (tx_engine_) tx_engine_->Shutdown();
  std::map<TransferKey, std::shared_ptr<ReceiveTransfer>> transfers;
  {
    std::unique_lock<std::shared_mutex> tl(transfers_mu_);
    transfers.swap(receive_transfers_);
  }
  for (auto& [key, transfer] : transfers) transfer->Close(/*remove_partials=*/false, remover_.get());
  // Partials of transfers that cannot resume: removed if that ends soon, else left to the
  // start-up sweep (the stop must not take minutes).
  if (remover_) remover_->Drain(kPartialRemovalDrain);
  if (direct_writer_) direct_writer_->Stop();  // idle by now: every transfer waited for its writes
  if (finalizer_) finalizer_->Stop();          // idle too: Close dropped or waited for every finalization
  {
    std::unique_lock<std::shared_mutex> sl(sessions_mu_);
    sessions_.clear();
  }
  tx_engine_.reset();
  for (auto& sock : sockets_) sock.Close();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

Status Endpoint::CheckOpen() const { return closed() ? Closed() : Status::Ok(); }

Status Endpoint::CheckRole(EndpointRole role, const char* what) const {
  if (closed()) return Closed();
  if (options_.role == role) return Status::Ok();
  return Status::Error(EINVAL,
                       std::string(what) + " needs a " +
                           (role == EndpointRole::kReceiver ? "receiver" : "sender") + " endpoint",
                       kErrWrongRole);
}

std::shared_ptr<Session> Endpoint::FindSession(uint32_t local_index) const {
  std::shared_lock<std::shared_mutex> lock(sessions_mu_);
  auto it = sessions_.find(local_index);
  return it == sessions_.end() ? nullptr : it->second;
}

std::shared_ptr<ReceiveTransfer> Endpoint::FindReceiveTransfer(uint32_t local_index,
                                                               uint32_t transfer_id) const {
  std::shared_lock<std::shared_mutex> lock(transfers_mu_);
  auto it = receive_transfers_.find({local_index, transfer_id});
  return it == receive_transfers_.end() ? nullptr : it->second;
}

// ---- Commands ----------------------------------------------------------------------

Status Endpoint::SendRaw(const sockaddr_storage& dst, socklen_t dst_len, const uint8_t* data, size_t len) {
  Status st = CheckOpen();
  if (!st.ok()) return st;
  if (len == 0 || len > kMaxDatagram) {
    return Status::Error(EINVAL, "raw packet must be 1.." + std::to_string(kMaxDatagram) + " bytes",
                         kErrInvalidArgument);
  }
  return SendStatus(sockets_[0].SendTo(dst, dst_len, data, len, &counters_.shared()), "sendRaw");
}

Status Endpoint::AddSession(const SessionConfig& config) {
  Status st = CheckOpen();
  if (!st.ok()) return st;
  if (config.peer_len == 0) {
    return Status::Error(EINVAL, "session peer address is missing", kErrInvalidArgument);
  }
  std::shared_ptr<Session> session = Session::Create(config, &st);
  if (!session) {
    if (st.code.empty()) st.code = kErrInvalidArgument;
    return st;
  }
  std::unique_lock<std::shared_mutex> lock(sessions_mu_);
  if (!sessions_.emplace(config.local_index, std::move(session)).second) {
    return Status::Error(
        EEXIST, "a session with local index " + std::to_string(config.local_index) + " already exists",
        kErrDuplicateSession);
  }
  return Status::Ok();
}

Status Endpoint::RemoveSession(uint32_t local_index) {
  Status st = CheckOpen();
  if (!st.ok()) return st;
  {
    std::unique_lock<std::shared_mutex> lock(sessions_mu_);
    if (sessions_.erase(local_index) == 0) return UnknownSession(local_index);
  }
  std::vector<std::shared_ptr<ReceiveTransfer>> closing;
  {
    std::unique_lock<std::shared_mutex> lock(transfers_mu_);
    auto it = receive_transfers_.lower_bound({local_index, 0});
    while (it != receive_transfers_.end() && it->first.first == local_index) {
      closing.push_back(std::move(it->second));
      it = receive_transfers_.erase(it);
    }
  }
  for (auto& transfer : closing) transfer->Close(/*remove_partials=*/false, remover_.get());
  if (tx_engine_) tx_engine_->StopSession(local_index);
  if (early_blocks_) counters_.Add(CounterId::kearly_blocks_freed, early_blocks_->DropSession(local_index));
  return Status::Ok();
}

Status Endpoint::SendControl(uint32_t local_index, const uint8_t* payload, size_t len) {
  Status st = CheckOpen();
  if (!st.ok()) return st;
  if (len > kMaxControlPayload) {
    return Status::Error(EMSGSIZE,
                         "control payload is " + std::to_string(len) + " bytes, the limit is " +
                             std::to_string(kMaxControlPayload),
                         kErrInvalidArgument);
  }
  std::shared_ptr<Session> session = FindSession(local_index);
  if (!session) return UnknownSession(local_index);
  uint8_t packet[kDataHeaderLen + kControlFrameHeaderLen + kMaxControlPayload + kAeadTagLen];
  size_t frame_len = EncodeControlFrame(payload, len, packet + kDataHeaderLen,
                                        sizeof(packet) - kDataHeaderLen - kAeadTagLen);
  size_t packet_len = session->SealInPlace(0, packet, frame_len);
  if (packet_len == 0) return Status::Error(EIO, "sealing the control frame failed", kErrSocket);
  st = SendStatus(
      sockets_[0].SendTo(session->peer(), session->peer_len(), packet, packet_len, &counters_.shared()),
      "sendControl");
  if (st.ok()) counters_.Add(CounterId::kcontrol_sent);
  return st;
}

std::optional<SessionStats> Endpoint::GetSessionStats(uint32_t local_index) const {
  std::shared_ptr<Session> session = FindSession(local_index);
  if (!session) return std::nullopt;
  return session->Stats();
}

Status Endpoint::OpenReceiveTransfer(uint32_t local_index, uint32_t transfer_id, const ReceiveSpec& spec) {
  Status st = CheckRole(EndpointRole::kReceiver, "openReceiveTransfer");
  if (!st.ok()) return st;
  auto duplicate = [&] {
    return Status::Error(EEXIST,
                         "transfer " + std::to_string(transfer_id) + " is already open on session " +
                             std::to_string(local_index),
                         kErrDuplicateTransfer);
  };
  {
    std::shared_lock<std::shared_mutex> sessions_lock(sessions_mu_);
    if (sessions_.count(local_index) == 0) return UnknownSession(local_index);
    if (FindReceiveTransfer(local_index, transfer_id)) return duplicate();
  }
  // The open itself (one partial file per manifest entry: minutes for a huge manifest) holds
  // no endpoint lock: it runs on a worker thread while sessions come and go.
  std::unique_ptr<ReceiveTransfer> transfer = ReceiveTransfer::Open(
      spec, local_index, transfer_id, &events_, &st, direct_writer_, finalizer_, receive_budget_.get());
  if (!transfer) return st;
  std::shared_ptr<ReceiveTransfer> opened;
  {
    // The sessions lock (shared) keeps RemoveSession from interleaving with the insert;
    // closed() is checked under transfers_mu_, which Close takes after setting it.
    std::shared_lock<std::shared_mutex> sessions_lock(sessions_mu_);
    std::unique_lock<std::shared_mutex> lock(transfers_mu_);
    if (closed()) {
      st = Closed();
    } else if (sessions_.count(local_index) == 0) {
      st = UnknownSession(local_index);
    } else if (receive_transfers_.count({local_index, transfer_id}) != 0) {
      st = duplicate();
    } else {
      std::shared_ptr<ReceiveTransfer>& added = receive_transfers_[{local_index, transfer_id}];
      added = std::move(transfer);
      opened = added;
    }
  }
  if (opened) {
    // After the insert: a block held from now on is of a used id (EarlyBlockStore::Take).
    ReplayEarlyBlocks(local_index, transfer_id, *opened);
    return Status::Ok();
  }
  // The session went away (or the endpoint closed) during the open: nobody will receive into
  // it. Close keeps the partials of a resumable transfer (a later resume finds them).
  transfer->Close(/*remove_partials=*/false, remover_.get());
  return st;
}

std::optional<ReceiveStats> Endpoint::GetReceiveTransferStats(uint32_t local_index,
                                                              uint32_t transfer_id) const {
  std::shared_ptr<ReceiveTransfer> transfer = FindReceiveTransfer(local_index, transfer_id);
  if (!transfer) return std::nullopt;
  return transfer->Stats();
}

Status Endpoint::CloseReceiveTransfer(uint32_t local_index, uint32_t transfer_id, bool remove_partials) {
  Status st = CheckRole(EndpointRole::kReceiver, "closeReceiveTransfer");
  if (!st.ok()) return st;
  std::shared_ptr<ReceiveTransfer> transfer;
  {
    std::unique_lock<std::shared_mutex> lock(transfers_mu_);
    auto it = receive_transfers_.find({local_index, transfer_id});
    if (it == receive_transfers_.end()) return UnknownTransfer(local_index, transfer_id);
    transfer = std::move(it->second);
    receive_transfers_.erase(it);
  }
  transfer->Close(remove_partials, remover_.get());  // waits for in-flight OnBlocks calls
  return Status::Ok();
}

void Endpoint::ReplayEarlyBlocks(uint32_t local_index, uint32_t transfer_id, ReceiveTransfer& transfer) {
  if (!early_blocks_) return;
  const std::vector<EarlyBlockStore::Held> held = early_blocks_->Take(local_index, transfer_id);
  if (held.empty()) return;
  std::vector<BlockRef> refs;
  refs.reserve(held.size());
  for (const auto& h : held) refs.push_back({&h.header, h.data.data(), h.data.size(), false, h.arrival_us});
  transfer.OnReplayedBlocks(refs.data(), refs.size(), counters_.shared());
  counters_.Add(CounterId::kearly_blocks_replayed, held.size());
}

Status Endpoint::DiscardEarlyBlocks(uint32_t local_index, uint32_t transfer_id) {
  Status st = CheckRole(EndpointRole::kReceiver, "discardEarlyBlocks");
  if (!st.ok()) return st;
  if (early_blocks_)
    counters_.Add(CounterId::kearly_blocks_freed, early_blocks_->Discard(local_index, transfer_id));
  return Status::Ok();
}

Status Endpoint::ReceiveTransferRef(uint32_t local_index, uint32_t transfer_id,
                                    std::shared_ptr<ReceiveTransfer>* out) const {
  Status st = CheckRole(EndpointRole::kReceiver, "checkpointReceiveTransfer");
  if (!st.ok()) return st;
  *out = FindReceiveTransfer(local_index, transfer_id);
  if (!*out) return UnknownTransfer(local_index, transfer_id);
  return Status::Ok();
}

Status Endpoint::StartSendTransfer(uint32_t local_index, uint32_t transfer_id, const SendSpec& spec) {
  Status st = CheckRole(EndpointRole::kSender, "startSendTransfer");
  if (!st.ok()) return st;
  std::shared_ptr<Session> session = FindSession(local_index);
  if (!session) return UnknownSession(local_index);
  st = tx_engine_->Start(std::move(session), transfer_id, spec);
  if (!st.ok() && st.code.empty()) {
    if (st.err == EEXIST)
      st.code = kErrDuplicateTransfer;
    else if (st.err == EINVAL)
      st.code = kErrInvalidArgument;
  }
  return st;
}

std::optional<SendStats> Endpoint::GetSendTransferStats(uint32_t local_index, uint32_t transfer_id) const {
  if (!tx_engine_ || closed()) return std::nullopt;
  return tx_engine_->Stats(local_index, transfer_id);
}

Status Endpoint::AcceptSendTransfer(uint32_t local_index, uint32_t transfer_id,
                                    const std::vector<HeldRange>& have) {
  Status st = CheckRole(EndpointRole::kSender, "acceptSendTransfer");
  if (!st.ok()) return st;
  if (!tx_engine_->Accept(local_index, transfer_id, have)) return UnknownTransfer(local_index, transfer_id);
  return Status::Ok();
}

Status Endpoint::StopSendTransfer(uint32_t local_index, uint32_t transfer_id) {
  Status st = CheckRole(EndpointRole::kSender, "stopSendTransfer");
  if (!st.ok()) return st;
  tx_engine_->Stop(local_index, transfer_id);
  return Status::Ok();
}

}  // namespace jetrecv::core
