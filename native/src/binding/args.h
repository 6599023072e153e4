// args.h — cheap type and range checks for arguments from JS. The TS layer does
// the friendly validation; these use fixed messages naming the argument.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "binding/errors.h"

namespace jetrecv::binding {

// A Number that is an integer in [min, max] (max at most 2^53).
inline double IntegerArg(const Napi::Value& value, const char* name, double min, double max) {
  Napi::Env env = value.Env();
  if (!value.IsNumber()) ThrowTypeError(env, std::string(name) + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) {
    ThrowRangeError(env, std::string(name) + " must be an integer");
  }
  if (d < min || d > max) {
    ThrowRangeError(env, std::string(name) + " is out of range");
  }
  return d;
}

inline uint32_t Uint32Arg(const Napi::Value& value, const char* name) {
  return static_cast<uint32_t>(IntegerArg(value, name, 0, 4294967295.0));
}

// A non-negative safe integer (file sizes, bit rates).
inline uint64_t Uint53Arg(const Napi::Value& value, const char* name) {
  return static_cast<uint64_t>(IntegerArg(value, name, 0, 9007199254740991.0));
}

// Any finite Number (e.g. mtimeMs, which may carry a fraction).
inline double NumberArg(const Napi::Value& value, const char* name) {
  if (!value.IsNumber()) ThrowTypeError(value.Env(), std::string(name) + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) ThrowRangeError(value.Env(), std::string(name) + " must be finite");
  return d;
}

inline std::string StringArg(const Napi::Value& value, const char* name) {
  if (!value.IsString()) ThrowTypeError(value.Env(), std::string(name) + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

inline bool BoolArg(const Napi::Value& value, const char* name) {
  if (!value.IsBoolean()) ThrowTypeError(value.Env(), std::string(name) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

inline Napi::Object ObjectArg(const Napi::Value& value, const char* name) {
  if (!value.IsObject() || value.IsArray()) {
    ThrowTypeError(value.Env(), std::string(name) + " must be an object");
  }
  return value.As<Napi::Object>();
}

inline Napi::Array ArrayArg(const Napi::Value& value, const char* name) {
  if (!value.IsArray()) ThrowTypeError(value.Env(), std::string(name) + " must be an array");
  return value.As<Napi::Array>();
}

// A Uint8Array (Buffers are Uint8Arrays). The view stays valid during the call.
inline Napi::Uint8Array BytesArg(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(value.Env(), std::string(name) + " must be a Uint8Array");
  }
  return value.As<Napi::Uint8Array>();
}

}  // namespace jetrecv::binding
