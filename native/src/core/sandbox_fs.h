// sandbox_fs.h — file-system operations confined beneath a root directory fd.
// Every relative path is first checked lexically (RelPathError), then resolved
// with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) from the root fd, so a
// symlink may be followed only while it stays inside the root. On kernels
// without openat2 (ENOSYS) each component is opened with O_NOFOLLOW instead,
// which refuses every symlink. Failures return Status{err = errno, message
// naming the path and the reason, path = the relative path}; EXDEV means the
// path escapes the sandbox (through a symlink). No function throws.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace jetrecv::core {

// Suffix of partial files: "<dir>/.<name>.<tag>.jrpart" ("<dir>/.<name>.jrpart"
// for records from before partial tags).
inline constexpr const char* kPartialSuffix = ".jrpart";
// A partial tag names the transfer that owns a partial: kPartialTagLen
// lowercase hex digits, chosen by the receiver per transfer (kept across a
// resume), so two transfers never share a partial file.
inline constexpr size_t kPartialTagLen = 16;
// True for "" (untagged, legacy naming) and for a valid tag.
bool PartialTagValid(const std::string& tag);

// Empty if rel_path is an acceptable relative path; otherwise the reason
// ("is empty", "is absolute", "has a '..' component", ...). Refused: empty,
// absolute, NUL bytes, empty components ("a//b", trailing '/'), "." or ".."
// components, a component longer than NAME_MAX, a path longer than PATH_MAX.
std::string RelPathError(const std::string& rel_path);

// Partial name of a final path for the transfer with partial tag `tag`:
// "a/b.txt" -> "a/.b.txt.<tag>.jrpart" ("a/.b.txt.jrpart" for tag ""). A name
// too long for the prefix and suffix is shortened and marked with a stable
// 64-bit hash, so the same (path, tag) always maps to the same partial path.
std::string PartialPathFor(const std::string& final_rel, const std::string& tag = "");

// Opens an absolute directory as the sandbox root (O_PATH | O_DIRECTORY |
// O_CLOEXEC). Symlinks in abs_path itself are followed (the root is trusted).
Status OpenRoot(const std::string& abs_path, int* root_fd);

// Creates rel_dir and its missing ancestors beneath root_fd (mkdirat with mode,
// subject to umask). Existing directories (and in-sandbox symlinks to them) are fine.
Status MakeDirsBeneath(int root_fd, const std::string& rel_dir, mode_t mode);

// Opens a directory beneath root_fd (O_PATH | O_DIRECTORY); "" means the root
// itself (a dup). With create, missing components are made with `mode`.
Status OpenDirBeneath(int root_fd, const std::string& rel_dir, bool create, mode_t mode, int* dir_fd);

// Creates the parent dirs (mode 0755 before umask), refuses a final name that is
// a directory (EISDIR), and opens the partial file PartialPathFor(rel_path)
// (O_CREAT|O_RDWR|O_CLOEXEC|O_NOFOLLOW, mode 0600 until finalize). An existing
// partial is reused (resume) if it is a regular file with one link, else
// replaced. Its length becomes exactly `size`, preallocated with fallocate
// (ftruncate when the file system does not support fallocate).
// What OpenPartialBeneath found at the partial name (for resume checks).
struct PartialOpenInfo {
  bool reused = false;      // an existing partial (regular file, one link) was kept
  uint64_t prior_size = 0;  // its length before it was resized (0 when created)
  bool sparse = false;      // sized with ftruncate (tmpfs, no fallocate): space not reserved
};
// tag: the owning transfer's partial tag (see PartialPathFor).
Status OpenPartialBeneath(int root_fd, const std::string& rel_path, uint64_t size, int* fd,
                          std::string* partial_rel_path, PartialOpenInfo* info = nullptr,
                          const std::string& tag = "");

// Opens the existing file rel_path beneath root_fd with `flags` (O_NOFOLLOW and
// O_CLOEXEC are added; no O_CREAT). Used to re-open partial and final files for
// fdatasync and to check a final file at resume.
Status OpenFileBeneath(int root_fd, const std::string& rel_path, int flags, int* fd);

// fsync of the directory rel_dir beneath root_fd ("" = the root), so renames and
// creations inside it survive a crash.
Status SyncDirBeneath(int root_fd, const std::string& rel_dir);

// Applies mode (fchmod) and mtime (futimens; atime left alone) to fd, then
// renames partial_rel to final_rel (renameat, both beneath root_fd). A symlink
// at the final name is replaced, never followed; an existing regular file is
// replaced; a directory at the final name is refused with EISDIR.
Status FinalizeBeneath(int root_fd, int fd, const std::string& partial_rel, const std::string& final_rel,
                       mode_t mode, int64_t mtime_ms);

// Removes the file rel_path beneath root_fd (unlinkat; a symlink is removed,
// not followed). ENOENT is reported like any other error.
Status UnlinkBeneath(int root_fd, const std::string& rel_path);

// What RemoveStalePartial found at the partial name.
enum class StalePartial { kRemoved, kMissing, kReplaced };

// Retention of abandoned resumable transfers: removes PartialPathFor(final_rel, tag)
// beneath the sandbox root abs_root only if it still looks like the partial
// jetrecv made: a regular file with one link and exactly `size` bytes (partials
// are sized to the manifest at Open). Its directory is opened beneath the root
// (no symlink is followed); a symlink, directory, hard-linked or differently
// sized file at that name is left alone (kReplaced); no such name or directory
// is kMissing. Other errors (e.g. EXDEV for an escape) are returned.
Status RemoveStalePartial(const std::string& abs_root, const std::string& final_rel, uint64_t size,
                          StalePartial* result, const std::string& tag = "");

// What SweepPartials did.
struct PartialSweep {
  uint64_t removed = 0;        // tagged partials removed
  uint64_t bytes_removed = 0;  // their allocated bytes
  uint64_t kept = 0;           // tagged partials of a tag in keep_tags
  uint64_t left_alone = 0;     // tagged names that are not a plain file (link, dir, hard-linked)
};

// Start-up sweep: walks the tree beneath abs_root (never through a symlink,
// never onto another file system) and removes every tagged partial
// ("." name "." tag ".jrpart") whose tag is not in keep_tags, with the rules of
// RemoveStalePartial (a regular file with one link; anything else is left
// alone). Untagged names are never touched. Blocking: run it before the
// receiver accepts transfers. Directories it cannot open are skipped.
Status SweepPartials(const std::string& abs_root, const std::vector<std::string>& keep_tags,
                     PartialSweep* result);

// Test hook: when true, behave as if the kernel had no openat2 (ENOSYS).
void ForceNoOpenat2ForTesting(bool force);

}  // namespace jetrecv::core
