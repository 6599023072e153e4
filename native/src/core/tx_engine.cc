// tx_engine.cc — see tx_engine.h.
#include "core/tx_engine.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "core/block_bitmap.h"
#include "core/frame_codec.h"
#include "core/iovec_util.h"
#include "core/limits.h"

namespace jetrecv::core {
namespace {

uint64_t MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void SleepNs(uint64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000ull);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000ull);
  clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
}

// Pause after a send made no progress (socket buffer full or a send error).
constexpr uint64_t kTxBackoffNs = 100'000;

}  // namespace

TxEngine::TxEngine(std::vector<UdpSocket*> lanes, size_t max_datagram, std::vector<CounterBlock*> counters,
                   EventSink* events)
    : lanes_(std::move(lanes)), max_datagram_(std::min(max_datagram, kMaxDatagram)), events_(events) {
  if (lanes_.size() > kMaxLanes) lanes_.resize(kMaxLanes);
  const size_t threads = std::clamp<size_t>(
      std::min({counters.size(), lanes_.size(), SendTransfer::kMaxFdCaches}), 1, kMaxLanes);
  for (size_t i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    for (size_t lane = i; lane < lanes_.size(); lane += threads) w->lanes.push_back(lane);
    w->counters = i < counters.size() ? counters[i] : nullptr;
    w->batch_buf.resize(kMaxGsoSegments * std::max<size_t>(max_datagram_, 1));
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    w->thread = std::thread([this, worker = w.get()] {
      Run(*worker);
      OPENSSL_thread_stop();  // frees this thread's OpenSSL state (error queue)
    });
  }
}

TxEngine::~TxEngine() { Shutdown(); }

Status TxEngine::Start(std::shared_ptr<Session> session, uint32_t transfer_id, const SendSpec& spec) {
  if (!session) return Status::Error(EINVAL, "startSendTransfer: no session", kErrInvalidArgument);
  if (lanes_.empty()) return Status::Error(EINVAL, "startSendTransfer: no lanes", kErrInvalidArgument);
  if (spec.block_size == 0 || spec.block_size + kBlockPacketOverhead > max_datagram_) {
    return Status::Error(EINVAL,
                         "block size " + std::to_string(spec.block_size) + " does not fit a datagram of " +
                             std::to_string(max_datagram_) + " bytes (block size + " +
                             std::to_string(kBlockPacketOverhead) + " must not exceed it)",
                         kErrInvalidArgument);
  }
  const Key key{session->local_index(), transfer_id};
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Error(ESHUTDOWN, "startSendTransfer: engine is shut down");
    if (transfers_.count(key) != 0) {
      return Status::Error(EEXIST,
                           "send transfer " + std::to_string(transfer_id) +
                               " is already running on session " + std::to_string(key.first),
                           kErrInvalidArgument);
    }
  }
  Status st;
  std::unique_ptr<SendTransfer> t = SendTransfer::Open(std::move(session), transfer_id, spec, MonoNs(), &st);
  if (!t) return st;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Error(ESHUTDOWN, "startSendTransfer: engine is shut down");
    if (!transfers_.emplace(key, std::shared_ptr<SendTransfer>(std::move(t))).second) {
      return Status::Error(EEXIST,
                           "send transfer " + std::to_string(transfer_id) +
                               " is already running on session " + std::to_string(key.first),
                           kErrInvalidArgument);
    }
  }
  wake_.notify_all();
  return Status::Ok();
}

bool TxEngine::OnFeedback(uint32_t session, const FeedbackFrameHeader& header, const NackRange* ranges,
                          size_t n) {
  std::shared_ptr<SendTransfer> t;
  {
    std::lock_guard lock(mu_);
    auto it = transfers_.find(Key{session, header.transfer_id});
    if (it == transfers_.end()) return false;
    t = it->second;
  }
  if (t->OnFeedback(header, ranges, n, MonoNs()) && events_ != nullptr) {
    Event e;
    e.type = EventType::kReceiverComplete;
    e.session = session;
    e.transfer = header.transfer_id;
    events_->Push(std::move(e));
  }
  return true;
}

std::optional<SendStats> TxEngine::Stats(uint32_t session, uint32_t transfer_id) const {
  std::shared_ptr<SendTransfer> t;
  {
    std::lock_guard lock(mu_);
    auto it = transfers_.find(Key{session, transfer_id});
    if (it == transfers_.end()) return std::nullopt;
    t = it->second;
  }
  return t->Stats();
}

