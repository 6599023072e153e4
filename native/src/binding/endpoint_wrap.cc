// endpoint_wrap.cc — argument checks, core calls, and JS shapes of results and
// events. The shapes are typed in src/addon/binding.ts and checked against it by
// test/native/contract.test.ts (docs/ARCHITECTURE.md, "The channel").
#include "binding/endpoint_wrap.h"

#include <openssl/crypto.h>

#include <cerrno>
#include <cmath>
#include <vector>

#include "binding/addon.h"
#include "binding/args.h"
#include "binding/errors.h"
#include "core/limits.h"
#include "core/udp_socket.h"

namespace jetrecv::binding {
namespace {

constexpr size_t kDefaultDrainMax = 4096;
constexpr double kMaxDrainMax = 1 << 20;

Napi::Uint8Array CopyBytes(Napi::Env env, const std::vector<uint8_t>& bytes) {
  Napi::Uint8Array array = Napi::Uint8Array::New(env, bytes.size());
  if (!bytes.empty()) std::memcpy(array.Data(), bytes.data(), bytes.size());
  return array;
}

Napi::Object EventToJs(Napi::Env env, const core::Event& event) {
  Napi::Object obj = Napi::Object::New(env);
  switch (event.type) {
    case core::EventType::kHandshake:
      obj.Set("type", "handshake");
      obj.Set("address", core::AddressToString(event.addr));
      obj.Set("port", core::AddressPort(event.addr));
      obj.Set("packet", CopyBytes(env, event.bytes));
      break;
    case core::EventType::kControl:
      obj.Set("type", "control");
      obj.Set("session", event.session);
      obj.Set("payload", CopyBytes(env, event.bytes));
      break;
    case core::EventType::kFileDone:
      obj.Set("type", "fileDone");
      obj.Set("session", event.session);
      obj.Set("transfer", event.transfer);
      obj.Set("file", event.file);
      break;
    case core::EventType::kTransferError:
      obj.Set("type", "transferError");
      obj.Set("session", event.session);
      obj.Set("transfer", event.transfer);
      obj.Set("file", event.file);
      obj.Set("code", event.code);
      obj.Set("errno", event.err);
      obj.Set("message", event.message);
      break;
    case core::EventType::kReceiverComplete:
      obj.Set("type", "receiverComplete");
      obj.Set("session", event.session);
      obj.Set("transfer", event.transfer);
      break;
  }
  return obj;
}

core::Cipher CipherArg(const Napi::Value& value) {
  std::string name = StringArg(value, "cipher");
  if (name == "aes-256-gcm") return core::Cipher::kAes256Gcm;
  if (name == "chacha20-poly1305") return core::Cipher::kChaCha20Poly1305;
  ThrowRangeError(value.Env(), "cipher must be 'aes-256-gcm' or 'chacha20-poly1305'");
}

void KeyArg(const Napi::Value& value, const char* name, std::array<uint8_t, core::kAeadKeyLen>* out) {
  Napi::Uint8Array bytes = BytesArg(value, name);
  if (bytes.ByteLength() != core::kAeadKeyLen) {
    ThrowRangeError(value.Env(), std::string(name) + " must be 32 bytes");
  }
  std::memcpy(out->data(), bytes.Data(), core::kAeadKeyLen);
}

core::ReceiveSpec ReceiveSpecArg(const Napi::Value& value) {
  Napi::Object spec = ObjectArg(value, "spec");
  core::ReceiveSpec out;
  out.root = StringArg(spec.Get("root"), "spec.root");
  out.block_size = Uint32Arg(spec.Get("blockSize"), "spec.blockSize");
  Napi::Array files = ArrayArg(spec.Get("files"), "spec.files");
  out.files.reserve(files.Length());
  for (uint32_t i = 0; i < files.Length(); ++i) {
    Napi::Object file = ObjectArg(files.Get(i), "spec.files[i]");
    core::ReceiveFileSpec f;
    f.path = StringArg(file.Get("path"), "spec.files[i].path");
    f.size = Uint53Arg(file.Get("size"), "spec.files[i].size");
    f.mode = Uint32Arg(file.Get("mode"), "spec.files[i].mode");
    f.mtime_ms = static_cast<int64_t>(std::floor(NumberArg(file.Get("mtimeMs"), "spec.files[i].mtimeMs")));
    out.files.push_back(std::move(f));
  }
  // Optional: partialTag (16 hex digits, "" = untagged), resumable, syncOnFinalize (see core::ReceiveSpec).
  if (Napi::Value tag = spec.Get("partialTag"); !tag.IsUndefined())
    out.partial_tag = StringArg(tag, "spec.partialTag");
  if (Napi::Value r = spec.Get("resumable"); !r.IsUndefined()) out.resumable = BoolArg(r, "spec.resumable");
  if (Napi::Value sync = spec.Get("syncOnFinalize"); !sync.IsUndefined()) {
    out.sync_on_finalize = BoolArg(sync, "spec.syncOnFinalize");
  }
  Napi::Array dirs = ArrayArg(spec.Get("emptyDirs"), "spec.emptyDirs");
  for (uint32_t i = 0; i < dirs.Length(); ++i) {
    out.empty_dirs.push_back(StringArg(dirs.Get(i), "spec.emptyDirs[i]"));
  }
  // Optional resume: { doneFiles: number[], ranges: number[] (file, first, count triples) }.
  Napi::Value resume_value = spec.Get("resume");
  if (!resume_value.IsUndefined() && !resume_value.IsNull()) {
    Napi::Object resume = ObjectArg(resume_value, "spec.resume");
    Napi::Array done = ArrayArg(resume.Get("doneFiles"), "spec.resume.doneFiles");
    for (uint32_t i = 0; i < done.Length(); ++i) {
      out.resume_done.push_back(Uint32Arg(done.Get(i), "spec.resume.doneFiles[i]"));
    }
    Napi::Array ranges = ArrayArg(resume.Get("ranges"), "spec.resume.ranges");
    if (ranges.Length() % 3 != 0) {
      ThrowRangeError(value.Env(), "spec.resume.ranges must hold (file, firstBlock, blockCount) triples");
    }
    for (uint32_t i = 0; i + 2 < ranges.Length(); i += 3) {
      core::ResumeRange r;
      r.file_index = Uint32Arg(ranges.Get(i), "spec.resume.ranges[i]");
      r.first_block = Uint53Arg(ranges.Get(i + 1), "spec.resume.ranges[i]");
      r.block_count = Uint53Arg(ranges.Get(i + 2), "spec.resume.ranges[i]");
      out.resume_ranges.push_back(r);
    }
  }
  return out;
}

// Runs ReceiveTransfer::Checkpoint (fdatasync) on a libuv worker thread and
// settles a promise with its result. Holds the transfer alive meanwhile.
class CheckpointWorker : public Napi::AsyncWorker {
 public:
  CheckpointWorker(Napi::Env env, std::shared_ptr<core::ReceiveTransfer> transfer)
      : Napi::AsyncWorker(env, "jetrecv-checkpoint"),
        transfer_(std::move(transfer)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { status_ = transfer_->Checkpoint(&result_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Reject(StatusError(env, status_).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    Napi::Array done = Napi::Array::New(env, result_.done_files.size());
    for (uint32_t i = 0; i < result_.done_files.size(); ++i) done.Set(i, result_.done_files[i]);
    Napi::Array ranges = Napi::Array::New(env, result_.ranges.size() * 3);
    for (uint32_t i = 0; i < result_.ranges.size(); ++i) {
      ranges.Set(3 * i, result_.ranges[i].file_index);
      ranges.Set(3 * i + 1, static_cast<double>(result_.ranges[i].first_block));
      ranges.Set(3 * i + 2, static_cast<double>(result_.ranges[i].block_count));
    }
    out.Set("doneFiles", done);
    out.Set("ranges", ranges);
    out.Set("blocksHeld", static_cast<double>(result_.blocks_held));
    out.Set("bytesHeld", static_cast<double>(result_.bytes_held));
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::shared_ptr<core::ReceiveTransfer> transfer_;
  Napi::Promise::Deferred deferred_;
  core::Status status_;
  core::ReceiveCheckpoint result_;
};

// Opens a receive transfer on a worker thread (Endpoint::OpenReceiveTransfer: one partial
// file per manifest entry, minutes for a huge manifest) and settles a promise. Keeps the JS
// Endpoint, and with it the core endpoint, alive until done.
class OpenReceiveWorker : public Napi::AsyncWorker {
 public:
  OpenReceiveWorker(Napi::Env env, Napi::Object self, core::Endpoint* endpoint, uint32_t local_index,
                    uint32_t transfer_id, core::ReceiveSpec spec)
      : Napi::AsyncWorker(env, "jetrecv-open-receive"),
        self_(Napi::Persistent(self)),
        endpoint_(endpoint),
        local_index_(local_index),
        transfer_id_(transfer_id),
        spec_(std::move(spec)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { status_ = endpoint_->OpenReceiveTransfer(local_index_, transfer_id_, spec_); }
  void OnOK() override {
    if (!status_.ok()) {
      deferred_.Reject(StatusError(Env(), status_).Value());
      return;
    }
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::ObjectReference self_;
  core::Endpoint* endpoint_;
  uint32_t local_index_;
  uint32_t transfer_id_;
  core::ReceiveSpec spec_;
  Napi::Promise::Deferred deferred_;
  core::Status status_;
};

// TransferAccept.have ranges (undefined or null = none).
std::vector<core::HeldRange> HeldRangesArg(const Napi::Value& value, const std::string& name) {
  std::vector<core::HeldRange> out;
  if (value.IsUndefined() || value.IsNull()) return out;
  Napi::Array have = ArrayArg(value, name.c_str());
  out.reserve(have.Length());
  for (uint32_t i = 0; i < have.Length(); ++i) {
    Napi::Object r = ObjectArg(have.Get(i), (name + "[i]").c_str());
    core::HeldRange h;
    h.file_index = Uint32Arg(r.Get("fileIndex"), (name + "[i].fileIndex").c_str());
    h.first_block = Uint53Arg(r.Get("firstBlock"), (name + "[i].firstBlock").c_str());
    h.block_count = Uint53Arg(r.Get("blockCount"), (name + "[i].blockCount").c_str());
    out.push_back(h);
  }
  return out;
}

core::SendSpec SendSpecArg(const Napi::Value& value) {
  Napi::Object spec = ObjectArg(value, "spec");
  core::SendSpec out;
  out.block_size = Uint32Arg(spec.Get("blockSize"), "spec.blockSize");
  Napi::Array files = ArrayArg(spec.Get("files"), "spec.files");
  out.files.reserve(files.Length());
  for (uint32_t i = 0; i < files.Length(); ++i) {
    Napi::Object file = ObjectArg(files.Get(i), "spec.files[i]");
    core::SendFileSpec f;
    f.path = StringArg(file.Get("path"), "spec.files[i].path");
    f.size = Uint53Arg(file.Get("size"), "spec.files[i].size");
    out.files.push_back(std::move(f));
  }
  out.rate_max_bps = Uint53Arg(spec.Get("rateMaxBps"), "spec.rateMaxBps");
  out.rate_start_bps = Uint53Arg(spec.Get("rateStartBps"), "spec.rateStartBps");
  // Optional: a rate floor and the policy ("fair" default, "fixed").
  Napi::Value min_value = spec.Get("rateMinBps");
  if (!min_value.IsUndefined() && !min_value.IsNull()) {
    out.rate_min_bps = Uint53Arg(min_value, "spec.rateMinBps");
  }
  Napi::Value policy_value = spec.Get("ratePolicy");
  if (!policy_value.IsUndefined() && !policy_value.IsNull()) {
    const std::string policy = StringArg(policy_value, "spec.ratePolicy");
    if (policy == "fixed") {
      out.rate_policy = core::RatePolicy::kFixed;
    } else if (policy != "fair") {
      throw Napi::TypeError::New(spec.Env(), "spec.ratePolicy must be 'fair' or 'fixed'");
    }
  }
  // Optional resume: blocks the receiver already holds (TransferAccept.have).
  out.have = HeldRangesArg(spec.Get("have"), "spec.have");
  // Optional: started before the accept, only the first train goes out (SendSpec::early_bytes).
  Napi::Value early_value = spec.Get("earlyBytes");
  if (!early_value.IsUndefined()) out.early_bytes = Uint53Arg(early_value, "spec.earlyBytes");
  return out;
}

}  // namespace

Napi::Function EndpointWrap::Init(Napi::Env env, Addon* addon) {
  return ObjectWrap<EndpointWrap>::DefineClass(
      env, "Endpoint",
      {
          InstanceMethod("localPort", &EndpointWrap::Guard<&EndpointWrap::LocalPort>),
          InstanceMethod("kernelBuffers", &EndpointWrap::Guard<&EndpointWrap::KernelBuffers>),
          InstanceMethod("close", &EndpointWrap::GuardVoid<&EndpointWrap::Close>),
          InstanceMethod("readCounters", &EndpointWrap::GuardVoid<&EndpointWrap::ReadCounters>),
          InstanceMethod("drainEvents", &EndpointWrap::Guard<&EndpointWrap::DrainEvents>),
          InstanceMethod("sendRaw", &EndpointWrap::GuardVoid<&EndpointWrap::SendRaw>),
          InstanceMethod("addSession", &EndpointWrap::GuardVoid<&EndpointWrap::AddSession>),
          InstanceMethod("removeSession", &EndpointWrap::GuardVoid<&EndpointWrap::RemoveSession>),
          InstanceMethod("sendControl", &EndpointWrap::GuardVoid<&EndpointWrap::SendControl>),
          InstanceMethod("sessionStats", &EndpointWrap::Guard<&EndpointWrap::SessionStats>),
          InstanceMethod("openReceiveTransfer", &EndpointWrap::Guard<&EndpointWrap::OpenReceiveTransfer>),
          InstanceMethod("receiveTransferStats", &EndpointWrap::Guard<&EndpointWrap::ReceiveTransferStats>),
          InstanceMethod("closeReceiveTransfer",
                         &EndpointWrap::GuardVoid<&EndpointWrap::CloseReceiveTransfer>),
          InstanceMethod("setReceiveRateCap", &EndpointWrap::GuardVoid<&EndpointWrap::SetReceiveRateCap>),
          InstanceMethod("checkpointReceiveTransfer",
                         &EndpointWrap::Guard<&EndpointWrap::CheckpointReceiveTransfer>),
          InstanceMethod("startSendTransfer", &EndpointWrap::GuardVoid<&EndpointWrap::StartSendTransfer>),
          InstanceMethod("sendTransferStats", &EndpointWrap::Guard<&EndpointWrap::SendTransferStats>),
          InstanceMethod("stopSendTransfer", &EndpointWrap::GuardVoid<&EndpointWrap::StopSendTransfer>),
          InstanceMethod("acceptSendTransfer", &EndpointWrap::GuardVoid<&EndpointWrap::AcceptSendTransfer>),
          InstanceMethod("discardEarlyBlocks", &EndpointWrap::GuardVoid<&EndpointWrap::DiscardEarlyBlocks>),
      },
      addon);
}

EndpointWrap::EndpointWrap(const Napi::CallbackInfo& info) : ObjectWrap<EndpointWrap>(info) {
  try {
    Construct(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("jetrecv native failure: ") + e.what());
  }
}

void EndpointWrap::Construct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info.IsConstructCall()) ThrowTypeError(env, "Endpoint must be called with new");
  Addon* addon = static_cast<Addon*>(info.Data());
  Napi::Object opts = ObjectArg(info[0], "opts");

  core::EndpointOptions options;
  std::string role = StringArg(opts.Get("role"), "opts.role");
  if (role == "receiver") {
    options.role = core::EndpointRole::kReceiver;
  } else if (role == "sender") {
    options.role = core::EndpointRole::kSender;
  } else {
    ThrowRangeError(env, "opts.role must be 'receiver' or 'sender'");
  }
  options.bind_address = StringArg(opts.Get("bindAddress"), "opts.bindAddress");
  options.port = static_cast<uint16_t>(IntegerArg(opts.Get("port"), "opts.port", 0, 65535));
  options.sockets =
      static_cast<int>(IntegerArg(opts.Get("sockets"), "opts.sockets", 1, core::kMaxReceiverSockets));
  options.rcvbuf_bytes =
      static_cast<int>(IntegerArg(opts.Get("rcvbufBytes"), "opts.rcvbufBytes", 0, 2147483647.0));
  options.sndbuf_bytes =
      static_cast<int>(IntegerArg(opts.Get("sndbufBytes"), "opts.sndbufBytes", 0, 2147483647.0));
  options.max_datagram =
      Uint32Arg(opts.Get("maxDatagram"), "opts.maxDatagram");  // range: core::Endpoint::Open
  options.feedback_interval_ms =
      static_cast<uint32_t>(IntegerArg(opts.Get("feedbackIntervalMs"), "opts.feedbackIntervalMs", 0, 1e9));
  const std::string direct_io = StringArg(opts.Get("directIo"), "opts.directIo");
  if (direct_io == "auto") {
    options.direct_io = true;
  } else if (direct_io != "off") {
    ThrowRangeError(env, "opts.directIo must be 'auto' or 'off'");
  }
  options.direct_io_threads =
      static_cast<size_t>(IntegerArg(opts.Get("directIoThreads"), "opts.directIoThreads", 1, 16));
  options.tx_threads =
      static_cast<size_t>(IntegerArg(opts.Get("txThreads"), "opts.txThreads", 1, core::kMaxSenderLanes));
  options.event_queue_capacity =
      static_cast<size_t>(IntegerArg(opts.Get("eventQueueCapacity"), "opts.eventQueueCapacity", 16, 1 << 20));
  Napi::Value mac1_key = opts.Get("handshakeMac1Key");
  if (!mac1_key.IsUndefined()) {
    Napi::Uint8Array bytes = BytesArg(mac1_key, "opts.handshakeMac1Key");
    if (bytes.ByteLength() != 32) ThrowRangeError(env, "opts.handshakeMac1Key must be 32 bytes");
    options.handshake_mac1_key.emplace();
    std::memcpy(options.handshake_mac1_key->data(), bytes.Data(), 32);
  }
  // Optional: the receive budget's memory limits (core defaults when absent).
  if (!opts.Get("maxTransferMemory").IsUndefined()) {
    options.receive_budget.max_transfer_memory = static_cast<uint64_t>(
        IntegerArg(opts.Get("maxTransferMemory"), "opts.maxTransferMemory", 0, 9007199254740991.0));
  }
  if (!opts.Get("maxReceiveMemory").IsUndefined()) {
    options.receive_budget.max_total_memory = static_cast<uint64_t>(
        IntegerArg(opts.Get("maxReceiveMemory"), "opts.maxReceiveMemory", 0, 9007199254740991.0));
  }
  // Optional (receiver): hold BLOCKs sent before their transfer's open (early_blocks.h).
  // earlyBlockBytes is the per-session cap, 0 = off (the default).
  if (!opts.Get("earlyBlockBytes").IsUndefined()) {
    options.early_blocks.session_bytes =
        static_cast<size_t>(IntegerArg(opts.Get("earlyBlockBytes"), "opts.earlyBlockBytes", 0, 1 << 30));
    options.early_blocks.total_bytes = core::kEarlyBlockTotalBytes;
    options.early_blocks.ttl_us = core::kEarlyBlockTtlUs;
    if (!opts.Get("earlyBlockTotalBytes").IsUndefined()) {
      options.early_blocks.total_bytes = static_cast<size_t>(
          IntegerArg(opts.Get("earlyBlockTotalBytes"), "opts.earlyBlockTotalBytes", 0, 1 << 30));
    }
  }
  Napi::Value on_events = opts.Get("onEvents");
  if (!on_events.IsFunction()) ThrowTypeError(env, "opts.onEvents must be a function");

  // The doorbell: producers on core threads ring it; at most one call is queued.
  doorbell_ = Napi::ThreadSafeFunction::New(env, on_events.As<Napi::Function>(), "jetrecv-events", 0, 1);
  std::shared_ptr<DoorbellState> state = doorbell_state_;
  Napi::ThreadSafeFunction tsfn = doorbell_;
  options.doorbell = [tsfn, state]() mutable {
    // released is set on the JS thread after every core thread was joined, so
    // the only ringer that can still see it is the JS thread itself (Drain).
    if (state->released.load(std::memory_order_acquire)) return;
    if (state->call_pending.exchange(true, std::memory_order_acq_rel)) return;
    napi_status s = tsfn.NonBlockingCall([state](Napi::Env env, Napi::Function on_events) {
      state->call_pending.store(false, std::memory_order_release);  // before JS drains
      if (env != nullptr && !on_events.IsEmpty() && !state->released.load(std::memory_order_acquire)) {
        on_events.Call({});
      }
    });
    if (s != napi_ok) state->call_pending.store(false, std::memory_order_release);
  };

  core::Status status;
  endpoint_ = core::Endpoint::Open(options, &status);
  if (!endpoint_) {
    ReleaseDoorbell(/*abort=*/false);
    ThrowStatus(env, status);
  }
  live_ = addon->live_endpoints();
  live_->Add(this);
}

EndpointWrap::~EndpointWrap() {
  // Finalizer of an endpoint that was never closed: stop threads first, then
  // abort the doorbell (no JS may run from a finalizer).
  if (endpoint_) endpoint_->Close();
  ReleaseDoorbell(/*abort=*/true);
  if (live_) live_->Remove(this);
}

void EndpointWrap::CloseNative() {
  if (endpoint_) endpoint_->Close();  // joins every core thread that could ring
  ReleaseDoorbell(/*abort=*/false);
  if (live_) live_->Remove(this);
}

void EndpointWrap::ReleaseDoorbell(bool abort) {
  if (doorbell_state_->released.exchange(true, std::memory_order_acq_rel)) return;
  if (abort) {
    doorbell_.Abort();
  } else {
    doorbell_.Release();
  }
}

Napi::Value EndpointWrap::LocalPort(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), endpoint().local_port());
}

Napi::Value EndpointWrap::KernelBuffers(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("rcvbuf", endpoint().granted_rcvbuf());
  out.Set("sndbuf", endpoint().granted_sndbuf());
  return out;
}

void EndpointWrap::Close(const Napi::CallbackInfo& info) { CloseNative(); }

void EndpointWrap::ReadCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    ThrowTypeError(env, "out must be a Float64Array");
  }
  Napi::Float64Array out = info[0].As<Napi::Float64Array>();
  if (out.ElementLength() < core::kCounterCount) {
    ThrowRangeError(env, "out must have at least counterNames.length elements");
  }
  uint64_t sums[core::kCounterCount];
  endpoint().ReadCounters(sums, core::kCounterCount);
  for (size_t i = 0; i < core::kCounterCount; ++i) out[i] = static_cast<double>(sums[i]);
}

Napi::Value EndpointWrap::DrainEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t max = kDefaultDrainMax;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    max = static_cast<size_t>(IntegerArg(info[0], "max", 1, kMaxDrainMax));
  }
  std::vector<core::Event> events;
  const uint64_t dropped = endpoint().TakeDroppedEvents();
  endpoint().DrainEvents(&events, max);
  Napi::Array out = Napi::Array::New(env, events.size() + (dropped > 0 ? 1 : 0));
  uint32_t i = 0;
  if (dropped > 0) {
    Napi::Object overflow = Napi::Object::New(env);
    overflow.Set("type", "overflow");
    overflow.Set("dropped", static_cast<double>(dropped));
    out.Set(i++, overflow);
  }
  for (const core::Event& event : events) out.Set(i++, EventToJs(env, event));
  return out;
}

