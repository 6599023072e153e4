// tx_engine.h — the sender's TX thread: paced batches of BLOCK packets (pread
// straight into the packet buffer, sealed in place, one GSO send per batch,
// batches spread round-robin over the lanes), retransmissions before new
// blocks, and POSITION frames on lane 0 until the receiver reports complete.
// Threads: one TX thread owned here; Start/Stop/Stats/OnFeedback from any thread.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/counters.h"
#include "core/event_queue.h"
#include "core/send_transfer.h"
#include "core/session.h"
#include "core/status.h"
#include "core/udp_socket.h"

namespace jetrecv::core {

// POSITION cadence: while the first pass runs, and once it is done (until the
// receiver reports complete).
constexpr uint64_t kPositionIntervalNs = 5'000'000;
constexpr uint64_t kDonePositionIntervalNs = 50'000'000;
// Longest single sleep of the TX thread, so new NACKs and Stop are seen soon.
constexpr uint64_t kTxMaxSleepNs = 1'000'000;
// Target duration of one batch at the current rate (bounds burst size).
constexpr uint64_t kTxBatchDurationNs = 2'000'000;
// A transfer whose sends keep failing with a hard error (not EAGAIN) this long fails.
inline constexpr uint64_t kSendErrorGiveUpNs = 5'000'000'000ull;

class TxEngine {
 public:
  // lanes: open sockets, lane i = lanes[i] (1..kMaxLanes, not owned, must outlive
  // the engine). max_datagram: UDP payload cap per datagram. counters: the TX
  // thread's block (not owned). events: where kReceiverComplete/kTransferError go.
  TxEngine(std::vector<UdpSocket*> lanes, size_t max_datagram, CounterBlock* counters,
           EventSink* events);
  ~TxEngine();  // Shutdown()
  TxEngine(const TxEngine&) = delete;
  TxEngine& operator=(const TxEngine&) = delete;

  // Starts sending. EINVAL: null session, bad block size (0, or block_size +
  // kBlockPacketOverhead > max_datagram), no lanes; EEXIST: (session,
  // transfer_id) already running; errno of open/fstat naming the file.
  Status Start(std::shared_ptr<Session> session, uint32_t transfer_id, const SendSpec& spec);

  // A FEEDBACK frame from session `session` (local index). Thread-safe; unknown
  // transfers are ignored (returns false).
  bool OnFeedback(uint32_t session, const FeedbackFrameHeader& header, const NackRange* ranges,
                  size_t n);

  std::optional<SendStats> Stats(uint32_t session, uint32_t transfer_id) const;
  // Stops and forgets one transfer / every transfer of a session. Idempotent.
  void Stop(uint32_t session, uint32_t transfer_id);
  void StopSession(uint32_t session);
  // Stops the TX thread and forgets every transfer. Idempotent.
  void Shutdown();

 private:
  using Key = std::pair<uint32_t, uint32_t>;  // (session local index, transfer id)

  void Run();
  // Sends at most one batch of t if its pacer allows; returns ns to wait (0 = sent).
  uint64_t ServiceTransfer(SendTransfer& t, uint64_t now_ns);
  void SendPosition(SendTransfer& t, uint64_t now_ns);
  bool SendBatch(SendTransfer& t, const BlockBatch& batch);
  // Marks t failed and queues its kTransferError (once; later calls do nothing).
  void FailTransfer(SendTransfer& t, uint32_t file, int err, const char* code, std::string message);

  std::vector<UdpSocket*> lanes_;
  const size_t max_datagram_;
  CounterBlock* const counters_;
  EventSink* const events_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<Key, std::shared_ptr<SendTransfer>> transfers_;  // guarded by mu_
  bool stopping_ = false;                                   // guarded by mu_
  std::thread thread_;

  // TX thread only.
  std::vector<uint8_t> batch_buf_;
  uint8_t position_buf_[kDataHeaderLen + kPositionFrameLen + kAeadTagLen];
  size_t next_lane_ = 0;
  size_t next_transfer_ = 0;
};

}  // namespace jetrecv::core
