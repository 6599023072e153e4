// event_queue.cc — bounded mutex-guarded deque; events are low-rate by design
// (nothing per data packet), so a short critical section is enough.
#include "core/event_queue.h"

#include <utility>

namespace jetrecv::core {

EventQueue::EventQueue(CounterSet* counters, size_t capacity) : counters_(counters), capacity_(capacity) {}

size_t EventQueue::LimitFor(EventType type) const {
  const bool packet_driven = type == EventType::kHandshake || type == EventType::kControl;
  return packet_driven ? capacity_ - capacity_ / 4 : capacity_;
}

void EventQueue::SetDoorbell(std::function<void()> doorbell) { doorbell_ = std::move(doorbell); }

bool EventQueue::Push(Event&& event) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (events_.size() >= LimitFor(event.type)) {
      ++dropped_;
      if (counters_ != nullptr) counters_->Add(CounterId::kdrop_event_queue_full);
      return false;
    }
    was_empty = events_.empty();
    events_.push_back(std::move(event));
  }
  if (was_empty && doorbell_) doorbell_();
  return true;
}

size_t EventQueue::Drain(std::vector<Event>* out, size_t max) {
  size_t moved = 0;
  bool left_behind;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (moved < max && !events_.empty()) {
      out->push_back(std::move(events_.front()));
      events_.pop_front();
      ++moved;
    }
    left_behind = !events_.empty();
  }
  if (left_behind && doorbell_) doorbell_();
  return moved;
}

uint64_t EventQueue::TakeDropped() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(dropped_, 0);
}

size_t EventQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

}  // namespace jetrecv::core
