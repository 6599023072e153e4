// endpoint_test.cc — Endpoints on 127.0.0.1: handshake packets become events;
// garbage is counted under its drop reason and produces no event; CONTROL
// frames after AddSession arrive as events; BLOCK frames reach a receive
// transfer; a sender endpoint's TX engine delivers a whole file; RecvBatch
// reports a drained queue and its waiting flag (the NACK limit's RX-drain check).
#include "core/endpoint.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace jetrecv::core;

namespace {

bool WaitFor(const std::function<bool()>& done, int timeout_ms = 3000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

uint64_t Counter(Endpoint& e, CounterId id) { return e.counters().Get(id); }

std::unique_ptr<Endpoint> OpenEndpoint(EndpointRole role, int sockets = 1, EarlyBlockLimits early = {}) {
  EndpointOptions o;
  o.early_blocks = early;
  o.role = role;
  o.bind_address = "127.0.0.1";
  o.sockets = sockets;
  o.rcvbuf_bytes = 1 << 20;
  o.sndbuf_bytes = 1 << 20;
  o.feedback_interval_ms = 10;
  Status st;
  auto e = Endpoint::Open(o, &st);
  if (!e) std::printf("Endpoint::Open failed: %s\n", st.message.c_str());
  REQUIRE(e != nullptr);
  return e;
}

sockaddr_storage Loopback(uint16_t port, socklen_t* len) {
  sockaddr_storage addr;
  REQUIRE(ParseSocketAddress("127.0.0.1", port, &addr, len).ok());
  return addr;
}

// A client socket plus a Session that speaks to `local_index` on the endpoint.
struct Peer {
  UdpSocket sock;
  std::shared_ptr<Session> session;
  sockaddr_storage dst;
  socklen_t dst_len;

  void Send(const std::vector<uint8_t>& datagram) {
    CHECK_EQ(sock.SendTo(dst, dst_len, datagram.data(), datagram.size()), 1);
  }
  std::vector<uint8_t> Seal(const std::vector<uint8_t>& frame, uint8_t lane = 0) {
    std::vector<uint8_t> packet(kDataHeaderLen + frame.size() + kAeadTagLen);
    std::memcpy(packet.data() + kDataHeaderLen, frame.data(), frame.size());
    REQUIRE(session->SealInPlace(lane, packet.data(), frame.size()) == packet.size());
    return packet;
  }
};

// Session configs for the endpoint side (local 7) and the test peer (local 99).
// key_salt varies the keys (a peer with other keys fails the tag check).
void MakeConfigs(uint16_t peer_port, uint16_t endpoint_port, SessionConfig* endpoint_side,
                 SessionConfig* peer_side, uint8_t key_salt = 0) {
  endpoint_side->local_index = 7;
  endpoint_side->remote_index = 99;
  peer_side->local_index = 99;
  peer_side->remote_index = 7;
  for (size_t i = 0; i < kAeadKeyLen; ++i) {
    endpoint_side->send_key[i] = peer_side->recv_key[i] = static_cast<uint8_t>(3 * i + key_salt);
    endpoint_side->recv_key[i] = peer_side->send_key[i] = static_cast<uint8_t>(5 * i + 1 + key_salt);
  }
  endpoint_side->peer = Loopback(peer_port, &endpoint_side->peer_len);
  peer_side->peer = Loopback(endpoint_port, &peer_side->peer_len);
}

Peer MakePeer(Endpoint& endpoint, bool add_session = true, uint8_t key_salt = 0) {
  Peer peer;
  REQUIRE(UdpSocket::Open("127.0.0.1", 0, false, 0, 0, &peer.sock).ok());
  peer.dst = Loopback(endpoint.local_port(), &peer.dst_len);
  SessionConfig ep_side, peer_side;
  MakeConfigs(peer.sock.local_port(), endpoint.local_port(), &ep_side, &peer_side, key_salt);
  Status st;
  peer.session = Session::Create(peer_side, &st);
  REQUIRE(peer.session != nullptr);
  if (add_session) REQUIRE(endpoint.AddSession(ep_side).ok());
  return peer;
}

// Sends one sealed BLOCK of file 0 of `content` (4-byte blocks) from the peer.
void SendBlock(Peer& peer, const std::string& content, uint32_t transfer_id, uint64_t offset,
               uint32_t send_stamp) {
  BlockFrameHeader h{};
  h.transfer_id = transfer_id;
  h.send_stamp = send_stamp;
  h.offset = offset;
  const size_t len = std::min<size_t>(4, content.size() - offset);
  std::vector<uint8_t> frame(kBlockFrameHeaderLen + len);
  REQUIRE(EncodeBlockFrame(h, reinterpret_cast<const uint8_t*>(content.data()) + offset, len, frame.data(),
                           frame.size()) == frame.size());
  peer.Send(peer.Seal(frame));
}

void HandshakeBecomesEvent() {
  auto rx = OpenEndpoint(EndpointRole::kReceiver, 2);
  auto tx = OpenEndpoint(EndpointRole::kSender);
  CHECK(rx->local_port() != 0);
  std::vector<uint8_t> init(kHandshakeInitLen, 0xAA);
  init[0] = static_cast<uint8_t>(PacketType::kHandshakeInit);
  socklen_t len;
  sockaddr_storage dst = Loopback(rx->local_port(), &len);
  CHECK(tx->SendRaw(dst, len, init.data(), init.size()).ok());
  std::vector<Event> events;
  CHECK(WaitFor([&] {
    rx->DrainEvents(&events, 100);
    return !events.empty();
  }));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::kHandshake);
  CHECK(events[0].bytes == init);
  CHECK_EQ(AddressPort(events[0].addr), tx->local_port());
  CHECK(AddressToString(events[0].addr) == "127.0.0.1");
  CHECK_EQ(Counter(*rx, CounterId::khandshake_packets), 1u);
  // And back: a response-sized packet reaches the sender as an event too.
  std::vector<uint8_t> resp(kHandshakeRespLen, 0xBB);
  resp[0] = static_cast<uint8_t>(PacketType::kHandshakeResp);
  const Event from_tx = events[0];
  CHECK(rx->SendRaw(from_tx.addr, from_tx.addr_len, resp.data(), resp.size()).ok());
  events.clear();
  CHECK(WaitFor([&] {
    tx->DrainEvents(&events, 100);
    return !events.empty();
  }));
  CHECK(events.size() == 1 && events[0].bytes == resp);
  // A COOKIE REPLY (responder under load) too; one byte longer is a bad length.
  std::vector<uint8_t> cookie(kHandshakeCookieLen, 0xCC);
  cookie[0] = static_cast<uint8_t>(PacketType::kHandshakeCookie);
  std::vector<uint8_t> long_cookie(kHandshakeCookieLen + 1, 0xCC);
  long_cookie[0] = static_cast<uint8_t>(PacketType::kHandshakeCookie);
  CHECK(rx->SendRaw(from_tx.addr, from_tx.addr_len, long_cookie.data(), long_cookie.size()).ok());
  CHECK(rx->SendRaw(from_tx.addr, from_tx.addr_len, cookie.data(), cookie.size()).ok());
  events.clear();
  CHECK(WaitFor([&] {
    tx->DrainEvents(&events, 100);
    return !events.empty();
  }));
  CHECK(events.size() == 1 && events[0].bytes == cookie);
  CHECK_EQ(Counter(*tx, CounterId::kdrop_bad_length), 1u);
  rx->Close();
  rx->Close();  // idempotent
  CHECK(rx->SendRaw(dst, len, init.data(), init.size()).code == std::string(kErrClosed));
}

void GarbageIsCountedNotQueued() {
  auto rx = OpenEndpoint(EndpointRole::kReceiver);
  Peer peer = MakePeer(*rx);
  // Claims session 7 but holds other keys.
  Peer stranger = MakePeer(*rx, /*add_session=*/false, /*key_salt=*/1);

  struct Case {
    const char* what;
    std::vector<uint8_t> datagram;
    CounterId reason;
  };
  std::vector<uint8_t> control_frame = {static_cast<uint8_t>(FrameType::kControl), 0, 0, 0, 1, 2};
  std::vector<uint8_t> good = peer.Seal(control_frame);
  std::vector<uint8_t> bad_tag = peer.Seal(control_frame);
  bad_tag[kDataHeaderLen + 1] ^= 1;
  std::vector<uint8_t> unknown_session = good;
  unknown_session[4] ^= 0x40;  // receiver_index 7 -> 71
  std::vector<uint8_t> bad_frame = peer.Seal({0x7e, 1, 2, 3});
  BlockFrameHeader block{};
  block.type = static_cast<uint8_t>(FrameType::kBlock);
  block.transfer_id = 1234;
  std::vector<uint8_t> block_frame(kBlockFrameHeaderLen + 10, 0);
  std::memcpy(block_frame.data(), &block, sizeof(block));
  std::vector<uint8_t> unknown_transfer = peer.Seal(block_frame);
  std::vector<uint8_t> feedback_on_receiver = [&] {
    std::vector<uint8_t> f(kFeedbackFrameHeaderLen, 0);
    f[0] = static_cast<uint8_t>(FrameType::kFeedback);
    return peer.Seal(f);
  }();
  std::vector<uint8_t> short_handshake(kHandshakeInitLen - 1, 0);
  short_handshake[0] = static_cast<uint8_t>(PacketType::kHandshakeInit);
  std::vector<uint8_t> short_data(kDataHeaderLen + kAeadTagLen, 0);
  short_data[0] = static_cast<uint8_t>(PacketType::kData);

  std::vector<Case> cases = {
      {"empty datagram", {}, CounterId::kdrop_short},
      {"unknown type byte", {0x7f, 1, 2, 3, 4}, CounterId::kdrop_bad_type},
      {"handshake of the wrong length", short_handshake, CounterId::kdrop_bad_length},
      {"DATA shorter than header+tag+1", short_data, CounterId::kdrop_bad_length},
      {"DATA for an unknown session", unknown_session, CounterId::kdrop_unknown_session},
      {"DATA from a peer without a session", stranger.Seal(control_frame), CounterId::kdrop_bad_tag},
      {"DATA with a flipped ciphertext bit", bad_tag, CounterId::kdrop_bad_tag},
      {"unknown frame type", bad_frame, CounterId::kdrop_bad_frame},
      {"FEEDBACK sent to a receiver", feedback_on_receiver, CounterId::kdrop_bad_frame},
      {"BLOCK for an unknown transfer", unknown_transfer, CounterId::kdrop_unknown_transfer},
  };
  for (const Case& c : cases) {
    uint64_t before = Counter(*rx, c.reason);
    uint64_t datagrams_before = Counter(*rx, CounterId::krx_datagrams);
    peer.Send(c.datagram);
    bool counted = WaitFor([&] { return Counter(*rx, c.reason) == before + 1; });
    if (!counted) std::printf("  case not counted under its reason: %s\n", c.what);
    CHECK(counted);
    CHECK_EQ(Counter(*rx, CounterId::krx_datagrams), datagrams_before + 1);
  }
  std::vector<Event> events;
  rx->DrainEvents(&events, 100);
  CHECK_EQ(events.size(), 0u);

  // The good packet is delivered; replaying it is counted as a replay.
  peer.Send(good);
  CHECK(WaitFor([&] {
    rx->DrainEvents(&events, 100);
    return !events.empty();
  }));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::kControl);
  CHECK_EQ(events[0].session, 7u);
  CHECK((events[0].bytes == std::vector<uint8_t>{1, 2}));
  peer.Send(good);
  CHECK(WaitFor([&] { return Counter(*rx, CounterId::kdrop_replay) == 1; }));
  events.clear();
  rx->DrainEvents(&events, 100);
  CHECK_EQ(events.size(), 0u);
}

