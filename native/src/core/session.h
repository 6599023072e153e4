// session.h — one authenticated peer: the per-lane AEAD state of both directions
// and the replay windows. Shared (std::shared_ptr) between the sessions table,
// RX threads and the TX engine; every method is thread-safe.
// Lane state is created on a lane's first use (a lane's send state on its first seal,
// its receive state on the first packet naming it), so a session that carries no data
// holds no cipher context and no replay window (issue 12, finding 6).
#pragma once
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/aead.h"
#include "core/replay_window.h"
#include "core/status.h"
#include "core/wire_format.h"

namespace jetrecv::core {

struct SessionConfig {
  uint32_t local_index = 0;   // receiver_index of packets we receive
  uint32_t remote_index = 0;  // receiver_index we write on packets we send
  Cipher cipher = Cipher::kAes256Gcm;
  std::array<uint8_t, kAeadKeyLen> send_key{};  // base key, our -> peer
  std::array<uint8_t, kAeadKeyLen> recv_key{};  // base key, peer -> us
  sockaddr_storage peer{};                      // where our packets go
  socklen_t peer_len = 0;
};

enum class OpenResult : uint8_t {
  kOk,
  kBadTag,  // tag did not verify (or the header is malformed)
  kReplay,  // counter seen before, or older than the replay window / previous epoch
};

// Lane state a session holds (AllocatedLanes).
struct LaneCounts {
  int send_lanes = 0;
  int recv_lanes = 0;
  int cipher_contexts = 0;  // OpenSSL contexts of both directions
};

struct SessionStats {
  uint64_t packets_recv = 0;
  uint64_t bytes_recv = 0;
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t last_recv_us =
      0;  // CLOCK_REALTIME(_COARSE, ms resolution) µs of the last verified packet, 0 = never
  uint64_t last_send_us = 0;
};

// Microseconds since the Unix epoch (CLOCK_REALTIME).
uint64_t WallClockMicros();

class Session {
 public:
  // Status EINVAL for an unknown cipher. Lane state (contexts, windows) comes on first use.
  static std::shared_ptr<Session> Create(const SessionConfig& config, Status* status);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint32_t local_index() const { return config_.local_index; }
  uint32_t remote_index() const { return config_.remote_index; }
  Cipher cipher() const { return config_.cipher; }
  const sockaddr_storage& peer() const { return config_.peer; }
  socklen_t peer_len() const { return config_.peer_len; }

  // The plaintext frame is at packet + kDataHeaderLen (frame_len bytes). Writes the
  // DataHeader (next send counter of lane) at packet, encrypts the frame in place
  // and appends the tag. Returns kDataHeaderLen + frame_len + kAeadTagLen, or 0 if
  // lane >= kMaxLanes or OpenSSL failed. Caller guarantees the capacity.
  size_t SealInPlace(uint8_t lane, uint8_t* packet, size_t frame_len);

  // packet is a whole DATA datagram of len bytes addressed to this session.
  // Verifies the tag, then the lane's replay window. On kOk the plaintext frame
  // is at packet + kDataHeaderLen, len - kDataHeaderLen - kAeadTagLen bytes.
  // The first packet naming a lane creates its receive state even if its tag then fails:
  // bounded by kMaxLanes per session, and only with the session's receiver_index.
  // (PacketOpen's steps, the whole frame decrypted in place.)
  OpenResult Open(uint8_t* packet, size_t len);

  class PacketOpen;

  SessionStats Stats() const;
  LaneCounts AllocatedLanes() const;

  // Test hook: the next SealInPlace on lane uses counter (to cross epochs).
  void SetNextSendCounterForTesting(uint8_t lane, uint64_t counter);

 private:
  explicit Session(const SessionConfig& config);

