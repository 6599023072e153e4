// udp_socket.cc — socket setup, recvmmsg + GRO splitting, GSO / sendmmsg sends.
#include "core/udp_socket.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

namespace jetrecv::core {
namespace {

Status ErrnoStatus(int err, const std::string& what) {
  return Status::Error(err, what + ": " + std::strerror(err));
}

bool IsWouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

void CountSend(CounterBlock* counters, int datagrams, size_t bytes, bool gso) {
  if (counters == nullptr) return;
  counters->Add(CounterId::ktx_syscalls);
  if (gso) counters->Add(CounterId::ktx_gso_batches);
  counters->Add(CounterId::ktx_datagrams, static_cast<uint64_t>(datagrams));
  counters->Add(CounterId::ktx_bytes, bytes);
}

void CountSendError(CounterBlock* counters, int err) {
  if (counters == nullptr) return;
  counters->Add(CounterId::ktx_syscalls);
  counters->Add(IsWouldBlock(err) ? CounterId::ktx_would_block : CounterId::ktx_errors);
}

// Sets a buffer size: the FORCE variant (needs CAP_NET_ADMIN, ignores
// [rw]mem_max) first, then the ordinary one. Returns what the kernel reports.
int SetBuffer(int fd, int force_opt, int opt, int bytes) {
  if (bytes > 0 && setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) != 0) {
    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
  }
  int granted = 0;
  socklen_t len = sizeof(granted);
  getsockopt(fd, SOL_SOCKET, opt, &granted, &len);
  return granted;
}

}  // namespace

Status ParseSocketAddress(const std::string& address, uint16_t port, sockaddr_storage* out,
                          socklen_t* out_len) {
  std::memset(out, 0, sizeof(*out));
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *out_len = sizeof(sockaddr_in);
    return Status::Ok();
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *out_len = sizeof(sockaddr_in6);
    return Status::Ok();
  }
  return Status::Error(EINVAL, "not a numeric IPv4 or IPv6 address: '" + address + "'");
}

std::string AddressToString(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, text, sizeof(text));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, text, sizeof(text));
  }
  return text;
}

uint16_t AddressPort(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  }
  return 0;
}

RecvBatchBuffers::RecvBatchBuffers(size_t slots)
    : slots_(slots),
      storage_(slots * kRecvSlotBytes),
      addrs_(slots),
      control_(slots),
      msgs_(slots),
      iovs_(slots) {
  datagrams.reserve(slots * kMaxGroSegments);
  for (size_t i = 0; i < slots; ++i) {
    iovs_[i] = {storage_.data() + i * kRecvSlotBytes, kRecvSlotBytes};
    msghdr& hdr = msgs_[i].msg_hdr;
    hdr = {};
    hdr.msg_name = &addrs_[i];
    hdr.msg_iov = &iovs_[i];
    hdr.msg_iovlen = 1;
    hdr.msg_control = control_[i].data();
  }
}

UdpSocket::~UdpSocket() { Close(); }

UdpSocket::UdpSocket(UdpSocket&& other) noexcept { *this = std::move(other); }

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    family_ = other.family_;
    local_port_ = other.local_port_;
    granted_rcvbuf_ = other.granted_rcvbuf_;
    granted_sndbuf_ = other.granted_sndbuf_;
    gro_ok_ = other.gro_ok_;
    gso_ok_.store(other.gso_ok_.load());
    last_ovfl_ = other.last_ovfl_;
  }
  return *this;
}

