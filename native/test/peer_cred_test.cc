// peer_cred_test.cc — SO_PEERCRED on a socketpair names this process; sockets that are not
// connected Unix sockets, and closed fds, are errors.
#include "core/peer_cred.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "test_util.h"

using namespace jetrecv::core;

int main() {
  int fds[2];
  CHECK(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  PeerCred cred;
  Status st = PeerCredentials(fds[0], &cred);
  CHECK(st.ok());
  CHECK_EQ(cred.pid, ::getpid());
  CHECK_EQ(cred.uid, ::getuid());
  CHECK_EQ(cred.gid, ::getgid());
  ::close(fds[0]);
  ::close(fds[1]);

  // A closed fd: EBADF.
  st = PeerCredentials(fds[0], &cred);
  CHECK(!st.ok());
  CHECK_EQ(st.err, EBADF);

  // An unconnected Unix socket: refused.
  int lone = ::socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(lone >= 0);
  st = PeerCredentials(lone, &cred);
  CHECK(!st.ok());
  ::close(lone);

  // A UDP socket: refused.
  int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
  CHECK(udp >= 0);
  st = PeerCredentials(udp, &cred);
  CHECK(!st.ok());
  ::close(udp);

  // Not a socket at all: ENOTSOCK.
  int pipe_fds[2];
  CHECK(::pipe(pipe_fds) == 0);
  st = PeerCredentials(pipe_fds[0], &cred);
  CHECK(!st.ok());
  CHECK_EQ(st.err, ENOTSOCK);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  return jetrecv::test::TestExitCode();
}
