// tx_engine.h — the sender's TX threads: paced batches of BLOCK packets (pread
// straight into the packet buffer, sealed in place, one GSO send per batch),
// retransmissions before new blocks, and POSITION frames on lane 0 until the
// receiver reports complete.
// Threads: 1..lanes TX threads owned here; thread i sends on lanes i, i+n,
// i+2n, ... (round-robin over its own lanes, so each lane's send counter is
// sealed and sent in order by one thread) and thread 0 also sends POSITION.
// Every thread serves every transfer: each batch is claimed from the transfer
// (SendTransfer::ClaimPacedBatch), so a block goes out once, by one thread, and
// the transfer's one pacer is the budget all threads share.
// Start/Stop/Stats/OnFeedback from any thread.
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
// A transfer whose sends keep failing with a hard error (not EAGAIN) this long fails.
inline constexpr uint64_t kSendErrorGiveUpNs = 5'000'000'000ull;

class TxEngine {
 public:
  // lanes: open sockets, lane i = lanes[i] (1..kMaxLanes, not owned, must outlive
  // the engine). max_datagram: UDP payload cap per datagram. counters: one block
  // per TX thread (not owned); their number is the thread count, cut to the lane
  // count (at least one block). events: where kReceiverComplete/kTransferError go.
  TxEngine(std::vector<UdpSocket*> lanes, size_t max_datagram, std::vector<CounterBlock*> counters,
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
  bool OnFeedback(uint32_t session, const FeedbackFrameHeader& header, const NackRange* ranges, size_t n);

  // The receiver accepted a transfer started with SendSpec::early_bytes
  // (SendTransfer::Accept). False if it is not running.
  bool Accept(uint32_t session, uint32_t transfer_id, const std::vector<HeldRange>& have);

  std::optional<SendStats> Stats(uint32_t session, uint32_t transfer_id) const;
  // Stops and forgets one transfer / every transfer of a session. Idempotent.
  void Stop(uint32_t session, uint32_t transfer_id);
  void StopSession(uint32_t session);
  // Stops the TX threads and forgets every transfer. Idempotent.
  void Shutdown();
  size_t thread_count() const { return workers_.size(); }

 private:
  using Key = std::pair<uint32_t, uint32_t>;  // (session local index, transfer id)

  // One TX thread and what only it touches.
  struct Worker {
    size_t index = 0;
    std::vector<size_t> lanes;  // indexes into lanes_ this thread sends on
    CounterBlock* counters = nullptr;
    std::vector<uint8_t> batch_buf;
    uint8_t position_buf[kDataHeaderLen + kPositionFrameLen + kAeadTagLen];
    size_t next_lane = 0;
    size_t next_transfer = 0;
    std::thread thread;
  };

  void Run(Worker& w);
  // Sends at most one batch of t if its pacer allows; returns ns to wait (0 = sent).
  uint64_t ServiceTransfer(Worker& w, SendTransfer& t, uint64_t now_ns);
  void SendPosition(Worker& w, SendTransfer& t);
  // Sends a claimed batch and commits it (also when nothing went out).
  bool SendBatch(Worker& w, SendTransfer& t, const BlockBatch& batch);
  // Marks t failed and queues its kTransferError (once; later calls do nothing).
  void FailTransfer(SendTransfer& t, uint32_t file, int err, const char* code, std::string message);

  std::vector<UdpSocket*> lanes_;
  const size_t max_datagram_;
  EventSink* const events_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<Key, std::shared_ptr<SendTransfer>> transfers_;  // guarded by mu_
  bool stopping_ = false;                                   // guarded by mu_
  std::vector<std::unique_ptr<Worker>> workers_;            // fixed after construction
};

}  // namespace jetrecv::core
