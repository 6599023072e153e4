// endpoint_wrap.h — JS class Endpoint over core::Endpoint (ObjectWrap). The
// core's event queue rings a doorbell (a ThreadSafeFunction, at most one call
// pending) that invokes the JS onEvents callback; JS then calls drainEvents().
#pragma once
#include <napi.h>

#include <atomic>
#include <exception>
#include <memory>
#include <string>

#include "core/endpoint.h"

namespace jetrecv::binding {

class Addon;
class LiveEndpoints;

class EndpointWrap : public Napi::ObjectWrap<EndpointWrap> {
 public:
  // The JS constructor; addon supplies the live-endpoint registry.
  static Napi::Function Init(Napi::Env env, Addon* addon);

  explicit EndpointWrap(const Napi::CallbackInfo& info);
  ~EndpointWrap() override;

  // Stops the core endpoint and releases the doorbell. Idempotent; JS thread.
  void CloseNative();

 private:
  core::Endpoint& endpoint() { return *endpoint_; }

  // Entry-point guards: Napi::Error passes through (node-addon-api turns it into
  // a JS exception); any other C++ exception becomes a JS Error, never a crash.
  template <Napi::Value (EndpointWrap::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Guard(const Napi::CallbackInfo& info) {
    try {
      return (this->*Method)(info);
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("jetrecv native failure: ") + e.what());
    }
  }
  template <void (EndpointWrap::*Method)(const Napi::CallbackInfo&)>
  void GuardVoid(const Napi::CallbackInfo& info) {
    try {
      (this->*Method)(info);
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string("jetrecv native failure: ") + e.what());
    }
  }
  void Construct(const Napi::CallbackInfo& info);

  Napi::Value LocalPort(const Napi::CallbackInfo& info);
  Napi::Value KernelBuffers(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  void ReadCounters(const Napi::CallbackInfo& info);
  Napi::Value DrainEvents(const Napi::CallbackInfo& info);
  void SendRaw(const Napi::CallbackInfo& info);
  void AddSession(const Napi::CallbackInfo& info);
  void RemoveSession(const Napi::CallbackInfo& info);
  void SendControl(const Napi::CallbackInfo& info);
  Napi::Value SessionStats(const Napi::CallbackInfo& info);
  // Promise: the open runs on a worker thread (OpenReceiveWorker).
  Napi::Value OpenReceiveTransfer(const Napi::CallbackInfo& info);
  Napi::Value ReceiveTransferStats(const Napi::CallbackInfo& info);
  void CloseReceiveTransfer(const Napi::CallbackInfo& info);
  void SetReceiveRateCap(const Napi::CallbackInfo& info);
  // Promise of the transfer's checkpoint (see ReceiveTransfer::Checkpoint).
  Napi::Value CheckpointReceiveTransfer(const Napi::CallbackInfo& info);
  void StartSendTransfer(const Napi::CallbackInfo& info);
  Napi::Value SendTransferStats(const Napi::CallbackInfo& info);
  void StopSendTransfer(const Napi::CallbackInfo& info);
  void AcceptSendTransfer(const Napi::CallbackInfo& info);
  void DiscardEarlyBlocks(const Napi::CallbackInfo& info);

  std::unique_ptr<core::Endpoint> endpoint_;
  std::shared_ptr<LiveEndpoints> live_;
  // Shared by the doorbell closure (core threads, and the JS thread via Drain)
  // and the queued TSFN callbacks.
  struct DoorbellState {
    std::atomic<bool> call_pending{false};  // a call is queued and not yet started
    std::atomic<bool> released{false};      // the TSFN is gone: never ring again
  };
  void ReleaseDoorbell(bool abort);

  Napi::ThreadSafeFunction doorbell_;
  std::shared_ptr<DoorbellState> doorbell_state_ = std::make_shared<DoorbellState>();
};

}  // namespace jetrecv::binding
