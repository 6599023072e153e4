// early_blocks.cc — see early_blocks.h.
#include "core/early_blocks.h"

#include <algorithm>

namespace jetrecv::core {

EarlyBlockStore::HoldResult EarlyBlockStore::Hold(uint32_t session, const BlockFrameHeader& header,
                                                  const uint8_t* data, size_t len, uint64_t arrival_us) {
  const size_t cost = len + kEarlyBlockOverheadBytes;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session);
  if (it != sessions_.end() && it->second.any_used && header.transfer_id <= it->second.max_used_id) {
    return HoldResult::kUsedId;
  }
  const size_t session_bytes = it == sessions_.end() ? 0 : it->second.bytes;
  if (session_bytes + cost > limits_.session_bytes || total_bytes_ + cost > limits_.total_bytes) {
    return HoldResult::kOverCap;
  }
  SessionHeld& s = it == sessions_.end() ? sessions_[session] : it->second;
  Held& h = s.blocks.emplace_back();
  h.header = header;
  h.arrival_us = arrival_us;
  h.data.assign(data, data + len);
  s.bytes += cost;
  total_bytes_ += cost;
  ++total_blocks_;
  return HoldResult::kHeld;
}

size_t EarlyBlockStore::RemoveLocked(SessionHeld& s, uint32_t transfer_id, bool all_ids,
                                     std::vector<Held>* out) {
  size_t removed = 0;
  auto keep = s.blocks.begin();
  for (auto it = s.blocks.begin(); it != s.blocks.end(); ++it) {
    if (all_ids || it->header.transfer_id == transfer_id) {
      ReleaseLocked(s, *it);
      ++removed;
      if (out != nullptr) out->push_back(std::move(*it));
    } else {
      if (keep != it) *keep = std::move(*it);
      ++keep;
    }
  }
  s.blocks.erase(keep, s.blocks.end());
  return removed;
}

void EarlyBlockStore::ReleaseLocked(SessionHeld& s, const Held& h) {
  const size_t cost = Cost(h);
  s.bytes -= cost;
  total_bytes_ -= cost;
  --total_blocks_;
}

void EarlyBlockStore::MarkUsedLocked(SessionHeld& s, uint32_t transfer_id) {
  if (!s.any_used || transfer_id > s.max_used_id) s.max_used_id = transfer_id;
  s.any_used = true;
}

std::vector<EarlyBlockStore::Held> EarlyBlockStore::Take(uint32_t session, uint32_t transfer_id) {
  std::vector<Held> out;
  std::lock_guard lock(mu_);
  SessionHeld& s = sessions_[session];
  RemoveLocked(s, transfer_id, false, &out);
  MarkUsedLocked(s, transfer_id);
  return out;
}

size_t EarlyBlockStore::Discard(uint32_t session, uint32_t transfer_id) {
  std::lock_guard lock(mu_);
  SessionHeld& s = sessions_[session];
  const size_t removed = RemoveLocked(s, transfer_id, false, nullptr);
  MarkUsedLocked(s, transfer_id);
  return removed;
}

size_t EarlyBlockStore::DropSession(uint32_t session) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return 0;
  const size_t removed = RemoveLocked(it->second, 0, true, nullptr);
  sessions_.erase(it);
  return removed;
}

size_t EarlyBlockStore::Expire(uint64_t now_us) {
  std::lock_guard lock(mu_);
  if (total_blocks_ == 0 || now_us < limits_.ttl_us) return 0;
  const uint64_t cutoff = now_us - limits_.ttl_us;
  size_t removed = 0;
  for (auto& [index, s] : sessions_) {
    // Arrival order: the expired blocks are a prefix.
    auto end = std::find_if(s.blocks.begin(), s.blocks.end(),
                            [cutoff](const Held& h) { return h.arrival_us > cutoff; });
    for (auto it = s.blocks.begin(); it != end; ++it) {
      ReleaseLocked(s, *it);
      ++removed;
    }
    s.blocks.erase(s.blocks.begin(), end);
  }
  return removed;
}

size_t EarlyBlockStore::held_bytes() const {
  std::lock_guard lock(mu_);
  return total_bytes_;
}

size_t EarlyBlockStore::held_blocks() const {
  std::lock_guard lock(mu_);
  return total_blocks_;
}

}  // namespace jetrecv::core
