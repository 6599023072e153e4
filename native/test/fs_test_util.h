// fs_test_util.h — file and event helpers shared by the ctest executables that
// exercise the disk side (receive transfers, resume, fd cache): a thread-safe
// collecting EventSink, whole-file read/exists checks, test content and packets.
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/event_queue.h"
#include "core/wire_format.h"

namespace jetrecv::test {

// Collects every event pushed to it; Take() hands them over and empties the list.
class FakeSink : public core::EventSink {
 public:
  bool Push(core::Event&& e) override {
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
    return true;
  }
  std::vector<core::Event> Take() {
    std::lock_guard lock(mu);
    std::vector<core::Event> out;
    out.swap(events);
    return out;
  }
  std::mutex mu;
  std::vector<core::Event> events;
};

// True if something (of any type, symlinks not followed) exists at p.
inline bool Exists(const std::string& p) {
  struct stat st {};
  return lstat(p.c_str(), &st) == 0;
}

// The whole file, or "<missing>" when it cannot be opened.
inline std::string ReadAll(const std::string& p) {
  std::string out;
  const int fd = open(p.c_str(), O_RDONLY);
  if (fd < 0) return "<missing>";
  char buf[65536];
  ssize_t r;
  while ((r = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(r));
  close(fd);
  return out;
}

// `size` deterministic pseudo-random bytes (the same seed gives the same bytes).
inline std::string Content(uint64_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// A BLOCK frame as the RX path hands it over: header copied out, data in place.
struct Packet {
  core::BlockFrameHeader header;
  const uint8_t* data;
  size_t len;
};

// The BLOCK frames of `content` as file `file` of transfer `transfer`, one per
// block_size bytes (the last may be short); data points into content.
inline std::vector<Packet> PacketsFor(uint32_t transfer, uint32_t file, const std::string& content,
                                      uint32_t block_size) {
  std::vector<Packet> out;
  for (uint64_t off = 0; off < content.size(); off += block_size) {
    Packet p{};
    p.header.type = static_cast<uint8_t>(core::FrameType::kBlock);
    p.header.transfer_id = transfer;
    p.header.file_index = file;
    p.header.offset = off;
    p.data = reinterpret_cast<const uint8_t*>(content.data()) + off;
    p.len = std::min<uint64_t>(block_size, content.size() - off);
    out.push_back(p);
  }
  return out;
}

}  // namespace jetrecv::test
