// sandbox_fs.cc — see sandbox_fs.h.
#include "core/sandbox_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

namespace jetrecv::core {
namespace {

std::atomic<bool> g_force_no_openat2{false};
std::atomic<bool> g_openat2_missing{false};  // learned from a first ENOSYS

std::string ErrnoText(int err) { return std::strerror(err); }

// Error for errno `err` while doing `what` on `path` (relative to the sandbox).
Status PathError(int err, const std::string& what, const std::string& path) {
  if (err == EXDEV) {
    return Status::Error(err, "path escapes the sandbox through a symlink: " + path, kErrPathEscape, path);
  }
  return Status::Error(err, what + " " + path + ": " + ErrnoText(err), kErrIo, path);
}

// Gives fd (a regular file) length `size` with its space reserved; 0 or an errno
// (ENOSPC when it cannot fit). On ext4/xfs/btrfs fallocate reserves extents
// without writing data, so it is cheap and guarantees the space. On tmpfs
// fallocate allocates (and the kernel clears) every page up front, which the
// data then overwrites: about 0.4 CPU-s per GB received, for a "reservation"
// tmpfs does not need for layout. There the free space is checked with
// fstatvfs instead (so a file that cannot fit still fails here, at open) and
// the file is sized with ftruncate (sparse; pages are allocated by the writes).
// The tmpfs check is per file, not a reservation: files that each fit but not
// together, or another writer filling the tmpfs, fail later with ENOSPC on the
// write (a disk error of the transfer, as on any file system that runs full).
// *sparse: sized with ftruncate, its space not reserved.
int PreallocateFile(int fd, uint64_t size, bool* sparse) {
  *sparse = false;
  if (size == 0) return 0;
  struct statfs sfs {};
  if (fstatfs(fd, &sfs) == 0 && static_cast<unsigned long>(sfs.f_type) == TMPFS_MAGIC) {
    struct statvfs vfs {};
    struct stat st {};
    if (fstatvfs(fd, &vfs) == 0 && fstat(fd, &st) == 0 && vfs.f_blocks != 0) {
      // f_blocks == 0: a tmpfs without a size limit (size=0), nothing to check.
      const uint64_t have = static_cast<uint64_t>(st.st_blocks) * 512;  // already allocated
      const uint64_t need = size > have ? size - have : 0;
      const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
      if (need > avail) return ENOSPC;
    }
    *sparse = true;
    return ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
  }
  if (fallocate(fd, 0, 0, static_cast<off_t>(size)) == 0) return 0;
  const int err = errno;
  if (err == EOPNOTSUPP || err == ENOSYS || err == EINVAL) {
    *sparse = true;
    return ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
  }
  return err;
}

std::vector<std::string> SplitComponents(const std::string& rel) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= rel.size()) {
    const size_t slash = rel.find('/', start);
    const size_t end = slash == std::string::npos ? rel.size() : slash;
    parts.push_back(rel.substr(start, end - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

void SplitParent(const std::string& rel, std::string* dir, std::string* name) {
  const size_t slash = rel.rfind('/');
  if (slash == std::string::npos) {
    dir->clear();
    *name = rel;
  } else {
    *dir = rel.substr(0, slash);
    *name = rel.substr(slash + 1);
  }
}

// openat2 beneath dirfd; -errno on failure, ENOSYS when the kernel lacks it.
int Openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t mode) {
  if (g_force_no_openat2.load(std::memory_order_relaxed) ||
      g_openat2_missing.load(std::memory_order_relaxed)) {
    return -ENOSYS;
  }
  open_how how{};
  how.flags = flags;
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const long fd = syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    // EAGAIN: a concurrent rename/mount raced the resolution; retry a few times.
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ENOSYS) g_openat2_missing.store(true, std::memory_order_relaxed);
    return -errno;
  }
  return -EAGAIN;
}

// Fallback without openat2: opens each component with O_NOFOLLOW from root_fd.
// Every symlink is refused (EXDEV), because it cannot be resolved safely here.
int WalkOpen(int root_fd, const std::string& rel, int final_flags, mode_t mode) {
  const std::vector<std::string> parts = SplitComponents(rel);
  int cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
  if (cur < 0) return -errno;
  for (size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    const int flags = last ? (final_flags | O_NOFOLLOW) : (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int next = openat(cur, parts[i].c_str(), flags, mode);
    int err = errno;
    if (next < 0 && (err == ELOOP || err == ENOTDIR)) {
      // O_NOFOLLOW on a symlink: ELOOP (or ENOTDIR with O_DIRECTORY). Tell them apart.
      struct stat st {};
      if (fstatat(cur, parts[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        err = EXDEV;
      }
    }
    close(cur);
    if (next < 0) return -err;
    cur = next;
  }
  return cur;
}

// Opens rel (already validated) beneath root_fd with flags; -errno on failure.
int OpenBeneath(int root_fd, const std::string& rel, int flags, mode_t mode) {
  const int fd =
      Openat2(root_fd, rel, static_cast<uint64_t>(flags | O_CLOEXEC), (flags & O_CREAT) ? mode : 0);
  if (fd != -ENOSYS) return fd;
  return WalkOpen(root_fd, rel, flags | O_CLOEXEC, mode);
}

Status LexicalCheck(const std::string& rel, const char* what) {
  const std::string reason = RelPathError(rel);
  if (reason.empty()) return Status::Ok();
  return Status::Error(EINVAL, std::string(what) + " " + reason + ": '" + rel + "'", kErrPathInvalid, rel);
}

// 64-bit FNV-1a: stable across builds and runs (partial names must be).
uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

std::string RelPathError(const std::string& rel) {
  if (rel.empty()) return "is empty";
  if (rel.find('\0') != std::string::npos) return "contains a NUL byte";
  if (rel.size() >= PATH_MAX) return "is longer than PATH_MAX";
  if (rel[0] == '/') return "is absolute";
  for (const std::string& part : SplitComponents(rel)) {
    if (part.empty()) return "has an empty component";
    if (part == ".") return "has a '.' component";
    if (part == "..") return "has a '..' component";
    if (part.size() > NAME_MAX) return "has a component longer than NAME_MAX";
  }
  return {};
}

bool PartialTagValid(const std::string& tag) {
  if (tag.empty()) return true;
  if (tag.size() != kPartialTagLen) return false;
  for (char c : tag) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string PartialPathFor(const std::string& final_rel, const std::string& tag) {
  std::string dir, name;
  SplitParent(final_rel, &dir, &name);
  const std::string suffix = tag.empty() ? std::string(kPartialSuffix) : "." + tag + kPartialSuffix;
  std::string partial(1, '.');
  partial.append(name).append(suffix);
  if (partial.size() > NAME_MAX) {
    char mark[24];
    std::snprintf(mark, sizeof(mark), "~%016llx", static_cast<unsigned long long>(Fnv1a(name)));
    const size_t keep = NAME_MAX - 1 - std::strlen(mark) - suffix.size();
    partial.resize(1);  // keep the leading '.'
    partial.append(name, 0, keep).append(mark).append(suffix);
  }
  return dir.empty() ? partial : dir + "/" + partial;
}

void ForceNoOpenat2ForTesting(bool force) { g_force_no_openat2.store(force); }

Status OpenRoot(const std::string& abs_path, int* root_fd) {
  *root_fd = -1;
  if (abs_path.empty() || abs_path[0] != '/' || abs_path.find('\0') != std::string::npos) {
    return Status::Error(EINVAL, "sandbox root must be an absolute path: '" + abs_path + "'", kErrPathInvalid,
                         abs_path);
  }
  const int fd = open(abs_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Status::Error(err, "cannot open sandbox root " + abs_path + ": " + ErrnoText(err), kErrIo,
                         abs_path);
  }
  *root_fd = fd;
  return Status::Ok();
}

Status OpenDirBeneath(int root_fd, const std::string& rel_dir, bool create, mode_t mode, int* dir_fd) {
  *dir_fd = -1;
  if (rel_dir.empty()) {
    const int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return PathError(errno, "cannot open directory", ".");
    *dir_fd = fd;
    return Status::Ok();
  }
  Status lexical = LexicalCheck(rel_dir, "directory path");
  if (!lexical.ok()) return lexical;

  // Fast path: the whole directory already exists.
  int fd = OpenBeneath(root_fd, rel_dir, O_PATH | O_DIRECTORY, 0);
  if (fd >= 0) {
    *dir_fd = fd;
    return Status::Ok();
  }
  if (fd != -ENOENT || !create) return PathError(-fd, "cannot open directory", rel_dir);

  // Walk prefixes from the root; each is resolved beneath the root, so an
  // in-sandbox symlink in the middle is followed and an escaping one refused.
  int parent = fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
  if (parent < 0) return PathError(errno, "cannot open directory", ".");
  std::string prefix;
  for (const std::string& part : SplitComponents(rel_dir)) {
    prefix = prefix.empty() ? part : prefix + "/" + part;
    int next = OpenBeneath(root_fd, prefix, O_PATH | O_DIRECTORY, 0);
    if (next == -ENOENT) {
      // mkdirat of one name in a verified parent never follows a symlink.
      if (mkdirat(parent, part.c_str(), mode) != 0 && errno != EEXIST) {
        const int err = errno;
        close(parent);
        return PathError(err, "cannot create directory", prefix);
      }
      next = OpenBeneath(root_fd, prefix, O_PATH | O_DIRECTORY, 0);
    }
    close(parent);
    if (next < 0) return PathError(-next, "cannot open directory", prefix);
    parent = next;
  }
  *dir_fd = parent;
  return Status::Ok();
}

Status MakeDirsBeneath(int root_fd, const std::string& rel_dir, mode_t mode) {
  int fd = -1;
  Status st = OpenDirBeneath(root_fd, rel_dir, /*create=*/true, mode, &fd);
  if (fd >= 0) close(fd);
  return st;
}

Status OpenPartialBeneath(int root_fd, const std::string& rel_path, uint64_t size, int* fd,
                          std::string* partial_rel_path, PartialOpenInfo* info, const std::string& tag) {
  *fd = -1;
  if (info != nullptr) *info = PartialOpenInfo{};
  Status lexical = LexicalCheck(rel_path, "file path");
  if (!lexical.ok()) return lexical;
  if (!PartialTagValid(tag)) {
    return Status::Error(EINVAL, "invalid partial tag '" + tag + "'", kErrPathInvalid, rel_path);
  }
  const std::string partial_rel = PartialPathFor(rel_path, tag);
  std::string dir, name, partial_dir, partial_name;
  SplitParent(rel_path, &dir, &name);
  SplitParent(partial_rel, &partial_dir, &partial_name);

  int dir_fd = -1;
  Status st = OpenDirBeneath(root_fd, dir, /*create=*/true, 0755, &dir_fd);
  if (!st.ok()) {
    // Report the file the caller asked for, not just its directory.
    if (st.err == EXDEV) return PathError(EXDEV, "", rel_path);
    st.path = rel_path;
    return st;
  }

  struct stat final_st {};
  if (fstatat(dir_fd, name.c_str(), &final_st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(final_st.st_mode)) {
    close(dir_fd);
    return Status::Error(EISDIR, "cannot receive file " + rel_path + ": a directory has that name", kErrIo,
                         rel_path);
  }

  // Was there a regular file at the partial name before? (For PartialOpenInfo.)
  struct stat pre_st {};
  const bool existed =
      fstatat(dir_fd, partial_name.c_str(), &pre_st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(pre_st.st_mode);

  // One name inside a verified directory, opened with O_NOFOLLOW.
  const int open_flags = O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW;
  int file_fd = openat(dir_fd, partial_name.c_str(), open_flags, 0600);
  int err = errno;
  struct stat pst {};
  bool replace = false;
  if (file_fd < 0) {
    // ELOOP: a symlink sits at the partial name. Remove it and start fresh.
    replace = err == ELOOP;
  } else if (fstat(file_fd, &pst) != 0 || !S_ISREG(pst.st_mode) || pst.st_nlink != 1) {
    // Not ours to reuse (special file, or hard-linked elsewhere): replace it.
    close(file_fd);
    file_fd = -1;
    replace = true;
    err = EEXIST;
  }
  if (replace) {
    if (unlinkat(dir_fd, partial_name.c_str(), 0) != 0 && errno != ENOENT) {
      err = errno;
      close(dir_fd);
      return PathError(err, "cannot replace stale partial file", partial_rel);
    }
    file_fd = openat(dir_fd, partial_name.c_str(), open_flags | O_EXCL, 0600);
    err = errno;
  }
  if (file_fd < 0) {
    close(dir_fd);
    return PathError(err, "cannot create partial file", partial_rel);
  }
  // A partial this call created is removed again when it cannot be sized (e.g. ENOSPC
  // from fallocate), so a full disk gets back what the attempt took; a reused one
  // (resume data) is left as it was found.
  const bool created = !existed || replace;
  auto fail = [&](int e, const char* what) {
    close(file_fd);
    if (created) unlinkat(dir_fd, partial_name.c_str(), 0);
    close(dir_fd);
    return PathError(e, what, partial_rel);
  };

  if (info != nullptr && existed && !replace && fstat(file_fd, &pst) == 0) {
    info->reused = true;
    info->prior_size = static_cast<uint64_t>(pst.st_size);
  }
  // Exact length, preallocated: shrink a longer stale partial, then reserve.
  if (fstat(file_fd, &pst) == 0 && static_cast<uint64_t>(pst.st_size) > size &&
      ftruncate(file_fd, static_cast<off_t>(size)) != 0) {
    return fail(errno, "cannot truncate partial file");
  }
  bool sparse = false;
  err = PreallocateFile(file_fd, size, &sparse);
  if (info != nullptr) info->sparse = sparse;
  if (err != 0) {
    return fail(err,
                err == ENOSPC ? "no space to preallocate partial file" : "cannot preallocate partial file");
  }
  close(dir_fd);
  *fd = file_fd;
  *partial_rel_path = partial_rel;
  return Status::Ok();
}

Status FinalizeBeneath(int root_fd, int fd, const std::string& partial_rel, const std::string& final_rel,
                       mode_t mode, int64_t mtime_ms) {
  Status lexical = LexicalCheck(final_rel, "file path");
  if (!lexical.ok()) return lexical;
  lexical = LexicalCheck(partial_rel, "partial path");
  if (!lexical.ok()) return lexical;

  if (fchmod(fd, mode) != 0) return PathError(errno, "cannot set mode of", final_rel);
  timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  // Floor division, so times before 1970 get a valid (non-negative) tv_nsec.
  int64_t sec = mtime_ms / 1000;
  int64_t ms = mtime_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    sec -= 1;
  }
  times[1].tv_sec = static_cast<time_t>(sec);
  times[1].tv_nsec = static_cast<long>(ms * 1'000'000);
  if (futimens(fd, times) != 0) return PathError(errno, "cannot set mtime of", final_rel);

  std::string final_dir, final_name, partial_dir, partial_name;
  SplitParent(final_rel, &final_dir, &final_name);
  SplitParent(partial_rel, &partial_dir, &partial_name);
  int fdir = -1;
  Status st = OpenDirBeneath(root_fd, final_dir, /*create=*/false, 0, &fdir);
  if (!st.ok()) return st;
  int pdir = fdir;
  if (partial_dir != final_dir) {
    st = OpenDirBeneath(root_fd, partial_dir, /*create=*/false, 0, &pdir);
    if (!st.ok()) {
      close(fdir);
      return st;
    }
  }
  struct stat final_st {};
  int err = 0;
  if (fstatat(fdir, final_name.c_str(), &final_st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(final_st.st_mode)) {
    err = EISDIR;
  } else if (renameat(pdir, partial_name.c_str(), fdir, final_name.c_str()) != 0) {
    err = errno;
  }
  if (pdir != fdir) close(pdir);
  close(fdir);
  if (err == EISDIR) {
    return Status::Error(EISDIR, "cannot finalize " + final_rel + ": a directory has that name", kErrIo,
                         final_rel);
  }
  if (err != 0) return PathError(err, "cannot rename partial file into place as", final_rel);
  return Status::Ok();
}

Status OpenFileBeneath(int root_fd, const std::string& rel_path, int flags, int* fd) {
  *fd = -1;
  Status lexical = LexicalCheck(rel_path, "file path");
  if (!lexical.ok()) return lexical;
  const int f = OpenBeneath(root_fd, rel_path, (flags & ~O_CREAT) | O_NOFOLLOW, 0);
  if (f < 0) return PathError(-f, "cannot open", rel_path);
  *fd = f;
  return Status::Ok();
}

Status SyncDirBeneath(int root_fd, const std::string& rel_dir) {
  int fd = -1;
  if (rel_dir.empty()) {
    fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PathError(errno, "cannot open directory", ".");
  } else {
    Status st = OpenFileBeneath(root_fd, rel_dir, O_RDONLY | O_DIRECTORY, &fd);
    if (!st.ok()) return st;
  }
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  if (rc != 0) return PathError(err, "cannot sync directory", rel_dir.empty() ? "." : rel_dir);
  return Status::Ok();
}

Status UnlinkBeneath(int root_fd, const std::string& rel_path) {
  Status lexical = LexicalCheck(rel_path, "file path");
  if (!lexical.ok()) return lexical;
  std::string dir, name;
  SplitParent(rel_path, &dir, &name);
  int dir_fd = -1;
  Status st = OpenDirBeneath(root_fd, dir, /*create=*/false, 0, &dir_fd);
  if (!st.ok()) return st;
  const int rc = unlinkat(dir_fd, name.c_str(), 0);
  const int err = errno;
  close(dir_fd);
  if (rc != 0) return PathError(err, "cannot remove", rel_path);
  return Status::Ok();
}

Status RemoveStalePartial(const std::string& abs_root, const std::string& final_rel, uint64_t size,
                          StalePartial* result, const std::string& tag) {
  *result = StalePartial::kMissing;
  Status lexical = LexicalCheck(final_rel, "file path");
  if (!lexical.ok()) return lexical;
  if (!PartialTagValid(tag)) {
    return Status::Error(EINVAL, "invalid partial tag '" + tag + "'", kErrPathInvalid, final_rel);
  }
  int root_fd = -1;
  Status st = OpenRoot(abs_root, &root_fd);
  if (!st.ok()) return st;
  std::string dir, name;
  SplitParent(PartialPathFor(final_rel, tag), &dir, &name);
  int dir_fd = -1;
  st = OpenDirBeneath(root_fd, dir, /*create=*/false, 0, &dir_fd);
  close(root_fd);
  if (!st.ok()) {
    if (st.err == ENOENT) return Status::Ok();  // directory gone: nothing to remove
    if (st.err == ENOTDIR) {                    // a component is no longer a directory
      *result = StalePartial::kReplaced;
      return Status::Ok();
    }
    return st;
  }
  struct stat pst {};
  if (fstatat(dir_fd, name.c_str(), &pst, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    close(dir_fd);
    if (err == ENOENT) return Status::Ok();
    return PathError(err, "cannot inspect partial of", final_rel);
  }
  if (!S_ISREG(pst.st_mode) || pst.st_nlink != 1 || static_cast<uint64_t>(pst.st_size) != size) {
    close(dir_fd);
    *result = StalePartial::kReplaced;
    return Status::Ok();
  }
  const int rc = unlinkat(dir_fd, name.c_str(), 0);
  const int err = errno;
  close(dir_fd);
  if (rc != 0) {
    if (err == ENOENT) return Status::Ok();
    return PathError(err, "cannot remove partial of", final_rel);
  }
  *result = StalePartial::kRemoved;
  return Status::Ok();
}

namespace {

// The tag of a tagged partial name ("." ... "." tag ".jrpart"), or "" if name is not one.
std::string TagOfPartialName(const std::string& name) {
  const size_t suffix = std::strlen(kPartialSuffix);
  if (name.size() < 2 + 1 + kPartialTagLen + suffix || name[0] != '.' ||
      name.compare(name.size() - suffix, suffix, kPartialSuffix) != 0) {
    return {};
  }
  const size_t dot = name.size() - suffix - kPartialTagLen - 1;
  if (name[dot] != '.') return {};
  std::string tag = name.substr(dot + 1, kPartialTagLen);
  return PartialTagValid(tag) ? tag : std::string();
}

}  // namespace

Status SweepPartials(const std::string& abs_root, const std::vector<std::string>& keep_tags,
                     PartialSweep* result) {
  *result = PartialSweep{};
  int root_fd = -1;
  Status st = OpenRoot(abs_root, &root_fd);
  if (!st.ok()) return st;
  struct stat root_st {};
  if (fstat(root_fd, &root_st) != 0) {
    const int err = errno;
    close(root_fd);
    return PathError(err, "cannot inspect", ".");
  }
  const std::set<std::string> keep(keep_tags.begin(), keep_tags.end());
  std::vector<std::string> pending{""};  // directories to scan, relative to the root
  while (!pending.empty()) {
    const std::string rel = std::move(pending.back());
    pending.pop_back();
    // Each directory is opened beneath the root, without following a symlink.
    const int dfd = rel.empty() ? openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                : OpenBeneath(root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
    if (dfd < 0) continue;
    DIR* d = fdopendir(dfd);
    if (d == nullptr) {
      close(dfd);
      continue;
    }
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat est {};
      if (fstatat(dfd, name.c_str(), &est, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(est.st_mode)) {
        if (est.st_dev == root_st.st_dev) pending.push_back(rel.empty() ? name : rel + "/" + name);
        continue;
      }
      const std::string tag = TagOfPartialName(name);
      if (tag.empty()) continue;
      if (keep.count(tag) != 0) {
        ++result->kept;
      } else if (!S_ISREG(est.st_mode) || est.st_nlink != 1) {
        ++result->left_alone;
      } else if (unlinkat(dfd, name.c_str(), 0) == 0) {
        ++result->removed;
        result->bytes_removed += static_cast<uint64_t>(est.st_blocks) * 512;
      }
    }
    closedir(d);
  }
  close(root_fd);
  return Status::Ok();
}

}  // namespace jetrecv::core