bool TxEngine::Accept(uint32_t session, uint32_t transfer_id, const std::vector<HeldRange>& have) {
  std::shared_ptr<SendTransfer> t;
  {
    std::lock_guard lock(mu_);
    auto it = transfers_.find(Key{session, transfer_id});
    if (it == transfers_.end()) return false;
    t = it->second;
  }
  t->Accept(have);
  wake_.notify_all();
  return true;
}

void TxEngine::Stop(uint32_t session, uint32_t transfer_id) {
  std::lock_guard lock(mu_);
  transfers_.erase(Key{session, transfer_id});  // the TX thread may hold a ref a little longer
}

void TxEngine::StopSession(uint32_t session) {
  std::lock_guard lock(mu_);
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    it = it->first.first == session ? transfers_.erase(it) : std::next(it);
  }
}

void TxEngine::Shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  std::lock_guard lock(mu_);
  transfers_.clear();
}

void TxEngine::Run(Worker& worker) {
  // Pacing sleeps are short; the default 50 µs timer slack would stretch them.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  std::vector<std::shared_ptr<SendTransfer>> active;
  for (;;) {
    active.clear();
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !transfers_.empty(); });
      if (stopping_) return;
      for (auto& [key, t] : transfers_) active.push_back(t);
    }
    const uint64_t now = MonoNs();
    uint64_t wait = kTxMaxSleepNs;
    bool progressed = false;
    // Round-robin: a different transfer goes first each round.
    const size_t first = worker.next_transfer++ % active.size();
    for (size_t k = 0; k < active.size(); ++k) {
      const uint64_t w = ServiceTransfer(worker, *active[(first + k) % active.size()], now);
      if (w == 0) {
        progressed = true;
      } else {
        wait = std::min(wait, w);
      }
    }
    if (!progressed) SleepNs(wait);
  }
}

uint64_t TxEngine::ServiceTransfer(Worker& w, SendTransfer& t, uint64_t now_ns) {
  if (t.failed.load(std::memory_order_relaxed) || t.receiver_complete()) return kTxMaxSleepNs;

  // POSITION (lane 0, so thread 0): on schedule, and at once when the first pass has just finished.
  uint64_t position_wait = kTxMaxSleepNs;
  if (w.index == 0 && !t.awaiting_accept()) {  // no POSITION before the accept: nothing can take it
    const bool done = t.first_pass_done();
    if (now_ns >= t.next_position_ns || (done && !t.position_done_sent)) {
      SendPosition(w, t);
      t.next_position_ns = now_ns + (done ? kDonePositionIntervalNs : kPositionIntervalNs);
    }
    position_wait = t.next_position_ns > now_ns ? t.next_position_ns - now_ns : 1;
  }

  // At most one GSO send per batch; the transfer sizes it to its rate.
  const size_t segment = t.block_size() + kBlockPacketOverhead;
  const size_t max_blocks = std::min({kMaxGsoSegments, kMaxGsoBytes / segment, w.batch_buf.size() / segment});
  BlockBatch batch;
  const uint64_t pace_wait = t.ClaimPacedBatch(max_blocks, now_ns, &batch);
  if (pace_wait == SendTransfer::kNoBatch) return position_wait;
  if (pace_wait != 0) return std::min(pace_wait, position_wait);
  return SendBatch(w, t, batch) ? 0 : std::min(kTxBackoffNs, position_wait);
}

