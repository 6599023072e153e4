// udp_socket.h — one non-blocking UDP socket with the Linux fast paths:
// batched receive (recvmmsg + UDP_GRO, split back into datagrams), batched send
// (UDP_SEGMENT GSO, falling back to sendmmsg), big buffers and SO_RXQ_OVFL.
// Thread-safety: RecvBatch from one thread at a time; sends from any thread.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/counters.h"
#include "core/limits.h"
#include "core/status.h"

namespace jetrecv::core {

// Parses a numeric IPv4/IPv6 address ("127.0.0.1", "::1") and port into out.
// EINVAL with a message naming the address if it is not numeric.
Status ParseSocketAddress(const std::string& address, uint16_t port, sockaddr_storage* out,
                          socklen_t* out_len);
// Numeric host and port of a sockaddr (inverse of ParseSocketAddress).
std::string AddressToString(const sockaddr_storage& addr);
uint16_t AddressPort(const sockaddr_storage& addr);
// MTU of the route this host would use towards a numeric address (IP_MTU /
// IPV6_MTU of a scratch UDP socket connected there; nothing is sent). Only the
// local hop is known: a smaller MTU further along the path is not seen.
Status RouteMtu(const std::string& address, uint16_t port, int* mtu);

// One received datagram inside a RecvBatchBuffers slot.
struct RecvDatagram {
  uint8_t* data;
  size_t len;
  const sockaddr_storage* from;
  socklen_t from_len;
};

// Receive buffers for one thread: kRecvBatchSlots slots of kRecvSlotBytes.
class RecvBatchBuffers {
 public:
  explicit RecvBatchBuffers(size_t slots = kRecvBatchSlots);

  std::vector<RecvDatagram> datagrams;  // filled by RecvBatch
  uint64_t gro_batches = 0;             // slots of the last batch that held >1 datagram
  uint64_t overflow_drops = 0;          // new SO_RXQ_OVFL drops seen in the last batch
  // The last batch found the queue empty (fewer datagrams than slots, or none):
  // every datagram queued before the call is in this batch.
  bool drained = false;

 private:
  friend class UdpSocket;
  size_t slots_;
  std::vector<uint8_t> storage_;
  std::vector<sockaddr_storage> addrs_;
  std::vector<std::array<uint8_t, 128>> control_;
  std::vector<mmsghdr> msgs_;  // prebuilt; RecvBatch resets the in/out lengths
  std::vector<iovec> iovs_;
};

class UdpSocket {
 public:
  UdpSocket() = default;
  ~UdpSocket();
  UdpSocket(UdpSocket&& other) noexcept;
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  // Opens, configures and binds a socket on addr:port (port 0 = ephemeral).
  // Buffers: SO_RCVBUFFORCE / SO_SNDBUFFORCE first, then SO_RCVBUF / SO_SNDBUF
  // (clamped by net.core.[rw]mem_max); 0 leaves the kernel default.
  static Status Open(const std::string& addr, uint16_t port, bool reuseport, int rcvbuf, int sndbuf,
                     UdpSocket* out);

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  uint16_t local_port() const { return local_port_; }
  int family() const { return family_; }
  int granted_rcvbuf() const { return granted_rcvbuf_; }  // as getsockopt reports it
  int granted_sndbuf() const { return granted_sndbuf_; }
  bool gro_ok() const { return gro_ok_; }
  bool gso_ok() const { return gso_ok_.load(std::memory_order_relaxed); }
  void Close();

  // Sends total_len bytes of buf as datagrams of segment_len (the last may be
  // shorter). One sendmsg + UDP_SEGMENT per <= kMaxGsoSegments segments when GSO
  // works, else sendmmsg; EIO from GSO disables GSO for this socket and retries.
  // Returns datagrams sent (possibly fewer than asked: the socket buffer filled,
  // caller resends the rest later) or -errno.
  // If counters is given, the call adds tx_datagrams, tx_bytes, tx_syscalls,
  // tx_gso_batches, tx_would_block and tx_errors to it (callers count nothing).
  int SendSegments(const sockaddr_storage& dst, socklen_t dlen, const uint8_t* buf, size_t total_len,
                   size_t segment_len, CounterBlock* counters = nullptr);
  // Sends one datagram. Returns 1, 0 (EAGAIN/ENOBUFS) or -errno. Counts as above.
  int SendTo(const sockaddr_storage& dst, socklen_t dlen, const uint8_t* buf, size_t len,
             CounterBlock* counters = nullptr);

  // Receives one batch into buffers.datagrams (cleared first): waits up to
  // timeout_ms (0 = don't wait, <0 = forever) for the socket or wake_fd (an
  // eventfd; -1 = none) to become readable. Returns the number of datagrams, 0 on
  // timeout or wake, or -errno. waiting (optional) is true exactly while the call
  // waits and has taken nothing off the queue: set before the wait, cleared before
  // the receive (endpoint_feedback.cc reads it to see an idle RX thread).
  int RecvBatch(RecvBatchBuffers& buffers, int timeout_ms, int wake_fd = -1,
                std::atomic<bool>* waiting = nullptr);
  // True if a datagram is queued (poll without waiting). Any thread.
  bool Readable() const;

  // How full the receive queue is, in 1/1000 of the receive buffer (0..1000),
  // from SO_MEMINFO (memory the queued datagrams hold against SO_RCVBUF).
  // 0 where the kernel does not report it. Any thread.
  uint32_t QueueFillPermille() const;

 private:
  int SendMmsg(const sockaddr_storage& dst, socklen_t dlen, const uint8_t* buf, size_t total_len,
               size_t segment_len, CounterBlock* counters);
  int SendGso(const sockaddr_storage& dst, socklen_t dlen, const uint8_t* buf, size_t total_len,
              size_t segment_len, CounterBlock* counters);

  int fd_ = -1;
  int family_ = AF_INET;
  uint16_t local_port_ = 0;
  int granted_rcvbuf_ = 0;
  int granted_sndbuf_ = 0;
  bool gro_ok_ = false;
  std::atomic<bool> gso_ok_{false};
  uint32_t last_ovfl_ = 0;  // last SO_RXQ_OVFL value (RX thread only)
};

}  // namespace jetrecv::core