void ControlBothWays() {
  auto rx = OpenEndpoint(EndpointRole::kReceiver);
  auto tx = OpenEndpoint(EndpointRole::kSender);
  SessionConfig rx_side, tx_side;
  MakeConfigs(tx->local_port(), rx->local_port(), &rx_side, &tx_side);
  CHECK(rx->AddSession(rx_side).ok());
  CHECK(tx->AddSession(tx_side).ok());
  CHECK(rx->AddSession(rx_side).code == std::string(kErrDuplicateSession));

  const uint8_t payload[] = {'m', 'a', 'n', 'i', 'f', 'e', 's', 't'};
  CHECK(tx->SendControl(99, payload, sizeof(payload)).ok());
  std::vector<Event> events;
  CHECK(WaitFor([&] {
    rx->DrainEvents(&events, 100);
    return !events.empty();
  }));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::kControl);
  CHECK_EQ(events[0].session, 7u);
  CHECK(events[0].bytes == std::vector<uint8_t>(payload, payload + sizeof(payload)));

  CHECK(rx->SendControl(7, payload, 3).ok());
  events.clear();
  CHECK(WaitFor([&] {
    tx->DrainEvents(&events, 100);
    return !events.empty();
  }));
  CHECK(events.size() == 1 && events[0].session == 99 && events[0].bytes.size() == 3);

  auto stats = rx->GetSessionStats(7);
  REQUIRE(stats.has_value());
  CHECK_EQ(stats->packets_recv, 1u);
  CHECK_EQ(stats->packets_sent, 1u);
  CHECK_EQ(Counter(*tx, CounterId::kcontrol_sent), 1u);
  CHECK_EQ(Counter(*rx, CounterId::kcontrol_recv), 1u);

  std::vector<uint8_t> too_big(kMaxControlPayload + 1);
  CHECK(!tx->SendControl(99, too_big.data(), too_big.size()).ok());
  CHECK(tx->SendControl(12345, payload, 1).code == std::string(kErrUnknownSession));
  CHECK(rx->RemoveSession(7).ok());
  CHECK(rx->RemoveSession(7).code == std::string(kErrUnknownSession));
  CHECK(!rx->GetSessionStats(7).has_value());
  // After removal the peer's packets are unknown-session drops.
  CHECK(tx->SendControl(99, payload, 1).ok());
  CHECK(WaitFor([&] { return Counter(*rx, CounterId::kdrop_unknown_session) == 1; }));
  // Role checks.
  SendSpec send_spec;
  CHECK(rx->StartSendTransfer(7, 1, send_spec).code == std::string(kErrWrongRole));
}

