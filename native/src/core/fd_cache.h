// fd_cache.h — process-wide budget for the file descriptors that transfers keep
// open between uses (the lazily opened source files of SendTransfer and the
// partial files of ReceiveTransfer). Each transfer keeps at most
// kMaxCachedFdsPerTransfer fds open and closes its least recently used one
// (LRU) when it is at that cap or when the process-wide budget is spent, so a
// transfer of any number of files needs a bounded number of fds. A transfer
// that holds no cached fd may always open one (FdBudgetAcquire(force = true)),
// so a transfer never stalls: the total may exceed the budget by at most one
// fd per transfer. Thread-safe.
#pragma once
#include <cstddef>

namespace jetrecv::core {

// Cap per transfer.
inline constexpr size_t kMaxCachedFdsPerTransfer = 256;

// Process-wide budget: a quarter of the soft RLIMIT_NOFILE at first use,
// clamped to [8, 16384] (the rest stays for sockets, other transfers' forced
// fds, the runtime and checkpoint re-opens).
size_t FdBudget();
// Takes one slot; false when the budget is spent (unless force).
bool FdBudgetAcquire(bool force);
void FdBudgetRelease(size_t n = 1);
// Slots currently taken (for tests).
size_t FdBudgetInUse();
// Test hook: overrides the budget (0 = back to the RLIMIT-derived value).
void SetFdBudgetForTesting(size_t budget);

}  // namespace jetrecv::core