void UdpSocket::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status UdpSocket::Open(const std::string& addr, uint16_t port, bool reuseport, int rcvbuf, int sndbuf,
                       UdpSocket* out) {
  sockaddr_storage bind_addr;
  socklen_t bind_len;
  Status status = ParseSocketAddress(addr, port, &bind_addr, &bind_len);
  if (!status.ok()) return status;

  UdpSocket sock;
  sock.family_ = bind_addr.ss_family;
  sock.fd_ = ::socket(sock.family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sock.fd_ < 0) return ErrnoStatus(errno, "socket()");
  const int one = 1;
  if (reuseport && setsockopt(sock.fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    return ErrnoStatus(errno, "setsockopt(SO_REUSEPORT)");
  }
  if (sock.family_ == AF_INET6) {
    const int zero = 0;  // '::' also receives IPv4 (best effort; sysctl may forbid)
    setsockopt(sock.fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  }
  sock.granted_rcvbuf_ = SetBuffer(sock.fd_, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf);
  sock.granted_sndbuf_ = SetBuffer(sock.fd_, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf);
  sock.gro_ok_ = setsockopt(sock.fd_, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
  setsockopt(sock.fd_, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
  // Setting segment size 0 is a no-op that succeeds only where UDP GSO exists.
  const int no_segment = 0;
  sock.gso_ok_.store(setsockopt(sock.fd_, SOL_UDP, UDP_SEGMENT, &no_segment, sizeof(no_segment)) == 0);

  if (::bind(sock.fd_, reinterpret_cast<sockaddr*>(&bind_addr), bind_len) != 0) {
    int err = errno;
    return ErrnoStatus(err, "bind(" + addr + ":" + std::to_string(port) + ")");
  }
  sockaddr_storage local;
  socklen_t local_len = sizeof(local);
  if (getsockname(sock.fd_, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    return ErrnoStatus(errno, "getsockname()");
  }
  sock.local_port_ = AddressPort(local);
  *out = std::move(sock);
  return Status::Ok();
}

int UdpSocket::SendTo(const sockaddr_storage& dst, socklen_t dlen, const uint8_t* buf, size_t len,
                      CounterBlock* counters) {
  for (;;) {
    ssize_t n = ::sendto(fd_, buf, len, 0, reinterpret_cast<const sockaddr*>(&dst), dlen);
    if (n >= 0) {
      CountSend(counters, 1, len, false);
      return 1;
    }
    if (errno == EINTR) continue;
    int err = errno;
    CountSendError(counters, err);
    return IsWouldBlock(err) ? 0 : -err;
  }
}

Status RouteMtu(const std::string& address, uint16_t port, int* mtu) {
  *mtu = 0;
  sockaddr_storage dst{};
  socklen_t dlen = 0;
  Status st = ParseSocketAddress(address, port, &dst, &dlen);
  if (!st.ok()) return st;
  const int fd = ::socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(errno, std::string("socket: ") + std::strerror(errno), kErrIo);
  int value = 0;
  socklen_t len = sizeof(value);
  int err = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), dlen) != 0 ||
      ::getsockopt(fd, dst.ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
                   dst.ss_family == AF_INET6 ? IPV6_MTU : IP_MTU, &value, &len) != 0) {
    err = errno;
  }
  ::close(fd);
  if (err != 0) {
    return Status::Error(err, "no route MTU towards " + address + ": " + std::strerror(err), kErrIo);
  }
  *mtu = value;
  return Status::Ok();
}

int UdpSocket::SendSegments(const sockaddr_storage& dst, socklen_t dlen, const uint8_t* buf, size_t total_len,
                            size_t segment_len, CounterBlock* counters) {
  if (segment_len == 0 || total_len == 0) return 0;
  if (gso_ok() && total_len > segment_len) {
    return SendGso(dst, dlen, buf, total_len, segment_len, counters);
  }
  return SendMmsg(dst, dlen, buf, total_len, segment_len, counters);
}

int UdpSocket::SendGso(const sockaddr_storage& dst, socklen_t dlen, const uint8_t* buf, size_t total_len,
                       size_t segment_len, CounterBlock* counters) {
  const size_t per_call =
      std::max<size_t>(1, std::min(kMaxGsoSegments, kMaxGsoBytes / segment_len)) * segment_len;
  size_t offset = 0;
  int sent = 0;
  while (offset < total_len) {
    const size_t chunk = std::min(per_call, total_len - offset);
    const int segments = static_cast<int>((chunk + segment_len - 1) / segment_len);
    iovec iov{const_cast<uint8_t*>(buf + offset), chunk};
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr_storage*>(&dst);
    msg.msg_namelen = dlen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(uint16_t))] = {};
    if (segments > 1) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t gso_size = static_cast<uint16_t>(segment_len);
      std::memcpy(CMSG_DATA(cm), &gso_size, sizeof(gso_size));
    }
    ssize_t n = ::sendmsg(fd_, &msg, 0);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if ((err == EIO || err == EINVAL || err == EMSGSIZE) && segments > 1) {
        // EIO: the device cannot segment (no checksum offload). EMSGSIZE (EINVAL
        // on older kernels): a segment does not fit the route's MTU. Either way:
        // never try GSO again on this socket; plain datagrams still go
        // (fragmented by the kernel when too big for the route).
        gso_ok_.store(false, std::memory_order_relaxed);
        CountSendError(counters, err);
        int more = SendMmsg(dst, dlen, buf + offset, total_len - offset, segment_len, counters);
        return more < 0 ? (sent > 0 ? sent : more) : sent + more;
      }
      CountSendError(counters, err);
      if (IsWouldBlock(err)) return sent;
      return sent > 0 ? sent : -err;
    }
    CountSend(counters, segments, chunk, segments > 1);
    sent += segments;
    offset += chunk;
  }
  return sent;
}