std::string MakeTempDir() {
  char tmpl[] = "/tmp/jetrecv-endpoint-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void BlocksReachTransfer() {
  auto rx = OpenEndpoint(EndpointRole::kReceiver);
  Peer peer = MakePeer(*rx);
  std::string root = MakeTempDir();
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = 4;
  spec.files.push_back({"f.bin", 10, 0644, 1'700'000'000'000});
  CHECK(rx->OpenReceiveTransfer(7, 1, spec).ok());
  CHECK(rx->OpenReceiveTransfer(7, 1, spec).code == std::string(kErrDuplicateTransfer));
  CHECK(rx->OpenReceiveTransfer(8, 2, spec).code == std::string(kErrUnknownSession));
  const std::string content = "0123456789";
  for (uint64_t offset : {8u, 0u, 4u}) SendBlock(peer, content, 1, offset, 0);
  std::vector<Event> events;
  CHECK(WaitFor([&] {
    rx->DrainEvents(&events, 100);
    return !events.empty();
  }));
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::kFileDone);
  CHECK_EQ(events[0].transfer, 1u);
  CHECK(ReadFile(root + "/f.bin") == content);
  auto stats = rx->GetReceiveTransferStats(7, 1);
  REQUIRE(stats.has_value());
  CHECK_EQ(stats->blocks_received, 3u);
  CHECK_EQ(stats->files_done, 1u);
  CHECK_EQ(Counter(*rx, CounterId::kblocks_written), 3u);
  // The receiver sends FEEDBACK to the peer on its timer.
  uint8_t buf[2048];
  bool got_feedback = WaitFor([&] {
    ssize_t n = recv(peer.sock.fd(), buf, sizeof(buf), MSG_DONTWAIT);
    return n > 0 && peer.session->Open(buf, n) == OpenResult::kOk &&
           buf[kDataHeaderLen] == static_cast<uint8_t>(FrameType::kFeedback);
  });
  CHECK(got_feedback);
  CHECK(Counter(*rx, CounterId::kfeedback_sent) >= 1u);
  CHECK(rx->CloseReceiveTransfer(7, 1, false).ok());
  CHECK(rx->CloseReceiveTransfer(7, 1, false).code == std::string(kErrUnknownTransfer));
  std::system(("rm -rf '" + root + "'").c_str());
}