  struct SendLane {
    std::mutex mu;
    uint64_t next_counter = 0;         // guarded by mu
    uint64_t epoch = ~0ull;            // epoch ctx is keyed for; guarded by mu
    std::unique_ptr<AeadContext> ctx;  // guarded by mu; created by the first seal
  };
  struct RecvLane {
    std::mutex mu;
    // current and previous epoch contexts, so reordering across an epoch
    // boundary still decrypts; scratch tries a newer epoch without disturbing them.
    // Each is created when first needed (null until then); an epoch id is set only
    // while its context exists.
    uint64_t current_epoch = ~0ull;  // ~0 = not keyed yet
    uint64_t previous_epoch = ~0ull;
    std::unique_ptr<AeadContext> current, previous, scratch;
    ReplayWindow window;
  };

  // The lane's state, created by the first caller; concurrent first callers agree on one
  // (compare-exchange; the loser frees its copy). Never null. lane < kMaxLanes.
  template <typename Lane>
  static Lane& LaneOf(std::array<std::atomic<Lane*>, kMaxLanes>& lanes, uint8_t lane);

  SessionConfig config_;                                  // keys wiped in the destructor
  std::array<std::atomic<SendLane*>, kMaxLanes> send_{};  // owned; deleted in the destructor
  std::array<std::atomic<RecvLane*>, kMaxLanes> recv_{};

  std::atomic<uint64_t> packets_recv_{0}, bytes_recv_{0}, packets_sent_{0}, bytes_sent_{0};
  std::atomic<uint64_t> last_recv_us_{0}, last_send_us_{0};
};

// Session::Open in steps, for a caller that decrypts parts of one frame to
// different places (the receiver decrypts a block's data straight into its
// O_DIRECT staging chunk): Begin, Decrypt over the frame in order, Finish. Holds
// the packet's lane locked from Begin until Finish or destruction, so keep it short
// and take no lock under it that a lane holder could wait for. One packet per object.
class Session::PacketOpen {
 public:
  PacketOpen() = default;
  PacketOpen(const PacketOpen&) = delete;
  PacketOpen& operator=(const PacketOpen&) = delete;

  // Starts opening packet (len bytes, addressed to session; both must outlive the
  // open). kOk, or the verdict for a packet refused before any decryption
  // (malformed header: kBadTag; epoch older than the previous one: kReplay).
  OpenResult Begin(Session& session, uint8_t* packet, size_t len);
  size_t frame_len() const { return frame_len_; }
  // Decrypts the next n bytes of the frame (ciphertext in the packet, in order) to
  // out: the packet's own bytes (in place) or another buffer. Unverified until
  // Finish returns kOk.
  void Decrypt(uint8_t* out, size_t n);
  // After the whole frame was decrypted: the tag (constant time), then the lane's
  // replay window; on kOk moves the lane to a newer epoch if the packet opened one
  // and counts the packet. Releases the lane.
  OpenResult Finish();
  // Instead of Decrypt and Finish, before any Decrypt: the whole frame in place with
  // the back end's one-shot open (cheaper than the split calls), then as Finish.
  OpenResult FinishInPlace();

 private:
  // The verdict after the tag check: rotation, replay window, stats; releases the lane.
  OpenResult Conclude(bool verified);

  Session* session_ = nullptr;
  RecvLane* lane_ = nullptr;
  std::unique_lock<std::mutex> lock_;
  AeadContext* ctx_ = nullptr;    // current, previous or (a newer epoch) scratch
  const uint8_t* aad_ = nullptr;  // the DataHeader
  uint8_t* ciphertext_ = nullptr;
  const uint8_t* tag_ = nullptr;
  uint8_t nonce_[kAeadNonceLen] = {};
  bool begun_ = false;  // OpenBegin called (the first Decrypt)
  size_t frame_len_ = 0;
  size_t decrypted_ = 0;
  size_t packet_len_ = 0;
  uint64_t counter_ = 0;
  uint64_t epoch_ = 0;
  bool ok_ = true;  // every step so far succeeded
};

}  // namespace jetrecv::core
