// reuseport_steering_test.cc — AttachLaneSteering on a real SO_REUSEPORT group
// on loopback: DATA datagrams from ONE source socket (one 4-tuple, which the
// kernel's hash would put on one member) reach member (receiver_index + lane)
// mod N, for several sessions and lanes; a datagram too short for the program
// still arrives (member 0); bad socket counts are refused.
#include "core/reuseport_steering.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/udp_socket.h"
#include "core/wire_format.h"
#include "test_util.h"

using namespace jetrecv::core;

namespace {

// Index of the member that holds a datagram now, or -1 (waits up to 1 s).
int WhichMember(std::vector<UdpSocket>& group, std::vector<uint8_t>* got) {
  std::vector<pollfd> fds;
  for (auto& s : group) fds.push_back(pollfd{s.fd(), POLLIN, 0});
  if (poll(fds.data(), fds.size(), 1000) <= 0) return -1;
  for (size_t i = 0; i < fds.size(); ++i) {
    if ((fds[i].revents & POLLIN) == 0) continue;
    got->assign(2048, 0);
    const ssize_t n = recv(group[i].fd(), got->data(), got->size(), MSG_DONTWAIT);
    if (n < 0) return -1;
    got->resize(static_cast<size_t>(n));
    return static_cast<int>(i);
  }
  return -1;
}

void TestSteering() {
  constexpr size_t kMembers = 3;
  std::vector<UdpSocket> group(kMembers);
  uint16_t port = 0;
  for (size_t i = 0; i < kMembers; ++i) {
    REQUIRE(UdpSocket::Open("127.0.0.1", port, /*reuseport=*/true, 0, 0, &group[i]).ok());
    port = group[0].local_port();
  }
  const Status st = AttachLaneSteering(group[0].fd(), kMembers);
  CHECK(st.ok());

  const int tx = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(tx >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const uint32_t indexes[] = {1, 2, 3, 4, 0x0102, 0xfffffffe};
  for (uint32_t index : indexes) {
    for (uint8_t lane = 0; lane < 4; ++lane) {
      uint8_t packet[kDataHeaderLen + 32] = {};
      DataHeader h{};
      h.type = 0x03;
      h.lane = lane;
      h.receiver_index = index;
      std::memcpy(packet, &h, sizeof(h));
      REQUIRE(sendto(tx, packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
              static_cast<ssize_t>(sizeof(packet)));
      std::vector<uint8_t> got;
      const int member = WhichMember(group, &got);
      CHECK_EQ(member, static_cast<int>(((index & 0xff) + lane) % kMembers));
      CHECK_EQ(got.size(), sizeof(packet));
    }
  }
  // Too short for the loads: still delivered, to member 0.
  const uint8_t tiny[3] = {1, 2, 3};
  REQUIRE(sendto(tx, tiny, sizeof(tiny), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 3);
  std::vector<uint8_t> got;
  CHECK_EQ(WhichMember(group, &got), 0);
  close(tx);

  CHECK_EQ(AttachLaneSteering(group[0].fd(), 1).err, EINVAL);
  CHECK_EQ(AttachLaneSteering(group[0].fd(), 256).err, EINVAL);
}

}  // namespace

int main() {
  TestSteering();
  return jetrecv::test::TestExitCode();
}