// Early blocks (early_blocks.h) through the real RX path: BLOCKs of a transfer not open
// yet are held, replayed by the open, and never held for an id the session used.
void EarlyBlocksHeldAndReplayed() {
  auto rx = OpenEndpoint(EndpointRole::kReceiver, 1,
                         {kEarlyBlockSessionBytes, kEarlyBlockTotalBytes, kEarlyBlockTtlUs});
  Peer peer = MakePeer(*rx);
  std::string root = MakeTempDir();
  const std::string content = "0123456789";
  auto send_block = [&](uint32_t transfer_id, uint64_t offset) {
    SendBlock(peer, content, transfer_id, offset, 1000 + static_cast<uint32_t>(offset));
  };
  auto counter_is = [&](CounterId id, uint64_t n) { return WaitFor([&] { return Counter(*rx, id) == n; }); };
  send_block(5, 0);
  send_block(5, 4);
  CHECK(counter_is(CounterId::kearly_blocks_held, 2));
  ReceiveSpec spec;
  spec.root = root;
  spec.block_size = 4;
  spec.files.push_back({"f.bin", 10, 0644, 1'700'000'000'000});
  CHECK(rx->OpenReceiveTransfer(7, 5, spec).ok());
  CHECK_EQ(Counter(*rx, CounterId::kearly_blocks_replayed), 2u);  // by the open itself
  CHECK_EQ(Counter(*rx, CounterId::kblocks_written), 2u);
  send_block(5, 8);
  CHECK(counter_is(CounterId::kfiles_completed, 1));
  CHECK(ReadFile(root + "/f.bin") == content);
  CHECK(rx->CloseReceiveTransfer(7, 5, false).ok());
  // Ids at or below one the session opened are used: dropped, not held.
  send_block(5, 0);
  send_block(3, 0);
  CHECK(counter_is(CounterId::kdrop_unknown_transfer, 2));
  // A refused transfer's blocks are freed, and its id is used from then on.
  send_block(6, 0);
  CHECK(counter_is(CounterId::kearly_blocks_held, 3));
  CHECK(rx->DiscardEarlyBlocks(7, 6).ok());
  CHECK_EQ(Counter(*rx, CounterId::kearly_blocks_freed), 1u);
  send_block(6, 4);
  CHECK(counter_is(CounterId::kdrop_unknown_transfer, 3));
  // The session's end frees what it holds.
  send_block(9, 0);
  CHECK(counter_is(CounterId::kearly_blocks_held, 4));
  CHECK(rx->RemoveSession(7).ok());
  CHECK_EQ(Counter(*rx, CounterId::kearly_blocks_freed), 2u);
  CHECK_EQ(Counter(*rx, CounterId::kearly_blocks_replayed), 2u);
  std::system(("rm -rf '" + root + "'").c_str());
}

