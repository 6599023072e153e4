// addon.cc — module entry point: Napi::Addon instance data and its exports.
#include "binding/addon.h"

#include <vector>

#include "binding/args.h"
#include "binding/endpoint_wrap.h"
#include "binding/errors.h"
#include "core/aead.h"
#include "core/counters.h"
#include "core/early_blocks.h"
#include "core/heap_trim.h"
#include "core/limits.h"
#include "core/peer_cred.h"
#include "core/sandbox_fs.h"
#include "core/sd_notify.h"
#include "core/udp_socket.h"
#include "core/wire_format.h"

namespace jetrecv::binding {
namespace {

// The core's bounds that TypeScript uses, so it never retypes them (src/addon/limits.ts
// names them; test/native/contract.test.ts checks the key list). Frozen.
Napi::Object Constants(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  const auto set = [&](const char* name, size_t value) {
    out.Set(name, Napi::Number::New(env, static_cast<double>(value)));
  };
  set("blockPacketOverhead", core::kBlockPacketOverhead);
  set("maxDatagram", core::kMaxDatagram);
  set("maxControlPayload", core::kMaxControlPayload);
  set("defaultEventQueueCapacity", core::kMaxQueuedEvents);
  set("maxLanes", core::kMaxLanes);
  set("handshakeInitLength", core::kHandshakeInitLen);
  set("handshakeRespLength", core::kHandshakeRespLen);
  set("handshakeCookieLength", core::kHandshakeCookieLen);
  set("earlyBlockSessionBytes", core::kEarlyBlockSessionBytes);
  out.Freeze();
  return out;
}

}  // namespace

void LiveEndpoints::Add(EndpointWrap* endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  endpoints_.insert(endpoint);
}

void LiveEndpoints::Remove(EndpointWrap* endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  endpoints_.erase(endpoint);
}

void LiveEndpoints::CloseAll() {
  std::vector<EndpointWrap*> endpoints;
  {
    std::lock_guard<std::mutex> lock(mu_);
    endpoints.assign(endpoints_.begin(), endpoints_.end());
  }
  for (EndpointWrap* endpoint : endpoints) endpoint->CloseNative();  // each Removes itself
}

Addon::Addon(Napi::Env env, Napi::Object exports) {
  Napi::Array names = Napi::Array::New(env, core::kCounterCount);
  for (size_t i = 0; i < core::kCounterCount; ++i) {
    names.Set(static_cast<uint32_t>(i), core::CounterName(static_cast<core::CounterId>(i)));
  }
  // The AEAD back end new sessions get, per cipher (core/aead.h DefaultAeadBackend).
  Napi::Object aead_backends = Napi::Object::New(env);
  for (core::Cipher cipher : {core::Cipher::kAes256Gcm, core::Cipher::kChaCha20Poly1305}) {
    aead_backends.Set(core::CipherName(cipher), core::AeadBackendName(core::DefaultAeadBackend(cipher)));
  }
  Napi::Function endpoint_class = EndpointWrap::Init(env, this);
  endpoint_constructor_ = Napi::Persistent(endpoint_class);
  DefineAddon(exports,
              {
                  InstanceValue("counterNames", names, napi_enumerable),
                  InstanceValue("constants", Constants(env), napi_enumerable),
                  InstanceValue("aeadBackends", aead_backends, napi_enumerable),
                  InstanceValue("errorCodes", ErrorCodeList(env), napi_enumerable),
                  InstanceMethod("sdNotify", &Addon::SdNotify, napi_enumerable),
                  InstanceMethod("removeStalePartial", &Addon::RemoveStalePartial, napi_enumerable),
                  InstanceMethod("sweepPartials", &Addon::SweepPartials, napi_enumerable),
                  InstanceMethod("routeMtu", &Addon::RouteMtu, napi_enumerable),
                  InstanceMethod("releaseFreeHeapMemory", &Addon::ReleaseFreeHeapMemory, napi_enumerable),
                  InstanceMethod("peerCredentials", &Addon::PeerCredentials, napi_enumerable),
                  InstanceValue("Endpoint", endpoint_class, napi_enumerable),
              });
  // Close endpoints the program forgot, before the environment goes away.
  std::shared_ptr<LiveEndpoints> live = live_;
  env.AddCleanupHook([live] { live->CloseAll(); });
}

Napi::Value Addon::SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string message = StringArg(info[0], "message");
  bool sent = false;
  CheckStatus(env, core::SdNotify(message, &sent));
  return Napi::Boolean::New(env, sent);
}

