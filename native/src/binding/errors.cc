// errors.cc — Status -> JS Error mapping, and the list of native error codes.
#include "binding/errors.h"

namespace jetrecv::binding {

Napi::Error StatusError(Napi::Env env, const core::Status& status) {
  Napi::Error error = Napi::Error::New(env, status.message.empty() ? "jetrecv native error" : status.message);
  error.Set("code", Napi::String::New(env, core::CodeOf(status)));
  if (status.err != 0) error.Set("errno", Napi::Number::New(env, status.err));
  if (!status.path.empty()) error.Set("path", Napi::String::New(env, status.path));
  return error;
}

void ThrowStatus(Napi::Env env, const core::Status& status) { throw StatusError(env, status); }

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Set("code", Napi::String::New(env, core::kErrInvalidArgument));
  throw error;
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  Napi::RangeError error = Napi::RangeError::New(env, message);
  error.Set("code", Napi::String::New(env, core::kErrInvalidArgument));
  throw error;
}

Napi::Array ErrorCodeList(Napi::Env env) {
  Napi::Array codes = Napi::Array::New(env, core::kErrorCodeCount);
  for (size_t i = 0; i < core::kErrorCodeCount; ++i) {
    codes.Set(static_cast<uint32_t>(i), Napi::String::New(env, core::kErrorCodes[i]));
  }
  return codes;
}

}  // namespace jetrecv::binding
