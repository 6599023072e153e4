// heap_trim.h — hands memory freed inside the process back to the kernel.
#pragma once

namespace jetrecv::core {

// glibc keeps freed heap memory for reuse, so RSS stays at its peak after many sessions or
// transfers ended. Returns the free pages of every malloc arena to the kernel (malloc_trim);
// true if any memory was released. Costs a walk of the free lists: call it after a large
// batch of frees, not per free. Elsewhere than glibc: does nothing, false.
bool ReleaseFreeHeapMemory();

}  // namespace jetrecv::core