void EndpointWrap::SendRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string address = StringArg(info[0], "address");
  uint16_t port = static_cast<uint16_t>(IntegerArg(info[1], "port", 1, 65535));
  Napi::Uint8Array packet = BytesArg(info[2], "packet");
  sockaddr_storage dst;
  socklen_t dst_len;
  CheckStatus(env, core::ParseSocketAddress(address, port, &dst, &dst_len));
  CheckStatus(env, endpoint().SendRaw(dst, dst_len, packet.Data(), packet.ByteLength()));
}

void EndpointWrap::AddSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object s = ObjectArg(info[0], "session");
  core::SessionConfig config;
  config.local_index = Uint32Arg(s.Get("localIndex"), "session.localIndex");
  config.remote_index = Uint32Arg(s.Get("remoteIndex"), "session.remoteIndex");
  config.cipher = CipherArg(s.Get("cipher"));
  std::string peer_address = StringArg(s.Get("peerAddress"), "session.peerAddress");
  uint16_t peer_port = static_cast<uint16_t>(IntegerArg(s.Get("peerPort"), "session.peerPort", 1, 65535));
  CheckStatus(env, core::ParseSocketAddress(peer_address, peer_port, &config.peer, &config.peer_len));
  KeyArg(s.Get("sendKey"), "session.sendKey", &config.send_key);
  KeyArg(s.Get("recvKey"), "session.recvKey", &config.recv_key);
  core::Status status = endpoint().AddSession(config);
  OPENSSL_cleanse(config.send_key.data(), config.send_key.size());
  OPENSSL_cleanse(config.recv_key.data(), config.recv_key.size());
  CheckStatus(env, status);
}

