// dest_claims.cc — see dest_claims.h.
#include "core/dest_claims.h"

#include <errno.h>

#include <mutex>
#include <unordered_map>

namespace jetrecv::core {
namespace {

// Longest part of a path quoted in a refusal (the reason must stay short).
constexpr size_t kMaxQuotedPath = 200;

std::mutex g_mu;
std::unordered_map<std::string, const void*> g_owner_of;              // key -> owner
std::unordered_map<const void*, std::vector<std::string>> g_keys_of;  // owner -> keys

std::string Key(const std::string& root, const std::string& path) { return root + '\0' + path; }

std::string Quote(const std::string& path) {
  if (path.size() <= kMaxQuotedPath) return path;
  return path.substr(0, kMaxQuotedPath / 2) + "..." + path.substr(path.size() - kMaxQuotedPath / 2);
}

}  // namespace

Status ClaimDestinations(const std::string& root, const std::vector<std::string>& paths, const void* owner) {
  std::lock_guard lock(g_mu);
  for (const std::string& p : paths) {
    auto it = g_owner_of.find(Key(root, p));
    if (it != g_owner_of.end() && it->second != owner) {
      return Status::Error(EBUSY, "destination " + Quote(p) + " is being received by another transfer",
                           kErrPathBusy, p);
    }
  }
  std::vector<std::string>& mine = g_keys_of[owner];
  for (const std::string& p : paths) {
    std::string key = Key(root, p);
    if (g_owner_of.emplace(key, owner).second) mine.push_back(std::move(key));
  }
  return Status::Ok();
}

void ReleaseDestinations(const void* owner) {
  std::lock_guard lock(g_mu);
  auto it = g_keys_of.find(owner);
  if (it == g_keys_of.end()) return;
  for (const std::string& key : it->second) g_owner_of.erase(key);
  g_keys_of.erase(it);
}

}  // namespace jetrecv::core
