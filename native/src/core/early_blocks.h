// early_blocks.h — BLOCKs that arrive before their transfer is open ("early
// blocks", docs/PROTOCOL-control.md "Early blocks"): a sender that the receiver
// told it holds them sends its first train right behind its TransferRequest.
// The receiver keeps those frames, authenticated under the session's keys, with
// their arrival times, until the control plane opens the transfer (Take: they
// are replayed into it), refuses it (Discard), the session ends (DropSession)
// or they are older than the time to live (Expire). This is the only thing
// allocated for a transfer before its admission, and it is capped per session
// and for the whole receiver; nothing touches the disk.
// Transfer ids: a session's held ids must be above every id it opened or
// discarded before, so a block of a used (open, closed or refused) id is never
// held again.
// Threads: every method from any thread (one mutex; only early blocks take it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/wire_format.h"

namespace jetrecv::core {

struct EarlyBlockLimits {
  size_t session_bytes = 0;  // held per session (0 = early blocks off)
  size_t total_bytes = 0;    // held by the whole receiver
  uint64_t ttl_us = 0;       // a held block older than this is freed
};

// Per session: 4 ms (the first train) at up to 4 Gbit/s of 9000-byte datagrams,
// so `jetrecv send`'s default 1 Gbit/s train (500 KB) fits twice.
constexpr size_t kEarlyBlockSessionBytes = 2u << 20;
// The whole receiver: eight sessions' trains at once.
constexpr size_t kEarlyBlockTotalBytes = 16u << 20;
// Longer than any open of a small manifest; a train that waits longer is resent
// on the receiver's NACKs anyway.
constexpr uint64_t kEarlyBlockTtlUs = 2'000'000;
// What one held block costs against the caps besides its data.
constexpr size_t kEarlyBlockOverheadBytes = 64;

class EarlyBlockStore {
 public:
  explicit EarlyBlockStore(const EarlyBlockLimits& limits) : limits_(limits) {}

  struct Held {
    BlockFrameHeader header;
    uint64_t arrival_us = 0;  // monotonic µs the datagram was received
    std::vector<uint8_t> data;
  };
  enum class HoldResult : uint8_t {
    kHeld,
    kOverCap,  // the session's or the receiver's cap is full
    kUsedId,   // an id at or below one the session opened or discarded
  };
  // Keeps a copy of one authenticated BLOCK frame of a transfer the session has not opened.
  HoldResult Hold(uint32_t session, const BlockFrameHeader& header, const uint8_t* data, size_t len,
                  uint64_t arrival_us);
  // The transfer is being opened: its held blocks, in arrival order; the id is used from now on.
  std::vector<Held> Take(uint32_t session, uint32_t transfer_id);
  // The transfer was refused: frees its held blocks (returns how many); the id is used.
  size_t Discard(uint32_t session, uint32_t transfer_id);
  // The session ended: frees its held blocks and forgets its ids (returns how many blocks).
  size_t DropSession(uint32_t session);
  // Frees the blocks that arrived before now_us − ttl (returns how many).
  size_t Expire(uint64_t now_us);

  size_t held_bytes() const;
  size_t held_blocks() const;
  const EarlyBlockLimits& limits() const { return limits_; }

 private:
  struct SessionHeld {
    bool any_used = false;
    uint32_t max_used_id = 0;  // valid when any_used
    size_t bytes = 0;
    std::vector<Held> blocks;  // arrival order
  };
  static size_t Cost(const Held& h) { return h.data.size() + kEarlyBlockOverheadBytes; }
  // Removes the blocks of transfer_id (all if all_ids) from s, moving them to *out if set.
  size_t RemoveLocked(SessionHeld& s, uint32_t transfer_id, bool all_ids, std::vector<Held>* out);
  void MarkUsedLocked(SessionHeld& s, uint32_t transfer_id);
  void ReleaseLocked(SessionHeld& s, const Held& h);  // takes h's cost off the totals

  const EarlyBlockLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, SessionHeld> sessions_;  // guarded by mu_
  size_t total_bytes_ = 0;                              // guarded by mu_
  size_t total_blocks_ = 0;                             // guarded by mu_
};

}  // namespace jetrecv::core