void EndpointWrap::RemoveSession(const Napi::CallbackInfo& info) {
  CheckStatus(info.Env(), endpoint().RemoveSession(Uint32Arg(info[0], "localIndex")));
}

void EndpointWrap::SendControl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  Napi::Uint8Array payload = BytesArg(info[1], "payload");
  if (payload.ByteLength() > core::kMaxControlPayload) {
    ThrowRangeError(env, "payload must be at most " + std::to_string(core::kMaxControlPayload) + " bytes");
  }
  CheckStatus(env, endpoint().SendControl(local_index, payload.Data(), payload.ByteLength()));
}

Napi::Value EndpointWrap::SessionStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto stats = endpoint().GetSessionStats(Uint32Arg(info[0], "localIndex"));
  if (!stats) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("packetsRecv", static_cast<double>(stats->packets_recv));
  out.Set("bytesRecv", static_cast<double>(stats->bytes_recv));
  out.Set("packetsSent", static_cast<double>(stats->packets_sent));
  out.Set("bytesSent", static_cast<double>(stats->bytes_sent));
  out.Set("lastRecvUs", static_cast<double>(stats->last_recv_us));
  out.Set("lastSendUs", static_cast<double>(stats->last_send_us));
  return out;
}

Napi::Value EndpointWrap::OpenReceiveTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  uint32_t transfer_id = Uint32Arg(info[1], "transferId");
  core::ReceiveSpec spec = ReceiveSpecArg(info[2]);
  auto* worker = new OpenReceiveWorker(env, info.This().As<Napi::Object>(), &endpoint(), local_index,
                                       transfer_id, std::move(spec));  // deletes itself when done
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value EndpointWrap::ReceiveTransferStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto stats =
      endpoint().GetReceiveTransferStats(Uint32Arg(info[0], "localIndex"), Uint32Arg(info[1], "transferId"));
  if (!stats) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytesReceived", static_cast<double>(stats->bytes_received));
  out.Set("blocksReceived", static_cast<double>(stats->blocks_received));
  out.Set("totalBlocks", static_cast<double>(stats->total_blocks));
  out.Set("filesDone", static_cast<double>(stats->files_done));
  out.Set("recvRateBps", stats->recv_rate_bps);
  out.Set("lastRecvUs", static_cast<double>(stats->last_recv_us));
  out.Set("failed", stats->failed);
  out.Set("blocksResumed", static_cast<double>(stats->blocks_resumed));
  return out;
}

