// endpoint.cc — sockets, RX threads, the DATA packet demultiplexer (one counted
// drop per reason, nothing logged per packet), the sessions and transfers
// tables, and the receiver's feedback timer (run on RX thread 0 between batches).
#include "core/endpoint.h"

#include <openssl/crypto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/limits.h"
#include "core/reuseport_steering.h"

namespace jetrecv::core {

// ---- Frame codec ---------------------------------------------------------------

size_t EncodeControlFrame(const uint8_t* payload, size_t payload_len, uint8_t* frame, size_t cap) {
  const size_t len = kControlFrameHeaderLen + payload_len;
  if (payload_len > kMaxControlPayload || len > cap) return 0;
  frame[0] = static_cast<uint8_t>(FrameType::kControl);
  frame[1] = frame[2] = frame[3] = 0;
  if (payload_len > 0) std::memcpy(frame + kControlFrameHeaderLen, payload, payload_len);
  return len;
}

size_t EncodeBlockFrame(const BlockFrameHeader& header, const uint8_t* data, size_t len,
                        uint8_t* frame, size_t cap) {
  if (kBlockFrameHeaderLen + len > cap) return 0;
  BlockFrameHeader h = header;
  h.type = static_cast<uint8_t>(FrameType::kBlock);
  StoreWire(frame, h);
  if (len > 0) std::memcpy(frame + kBlockFrameHeaderLen, data, len);
  return kBlockFrameHeaderLen + len;
}

size_t EncodeFeedbackFrame(const FeedbackFrameHeader& header, const NackRange* ranges, size_t n,
                           uint8_t* frame, size_t cap) {
  const size_t len = kFeedbackFrameHeaderLen + n * kNackRangeLen;
  if (n > UINT16_MAX || len > cap) return 0;
  FeedbackFrameHeader h = header;
  h.type = static_cast<uint8_t>(FrameType::kFeedback);
  h.flags |= kFeedbackFlagTiming;
  h.range_count = static_cast<uint16_t>(n);
  StoreWire(frame, h);
  for (size_t i = 0; i < n; ++i) StoreWire(frame + kFeedbackFrameHeaderLen + i * kNackRangeLen, ranges[i]);
  return len;
}

bool DecodeControlFrame(const uint8_t* frame, size_t len, const uint8_t** payload,
                        size_t* payload_len) {
  if (len < kControlFrameHeaderLen || frame[0] != static_cast<uint8_t>(FrameType::kControl) ||
      len - kControlFrameHeaderLen > kMaxControlPayload) {
    return false;
  }
  *payload = frame + kControlFrameHeaderLen;
  *payload_len = len - kControlFrameHeaderLen;
  return true;
}

bool DecodeBlockFrame(const uint8_t* frame, size_t len, BlockFrameHeader* header,
                      const uint8_t** data, size_t* data_len) {
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
  // Protocol 1 receivers send the 40-byte header: the timing fields stay 0.
  const bool timing = (frame[1] & kFeedbackFlagTiming) != 0;
  const size_t header_len = timing ? kFeedbackFrameHeaderLen : kFeedbackFrameHeaderV1Len;
  if (len < header_len) return false;
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

// ---- Endpoint --------------------------------------------------------------------

namespace {

// Finalizer threads of a receiver: file syncs of different files overlap.
constexpr size_t kFinalizeThreads = 2;
// Endpoint::Close waits this long for queued partial removals, then leaves the rest.
constexpr std::chrono::milliseconds kPartialRemovalDrain{5000};

uint64_t MonotonicMicros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

Status Closed() { return Status::Error(EBADF, "the endpoint is closed", kErrClosed); }

Status UnknownSession(uint32_t local_index) {
  return Status::Error(ENOENT, "no session with local index " + std::to_string(local_index),
                       kErrUnknownSession);
}

Status UnknownTransfer(uint32_t local_index, uint32_t transfer_id) {
  return Status::Error(ENOENT,
                       "no transfer " + std::to_string(transfer_id) + " on session " +
                           std::to_string(local_index),
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

// State of one RX thread; only that thread touches it.
struct Endpoint::RxThreadState {
  struct PendingBlock {
    ReceiveTransfer* transfer;
    size_t header_index;  // into block_headers
    const uint8_t* data;
    size_t len;
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

Endpoint::Endpoint(const EndpointOptions& options)
    : options_(options), events_(&counters_, options.event_queue_capacity) {
  events_.SetDoorbell(options.doorbell);
  if (options.role == EndpointRole::kReceiver) receive_budget_ = ReceiveBudget::Create(options.receive_budget);
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
    if (options_.handshake_mac1_key) test_rx_->mac1 = std::make_unique<Mac1Verifier>(*options_.handshake_mac1_key);
  }
  test_rx_->buffers.gro_batches = 0;
  HandleBatch(*test_rx_, datagrams);
}

std::unique_ptr<Endpoint> Endpoint::Open(const EndpointOptions& options, Status* status) {
  const bool receiver = options.role == EndpointRole::kReceiver;
  const int max_sockets = receiver ? kMaxReceiverSockets : kMaxSenderLanes;
  if (options.sockets < 1 || options.sockets > max_sockets) {
    *status = Status::Error(EINVAL,
                            "sockets must be 1.." + std::to_string(max_sockets) + ", got " +
                                std::to_string(options.sockets),
                            kErrInvalidArgument);
    return nullptr;
  }
  if (!receiver && (options.max_datagram <= kBlockPacketOverhead || options.max_datagram > kMaxDatagram)) {
    *status = Status::Error(EINVAL,
                            "maxDatagram must be " + std::to_string(kBlockPacketOverhead + 1) + ".." +
                                std::to_string(kMaxDatagram) + ", got " +
                                std::to_string(options.max_datagram),
                            kErrInvalidArgument);
    return nullptr;
  }
  if (receiver && (options.feedback_interval_ms < kMinFeedbackIntervalMs ||
                   options.feedback_interval_ms > kMaxFeedbackIntervalMs)) {
    *status = Status::Error(EINVAL,
                            "feedbackIntervalMs must be " + std::to_string(kMinFeedbackIntervalMs) +
                                ".." + std::to_string(kMaxFeedbackIntervalMs) + ", got " +
                                std::to_string(options.feedback_interval_ms),
                            kErrInvalidArgument);
    return nullptr;
  }
  const ReceiveBudgetLimits& limits = options.receive_budget;
  if (receiver && (limits.max_transfer_memory < (1u << 20) || limits.max_total_memory < (1u << 20) ||
                   limits.max_transfer_memory > limits.max_total_memory)) {
    *status = Status::Error(EINVAL,
                            "receive memory limits must be >= 1 MiB with the per-transfer one <= the total, got " +
                                std::to_string(limits.max_transfer_memory) + " and " +
                                std::to_string(limits.max_total_memory),
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
    Status st = UdpSocket::Open(options_.bind_address, port, /*reuseport=*/receiver,
                                options_.rcvbuf_bytes, options_.sndbuf_bytes, &sock);
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
    direct_writer_ = std::make_shared<DirectWriter>(options_.direct_io_threads,
                                                    options_.direct_io_chunks, &counters_);
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
    tx_engine_ = std::make_unique<TxEngine>(std::move(lanes), options_.max_datagram,
                                            std::move(tx_counters), &events_);
  }
  const size_t threads = receiver ? sockets_.size() : 1;
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
  if (finalizer_) finalizer_->Stop();  // idle too: Close dropped or waited for every finalization
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

Status Endpoint::SendRaw(const sockaddr_storage& dst, socklen_t dst_len, const uint8_t* data,
                         size_t len) {
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
    return Status::Error(EEXIST,
                         "a session with local index " + std::to_string(config.local_index) +
                             " already exists",
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
  st = SendStatus(sockets_[0].SendTo(session->peer(), session->peer_len(), packet, packet_len,
                                     &counters_.shared()),
                  "sendControl");
  if (st.ok()) counters_.Add(CounterId::kcontrol_sent);
  return st;
}

std::optional<SessionStats> Endpoint::GetSessionStats(uint32_t local_index) const {
  std::shared_ptr<Session> session = FindSession(local_index);
  if (!session) return std::nullopt;
  return session->Stats();
}

Status Endpoint::OpenReceiveTransfer(uint32_t local_index, uint32_t transfer_id,
                                     const ReceiveSpec& spec) {
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
  std::unique_ptr<ReceiveTransfer> transfer =
      ReceiveTransfer::Open(spec, local_index, transfer_id, &events_, &st, direct_writer_,
                            finalizer_, receive_budget_.get());
  if (!transfer) return st;
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
      receive_transfers_[{local_index, transfer_id}] = std::move(transfer);
      return Status::Ok();
    }
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

Status Endpoint::CloseReceiveTransfer(uint32_t local_index, uint32_t transfer_id,
                                      bool remove_partials) {
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

Status Endpoint::ReceiveTransferRef(uint32_t local_index, uint32_t transfer_id,
                                    std::shared_ptr<ReceiveTransfer>* out) const {
  Status st = CheckRole(EndpointRole::kReceiver, "checkpointReceiveTransfer");
  if (!st.ok()) return st;
  *out = FindReceiveTransfer(local_index, transfer_id);
  if (!*out) return UnknownTransfer(local_index, transfer_id);
  return Status::Ok();
}

Status Endpoint::StartSendTransfer(uint32_t local_index, uint32_t transfer_id,
                                   const SendSpec& spec) {
  Status st = CheckRole(EndpointRole::kSender, "startSendTransfer");
  if (!st.ok()) return st;
  std::shared_ptr<Session> session = FindSession(local_index);
  if (!session) return UnknownSession(local_index);
  st = tx_engine_->Start(std::move(session), transfer_id, spec);
  if (!st.ok() && st.code.empty()) {
    if (st.err == EEXIST) st.code = kErrDuplicateTransfer;
    else if (st.err == EINVAL) st.code = kErrInvalidArgument;
  }
  return st;
}

std::optional<SendStats> Endpoint::GetSendTransferStats(uint32_t local_index,
                                                        uint32_t transfer_id) const {
  if (!tx_engine_ || closed()) return std::nullopt;
  return tx_engine_->Stats(local_index, transfer_id);
}

Status Endpoint::StopSendTransfer(uint32_t local_index, uint32_t transfer_id) {
  Status st = CheckRole(EndpointRole::kSender, "stopSendTransfer");
  if (!st.ok()) return st;
  tx_engine_->Stop(local_index, transfer_id);
  return Status::Ok();
}

// ---- RX path -----------------------------------------------------------------------

void Endpoint::RxLoop(size_t thread_index) {
  RxThreadState rx;
  rx.index = thread_index;
  rx.counters = &counters_.NewBlock();
  const bool receiver = options_.role == EndpointRole::kReceiver;
  const size_t thread_count = receiver ? sockets_.size() : 1;
  rx.handshake_rate = double(kMaxHandshakeEventsPerSecond) / double(thread_count);
  rx.handshake_budget = {rx.handshake_rate, MonotonicMicros()};
  if (receiver && options_.handshake_mac1_key) rx.mac1 = std::make_unique<Mac1Verifier>(*options_.handshake_mac1_key);
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
      // timeout_ms is 0 when the feedback timer is due: receive without waiting.
      int n = sock.RecvBatch(rx.buffers, timeout_ms, wake_fd_);
      if (n > 0) HandleBatch(rx, rx.buffers.datagrams);
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
        if (rx.mac1 && (d.data[0] != static_cast<uint8_t>(PacketType::kHandshakeInit) || !rx.mac1->Verify(d.data))) {
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
        OpenResult result = session->Open(d.data, d.len);
        if (result == OpenResult::kBadTag) {
          counters.Add(CounterId::kdrop_bad_tag);
          break;
        }
        if (result == OpenResult::kReplay) {
          counters.Add(CounterId::kdrop_replay);
          break;
        }
        HandleFrame(rx, *session, d.data + kDataHeaderLen, d.len - kDataHeaderLen - kAeadTagLen);
        break;
      }
      default:
        counters.Add(CounterId::kdrop_bad_type);
        break;
    }
  }
  FlushBlocks(rx);
  rx.touched_sessions.clear();
  rx.transfer_cache.clear();
}

void Endpoint::HandleFrame(RxThreadState& rx, Session& session, uint8_t* frame, size_t frame_len) {
  CounterBlock& counters = *rx.counters;
  const bool receiver = options_.role == EndpointRole::kReceiver;
  const uint32_t session_index = session.local_index();
  // Receive transfer lookup, cached for the batch (and kept alive by the cache).
  auto find_transfer = [&](uint32_t transfer_id) -> ReceiveTransfer* {
    for (const auto& c : rx.transfer_cache) {
      if (c.session == session_index && c.transfer_id == transfer_id) return c.transfer.get();
    }
    rx.transfer_cache.push_back({session_index, transfer_id, FindReceiveTransfer(session_index, transfer_id)});
    return rx.transfer_cache.back().transfer.get();
  };

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
      if (transfer == nullptr) {
        counters.Add(CounterId::kdrop_unknown_transfer);
        return;
      }
      rx.block_headers.push_back(header);
      rx.pending_blocks.push_back({transfer, rx.block_headers.size() - 1, data, data_len});
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
      if (!tx_engine_->OnFeedback(session_index, header, rx.nack_ranges.data(),
                                  rx.nack_ranges.size())) {
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
    default:
      counters.Add(CounterId::kdrop_bad_frame);
      return;
  }
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
      rx.block_refs.push_back({&rx.block_headers[p.header_index], p.data, p.len});
      ++end;
    }
    transfer->OnBlocks(rx.block_refs.data(), rx.block_refs.size(), *rx.counters);
    start = end;
  }
  rx.pending_blocks.clear();
  rx.block_headers.clear();
}

void Endpoint::RunFeedback(RxThreadState& rx, uint64_t now_us) {
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
  uint8_t* packet = rx.feedback_packet.data();
  const size_t frame_cap = rx.feedback_packet.size() - kDataHeaderLen - kAeadTagLen;
  const uint64_t feedback_interval_us = uint64_t{options_.feedback_interval_ms} * 1000;
  std::shared_ptr<Session> session;
  for (auto& [key, transfer] : transfers) {
    if (!session || session->local_index() != key.first) session = FindSession(key.first);
    if (!session) continue;
    if (!transfer->FeedbackDue(now_us, feedback_interval_us)) continue;  // idle: backed off
    size_t frame_len = transfer->BuildFeedback(now_us, socket_drops, packet + kDataHeaderLen, frame_cap);
    if (frame_len == 0) continue;
    FeedbackFrameHeader fh = LoadWire<FeedbackFrameHeader>(packet + kDataHeaderLen);
    fh.rx_queue_permille = queue_permille;
    StoreWire(packet + kDataHeaderLen, fh);
    size_t packet_len = session->SealInPlace(0, packet, frame_len);
    if (packet_len == 0) continue;
    if (sockets_[0].SendTo(session->peer(), session->peer_len(), packet, packet_len, rx.counters) > 0) {
      rx.counters->Add(CounterId::kfeedback_sent);
    }
  }
}

}  // namespace jetrecv::core
