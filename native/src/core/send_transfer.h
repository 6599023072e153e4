// send_transfer.h — one outgoing transfer's state for the TX engine: the source
// files (opened lazily, at most kMaxCachedFdsPerTransfer at once, see
// fd_cache.h), the first-pass cursor, the set of NACKed block ranges waiting
// for retransmission, the rate controller and the pacer whose budget every TX
// thread shares, and the statistics.
// Threads: OnFeedback runs on an RX thread; batches are claimed and committed by
// any number of TX threads at once (a claim hands its blocks to one thread
// only); AcquireFd is per TX thread (see there). A per-transfer mutex, taken
// once per batch, never per packet, guards the shared parts.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/fd_cache.h"
#include "core/rate_control.h"
#include "core/session.h"
#include "core/status.h"
#include "core/wire_format.h"

namespace jetrecv::core {

struct SendFileSpec {
  std::string path;   // local absolute path; index = file_index on the wire
  uint64_t size = 0;  // expected size; the file must still have it when opened
};

// Resume: blocks [first_block, first_block + block_count) of file_index that
// the receiver already holds (its TransferAccept.have); the first pass skips them.
struct HeldRange {
  uint32_t file_index = 0;
  uint64_t first_block = 0;
  uint64_t block_count = 0;
};

struct SendSpec {
  uint32_t block_size = 0;
  std::vector<SendFileSpec> files;
  uint64_t rate_max_bps = 0;    // bits/s of UDP payload, 0 = no cap
  uint64_t rate_start_bps = 0;  // 0 = default (rate_control.h)
  uint64_t rate_min_bps = 0;    // floor; 0 = kMinRateBps
  RatePolicy rate_policy = RatePolicy::kFair;
  std::vector<HeldRange> have;  // resume; out-of-range parts are ignored
  // Started before the receiver's TransferAccept (docs/PROTOCOL-control.md "Early blocks"):
  // only the first train goes out — at most this many datagram bytes of the first pass,
  // and at most kInitialTrainUs at the start rate — and no POSITION, until Accept.
  // 0 = started on the accept, as usual.
  uint64_t early_bytes = 0;
};

struct SendStats {
  uint64_t bytes_sent = 0;   // block data bytes sent, retransmissions included
  uint64_t blocks_sent = 0;  // retransmissions included
  uint64_t blocks_retransmitted = 0;
  uint64_t blocks_tail_copies = 0;  // of blocks_retransmitted: second copies of tail repairs
  uint64_t blocks_acked = 0;        // receiver's blocks_received from the latest FEEDBACK
  uint64_t total_blocks = 0;
  double rate_bps = 0;  // current paced rate, bits/s of UDP payload
  bool first_pass_done = false;
  bool receiver_complete = false;
  uint64_t blocks_resumed = 0;  // blocks skipped because the receiver held them (SendSpec::have)
  // Times the rate controller entered competing mode (a standing queue it could
  // not drain: TCP BBR, CUBIC; docs/PROTOCOL-transfer.md §5 8a).
  uint64_t competing_events = 0;
};

// Target duration of one batch at the current rate (bounds burst size).
constexpr uint64_t kTxBatchDurationNs = 2'000'000;

// A run of blocks of one file to send as one batch, claimed by one TX thread
// until its CommitBatch.
struct BlockBatch {
  uint32_t file = 0;
  uint64_t first_block = 0;
  uint32_t count = 0;
  bool retransmit = false;
  uint64_t paced_bytes = 0;  // taken from the pacing budget by ClaimPacedBatch (0 = unpaced)
  bool tail_copy = false;    // the second copy of a repair sent after the first pass (a retransmit)
};

// Tail copies (docs/PROTOCOL-transfer.md §4): after the first pass, a repair that leaves at
// most kTailCopyQueueBlocks NACKed blocks behind it is sent a second time once the NACKed
// ranges are out, while all copies stay within max(kTailCopyFloorBlocks, retransmissions /
// kTailCopyShareDiv, kTailCopyLossBdps x loss x the blocks of one RTT at btl). A lost repair
// in the tail otherwise costs a re-NACK hold-off plus a round trip; the bounds keep a big
// late burst (a startup's queue drops) from being doubled.
constexpr uint64_t kTailCopyQueueBlocks = 256;
constexpr uint64_t kTailCopyFloorBlocks = 64;
constexpr uint64_t kTailCopyShareDiv = 20;
constexpr double kTailCopyLossBdps = 3;

class SendTransfer {
 public:
  // Checks every file (stat: a regular file of the expected size) without
  // keeping it open; files are opened on first use (AcquireFd). Errors name the file.
  static std::unique_ptr<SendTransfer> Open(std::shared_ptr<Session> session, uint32_t transfer_id,
                                            const SendSpec& spec, uint64_t now_ns, Status* status);
  ~SendTransfer();
  SendTransfer(const SendTransfer&) = delete;
  SendTransfer& operator=(const SendTransfer&) = delete;

