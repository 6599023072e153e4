// addon.h — the addon's per-environment instance data (Napi::Addon): exports
// counterNames, constants, sdNotify, removeStalePartial, sweepPartials, routeMtu,
// releaseFreeHeapMemory, peerCredentials and the Endpoint class, and keeps the registry of live
// endpoints that the environment cleanup hook closes (endpoints the program
// forgot to close must not leave threads running at exit).
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>
#include <set>

namespace jetrecv::binding {

class EndpointWrap;

// Endpoints not yet closed in one environment. Shared (shared_ptr) by the
// addon, every EndpointWrap and the cleanup hook, so teardown order is moot.
class LiveEndpoints {
 public:
  void Add(EndpointWrap* endpoint);
  void Remove(EndpointWrap* endpoint);
  // Closes every live endpoint (JS thread only).
  void CloseAll();

 private:
  std::mutex mu_;
  std::set<EndpointWrap*> endpoints_;  // guarded by mu_
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  const std::shared_ptr<LiveEndpoints>& live_endpoints() const { return live_; }

 private:
  Napi::Value SdNotify(const Napi::CallbackInfo& info);
  Napi::Value RemoveStalePartial(const Napi::CallbackInfo& info);
  Napi::Value SweepPartials(const Napi::CallbackInfo& info);
  Napi::Value RouteMtu(const Napi::CallbackInfo& info);
  Napi::Value ReleaseFreeHeapMemory(const Napi::CallbackInfo& info);
  Napi::Value PeerCredentials(const Napi::CallbackInfo& info);

  std::shared_ptr<LiveEndpoints> live_ = std::make_shared<LiveEndpoints>();
  Napi::FunctionReference endpoint_constructor_;
};

}  // namespace jetrecv::binding
