// send_transfer.h — one outgoing transfer's state for the TX engine: the source
// files (opened lazily, at most kMaxCachedFdsPerTransfer at once, see
// fd_cache.h), the first-pass cursor, the set of NACKed block ranges waiting
// for retransmission, the rate controller and pacer, and the statistics.
// Threads: OnFeedback runs on an RX thread; everything else on the TX thread
// (Stats on any). A per-transfer mutex guards the shared parts.
#pragma once
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
  std::string path;  // local absolute path; index = file_index on the wire
  uint64_t size = 0; // expected size; the file must still have it when opened
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
};

struct SendStats {
  uint64_t bytes_sent = 0;             // block data bytes sent, retransmissions included
  uint64_t blocks_sent = 0;            // retransmissions included
  uint64_t blocks_retransmitted = 0;
  uint64_t blocks_tail_copies = 0;     // of blocks_retransmitted: second copies of tail repairs
  uint64_t blocks_acked = 0;           // receiver's blocks_received from the latest FEEDBACK
  uint64_t total_blocks = 0;
  double rate_bps = 0;                 // current paced rate, bits/s of UDP payload
  bool first_pass_done = false;
  bool receiver_complete = false;
  uint64_t blocks_resumed = 0;         // blocks skipped because the receiver held them (SendSpec::have)
};

// A run of blocks of one file to send as one batch.
struct BlockBatch {
  uint32_t file = 0;
  uint64_t first_block = 0;
  uint32_t count = 0;
  bool retransmit = false;
  bool tail_copy = false;  // the second copy of a repair sent after the first pass (a retransmit)
};

// Tail copies (docs/PROTOCOL-transfer.md §4): after the first pass, a repair that leaves at
// most kTailCopyQueueBlocks NACKed blocks behind it is sent a second time once the NACKed
// ranges are out, while all copies stay within max(kTailCopyFloorBlocks, retransmissions /
// kTailCopyShareDiv). A lost repair in the tail otherwise costs a re-NACK hold-off plus a
// round trip; the bounds keep a big late burst (a startup's queue drops) from being doubled.
constexpr uint64_t kTailCopyQueueBlocks = 256;
constexpr uint64_t kTailCopyFloorBlocks = 64;
constexpr uint64_t kTailCopyShareDiv = 20;

class SendTransfer {
 public:
  // Checks every file (stat: a regular file of the expected size) without
  // keeping it open; files are opened on first use (AcquireFd). Errors name the file.
  static std::unique_ptr<SendTransfer> Open(std::shared_ptr<Session> session,
                                            uint32_t transfer_id, const SendSpec& spec,
                                            uint64_t now_ns, Status* status);
  ~SendTransfer();
  SendTransfer(const SendTransfer&) = delete;
  SendTransfer& operator=(const SendTransfer&) = delete;

  const std::shared_ptr<Session>& session() const { return session_; }
  uint32_t session_index() const { return session_->local_index(); }
  uint32_t transfer_id() const { return transfer_id_; }
  uint32_t block_size() const { return block_size_; }
  size_t file_count() const { return files_.size(); }
  // TX thread only: an fd of `file` open O_RDONLY, valid until the next
  // AcquireFd call. Opens the file if it is not cached (closing the least
  // recently used one at the cap or when the process budget is spent) and then
  // re-checks that it is a regular file of the expected size. Errors name the file.
  Status AcquireFd(uint32_t file, int* fd);
  size_t open_fd_count() const { return fd_lru_.size(); }  // TX thread (tests)
  uint64_t file_size(uint32_t file) const { return files_[file].size; }
  const std::string& file_path(uint32_t file) const { return files_[file].path; }

  // The next batch: the oldest NACKed range first, else the next first-pass
  // blocks. At most max_blocks blocks, all full-size except possibly the last
  // (so the batch can go out as one GSO send). False if nothing to send.
  bool PlanBatch(size_t max_blocks, BlockBatch* batch);
  // The first `sent` blocks of a planned batch went out (sent <= batch.count);
  // the rest will be planned again. datagram_bytes is their UDP payload total;
  // stamp_us the send time their send_stamp carries (monotonic µs).
  void CommitBatch(const BlockBatch& batch, uint32_t sent, uint64_t datagram_bytes,
                   uint64_t stamp_us);

  // Current first-pass position (for a POSITION frame).
  PositionFrame Position() const;

  // Applies one FEEDBACK (RX thread). Ranges naming unknown files or blocks the
  // first pass has not reached are ignored (counted in ignored_ranges()).
  // Returns true the first time the receiver reports complete.
  bool OnFeedback(const FeedbackFrameHeader& header, const NackRange* ranges, size_t n,
                  uint64_t now_ns);

  // Pacing: the TX thread consumes tokens before each batch.
  Pacer& pacer() { return pacer_; }
  uint64_t rate_bps() const;
  SendStats Stats() const;
  bool receiver_complete() const;
  bool first_pass_done() const;
  bool has_pending_work() const;
  uint64_t ignored_ranges() const;

  // TX-thread bookkeeping for POSITION frames and failure.
  uint64_t next_position_ns = 0;
  bool position_done_sent = false;  // a POSITION with the done flag went out
  bool failed = false;              // a read or send error stopped this transfer
  uint64_t send_error_since_ns = 0; // first of an unbroken run of hard send errors (0 = none)

 private:
  struct SourceFile {
    std::string path;
    int fd = -1;             // -1 = not open; TX thread only
    uint64_t size = 0;
    uint64_t blocks = 0;
  };
  using RangeKey = std::pair<uint32_t, uint64_t>;  // (file, first_block)

  SendTransfer(std::shared_ptr<Session> session, uint32_t transfer_id, uint32_t block_size,
               const RateConfig& rate, uint64_t now_ns);
  void AdvanceCursorPastEmptyFiles();  // requires mu_
  bool Sent(uint32_t file, uint64_t block) const;  // first pass has passed it; requires mu_
  using RangeMap = std::map<RangeKey, uint64_t>;  // (file, first block) -> end block, merged
  static void AddRange(RangeMap& m, uint32_t file, uint64_t first, uint64_t end);
  static void RemoveRange(RangeMap& m, uint32_t file, uint64_t first, uint64_t end);
  // Blocks in m, counted up to cap + 1 (enough to tell "more than cap").
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
  FdLru fd_lru_;  // files_ with fd >= 0 (fd_cache.h); TX thread

  mutable std::mutex mu_;
  // First-pass cursor: next block to send for the first time. Guarded by mu_.
  uint32_t cursor_file_ = 0;
  uint64_t cursor_block_ = 0;
  bool first_pass_done_ = false;
  RangeMap pending_;                      // NACKed ranges; guarded by mu_
  RangeMap tail_copies_;                  // repairs whose second copy is due; guarded by mu_
  std::map<RangeKey, uint64_t> held_;     // resume: held ranges -> end block (merged); set at Open
  RateController rate_;                    // guarded by mu_
  PathSampler path_;                       // guarded by mu_
  Pacer pacer_;                            // TX thread only (rate set under mu_ by TX thread)
  uint64_t last_feedback_seq_ = 0;
  bool have_feedback_ = false;
  uint64_t ignored_ranges_ = 0;
  SendStats stats_;
};

}  // namespace jetrecv::core
