// heap_trim.cc — see heap_trim.h.
#include "core/heap_trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace jetrecv::core {

bool ReleaseFreeHeapMemory() {
#if defined(__GLIBC__)
  return malloc_trim(0) == 1;
#else
  return false;
#endif
}

}  // namespace jetrecv::core
