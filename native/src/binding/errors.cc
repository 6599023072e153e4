// errors.cc — Status -> JS Error mapping.
#include "binding/errors.h"

#include <cerrno>

namespace jetrecv::binding {
namespace {

// Code for a Status that names none: argument errors vs. everything the OS said.
const char* DefaultCode(int err) {
  switch (err) {
    case EINVAL: return kErrInvalidArgument;
    default: return "JETRECV_ERR_IO";
  }
}

}  // namespace

void ThrowStatus(Napi::Env env, const core::Status& status) {
  Napi::Error error = Napi::Error::New(env, status.message.empty() ? "jetrecv native error" : status.message);
  error.Set("code", Napi::String::New(env, status.code.empty() ? DefaultCode(status.err) : status.code));
  if (status.err != 0) error.Set("errno", Napi::Number::New(env, status.err));
  if (!status.path.empty()) error.Set("path", Napi::String::New(env, status.path));
  throw error;
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, kErrInvalidArgument));
  throw error;
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError error = Napi::RangeError::New(env, message);
  error.Set("code", Napi::String::New(env, kErrInvalidArgument));
  throw error;
}

}  // namespace jetrecv::binding