// removeStalePartial(root, path, size, tag = '') -> 'removed' | 'missing' | 'replaced'
// (see core::RemoveStalePartial); throws on other errors. Blocking, a few syscalls.
Napi::Value Addon::RemoveStalePartial(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string root = StringArg(info[0], "root");
  std::string path = StringArg(info[1], "path");
  uint64_t size = Uint53Arg(info[2], "size");
  std::string tag = info.Length() > 3 && !info[3].IsUndefined() ? StringArg(info[3], "tag") : std::string();
  core::StalePartial result = core::StalePartial::kMissing;
  CheckStatus(env, core::RemoveStalePartial(root, path, size, &result, tag));
  switch (result) {
    case core::StalePartial::kRemoved: return Napi::String::New(env, "removed");
    case core::StalePartial::kReplaced: return Napi::String::New(env, "replaced");
    case core::StalePartial::kMissing: break;
  }
  return Napi::String::New(env, "missing");
}

// sweepPartials(root, keepTags) -> { removed, bytesRemoved, kept, leftAlone } (see
// core::SweepPartials); throws if the root cannot be opened. Blocking: walks the tree.
Napi::Value Addon::SweepPartials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string root = StringArg(info[0], "root");
  Napi::Array tags = ArrayArg(info[1], "keepTags");
  std::vector<std::string> keep;
  for (uint32_t i = 0; i < tags.Length(); ++i) keep.push_back(StringArg(tags.Get(i), "keepTags[i]"));
  core::PartialSweep result;
  CheckStatus(env, core::SweepPartials(root, keep, &result));
  Napi::Object out = Napi::Object::New(env);
  out.Set("removed", Napi::Number::New(env, static_cast<double>(result.removed)));
  out.Set("bytesRemoved", Napi::Number::New(env, static_cast<double>(result.bytes_removed)));
  out.Set("kept", Napi::Number::New(env, static_cast<double>(result.kept)));
  out.Set("leftAlone", Napi::Number::New(env, static_cast<double>(result.left_alone)));
  return out;
}

// routeMtu(address, port) -> MTU of the local route towards a numeric address
// (core::RouteMtu); throws on a bad address or no route.
Napi::Value Addon::RouteMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string address = StringArg(info[0], "address");
  const auto port = static_cast<uint16_t>(IntegerArg(info[1], "port", 0, 65535));
  int mtu = 0;
  CheckStatus(env, core::RouteMtu(address, port, &mtu));
  return Napi::Number::New(env, mtu);
}

// releaseFreeHeapMemory() -> true if freed heap memory went back to the kernel
// (core::ReleaseFreeHeapMemory).
Napi::Value Addon::ReleaseFreeHeapMemory(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), core::ReleaseFreeHeapMemory());
}

// peerCredentials(fd) -> { pid, uid, gid } of the peer of a connected Unix socket
// (core::PeerCredentials); throws (code, errno) for anything else.
Napi::Value Addon::PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = static_cast<int>(IntegerArg(info[0], "fd", 0, 2147483647.0));
  core::PeerCred cred;
  CheckStatus(env, core::PeerCredentials(fd, &cred));
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, static_cast<double>(cred.pid)));
  out.Set("uid", Napi::Number::New(env, static_cast<double>(cred.uid)));
  out.Set("gid", Napi::Number::New(env, static_cast<double>(cred.gid)));
  return out;
}

}  // namespace jetrecv::binding

using JetrecvAddon = jetrecv::binding::Addon;  // NODE_API_ADDON needs an unqualified name
NODE_API_ADDON(JetrecvAddon)
