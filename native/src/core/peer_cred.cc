// peer_cred.cc — see peer_cred.h.
#include "core/peer_cred.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace jetrecv::core {

Status PeerCredentials(int fd, PeerCred* out) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    const int err = errno;
    return Status::Error(err, std::string("getsockopt(SO_PEERCRED): ") + std::strerror(err));
  }
  // A socket that is not a connected Unix socket reports pid 0 and the overflow ids.
  if (len != sizeof(cred) || cred.pid == 0) {
    return Status::Error(ENOTCONN, "getsockopt(SO_PEERCRED): not a connected Unix socket");
  }
  out->pid = cred.pid;
  out->uid = cred.uid;
  out->gid = cred.gid;
  return Status::Ok();
}

}  // namespace jetrecv::core
