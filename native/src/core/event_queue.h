// event_queue.h — the bounded queue of events for JS, and its doorbell.
// Producers (RX threads, transfer code) Push; a full queue drops the event and
// counts drop_event_queue_full, it never blocks on JS. Packet-driven events
// (kHandshake, kControl: anyone can send handshake packets) may fill only three
// quarters of the capacity; the last quarter is kept for transfer-state events
// (kFileDone, kTransferError, kReceiverComplete), so a flood cannot make a
// transfer lose the events that complete or fail it. The consumer (JS thread,
// via the binding) is woken by the doorbell and drains in batches.
#pragma once
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/counters.h"
#include "core/limits.h"

namespace jetrecv::core {

enum class EventType : uint8_t {
  kHandshake,         // addr + bytes (the raw handshake packet)
  kControl,           // session + bytes (CONTROL payload, frame header stripped)
  kFileDone,          // session, transfer, file
  kTransferError,     // session, transfer, file, err (errno or 0), code, message
  kReceiverComplete,  // session, transfer (sender role: FEEDBACK said complete)
};

struct Event {
  EventType type = EventType::kHandshake;
  uint32_t session = 0;
  uint32_t transfer = 0;
  uint32_t file = 0;
  int err = 0;
  std::string code;     // JETRECV_ERR_* for kTransferError
  std::string message;  // human-readable, for kTransferError
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::vector<uint8_t> bytes;
};

// Where producers put events. Push never blocks; false = dropped (and counted).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual bool Push(Event&& event) = 0;
};

class EventQueue : public EventSink {
 public:
  // counters may be null (tests); capacity is the bound on queued events.
  explicit EventQueue(CounterSet* counters, size_t capacity = kMaxQueuedEvents);

  // Set before any producer runs. Called (on the producer's thread, outside the
  // queue lock) when the queue goes from empty to non-empty, and by Drain when it
  // leaves events behind. The doorbell must be cheap and must not call back in.
  void SetDoorbell(std::function<void()> doorbell);

  // False (dropped, counted) when the queue holds LimitFor(event.type) events.
  bool Push(Event&& event) override;

  // Moves up to max events to the end of *out, oldest first; returns how many.
  size_t Drain(std::vector<Event>* out, size_t max);
  // Events dropped since the previous call (drives the JS 'overflow' event).
  uint64_t TakeDropped();
  size_t size() const;

 private:
  size_t LimitFor(EventType type) const;

  CounterSet* counters_;
  const size_t capacity_;
  std::function<void()> doorbell_;
  mutable std::mutex mu_;
  std::deque<Event> events_;  // guarded by mu_
  uint64_t dropped_ = 0;      // guarded by mu_
};

}  // namespace jetrecv::core
