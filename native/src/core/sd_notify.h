// sd_notify.h — systemd readiness/status notification without libsystemd.
#pragma once
#include <string>

#include "core/status.h"

namespace jetrecv::core {

// Sends message as one datagram to $NOTIFY_SOCKET (a path, or '@' for the
// abstract namespace). *sent = false and Ok if the variable is unset or empty.
Status SdNotify(const std::string& message, bool* sent);

}  // namespace jetrecv::core