void SenderDeliversFile() {
  auto rx = OpenEndpoint(EndpointRole::kReceiver, 2);
  auto tx = OpenEndpoint(EndpointRole::kSender, 2);
  SessionConfig rx_side, tx_side;
  MakeConfigs(tx->local_port(), rx->local_port(), &rx_side, &tx_side);
  REQUIRE(rx->AddSession(rx_side).ok());
  REQUIRE(tx->AddSession(tx_side).ok());

  std::string src_dir = MakeTempDir(), dst_dir = MakeTempDir();
  std::string content(3 * 1024 * 1024 + 123, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>((i * 131) >> 3);
  std::string src = src_dir + "/source.bin";
  {
    std::ofstream out(src, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  ReceiveSpec rspec;
  rspec.root = dst_dir;
  rspec.block_size = 1024;
  rspec.files.push_back({"sub/copy.bin", content.size(), 0600, 1'600'000'000'000});
  REQUIRE(rx->OpenReceiveTransfer(7, 42, rspec).ok());
  SendSpec sspec;
  sspec.block_size = 1024;
  sspec.files.push_back({src, content.size()});
  sspec.rate_max_bps = 2'000'000'000;
  Status st = tx->StartSendTransfer(99, 42, sspec);
  if (!st.ok()) std::printf("StartSendTransfer: %s\n", st.message.c_str());
  REQUIRE(st.ok());

  std::vector<Event> rx_events, tx_events;
  bool done = WaitFor(
      [&] {
        rx->DrainEvents(&rx_events, 100);
        tx->DrainEvents(&tx_events, 100);
        bool file_done = false, complete = false;
        for (auto& e : rx_events) file_done |= e.type == EventType::kFileDone;
        for (auto& e : tx_events) complete |= e.type == EventType::kReceiverComplete;
        return file_done && complete;
      },
      20000);
  CHECK(done);
  CHECK(ReadFile(dst_dir + "/sub/copy.bin") == content);
  auto sstats = tx->GetSendTransferStats(99, 42);
  REQUIRE(sstats.has_value());
  CHECK(sstats->receiver_complete);
  CHECK(Counter(*tx, CounterId::kfeedback_recv) >= 1u);
  CHECK(Counter(*rx, CounterId::kposition_recv) >= 1u);
  CHECK(tx->StopSendTransfer(99, 42).ok());
  tx->Close();
  rx->Close();
  std::system(("rm -rf '" + src_dir + "' '" + dst_dir + "'").c_str());
}

// Handshake/control events stop at 3/4 of the capacity; the last quarter stays
// free for the transfer events that complete or fail a transfer.
void EventQueueKeepsRoomForTransferEvents() {
  CounterSet counters;
  EventQueue queue(&counters, 8);
  auto event = [](EventType type) {
    Event e;
    e.type = type;
    return e;
  };
  for (int i = 0; i < 6; ++i) CHECK(queue.Push(event(EventType::kHandshake)));
  CHECK(!queue.Push(event(EventType::kHandshake)));  // flood stops at 6 of 8
  CHECK(!queue.Push(event(EventType::kControl)));
  CHECK(queue.Push(event(EventType::kFileDone)));
  CHECK(queue.Push(event(EventType::kTransferError)));
  CHECK(!queue.Push(event(EventType::kReceiverComplete)));  // now truly full
  CHECK_EQ(counters.Get(CounterId::kdrop_event_queue_full), 3u);
  std::vector<Event> out;
  CHECK_EQ(queue.Drain(&out, 100), 8u);
  CHECK(out[6].type == EventType::kFileDone && out[7].type == EventType::kTransferError);
}

void EventQueueBoundAndDoorbell() {
  CounterSet counters;
  EventQueue queue(&counters, 3);
  int rings = 0;
  queue.SetDoorbell([&] { ++rings; });
  auto control = [](uint32_t session) {
    Event e;
    e.type = EventType::kControl;
    e.session = session;
    return e;
  };
  CHECK(queue.Push(control(1)));
  CHECK_EQ(rings, 1);  // empty -> non-empty rings
  CHECK(queue.Push(control(2)));
  CHECK(queue.Push(control(3)));
  CHECK_EQ(rings, 1);              // already non-empty: no ring
  CHECK(!queue.Push(control(4)));  // full: dropped, counted, never blocks
  CHECK_EQ(counters.Get(CounterId::kdrop_event_queue_full), 1u);
  std::vector<Event> out;
  CHECK_EQ(queue.Drain(&out, 2), 2u);
  CHECK_EQ(rings, 2);  // events left behind: rings again so the consumer comes back
  CHECK(out[0].session == 1 && out[1].session == 2);
  CHECK_EQ(queue.Drain(&out, 10), 1u);
  CHECK_EQ(rings, 2);
  CHECK_EQ(out[2].session, 3u);
  CHECK_EQ(queue.TakeDropped(), 1u);
  CHECK_EQ(queue.TakeDropped(), 0u);
  CHECK(queue.Push(control(5)));
  CHECK_EQ(rings, 3);
}

void CountersSumAcrossBlocks() {
  CounterSet set;
  CounterBlock& a = set.NewBlock();
  CounterBlock& b = set.NewBlock();
  std::thread ta([&] {
    for (int i = 0; i < 100000; ++i) a.Add(CounterId::krx_datagrams);
  });
  std::thread tb([&] {
    for (int i = 0; i < 100000; ++i) b.Add(CounterId::krx_datagrams, 2);
  });
  ta.join();
  tb.join();
  set.Add(CounterId::kdrop_short, 5);
  std::vector<uint64_t> sums(kCounterCount + 3, 77);
  set.Sum(sums.data(), kCounterCount);
  CHECK_EQ(sums[static_cast<size_t>(CounterId::krx_datagrams)], 300000u);
  CHECK_EQ(sums[static_cast<size_t>(CounterId::kdrop_short)], 5u);
  CHECK_EQ(sums[kCounterCount], 77u);  // Sum writes only kCounterCount entries
  CHECK(std::string(CounterName(CounterId::kdrop_bad_tag)) == "drop_bad_tag");
  CHECK(std::string(CounterName(CounterId::krx_datagrams)) == "rx_datagrams");
}

void SegmentsArriveAsDatagrams() {
  UdpSocket sender, receiver;
  REQUIRE(UdpSocket::Open("127.0.0.1", 0, false, 0, 1 << 20, &sender).ok());
  REQUIRE(UdpSocket::Open("127.0.0.1", 0, false, 1 << 22, 0, &receiver).ok());
  socklen_t len;
  sockaddr_storage dst = Loopback(receiver.local_port(), &len);
  // 150 segments of 1000 bytes + a 300-byte tail: several GSO sends (64 max each).
  std::vector<uint8_t> payload(150 * 1000 + 300);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i / 1000);
  CounterSet counters;
  CounterBlock& block = counters.NewBlock();
  int sent = sender.SendSegments(dst, len, payload.data(), payload.size(), 1000, &block);
  CHECK_EQ(sent, 151);
  CHECK_EQ(block.Get(CounterId::ktx_datagrams), 151u);
  CHECK_EQ(block.Get(CounterId::ktx_bytes), payload.size());
  if (sender.gso_ok()) CHECK(block.Get(CounterId::ktx_gso_batches) >= 3u);
  RecvBatchBuffers buffers;
  std::vector<std::vector<uint8_t>> got;
  WaitFor([&] {
    int n = receiver.RecvBatch(buffers, 10);
    for (int i = 0; i < n; ++i) {
      got.emplace_back(buffers.datagrams[i].data, buffers.datagrams[i].data + buffers.datagrams[i].len);
      CHECK_EQ(AddressPort(*buffers.datagrams[i].from), sender.local_port());
    }
    return got.size() >= 151;
  });
  REQUIRE(got.size() == 151);
  for (size_t i = 0; i < 150; ++i) {
    CHECK_EQ(got[i].size(), 1000u);
    CHECK_EQ(got[i][0], static_cast<uint8_t>(i));
  }
  CHECK_EQ(got[150].size(), 300u);
  // sendmmsg path (no GSO) gives the same datagrams.
  got.clear();
  CHECK_EQ(sender.SendSegments(dst, len, payload.data(), 2500, 1000), 3);
  WaitFor([&] {
    int n = receiver.RecvBatch(buffers, 10);
    for (int i = 0; i < n; ++i)
      got.emplace_back(buffers.datagrams[i].data, buffers.datagrams[i].data + buffers.datagrams[i].len);
    return got.size() >= 3;
  });
  CHECK(got.size() == 3 && got[2].size() == 500u);
}

// What the NACK limit relies on (Endpoint::RxDrainedUs): RecvBatch says when it
// found the queue empty, and `waiting` is set only while it waits with nothing
// taken off the queue.
void RecvBatchReportsDrainAndWaiting() {
  UdpSocket sender, receiver;
  REQUIRE(UdpSocket::Open("127.0.0.1", 0, false, 0, 1 << 20, &sender).ok());
  REQUIRE(UdpSocket::Open("127.0.0.1", 0, false, 1 << 20, 0, &receiver).ok());
  socklen_t len;
  sockaddr_storage dst = Loopback(receiver.local_port(), &len);
  const uint8_t byte = 7;
  CHECK(!receiver.Readable());
  for (int i = 0; i < 3; ++i) CHECK_EQ(sender.SendTo(dst, len, &byte, 1), 1);
  CHECK(WaitFor([&] { return receiver.Readable(); }));
  RecvBatchBuffers two(2);
  CHECK_EQ(receiver.RecvBatch(two, 0), 2);
  CHECK(!two.drained);  // a full batch: more may be queued
  CHECK(receiver.Readable());
  CHECK_EQ(receiver.RecvBatch(two, 0), 1);
  CHECK(two.drained);
  CHECK(!receiver.Readable());
  CHECK_EQ(receiver.RecvBatch(two, 10), 0);  // timed out on an empty queue
  CHECK(two.drained);

  std::atomic<bool> waiting{false};
  int got = -1;
  std::thread t([&] { got = receiver.RecvBatch(two, 5000, -1, &waiting); });
  CHECK(WaitFor([&] { return waiting.load(); }));
  CHECK_EQ(sender.SendTo(dst, len, &byte, 1), 1);
  t.join();
  CHECK_EQ(got, 1);
  CHECK(two.drained);
  CHECK(!waiting.load());  // cleared before the datagram was taken
}

// ---- handshake flood vs the native gate (handshake_filter.h), issue 12 finding 5 ----

// An INIT of kHandshakeInitLen bytes; with a key, bytes 120..135 are a valid mac1 (keyed BLAKE2b-128).
std::vector<uint8_t> MakeInit(uint32_t sender_index, const std::array<uint8_t, 32>* mac1_key) {
  std::vector<uint8_t> init(kHandshakeInitLen, 0x5A);
  init[0] = static_cast<uint8_t>(PacketType::kHandshakeInit);
  init[1] = init[2] = init[3] = 0;
  std::memcpy(init.data() + 4, &sender_index, 4);
  if (mac1_key != nullptr) {
    size_t size = 16, out_len = 0;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                           OSSL_PARAM_construct_end()};
    REQUIRE(EVP_Q_mac(nullptr, "BLAKE2BMAC", nullptr, nullptr, params, mac1_key->data(), 32, init.data(), 120,
                      init.data() + 120, 16, &out_len) != nullptr &&
            out_len == 16);
  }
  return init;
}

sockaddr_storage V4Source(uint32_t host_order_addr, socklen_t* len) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(host_order_addr);
  sin->sin_port = htons(40000);
  *len = sizeof(sockaddr_in);
  return ss;
}