  const std::shared_ptr<Session>& session() const { return session_; }
  uint32_t session_index() const { return session_->local_index(); }
  uint32_t transfer_id() const { return transfer_id_; }
  uint32_t block_size() const { return block_size_; }
  size_t file_count() const { return files_.size(); }
  // An fd of `file` open O_RDONLY, valid until the next AcquireFd call on the
  // same `cache` (each TX thread passes its own, 0..kMaxFdCaches-1). Opens the
  // file if that cache has no fd for it (closing the cache's least recently used
  // one at the cap or when the process budget is spent) and then re-checks that
  // it is a regular file of the expected size. Errors name the file.
  Status AcquireFd(uint32_t file, int* fd, size_t cache = 0);
  size_t open_fd_count(size_t cache = 0) const { return caches_[cache].lru.size(); }  // tests
  uint64_t file_size(uint32_t file) const { return files_[file].size; }
  const std::string& file_path(uint32_t file) const { return files_[file].path; }

  // Claims the next batch for the calling thread: the oldest NACKed range first,
  // then first-pass blocks handed back unsent, then the next first-pass blocks.
  // At most max_blocks blocks, all full-size except possibly the last (so the
  // batch can go out as one GSO send). Claimed blocks are planned for no other
  // thread until CommitBatch. False if nothing to send. Unpaced, and blind to the
  // early budget (SendSpec::early_bytes): the TX engine claims through ClaimPacedBatch.
  bool PlanBatch(size_t max_blocks, BlockBatch* batch);
  // PlanBatch paced: sizes the batch to about kTxBatchDurationNs at the current
  // rate (at most max_blocks), and claims it only if the transfer's pacing
  // budget, shared by every TX thread, holds its bytes (then taken). Returns 0
  // when a batch was claimed, else ns until the budget would allow one, or
  // kNoBatch if there is nothing to send.
  static constexpr uint64_t kNoBatch = UINT64_MAX;
  uint64_t ClaimPacedBatch(size_t max_blocks, uint64_t now_ns, BlockBatch* batch);
  // Ends a claim: the first `sent` blocks went out (sent <= batch.count, 0 on
  // any failure); the rest are handed back for the next claim. datagram_bytes
  // is the UDP payload total of the sent ones (budget taken for the rest is
  // given back); stamp_us the send time their send_stamp carries (monotonic µs).
  void CommitBatch(const BlockBatch& batch, uint32_t sent, uint64_t datagram_bytes, uint64_t stamp_us);

  // The receiver accepted a transfer opened with SendSpec::early_bytes: the first pass
  // goes on past the train, skipping what of `have` it has not passed yet. Idempotent.
  void Accept(const std::vector<HeldRange>& have);
  // Opened with SendSpec::early_bytes and not accepted yet (no POSITION is sent).
  bool awaiting_accept() const;

  // Current first-pass position (for a POSITION frame).
  PositionFrame Position() const;

  // Applies one FEEDBACK (RX thread). Ranges naming unknown files or blocks the
  // first pass has not reached are ignored (counted in ignored_ranges()).
  // Returns true the first time the receiver reports complete.
  bool OnFeedback(const FeedbackFrameHeader& header, const NackRange* ranges, size_t n, uint64_t now_ns);

  uint64_t rate_bps() const;
  SendStats Stats() const;
  bool receiver_complete() const;
  bool first_pass_done() const;
  bool has_pending_work() const;
  uint64_t ignored_ranges() const;

  // Engine bookkeeping for POSITION frames (the lane-0 TX thread only) and failure.
  uint64_t next_position_ns = 0;
  bool position_done_sent = false;               // a POSITION with the done flag went out
  std::atomic<bool> failed{false};               // a read or send error stopped this transfer
  std::atomic<uint64_t> send_error_since_ns{0};  // first of an unbroken run of hard send errors (0 = none)

