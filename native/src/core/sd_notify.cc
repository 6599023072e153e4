// sd_notify.cc — the sd_notify(3) datagram protocol, without libsystemd.
#include "core/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace jetrecv::core {

Status SdNotify(const std::string& message, bool* sent) {
  *sent = false;
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return Status::Ok();
  const size_t path_len = std::strlen(path);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof(addr.sun_path)) {
    return Status::Error(EINVAL, std::string("NOTIFY_SOCKET is not a usable socket path: '") + path + "'");
  }
  std::memcpy(addr.sun_path, path, path_len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_len);

  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(errno, std::string("socket(AF_UNIX): ") + std::strerror(errno));
  ssize_t n = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                       addr_len);
  int err = errno;
  ::close(fd);
  if (n < 0) {
    return Status::Error(err, std::string("sendto(NOTIFY_SOCKET ") + path + "): " + std::strerror(err));
  }
  *sent = true;
  return Status::Ok();
}

}  // namespace jetrecv::core