// Injects `count` copies of `packet` from `from`, in RX-sized batches; returns how many became events.
uint64_t InjectHandshakes(Endpoint& ep, const std::vector<uint8_t>& packet,
                          const std::vector<sockaddr_storage>& from, socklen_t from_len, size_t count) {
  const uint64_t before = Counter(ep, CounterId::khandshake_packets);
  std::vector<std::vector<uint8_t>> copies(kRecvBatchSlots, packet);
  for (size_t done = 0; done < count;) {
    std::vector<RecvDatagram> batch;
    for (size_t i = 0; i < kRecvBatchSlots && done < count; ++i, ++done) {
      copies[i] = packet;
      batch.push_back({copies[i].data(), copies[i].size(), &from[done % from.size()], from_len});
    }
    ep.InjectDatagramsForTesting(batch);
    if (done % 4096 == 0) {
      std::vector<Event> events;
      ep.DrainEvents(&events, 1 << 16);  // keep the queue from filling
    }
  }
  std::vector<Event> events;
  ep.DrainEvents(&events, 1 << 16);
  return Counter(ep, CounterId::khandshake_packets) - before;
}

// A flood from one source (any content) spends that source's bucket, not the endpoint-wide
// budget: an INIT from another source right after it still becomes an event.
void HandshakeFloodFromOneSourceLeavesOthersBudget() {
  auto rx = OpenEndpoint(EndpointRole::kReceiver);
  socklen_t len;
  std::vector<sockaddr_storage> attacker{V4Source(0x7f000002, &len)};
  std::vector<sockaddr_storage> honest{V4Source(0x7f000001, &len)};
  const auto init = MakeInit(1, nullptr);
  InjectHandshakes(*rx, init, attacker, len, 4 * kMaxHandshakeEventsPerSecond);
  CHECK_EQ(InjectHandshakes(*rx, init, honest, len, 1), 1u);
  CHECK(Counter(*rx, CounterId::khandshake_packets) <= uint64_t(kHandshakeSourceBurst) + 2);
}

