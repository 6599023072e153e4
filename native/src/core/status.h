// status.h — the error value returned by core code (core never throws).
// err is an errno value (0 = success). code optionally names a specific
// JETRECV_ERR_* code for the JS layer (empty: the binding derives one from err);
// path optionally names the file or directory the failure concerns.
#pragma once
#include <string>
#include <utility>

namespace jetrecv::core {

struct Status {
  int err = 0;
  std::string message;
  std::string code;  // optional JETRECV_ERR_* code; empty = derive from err
  std::string path;  // optional path the error is about

  bool ok() const { return err == 0; }

  static Status Ok() { return Status{}; }
  static Status Error(int err, std::string message, std::string code = {}, std::string path = {}) {
    return Status{err, std::move(message), std::move(code), std::move(path)};
  }
};

}  // namespace jetrecv::core
