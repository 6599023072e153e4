// reuseport_steering.h — which receiver socket (RX thread) a datagram goes to.
// Without it the kernel hashes the 4-tuple over the SO_REUSEPORT group, so two
// one-lane senders land on the same RX thread half the time. With it, a DATA
// datagram goes to socket (receiver_index + lane) mod N: sessions get
// consecutive local indexes, so successive sessions, and the lanes of one
// session, take the RX threads in turn. Other datagrams (handshake) go wherever
// the same bytes send them; any socket handles them.
#pragma once
#include <cstddef>

#include "core/status.h"

namespace jetrecv::core {

// Attaches the steering program (classic BPF, SO_ATTACH_REUSEPORT_CBPF) to the
// group of `fd`, whose `sockets` members were bound in order 0..sockets-1 (RX
// thread i reads member i). sockets must be 2..255. Errors carry the errno.
Status AttachLaneSteering(int fd, size_t sockets);

}  // namespace jetrecv::core
