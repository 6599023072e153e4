// status.h — the error value returned by core code (core never throws).
// err is an errno value (0 = success). code optionally names a specific
// JETRECV_ERR_* code of error_codes.h for the JS layer (empty: CodeOf derives
// one from err); path optionally names the file or directory the failure concerns.
#pragma once
#include <cerrno>
#include <string>
#include <utility>

#include "core/error_codes.h"

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

// The code of a failed status: its own, else argument errors (EINVAL) vs.
// everything else the OS said.
inline const char* CodeOf(const Status& status) {
  if (!status.code.empty()) return status.code.c_str();
  return status.err == EINVAL ? kErrInvalidArgument : kErrIo;
}

}  // namespace jetrecv::core
