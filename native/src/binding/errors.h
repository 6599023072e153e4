// errors.h — the one place where core Status values and argument misuse become
// JS exceptions. Every error carries a string `code` (JETRECV_ERR_*); errors
// from the OS also carry `errno`, errors about a file carry `path`.
#pragma once
#include <napi.h>

#include <string>

#include "core/status.h"

namespace jetrecv::binding {

// A JS Error for a failed Status (code: core::CodeOf), without throwing (for promise rejection).
Napi::Error StatusError(Napi::Env env, const core::Status& status);
// Throws StatusError(env, status).
[[noreturn]] void ThrowStatus(Napi::Env env, const core::Status& status);
// Throws TypeError / RangeError with code JETRECV_ERR_INVALID_ARGUMENT.
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);
[[noreturn]] void ThrowRangeError(Napi::Env env, const std::string& message);

// The addon's `errorCodes` export: every code of core/errors.def, in its order.
Napi::Array ErrorCodeList(Napi::Env env);

// Throws if !status.ok().
inline void CheckStatus(Napi::Env env, const core::Status& status) {
  if (!status.ok()) ThrowStatus(env, status);
}

}  // namespace jetrecv::binding
