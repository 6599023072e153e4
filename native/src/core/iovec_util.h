// iovec_util.h — helpers for partial vectored I/O (preadv/pwritev may move fewer
// bytes than asked, e.g. at ENOSPC or end of file).
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace jetrecv::core {

// Consumes `done` bytes from the front of the iovec array [*cur, *cur + *left): whole
// entries are skipped and a partly done entry is trimmed, so the next call continues
// exactly where the short transfer stopped.
inline void AdvanceIovecs(iovec** cur, int* left, size_t done) {
  while (*left > 0 && done >= (*cur)->iov_len) {
    done -= (*cur)->iov_len;
    ++*cur;
    --*left;
  }
  if (*left > 0) {
    (*cur)->iov_base = static_cast<uint8_t*>((*cur)->iov_base) + done;
    (*cur)->iov_len -= done;
  }
}

}  // namespace jetrecv::core