int UdpSocket::SendMmsg(const sockaddr_storage& dst, socklen_t dlen, const uint8_t* buf, size_t total_len,
                        size_t segment_len, CounterBlock* counters) {
  mmsghdr msgs[kSendmmsgBatch];
  iovec iovs[kSendmmsgBatch];
  size_t offset = 0;
  int sent = 0;
  while (offset < total_len) {
    unsigned count = 0;
    size_t batch_offset = offset;
    while (count < kSendmmsgBatch && batch_offset < total_len) {
      size_t len = std::min(segment_len, total_len - batch_offset);
      iovs[count] = {const_cast<uint8_t*>(buf + batch_offset), len};
      msgs[count] = {};
      msgs[count].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&dst);
      msgs[count].msg_hdr.msg_namelen = dlen;
      msgs[count].msg_hdr.msg_iov = &iovs[count];
      msgs[count].msg_hdr.msg_iovlen = 1;
      batch_offset += len;
      ++count;
    }
    int n = ::sendmmsg(fd_, msgs, count, 0);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue;
      CountSendError(counters, err);
      if (IsWouldBlock(err)) return sent;
      return sent > 0 ? sent : -err;
    }
    size_t bytes = 0;
    for (int i = 0; i < n; ++i) bytes += iovs[i].iov_len;
    CountSend(counters, n, bytes, false);
    sent += n;
    offset += bytes;
    if (static_cast<unsigned>(n) < count) return sent;  // buffer filled mid-batch
  }
  return sent;
}

uint32_t UdpSocket::QueueFillPermille() const {
  // SK_MEMINFO_RMEM_ALLOC = 0, SK_MEMINFO_RCVBUF = 1 (linux/sock_diag.h).
  uint32_t info[16] = {};
  socklen_t len = sizeof(info);
  if (fd_ < 0 || getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, info, &len) != 0 || len < 2 * sizeof(uint32_t) ||
      info[1] == 0) {
    return 0;
  }
  return static_cast<uint32_t>(std::min<uint64_t>(1000, uint64_t{info[0]} * 1000 / info[1]));
}

bool UdpSocket::Readable() const {
  pollfd fd{fd_, POLLIN, 0};
  return ::poll(&fd, 1, 0) > 0 && (fd.revents & (POLLIN | POLLERR)) != 0;
}

int UdpSocket::RecvBatch(RecvBatchBuffers& buffers, int timeout_ms, int wake_fd, std::atomic<bool>* waiting) {
  buffers.datagrams.clear();
  buffers.gro_batches = 0;
  buffers.overflow_drops = 0;
  buffers.drained = false;
  if (timeout_ms != 0) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int nfds = wake_fd >= 0 ? 2 : 1;
    if (waiting != nullptr) waiting->store(true);
    int r = ::poll(fds, nfds, timeout_ms);
    if (waiting != nullptr) waiting->store(false);
    if (r < 0) return errno == EINTR ? 0 : -errno;
    if ((fds[0].revents & (POLLIN | POLLERR)) == 0) {
      buffers.drained = true;  // empty at the timeout or wake
      return 0;
    }
  }
  const size_t slots = buffers.slots_;
  std::vector<mmsghdr>& msgs = buffers.msgs_;
  std::vector<iovec>& iovs = buffers.iovs_;
  for (size_t i = 0; i < slots; ++i) {
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    msgs[i].msg_hdr.msg_controllen = buffers.control_[i].size();
    msgs[i].msg_hdr.msg_flags = 0;
  }
  int n;
  do {
    n = ::recvmmsg(fd_, msgs.data(), static_cast<unsigned>(slots), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    buffers.drained = true;
    return 0;
  }
  buffers.drained = static_cast<size_t>(n) < slots;

  for (int i = 0; i < n; ++i) {
    msghdr& hdr = msgs[i].msg_hdr;
    size_t segment = 0;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&hdr); cm != nullptr; cm = CMSG_NXTHDR(&hdr, cm)) {
      if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
        int gso_size = 0;
        std::memcpy(&gso_size, CMSG_DATA(cm), sizeof(gso_size));
        if (gso_size > 0) segment = static_cast<size_t>(gso_size);
      } else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL) {
        uint32_t drops = 0;
        std::memcpy(&drops, CMSG_DATA(cm), sizeof(drops));
        buffers.overflow_drops += static_cast<uint32_t>(drops - last_ovfl_);  // wraps mod 2^32
        last_ovfl_ = drops;
      }
    }
    uint8_t* data = static_cast<uint8_t*>(iovs[i].iov_base);
    size_t len = msgs[i].msg_len;
    if (segment == 0 || segment >= len) {
      buffers.datagrams.push_back({data, len, &buffers.addrs_[i], hdr.msg_namelen});
      continue;
    }
    ++buffers.gro_batches;
    for (size_t off = 0; off < len; off += segment) {
      buffers.datagrams.push_back(
          {data + off, std::min(segment, len - off), &buffers.addrs_[i], hdr.msg_namelen});
    }
  }
  return static_cast<int>(buffers.datagrams.size());
}

}  // namespace jetrecv::core
