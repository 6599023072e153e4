// session.cc — per-lane sealing and opening with epoch re-keying.
#include "core/session.h"

#include <openssl/crypto.h>
#include <time.h>

#include <cerrno>
#include <cstring>

namespace jetrecv::core {

uint64_t WallClockMicros() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

namespace {

// Activity timestamps (last_send_us / last_recv_us) are taken per packet, so
// they use the coarse clock (a few ms of resolution, no vDSO time read): the
// per-packet CLOCK_REALTIME read cost ~1.5 % of the data path at 1472 bytes.
uint64_t CoarseWallClockMicros() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

// Keys ctx for (base_key, lane, epoch); the derived key is wiped after use.
bool KeyForEpoch(AeadContext& ctx, const std::array<uint8_t, kAeadKeyLen>& base_key, uint8_t lane,
                 uint64_t epoch) {
  uint8_t key[kAeadKeyLen];
  bool ok = DeriveEpochKey(base_key.data(), lane, epoch, key) && ctx.SetKey(key);
  OPENSSL_cleanse(key, sizeof(key));
  return ok;
}

}  // namespace

Session::Session(const SessionConfig& config) : config_(config) {}

Session::~Session() {
  for (auto& lane : send_) delete lane.load(std::memory_order_acquire);
  for (auto& lane : recv_) delete lane.load(std::memory_order_acquire);
  OPENSSL_cleanse(config_.send_key.data(), kAeadKeyLen);
  OPENSSL_cleanse(config_.recv_key.data(), kAeadKeyLen);
}

template <typename Lane>
Lane& Session::LaneOf(std::array<std::atomic<Lane*>, kMaxLanes>& lanes, uint8_t lane) {
  std::atomic<Lane*>& slot = lanes[lane];
  Lane* state = slot.load(std::memory_order_acquire);
  if (state != nullptr) return *state;
  auto fresh = std::make_unique<Lane>();
  if (slot.compare_exchange_strong(state, fresh.get(), std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
    return *fresh.release();
  }
  return *state;  // another thread created it first; ours is freed
}

namespace {

// Creates ctx for the session's cipher and direction when it does not exist yet.
bool EnsureContext(std::unique_ptr<AeadContext>& ctx, Cipher cipher, bool encrypt) {
  if (ctx) return true;
  auto fresh = std::make_unique<AeadContext>();
  if (!fresh->Init(cipher, encrypt)) return false;
  ctx = std::move(fresh);
  return true;
}

}  // namespace

std::shared_ptr<Session> Session::Create(const SessionConfig& config, Status* status) {
  if (config.cipher != Cipher::kAes256Gcm && config.cipher != Cipher::kChaCha20Poly1305) {
    *status = Status::Error(EINVAL, "unknown cipher id " + std::to_string(int(config.cipher)));
    return nullptr;
  }
  *status = Status::Ok();
  return std::shared_ptr<Session>(new Session(config));
}

size_t Session::SealInPlace(uint8_t lane, uint8_t* packet, size_t frame_len) {
  if (lane >= kMaxLanes) return 0;
  SendLane& state = LaneOf(send_, lane);
  DataHeader header{};
  header.type = static_cast<uint8_t>(PacketType::kData);
  header.lane = lane;
  header.receiver_index = config_.remote_index;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    header.counter = state.next_counter;
    uint64_t epoch = header.counter >> kEpochShift;
    if (epoch != state.epoch) {
      if (!EnsureContext(state.ctx, config_.cipher, /*encrypt=*/true) ||
          !KeyForEpoch(*state.ctx, config_.send_key, lane, epoch)) {
        return 0;
      }
      state.epoch = epoch;
    }
    std::memcpy(packet, &header, kDataHeaderLen);
    uint8_t nonce[kAeadNonceLen];
    MakeNonce(lane, header.counter, nonce);
    if (!state.ctx->Seal(nonce, packet, kDataHeaderLen, packet + kDataHeaderLen, frame_len,
                         packet + kDataHeaderLen + frame_len)) {
      return 0;
    }
    ++state.next_counter;  // a counter is consumed only by a successful seal
  }
  size_t total = kDataHeaderLen + frame_len + kAeadTagLen;
  packets_sent_.fetch_add(1, std::memory_order_relaxed);
  bytes_sent_.fetch_add(total, std::memory_order_relaxed);
  last_send_us_.store(CoarseWallClockMicros(), std::memory_order_relaxed);
  return total;
}

OpenResult Session::Open(uint8_t* packet, size_t len) {
  PacketOpen open;
  const OpenResult begun = open.Begin(*this, packet, len);
  if (begun != OpenResult::kOk) return begun;
  return open.FinishInPlace();
}

OpenResult Session::PacketOpen::Begin(Session& session, uint8_t* packet, size_t len) {
  if (len < kDataHeaderLen + kAeadTagLen) return OpenResult::kBadTag;
  DataHeader header;
  std::memcpy(&header, packet, kDataHeaderLen);
  if (header.lane >= kMaxLanes || header.reserved != 0) return OpenResult::kBadTag;
  session_ = &session;
  lane_ = &LaneOf(session.recv_, header.lane);
  counter_ = header.counter;
  epoch_ = header.counter >> kEpochShift;
  ciphertext_ = packet + kDataHeaderLen;
  frame_len_ = len - kDataHeaderLen - kAeadTagLen;
  tag_ = packet + len - kAeadTagLen;
  packet_len_ = len;
  aad_ = packet;
  MakeNonce(header.lane, header.counter, nonce_);

  RecvLane& state = *lane_;
  lock_ = std::unique_lock<std::mutex>(state.mu);
  if (epoch_ == state.current_epoch) {
    ctx_ = state.current.get();
  } else if (epoch_ == state.previous_epoch) {
    ctx_ = state.previous.get();
  } else if (state.current_epoch == ~0ull || epoch_ > state.current_epoch) {
    // A newer epoch: try it on the scratch context so that a forged packet
    // cannot evict the keys in use; Finish rotates only once the tag verified.
    ok_ = EnsureContext(state.scratch, session.config_.cipher, /*encrypt=*/false) &&
          KeyForEpoch(*state.scratch, session.config_.recv_key, header.lane, epoch_);
    ctx_ = state.scratch.get();
  } else {
    lock_.unlock();
    lane_ = nullptr;             // nothing to finish
    return OpenResult::kReplay;  // older than the previous epoch: far outside the window
  }
  return OpenResult::kOk;
}

void Session::PacketOpen::Decrypt(uint8_t* out, size_t n) {
  if (n > frame_len_ - decrypted_) {
    ok_ = false;
    return;
  }
  if (!begun_) {
    ok_ = ok_ && ctx_->OpenBegin(nonce_, aad_, kDataHeaderLen);
    begun_ = true;
  }
  ok_ = ok_ && ctx_->OpenUpdate(ciphertext_ + decrypted_, out, n);
  decrypted_ += n;
}

OpenResult Session::PacketOpen::Finish() {
  if (lane_ == nullptr) return OpenResult::kBadTag;  // Begin refused the packet
  if (!begun_) Decrypt(ciphertext_, 0);              // an empty frame
  return Conclude(ok_ && decrypted_ == frame_len_ && ctx_->OpenFinal(tag_));
}

OpenResult Session::PacketOpen::FinishInPlace() {
  if (lane_ == nullptr) return OpenResult::kBadTag;
  return Conclude(ok_ && !begun_ && ctx_->Open(nonce_, aad_, kDataHeaderLen, ciphertext_, frame_len_, tag_));
}

OpenResult Session::PacketOpen::Conclude(bool verified) {
  RecvLane& state = *lane_;
  if (verified && ctx_ == state.scratch.get()) {
    if (state.current_epoch != ~0ull && epoch_ == state.current_epoch + 1) {
      std::swap(state.previous, state.current);
      state.previous_epoch = state.current_epoch;
    } else {
      state.previous_epoch = ~0ull;  // the old epoch is too far behind to matter
    }
    std::swap(state.current, state.scratch);
    state.current_epoch = epoch_;
  }
  OpenResult result = OpenResult::kOk;
  if (!verified) {
    result = OpenResult::kBadTag;
  } else if (!state.window.CheckAndUpdate(counter_)) {
    result = OpenResult::kReplay;
  }
  lock_.unlock();
  if (result == OpenResult::kOk) {
    session_->packets_recv_.fetch_add(1, std::memory_order_relaxed);
    session_->bytes_recv_.fetch_add(packet_len_, std::memory_order_relaxed);
    session_->last_recv_us_.store(CoarseWallClockMicros(), std::memory_order_relaxed);
  }
  return result;
}

void Session::SetNextSendCounterForTesting(uint8_t lane, uint64_t counter) {
  if (lane >= kMaxLanes) return;
  SendLane& state = LaneOf(send_, lane);
  std::lock_guard<std::mutex> lock(state.mu);
  state.next_counter = counter;
}

LaneCounts Session::AllocatedLanes() const {
  LaneCounts counts;
  for (const auto& slot : send_) {
    SendLane* lane = slot.load(std::memory_order_acquire);
    if (lane == nullptr) continue;
    ++counts.send_lanes;
    std::lock_guard<std::mutex> lock(lane->mu);
    counts.cipher_contexts += lane->ctx ? 1 : 0;
  }
  for (const auto& slot : recv_) {
    RecvLane* lane = slot.load(std::memory_order_acquire);
    if (lane == nullptr) continue;
    ++counts.recv_lanes;
    std::lock_guard<std::mutex> lock(lane->mu);
    counts.cipher_contexts += (lane->current ? 1 : 0) + (lane->previous ? 1 : 0) + (lane->scratch ? 1 : 0);
  }
  return counts;
}

SessionStats Session::Stats() const {
  SessionStats stats;
  stats.packets_recv = packets_recv_.load(std::memory_order_relaxed);
  stats.bytes_recv = bytes_recv_.load(std::memory_order_relaxed);
  stats.packets_sent = packets_sent_.load(std::memory_order_relaxed);
  stats.bytes_sent = bytes_sent_.load(std::memory_order_relaxed);
  stats.last_recv_us = last_recv_us_.load(std::memory_order_relaxed);
  stats.last_send_us = last_send_us_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace jetrecv::core
