// peer_cred.h — who is at the other end of a connected Unix socket (SO_PEERCRED).
#pragma once
#include <sys/types.h>

#include "core/status.h"

namespace jetrecv::core {

// The peer's process id, user id and primary group id, as the kernel recorded them when the
// peer called connect() (or socketpair()); they do not change if the peer later changes its
// ids. Only for connected AF_UNIX sockets.
struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Reads the credentials of the peer of `fd` with getsockopt(SO_PEERCRED). Errors: EBADF
// (not an open fd), ENOTSOCK, ENOTCONN / EINVAL (not a connected Unix socket).
Status PeerCredentials(int fd, PeerCred* out);

}  // namespace jetrecv::core
