// dest_claims.h — which receive transfer is writing each destination path.
// A destination (sandbox root + relative final path) belongs to at most one
// open ReceiveTransfer at a time in the process: a second transfer naming it
// is refused at Open (JETRECV_ERR_PATH_BUSY) before anything touches the disk,
// so two transfers never write one file and a finalize never renames over a
// file another live transfer is receiving. Claims are by path string: an alias
// through a symlink the operator made inside the sandbox is a different path
// (each transfer still writes only its own tagged partial). Thread-safe.
#pragma once
#include <string>
#include <vector>

#include "core/status.h"

namespace jetrecv::core {

// Claims every path of `paths` beneath root for owner, all or none. A path
// already claimed by another owner: nothing is claimed and the Status (EBUSY,
// kErrPathBusy, path = that path) names it (quoted path truncated).
Status ClaimDestinations(const std::string& root, const std::vector<std::string>& paths, const void* owner);
// Releases every claim of owner (none: no-op).
void ReleaseDestinations(const void* owner);

}  // namespace jetrecv::core