// With the mac1 key set, INITs with a bad mac1 from many sources (spoofed) are dropped
// before the budget: a valid INIT after them becomes an event; RESP/COOKIE are dropped too.
void HandshakeMac1CheckedBeforeBudget() {
  std::array<uint8_t, 32> key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = uint8_t(i * 7 + 1);
  EndpointOptions o;
  o.role = EndpointRole::kReceiver;
  o.bind_address = "127.0.0.1";
  o.sockets = 1;
  o.handshake_mac1_key = key;
  Status st;
  auto rx = Endpoint::Open(o, &st);
  REQUIRE(rx != nullptr);
  socklen_t len;
  std::vector<sockaddr_storage> spoofed;
  for (uint32_t i = 0; i < 20000; ++i) spoofed.push_back(V4Source(0x0a000000 + i, &len));
  CHECK_EQ(InjectHandshakes(*rx, MakeInit(1, nullptr), spoofed, len, spoofed.size()), 0u);
  CHECK_EQ(Counter(*rx, CounterId::kdrop_handshake_mac1), uint64_t(spoofed.size()));
  CHECK_EQ(Counter(*rx, CounterId::kdrop_handshake_rate), 0u);
  std::vector<sockaddr_storage> honest{V4Source(0x7f000001, &len)};
  CHECK_EQ(InjectHandshakes(*rx, MakeInit(2, &key), honest, len, 1), 1u);
  std::vector<uint8_t> resp(kHandshakeRespLen, 0);
  resp[0] = static_cast<uint8_t>(PacketType::kHandshakeResp);
  CHECK_EQ(InjectHandshakes(*rx, resp, honest, len, 1), 0u);
}