bool TxEngine::SendBatch(Worker& w, SendTransfer& t, const BlockBatch& batch) {
  const uint32_t block_size = t.block_size();
  const size_t segment = block_size + kBlockPacketOverhead;
  const uint64_t file_size = t.file_size(batch.file);
  uint8_t* buf = w.batch_buf.data();
  const auto unsent = [&] {  // hands the whole batch back
    t.CommitBatch(batch, 0, 0, 0);
    return false;
  };

  // One preadv straight into the packets' data areas.
  iovec iov[kMaxGsoSegments];
  uint64_t data_total = 0;
  for (uint32_t k = 0; k < batch.count; ++k) {
    const uint64_t len = BlockLength(file_size, block_size, batch.first_block + k);
    iov[k].iov_base = buf + k * segment + kDataHeaderLen + kBlockFrameHeaderLen;
    iov[k].iov_len = len;
    data_total += len;
  }
  uint64_t got = 0;
  const off_t offset = static_cast<off_t>(batch.first_block * block_size);
  iovec* cur = iov;
  int left = static_cast<int>(batch.count);
  int read_err = 0;
  int fd = -1;  // opened lazily (bounded fd cache, see send_transfer.h)
  const Status open_st = t.AcquireFd(batch.file, &fd, w.index);
  if (!open_st.ok()) {
    FailTransfer(t, batch.file, open_st.err != 0 ? open_st.err : EIO, kErrIo, open_st.message);
    return unsent();
  }
  while (left > 0) {
    const ssize_t r = preadv(fd, cur, left, offset + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      read_err = r < 0 ? errno : 0;
      break;
    }
    got += static_cast<uint64_t>(r);
    AdvanceIovecs(&cur, &left, static_cast<size_t>(r));
  }
  if (got != data_total) {
    FailTransfer(t, batch.file, read_err != 0 ? read_err : EIO, kErrIo,
                 read_err != 0
                     ? "cannot read " + t.file_path(batch.file) + ": " + std::strerror(read_err)
                     : "source file " + t.file_path(batch.file) + " shrank while it was being sent");
    return unsent();
  }

  // Frame headers, then seal every packet on the lane this batch goes out on.
  const size_t lane = w.lanes[w.next_lane++ % w.lanes.size()];
  Session& session = *t.session();
  size_t last_len = 0;
  // Every datagram of the batch carries the batch's send stamp (FEEDBACK echoes it).
  const uint64_t stamp_us = MonoNs() / 1000;
  const uint32_t stamp = std::max<uint32_t>(PathSampler::Stamp(stamp_us), 1);  // 0 = none
  for (uint32_t k = 0; k < batch.count; ++k) {
    uint8_t* packet = buf + k * segment;
    BlockFrameHeader h{};
    h.transfer_id = t.transfer_id();
    h.file_index = batch.file;
    h.send_stamp = stamp;
    h.offset = (batch.first_block + k) * block_size;
    // The block's bytes were read in place behind the header: only the header is written.
    uint8_t* frame = packet + kDataHeaderLen;
    const size_t frame_len = EncodeBlockFrame(h, static_cast<const uint8_t*>(iov[k].iov_base), iov[k].iov_len,
                                              frame, segment - kDataHeaderLen - kAeadTagLen);
    if (frame_len == 0) return unsent();  // the segment always holds the frame
    last_len = session.SealInPlace(static_cast<uint8_t>(lane), packet, frame_len);
    if (last_len == 0) return unsent();  // cipher failure: nothing sent, retried later
  }
  const size_t total = (batch.count - 1) * segment + last_len;
  const int sent =
      lanes_[lane]->SendSegments(session.peer(), session.peer_len(), buf, total, segment, w.counters);
  if (sent < 0) {
    // A hard error (counted by the socket). Retried, since routes and firewalls change;
    // an unbroken run of them for kSendErrorGiveUpNs fails the transfer with its errno.
    const uint64_t now = MonoNs();
    uint64_t since = 0;
    if (!t.send_error_since_ns.compare_exchange_strong(since, now)) {
      if (now - since >= kSendErrorGiveUpNs) {
        FailTransfer(t, batch.file, -sent, kErrSocket,
                     "cannot send to the receiver: " + std::string(std::strerror(-sent)));
      }
    }
    return unsent();
  }
  t.send_error_since_ns.store(0, std::memory_order_relaxed);
  if (sent == 0) return unsent();  // socket buffer full
  const uint32_t sent_blocks = static_cast<uint32_t>(std::min<int>(sent, static_cast<int>(batch.count)));
  const uint64_t sent_bytes =
      sent_blocks == batch.count ? total : static_cast<uint64_t>(sent_blocks) * segment;
  t.CommitBatch(batch, sent_blocks, sent_bytes, stamp_us);
  if (batch.retransmit && w.counters != nullptr) {
    w.counters->Add(CounterId::kblocks_retransmitted, sent_blocks);
  }
  return true;
}

void TxEngine::FailTransfer(SendTransfer& t, uint32_t file, int err, const char* code, std::string message) {
  if (t.failed.exchange(true)) return;
  if (events_ == nullptr) return;
  Event e;
  e.type = EventType::kTransferError;
  e.session = t.session_index();
  e.transfer = t.transfer_id();
  e.file = file;
  e.err = err;
  e.code = code;
  e.message = std::move(message);
  events_->Push(std::move(e));
}

void TxEngine::SendPosition(Worker& w, SendTransfer& t) {
  const PositionFrame p = t.Position();
  const size_t frame_len = EncodePositionFrame(p, w.position_buf + kDataHeaderLen, kPositionFrameLen);
  const size_t len = t.session()->SealInPlace(0, w.position_buf, frame_len);
  if (len == 0) return;
  const int rc =
      lanes_[0]->SendTo(t.session()->peer(), t.session()->peer_len(), w.position_buf, len, w.counters);
  if (rc > 0 && (p.flags & kPositionFlagFirstPassDone)) t.position_done_sent = true;
}

}  // namespace jetrecv::core