  // Separate fd caches, one per TX thread (AcquireFd).
  static constexpr size_t kMaxFdCaches = 16;

 private:
  struct SourceFile {
    std::string path;
    uint64_t size = 0;
    uint64_t blocks = 0;
  };
  using RangeKey = std::pair<uint32_t, uint64_t>;  // (file, first_block)
  using RangeMap = std::map<RangeKey, uint64_t>;   // (file, first_block) -> end block

  SendTransfer(std::shared_ptr<Session> session, uint32_t transfer_id, uint32_t block_size,
               const RateConfig& rate, uint64_t now_ns);
  void AdvanceCursorPastEmptyFiles();  // requires mu_
  // Merges the receiver's held ranges into held_ and recounts blocks_resumed. Requires mu_.
  void MergeHeldLocked(const std::vector<HeldRange>& have);
  // first_pass_done_ = cursor at the end, nothing handed back, no first-pass claim. Requires mu_.
  void UpdateFirstPassDone();
  bool Sent(uint32_t file, uint64_t block) const;         // first pass has passed it; requires mu_
  bool PlanLocked(size_t max_blocks, BlockBatch* batch);  // PlanBatch; requires mu_
  // Range sets of blocks (pending_, unsent_): merged on add, split on remove.
  static void AddRange(RangeMap& m, uint32_t file, uint64_t first, uint64_t end);
  static void RemoveRange(RangeMap& m, uint32_t file, uint64_t first, uint64_t end);
  // Removes from pending_ the blocks of [first, end) that are claimed or handed
  // back unsent: they go out anyway, a NACK for them must not send them twice. Requires mu_.
  void DropNotYetSent(uint32_t file, uint64_t first, uint64_t end);
  // Blocks in m, counted up to cap + 1 (enough to tell "more than cap").
  uint64_t TailCopyBudget() const;  // requires mu_
  // Something is left to send (NACKed ranges, tail copies, first-pass blocks); requires
  // mu_. The one test of it: ClaimPacedBatch once had its own and forgot the tail copies.
  bool HasWorkLocked() const;
  static uint64_t RangeBlocks(const RangeMap& m, uint64_t cap = UINT64_MAX - 1);
  // End of the held range containing (file, block), or block if none. Requires mu_.
  uint64_t HeldEnd(uint32_t file, uint64_t block) const;
  // Start of the first held range of `file` at or after block, or UINT64_MAX.
  uint64_t NextHeldStart(uint32_t file, uint64_t block) const;

  const std::shared_ptr<Session> session_;
  const uint32_t transfer_id_;
  const uint32_t block_size_;
  std::vector<SourceFile> files_;
  uint64_t total_blocks_ = 0;
  // One fd cache per TX thread: fd[i] is file i's fd or -1, lru counts the open
  // ones against the per-transfer cap and the process budget (fd_cache.h).
  struct FdCache {
    std::vector<int> fd;
    FdLru lru;
  };
  FdCache caches_[kMaxFdCaches];  // caches_[i]: TX thread i only

  mutable std::mutex mu_;
  // First-pass cursor: next block no thread has claimed yet. Guarded by mu_.
  uint32_t cursor_file_ = 0;
  uint64_t cursor_block_ = 0;
  bool cursor_done_ = false;        // the cursor passed the last file
  bool first_pass_done_ = false;    // and every first-pass block went out
  RangeMap pending_;                // NACKed ranges waiting for retransmission; guarded by mu_
  RangeMap tail_copies_;            // repairs whose second copy is due; guarded by mu_
  RangeMap unsent_;                 // first-pass blocks claimed but handed back unsent; guarded by mu_
  std::vector<BlockBatch> claims_;  // batches claimed and not yet committed; guarded by mu_
  RangeMap held_;                   // resume: held ranges (merged); set at Open and Accept
  bool awaiting_accept_ = false;    // SendSpec::early_bytes: before Accept
  uint64_t early_budget_ = 0;       // datagram bytes the train may still claim before Accept
  RateController rate_;             // guarded by mu_
  PathSampler path_;                // guarded by mu_
  Pacer pacer_;                     // the shared pacing budget; guarded by mu_
  uint64_t pace_credit_ = 0;        // budget taken for blocks that did not go out; guarded by mu_
  uint64_t last_feedback_seq_ = 0;
  bool have_feedback_ = false;
  uint64_t ignored_ranges_ = 0;
  SendStats stats_;
};

}  // namespace jetrecv::core