void EndpointWrap::CloseReceiveTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  uint32_t transfer_id = Uint32Arg(info[1], "transferId");
  bool remove_partials = BoolArg(info[2], "removePartials");
  CheckStatus(env, endpoint().CloseReceiveTransfer(local_index, transfer_id, remove_partials));
}

void EndpointWrap::SetReceiveRateCap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  uint32_t transfer_id = Uint32Arg(info[1], "transferId");
  uint64_t cap_bps = Uint53Arg(info[2], "capBps");
  std::shared_ptr<core::ReceiveTransfer> transfer;
  CheckStatus(env, endpoint().ReceiveTransferRef(local_index, transfer_id, &transfer));
  transfer->SetRateCap(cap_bps);
}

Napi::Value EndpointWrap::CheckpointReceiveTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  uint32_t transfer_id = Uint32Arg(info[1], "transferId");
  std::shared_ptr<core::ReceiveTransfer> transfer;
  CheckStatus(env, endpoint().ReceiveTransferRef(local_index, transfer_id, &transfer));
  auto* worker = new CheckpointWorker(env, std::move(transfer));  // deletes itself when done
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void EndpointWrap::StartSendTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  uint32_t transfer_id = Uint32Arg(info[1], "transferId");
  core::SendSpec spec = SendSpecArg(info[2]);
  CheckStatus(env, endpoint().StartSendTransfer(local_index, transfer_id, spec));
}

