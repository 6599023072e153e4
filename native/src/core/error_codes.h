// error_codes.h — the native error codes (errors.def) as constants and as a list.
#pragma once
#include <cstddef>

namespace jetrecv::core {

#define JETRECV_ERROR(name, key) inline constexpr const char* kErr##name = "JETRECV_ERR_" #key;
#include "core/errors.def"
#undef JETRECV_ERROR

// Every code of errors.def, in its order.
inline constexpr const char* kErrorCodes[] = {
#define JETRECV_ERROR(name, key) kErr##name,
#include "core/errors.def"
#undef JETRECV_ERROR
};
inline constexpr size_t kErrorCodeCount = sizeof(kErrorCodes) / sizeof(kErrorCodes[0]);

}  // namespace jetrecv::core
