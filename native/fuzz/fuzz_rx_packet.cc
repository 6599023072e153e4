// fuzz_rx_packet.cc — fuzz target for the receiver's whole RX path: datagram
// demultiplexing, the DATA header, session lookup, AEAD open, replay windows,
// frame decoding and dispatch, and BLOCK writes to a real sandbox on disk
// (Endpoint::InjectDatagramsForTesting runs a batch exactly as an RX thread does).
// A real receiver Endpoint (port 0 on 127.0.0.1, its RX thread running FEEDBACK
// every 1 ms alongside) gets a fresh session (index 7) and transfer per input.
//
// Input: byte 0 picks the transfer spec; then records, each an op byte and its
// fields (short input reads as zeros):
//   op%8 = 0 RAW       u16 len, bytes: the datagram as is
//          1 FRAME     u8 lane, u16 len, bytes: a plaintext frame, sealed by the peer
//          2 BLOCK     u8 file, u16 block, u8 mode: a BLOCK frame of pattern data,
//                      mode bits mutate length/offset/transfer id/lane; sealed
//          3 POSITION  u8 file, u16 next_block, u8 flags; sealed
//          4 CONTROL   u16 len, bytes: a CONTROL frame; sealed
//          5 REPLAY    u8 k: the k-th latest sealed packet again
//          6 CORRUPT   u8 k, u16 at, u8 xor: a copy of a sealed packet with a flipped byte
//          7 COMMAND   u8 sub: 0 flush the batch now; 1 u8 lane u64 counter: next
//                      seal counter; 2 close the transfer; 3 remove and re-add the session
// Datagrams are injected in batches of up to 32 (kRecvBatchSlots).
//
// Checks after every input: every datagram was counted exactly once, either as
// a drop by reason or as accepted (handshake_packets, control_recv,
// position_recv, blocks_written); events are well-formed; after closing the
// transfer with removePartials no partial remains, and every file present is a
// finalized file of the manifest with exactly its manifest size.
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "fuzz_util.h"

using namespace jetrecv::core;
using jetrecv::fuzz::Reader;
using jetrecv::fuzz::Writer;