Napi::Value EndpointWrap::SendTransferStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto stats =
      endpoint().GetSendTransferStats(Uint32Arg(info[0], "localIndex"), Uint32Arg(info[1], "transferId"));
  if (!stats) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytesSent", static_cast<double>(stats->bytes_sent));
  out.Set("blocksSent", static_cast<double>(stats->blocks_sent));
  out.Set("blocksRetransmitted", static_cast<double>(stats->blocks_retransmitted));
  out.Set("blocksTailCopies", static_cast<double>(stats->blocks_tail_copies));
  out.Set("blocksAcked", static_cast<double>(stats->blocks_acked));
  out.Set("totalBlocks", static_cast<double>(stats->total_blocks));
  out.Set("rateBps", stats->rate_bps);
  out.Set("firstPassDone", stats->first_pass_done);
  out.Set("receiverComplete", stats->receiver_complete);
  out.Set("blocksResumed", static_cast<double>(stats->blocks_resumed));
  out.Set("competingEvents", static_cast<double>(stats->competing_events));
  return out;
}

void EndpointWrap::AcceptSendTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  uint32_t transfer_id = Uint32Arg(info[1], "transferId");
  std::vector<core::HeldRange> have = HeldRangesArg(info[2], "have");
  CheckStatus(env, endpoint().AcceptSendTransfer(local_index, transfer_id, have));
}

void EndpointWrap::DiscardEarlyBlocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  uint32_t transfer_id = Uint32Arg(info[1], "transferId");
  CheckStatus(env, endpoint().DiscardEarlyBlocks(local_index, transfer_id));
}

void EndpointWrap::StopSendTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t local_index = Uint32Arg(info[0], "localIndex");
  uint32_t transfer_id = Uint32Arg(info[1], "transferId");
  CheckStatus(env, endpoint().StopSendTransfer(local_index, transfer_id));
}

}  // namespace jetrecv::binding
