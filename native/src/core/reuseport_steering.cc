// reuseport_steering.cc — see reuseport_steering.h.
#include "core/reuseport_steering.h"

#include <errno.h>
#include <linux/filter.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "core/wire_format.h"

namespace jetrecv::core {

Status AttachLaneSteering(int fd, size_t sockets) {
  if (sockets < 2 || sockets > 255) {
    return Status::Error(EINVAL, "lane steering needs 2..255 sockets, not " + std::to_string(sockets));
  }
  // The program sees the UDP payload at offset 0 (the kernel pulls the UDP header).
  // receiver_index is little-endian on the wire: its low byte is at its offset.
  // A datagram too short for the loads returns 0: socket 0.
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, offsetof(DataHeader, receiver_index)),
      BPF_STMT(BPF_MISC | BPF_TAX, 0),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, offsetof(DataHeader, lane)),
      BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, static_cast<uint32_t>(sockets)),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  sock_fprog prog{};
  prog.len = sizeof(code) / sizeof(code[0]);
  prog.filter = code;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) != 0) {
    const int err = errno;
    return Status::Error(err, std::string("setsockopt(SO_ATTACH_REUSEPORT_CBPF): ") + std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace jetrecv::core