void HandshakeRateLimit() {
  EndpointOptions o;
  o.role = EndpointRole::kReceiver;
  o.bind_address = "127.0.0.1";
  o.sockets = 1;
  o.rcvbuf_bytes = 16 << 20;
  Status st;
  auto rx = Endpoint::Open(o, &st);
  REQUIRE(rx != nullptr);
  UdpSocket sock;
  REQUIRE(UdpSocket::Open("127.0.0.1", 0, false, 0, 16 << 20, &sock).ok());
  socklen_t len;
  sockaddr_storage dst = Loopback(rx->local_port(), &len);
  std::vector<uint8_t> init(kHandshakeInitLen, 1);
  init[0] = static_cast<uint8_t>(PacketType::kHandshakeInit);
  const auto start = std::chrono::steady_clock::now();
  const int kPackets = 3 * static_cast<int>(kMaxHandshakeEventsPerSecond);
  for (int i = 0; i < kPackets; ++i) {
    while (sock.SendTo(dst, len, init.data(), init.size()) == 0) std::this_thread::yield();
  }
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WaitFor([&] {
    return Counter(*rx, CounterId::khandshake_packets) + Counter(*rx, CounterId::kdrop_handshake_rate) +
               Counter(*rx, CounterId::krx_socket_overflow) >=
           uint64_t(kPackets);
  });
  // One source: held to its own bucket (handshake_filter.h).
  const uint64_t accepted = Counter(*rx, CounterId::khandshake_packets);
  CHECK(Counter(*rx, CounterId::kdrop_handshake_source_rate) > 0);
  CHECK(accepted <= kHandshakeSourceBurst + kHandshakeSourceRate * (elapsed_s + 0.5));

  // Many sources: the endpoint-wide budget.
  socklen_t from_len;
  std::vector<sockaddr_storage> sources;
  for (uint32_t i = 0; i < 3 * kMaxHandshakeEventsPerSecond; ++i)
    sources.push_back(V4Source(0x0b000000 + i, &from_len));
  const auto inject_start = std::chrono::steady_clock::now();
  const uint64_t events = InjectHandshakes(*rx, init, sources, from_len, sources.size());
  const double inject_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - inject_start).count();
  CHECK(Counter(*rx, CounterId::kdrop_handshake_rate) > 0);
  CHECK(events <= kMaxHandshakeEventsPerSecond * (1 + inject_s + 0.5));
}

void OpenRejectsBadOptions() {
  EndpointOptions o;
  o.bind_address = "127.0.0.1";
  o.sockets = 0;
  Status st;
  CHECK(Endpoint::Open(o, &st) == nullptr);
  CHECK(st.code == std::string(kErrInvalidArgument));
  o.sockets = 1;
  o.bind_address = "localhost";  // not numeric
  CHECK(Endpoint::Open(o, &st) == nullptr);
  CHECK(st.err == EINVAL);
  CHECK(st.message.find("localhost") != std::string::npos);
}

}  // namespace

int main() {
  HandshakeBecomesEvent();
  HandshakeFloodFromOneSourceLeavesOthersBudget();
  HandshakeMac1CheckedBeforeBudget();
  GarbageIsCountedNotQueued();
  ControlBothWays();
  BlocksReachTransfer();
  EarlyBlocksHeldAndReplayed();
  SenderDeliversFile();
  OpenRejectsBadOptions();
  EventQueueBoundAndDoorbell();
  EventQueueKeepsRoomForTransferEvents();
  CountersSumAcrossBlocks();
  SegmentsArriveAsDatagrams();
  RecvBatchReportsDrainAndWaiting();
  HandshakeRateLimit();
  return jetrecv::test::TestExitCode();
}
