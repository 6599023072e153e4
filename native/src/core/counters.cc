// counters.cc — counter names and the CounterSet registry.
#include "core/counters.h"

#include <algorithm>

namespace jetrecv::core {
namespace {

constexpr const char* kNames[] = {
#define X(name, description) #name,
#include "core/counters.def"
#undef X
};
constexpr const char* kDescriptions[] = {
#define X(name, description) description,
#include "core/counters.def"
#undef X
};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == kCounterCount);

}  // namespace

const char* CounterName(CounterId id) {
  size_t i = static_cast<size_t>(id);
  return i < kCounterCount ? kNames[i] : "unknown";
}

const char* CounterDescription(CounterId id) {
  size_t i = static_cast<size_t>(id);
  return i < kCounterCount ? kDescriptions[i] : "unknown";
}

CounterSet::CounterSet() {
  blocks_.push_back(std::make_unique<CounterBlock>());
  shared_ = blocks_.back().get();
}

CounterBlock& CounterSet::NewBlock() {
  std::lock_guard<std::mutex> lock(mu_);
  blocks_.push_back(std::make_unique<CounterBlock>());
  return *blocks_.back();
}

void CounterSet::Sum(uint64_t* out, size_t n) const {
  size_t count = std::min(n, kCounterCount);
  std::fill(out, out + count, 0);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& block : blocks_) {
    for (size_t i = 0; i < count; ++i) out[i] += block->Get(static_cast<CounterId>(i));
  }
}

uint64_t CounterSet::Get(CounterId id) const {
  uint64_t total = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& block : blocks_) total += block->Get(id);
  return total;
}

}  // namespace jetrecv::core