namespace {

constexpr uint32_t kLocalIndex = 7;
constexpr uint32_t kPeerIndex = 99;
constexpr uint32_t kTransferId = 5;
constexpr size_t kBatch = kRecvBatchSlots;

struct Harness {
  std::string root;
  std::unique_ptr<Endpoint> endpoint;
  UdpSocket discard;  // the session's peer address: gets FEEDBACK, never read
  SessionConfig endpoint_side, peer_side;
  sockaddr_storage from{};
  socklen_t from_len = 0;
};
Harness* g = nullptr;

void Cleanup() {
  if (!g) return;
  g->endpoint.reset();
  jetrecv::fuzz::RemoveTree(g->root, true);
}

void InitOnce() {
  if (g) return;
  g = new Harness;
  g->root = jetrecv::fuzz::MakeTempDir("rx");
  FUZZ_CHECK(UdpSocket::Open("127.0.0.1", 0, false, 1 << 16, 0, &g->discard).ok());
  EndpointOptions o;
  o.role = EndpointRole::kReceiver;
  o.bind_address = "127.0.0.1";
  o.sockets = 1;
  o.rcvbuf_bytes = 1 << 20;
  o.sndbuf_bytes = 1 << 20;
  o.feedback_interval_ms = 1;
  Status st;
  g->endpoint = Endpoint::Open(o, &st);
  if (!g->endpoint) std::fprintf(stderr, "Endpoint::Open: %s\n", st.message.c_str());
  FUZZ_CHECK(g->endpoint != nullptr);
  auto& e = g->endpoint_side;
  auto& p = g->peer_side;
  e.local_index = kLocalIndex;
  e.remote_index = kPeerIndex;
  p.local_index = kPeerIndex;
  p.remote_index = kLocalIndex;
  e.cipher = p.cipher = Cipher::kChaCha20Poly1305;
  for (size_t i = 0; i < kAeadKeyLen; ++i) {
    e.send_key[i] = p.recv_key[i] = static_cast<uint8_t>(3 * i);
    e.recv_key[i] = p.send_key[i] = static_cast<uint8_t>(5 * i + 1);
  }
  FUZZ_CHECK(ParseSocketAddress("127.0.0.1", g->discard.local_port(), &e.peer, &e.peer_len).ok());
  FUZZ_CHECK(ParseSocketAddress("127.0.0.1", g->endpoint->local_port(), &p.peer, &p.peer_len).ok());
  FUZZ_CHECK(ParseSocketAddress("127.0.0.1", 40000, &g->from, &g->from_len).ok());
  std::atexit(Cleanup);
}

struct Spec {
  ReceiveSpec spec;
  bool open = true;
};

Spec MakeSpec(uint8_t b) {
  static const uint32_t kBlockSizes[] = {1, 16, 100, 1416};
  static const char* kPaths[] = {"a", "d/b", "d/e/c", "f"};
  Spec s;
  s.spec.root = g->root;
  const uint32_t bs = kBlockSizes[b & 3];
  s.spec.block_size = bs;
  const size_t n = 1 + ((b >> 2) & 3);
  const uint64_t sizes[] = {2ull * bs + 1, 0, bs, 3ull * bs};
  for (size_t i = 0; i < n; ++i) {
    s.spec.files.push_back({kPaths[i], sizes[i], 0640, 1'600'000'000'000 + int64_t(i)});
  }
  if (b & 0x10) s.spec.empty_dirs.push_back("empty");
  s.open = (b & 0x20) == 0;
  return s;
}

uint64_t BlockLen(uint64_t size, uint32_t bs, uint64_t block) {
  const uint64_t off = block * bs;
  return off >= size ? 0 : std::min<uint64_t>(bs, size - off);
}

// Counters whose sum must equal rx_datagrams: one outcome per datagram.
uint64_t Outcomes(const std::array<uint64_t, kCounterCount>& c) {
  static const CounterId kIds[] = {CounterId::kdrop_short,           CounterId::kdrop_bad_type,
                                   CounterId::kdrop_bad_length,      CounterId::kdrop_unknown_session,
                                   CounterId::kdrop_bad_tag,         CounterId::kdrop_replay,
                                   CounterId::kdrop_bad_frame,       CounterId::kdrop_unknown_transfer,
                                   CounterId::kdrop_bad_block,       CounterId::kdrop_duplicate_block,
                                   CounterId::kdrop_transfer_failed, CounterId::kdrop_event_queue_full,
                                   CounterId::kdrop_handshake_rate,  CounterId::kdrop_handshake_source_rate,
                                   CounterId::kdrop_handshake_mac1,  CounterId::khandshake_packets,
                                   CounterId::kcontrol_recv,         CounterId::kposition_recv,
                                   CounterId::kblocks_written};
  uint64_t sum = 0;
  for (CounterId id : kIds) sum += c[static_cast<size_t>(id)];
  return sum;
}

std::array<uint64_t, kCounterCount> ReadCounters() {
  std::array<uint64_t, kCounterCount> c{};
  g->endpoint->ReadCounters(c.data(), c.size());
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InitOnce();
  Endpoint& ep = *g->endpoint;
  Reader in(data, size);
  Spec spec = MakeSpec(in.U8());
  // Each input's transfer owns its partials, as every transfer of a real receiver does: a
  // removal queued by the previous input's close never touches this input's partials.
  static uint64_t inputs = 0;
  char tag[17];
  std::snprintf(tag, sizeof tag, "%016llx", static_cast<unsigned long long>(++inputs));
  spec.spec.partial_tag = tag;
  FUZZ_CHECK(ep.AddSession(g->endpoint_side).ok());
  Status st;
  std::shared_ptr<Session> peer = Session::Create(g->peer_side, &st);
  FUZZ_CHECK(peer != nullptr);
  bool transfer_open = false;
  if (spec.open) {
    st = ep.OpenReceiveTransfer(kLocalIndex, kTransferId, spec.spec);
    if (!st.ok()) std::fprintf(stderr, "OpenReceiveTransfer: %s\n", st.message.c_str());
    FUZZ_CHECK(st.ok());
    transfer_open = true;
  }
  const auto before = ReadCounters();
  const uint32_t bs = spec.spec.block_size;
  const size_t nfiles = spec.spec.files.size();

  std::deque<std::vector<uint8_t>> batch_storage;  // stable addresses while batched
  std::vector<RecvDatagram> batch;
  std::deque<std::vector<uint8_t>> sealed;  // latest sealed packets (pristine copies)
  uint64_t injected = 0;

  auto flush = [&] {
    if (batch.empty()) return;
    ep.InjectDatagramsForTesting(batch);
    injected += batch.size();
    batch.clear();
    batch_storage.clear();
  };
  auto push = [&](std::vector<uint8_t> d) {
    batch_storage.push_back(std::move(d));
    auto& b = batch_storage.back();
    batch.push_back({b.data(), b.size(), &g->from, g->from_len});
    if (batch.size() == kBatch) flush();
  };
  auto seal = [&](const std::vector<uint8_t>& frame, uint8_t lane) {
    std::vector<uint8_t> packet(kDataHeaderLen + frame.size() + kAeadTagLen);
    if (!frame.empty()) std::memcpy(packet.data() + kDataHeaderLen, frame.data(), frame.size());
    if (peer->SealInPlace(lane, packet.data(), frame.size()) != packet.size()) return;  // bad lane
    sealed.push_back(packet);
    if (sealed.size() > 16) sealed.pop_front();
    push(std::move(packet));
  };

  while (!in.empty()) {
    const uint8_t op = in.U8();
    switch (op % 8) {
      case 0: push(in.Bytes(in.U16() % 2048)); break;
      case 1: {
        const uint8_t lane = in.U8() % (kMaxLanes + 1);  // kMaxLanes itself is refused
        seal(in.Bytes(in.U16() % 2048), lane);
        break;
      }
      case 2: {
        const uint32_t file = in.U8();
        const uint64_t block = in.U16();
        const uint8_t mode = in.U8();
        BlockFrameHeader h{};
        h.type = static_cast<uint8_t>(FrameType::kBlock);
        h.transfer_id = (mode & 0x80) ? kTransferId + 1 : kTransferId;
        h.file_index = nfiles == 0 || (mode & 0x40) ? file : file % nfiles;
        h.offset = block * bs + ((mode & 0x20) ? 1 : 0);
        const uint64_t fsize = h.file_index < nfiles ? spec.spec.files[h.file_index].size : bs;
        uint64_t len = BlockLen(fsize, bs, block);
        if (mode & 0x10) len = (mode & 1) ? len + 1 : (len > 0 ? len - 1 : 0);
        if (len == 0) len = 1;
        std::vector<uint8_t> frame(kBlockFrameHeaderLen + len);
        StoreWire(frame.data(), h);
        for (uint64_t j = 0; j < len; ++j)
          frame[kBlockFrameHeaderLen + j] = static_cast<uint8_t>(h.offset + j + h.file_index * 31);
        seal(frame, (mode >> 2) & 3);
        break;
      }
      case 3: {
        PositionFrame p{};
        p.type = static_cast<uint8_t>(FrameType::kPosition);
        p.transfer_id = kTransferId;
        p.file_index = in.U8();
        p.next_block = in.U16();
        p.flags = in.U8();
        std::vector<uint8_t> frame(kPositionFrameLen);
        StoreWire(frame.data(), p);
        seal(frame, 0);
        break;
      }
      case 4: {
        const auto payload = in.Bytes(in.U16() % 1300);
        std::vector<uint8_t> frame(kControlFrameHeaderLen + payload.size());
        if (EncodeControlFrame(payload.data(), payload.size(), frame.data(), frame.size()) != 0)
          seal(frame, 0);
        break;
      }
      case 5: {
        const uint8_t k = in.U8();
        if (!sealed.empty()) push(sealed[sealed.size() - 1 - k % sealed.size()]);
        break;
      }
      case 6: {
        const uint8_t k = in.U8();
        const uint16_t at = in.U16();
        const uint8_t x = in.U8() | 1;
        if (!sealed.empty()) {
          std::vector<uint8_t> copy = sealed[sealed.size() - 1 - k % sealed.size()];
          copy[at % copy.size()] ^= x;
          push(std::move(copy));
        }
        break;
      }
      default: {
        const uint8_t sub = in.U8() % 4;
        if (sub == 0) {
          flush();
        } else if (sub == 1) {
          const uint8_t lane = in.U8() % kMaxLanes;
          peer->SetNextSendCounterForTesting(lane, in.U64());
        } else if (sub == 2) {
          flush();
          if (transfer_open) FUZZ_CHECK(ep.CloseReceiveTransfer(kLocalIndex, kTransferId, true).ok());
          transfer_open = false;
        } else {
          flush();
          FUZZ_CHECK(ep.RemoveSession(kLocalIndex).ok());
          transfer_open = false;  // RemoveSession closed it (partials kept)
          FUZZ_CHECK(ep.AddSession(g->endpoint_side).ok());
        }
        break;
      }
    }
  }
  flush();

  // Every datagram counted once: as a drop by reason, or accepted.
  const auto after = ReadCounters();
  const uint64_t datagrams =
      after[size_t(CounterId::krx_datagrams)] - before[size_t(CounterId::krx_datagrams)];
  FUZZ_CHECK(datagrams == injected);
  FUZZ_CHECK(Outcomes(after) - Outcomes(before) == injected);

  // Close first: files finalize on the endpoint's finalizer threads, and Close waits for
  // the running ones, so every event of this input is queued before the drain below.
  if (transfer_open) FUZZ_CHECK(ep.CloseReceiveTransfer(kLocalIndex, kTransferId, true).ok());
  FUZZ_CHECK(ep.RemoveSession(kLocalIndex).ok());

  // Events are well-formed.
  std::vector<Event> events;
  ep.DrainEvents(&events, SIZE_MAX);
  std::set<uint32_t> done;
  for (const Event& e : events) {
    switch (e.type) {
      case EventType::kHandshake:
        FUZZ_CHECK(!e.bytes.empty() && e.bytes.size() == HandshakePacketLen(e.bytes[0]));
        break;
      case EventType::kControl:
        FUZZ_CHECK(e.session == kLocalIndex && e.bytes.size() <= kMaxControlPayload);
        break;
      case EventType::kFileDone:
        FUZZ_CHECK(e.session == kLocalIndex && e.transfer == kTransferId && e.file < nfiles);
        FUZZ_CHECK(done.insert(e.file).second);  // at most once per file
        break;
      case EventType::kTransferError:
        std::fprintf(stderr, "unexpected transfer error: %s\n", e.message.c_str());
        FUZZ_CHECK(false);  // the sandbox is a healthy tmp dir
        break;
      default: FUZZ_CHECK(false);
    }
  }
  ep.TakeDroppedEvents();

  // What is left on disk: finalized files of the manifest with their exact size;
  // partials only when the session was removed mid-input (RemoveSession keeps them).
  for (size_t i = 0; i < nfiles; ++i) {
    struct stat sb;
    const std::string path = g->root + "/" + spec.spec.files[i].path;
    if (::stat(path.c_str(), &sb) == 0) {
      FUZZ_CHECK(S_ISREG(sb.st_mode));
      FUZZ_CHECK(static_cast<uint64_t>(sb.st_size) == spec.spec.files[i].size);
      FUZZ_CHECK((sb.st_mode & 0777) == 0640);
    }
  }
  jetrecv::fuzz::RemoveTree(g->root, false);
  return 0;
}

namespace jetrecv::fuzz {
void FuzzSeeds(std::vector<std::vector<uint8_t>>* out) {
  // Spec 0x05: block size 16, 2 files ("a" 33 bytes = 3 blocks, "d/b" empty).
  {  // A whole file in order, POSITION, then a replay and a corrupted copy.
    Writer w;
    w.U8(0x05);
    for (uint16_t b = 0; b < 3; ++b) w.U8(2).U8(0).U16(b).U8(0);
    w.U8(3).U8(2).U16(0).U8(1);
    w.U8(5).U8(0).U8(6).U8(1).U16(20).U8(0x10);
    out->push_back(w.bytes);
  }
  {  // Blocks with wrong length, offset, transfer, file; duplicates; lanes.
    Writer w;
    w.U8(0x0d);
    w.U8(2).U8(0).U16(0).U8(0x10).U8(2).U8(0).U16(0).U8(0x11).U8(2).U8(0).U16(1).U8(0x20);
    w.U8(2).U8(0).U16(1).U8(0x80).U8(2).U8(9).U16(0).U8(0x40).U8(2).U8(0).U16(0).U8(0x04);
    w.U8(2).U8(0).U16(0).U8(0x04).U8(2).U8(2).U16(0).U8(0x0c).U8(2).U8(0).U16(900).U8(0);
    out->push_back(w.bytes);
  }
  {  // Raw garbage of every packet type and length; handshake-sized packets.
    Writer w;
    w.U8(0x00);
    w.U8(0).U16(0).U8(0).U16(1).U8(0x03).U8(0).U16(33).Raw(std::vector<uint8_t>(33, 0x03));
    std::vector<uint8_t> init(kHandshakeInitLen, 0xAA);
    init[0] = 0x01;
    w.U8(0).U16(static_cast<uint16_t>(init.size())).Raw(init);
    std::vector<uint8_t> data(60, 0);
    data[0] = 0x03;
    data[4] = 7;  // known session index, bad tag
    w.U8(0).U16(60).Raw(data);
    data[4] = 8;  // unknown session
    w.U8(0).U16(60).Raw(data);
    w.U8(0).U16(3).U8(0x09).U8(1).U8(2);
    out->push_back(w.bytes);
  }
  {  // Control frames, sealed frames of every type byte, epoch jumps, counter reuse.
    Writer w;
    w.U8(0x01);
    w.U8(4).U16(5).Raw({1, 2, 3, 4, 5});
    w.U8(4).U16(0);
    for (uint8_t t = 0; t < 7; ++t) w.U8(1).U8(0).U16(24).Raw(std::vector<uint8_t>(24, t));
    w.U8(1).U8(16).U16(4).Raw({2, 0, 0, 0});  // lane 16: refused by the sealer
    w.U8(7).U8(1).U8(0).U64(1ull << 22).U8(2).U8(0).U16(0).U8(0);
    w.U8(7).U8(1).U8(0).U64(0).U8(2).U8(0).U16(1).U8(0);
    w.U8(7).U8(1).U8(3).U64(~0ull - 1).U8(2).U8(0).U16(2).U8(0x0c);
    out->push_back(w.bytes);
  }
  {  // Close the transfer, then remove the session, mid-stream.
    Writer w;
    w.U8(0x2c);
    w.U8(2).U8(0).U16(0).U8(0).U8(7).U8(2).U8(2).U8(0).U16(1).U8(0);
    w.U8(7).U8(3).U8(5).U8(0);
    out->push_back(w.bytes);
    Writer w2;
    w2.U8(0x0c);
    w2.U8(2).U8(0).U16(0).U8(0).U8(7).U8(3).U8(2).U8(0).U16(1).U8(0);
    out->push_back(w2.bytes);
  }
  {  // Block size 1416, four files, a full pass of every block.
    Writer w;
    w.U8(0x0f);
    for (uint8_t f = 0; f < 4; ++f)
      for (uint16_t b = 0; b < 3; ++b) w.U8(2).U8(f).U16(b).U8(0);
    w.U8(3).U8(4).U16(0).U8(1);
    out->push_back(w.bytes);
  }
}
}  // namespace jetrecv::fuzz
