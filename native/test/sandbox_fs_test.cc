// sandbox_fs_test.cc — sandbox path handling in a mkdtemp dir: nested dirs,
// lexical refusals, symlinks escaping (refused with EXDEV, nothing created
// outside) and staying inside (followed), partial files (preallocated, reused),
// finalize (mode, mtime, rename, symlink at the final name replaced not
// followed, directory refused), the no-openat2 fallback, and preallocation
// (tmpfs: free space checked, file left sparse; ext4/xfs: fallocate reserves).
#include "core/sandbox_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "test_util.h"

using namespace jetrecv::core;

namespace {

std::string g_base;     // mkdtemp dir holding root/ and outside/
std::string g_root;     // the sandbox
std::string g_outside;  // a directory outside the sandbox

bool Exists(const std::string& p) {
  struct stat st {};
  return lstat(p.c_str(), &st) == 0;
}
bool IsDir(const std::string& p) {
  struct stat st {};
  return lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool IsRegular(const std::string& p) {
  struct stat st {};
  return lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
std::string ReadAll(const std::string& p) {
  std::string out;
  const int fd = open(p.c_str(), O_RDONLY);
  if (fd < 0) return "<missing>";
  char buf[4096];
  ssize_t r;
  while ((r = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(r));
  close(fd);
  return out;
}
void WriteFile(const std::string& p, const std::string& data) {
  const int fd = open(p.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  close(fd);
}

void TestOpenRoot() {
  int fd = -1;
  Status st = OpenRoot("relative/dir", &fd);
  CHECK_EQ(st.err, EINVAL);
  CHECK_EQ(fd, -1);
  st = OpenRoot(g_base + "/does-not-exist", &fd);
  CHECK_EQ(st.err, ENOENT);
  CHECK(st.message.find("does-not-exist") != std::string::npos);
}

void TestLexical(int root) {
  const char* bad[] = {"",  "/abs", "/",     "..",   "../x", "a/../b", "a/..",
                       ".", "./a",  "a/./b", "a//b", "a/",   "//a"};
  for (const char* p : bad) {
    CHECK(!RelPathError(p).empty());
    Status st = MakeDirsBeneath(root, p, 0755);
    if (std::string(p).empty()) {
      CHECK(st.ok());  // "" is the root itself for directories
    } else {
      CHECK_EQ(st.err, EINVAL);
      CHECK(st.message.find(p) != std::string::npos);
    }
    int fd = -1;
    std::string partial;
    st = OpenPartialBeneath(root, p, 10, &fd, &partial);
    CHECK_EQ(st.err, EINVAL);
    CHECK_EQ(fd, -1);
  }
  CHECK(RelPathError(std::string("a\0b", 3)) == "contains a NUL byte");
  CHECK(!RelPathError(std::string(NAME_MAX + 1, 'x')).empty());
  CHECK(RelPathError(std::string(NAME_MAX, 'x')).empty());
  std::string long_path;
  while (long_path.size() < PATH_MAX) long_path += "abcdefgh/";
  long_path += "f";
  CHECK(RelPathError(long_path) == "is longer than PATH_MAX");
  CHECK(RelPathError("a/b.c/..d/...").empty());  // dots inside names are fine
  CHECK(!Exists(g_base + "/b"));                 // "a/../b" created nothing
}

void TestNestedDirs(int root) {
  Status st = MakeDirsBeneath(root, "a/b/c", 0755);
  CHECK(st.ok());
  CHECK(IsDir(g_root + "/a/b/c"));
  st = MakeDirsBeneath(root, "a/b/c", 0755);  // idempotent
  CHECK(st.ok());
  WriteFile(g_root + "/plainfile", "x");
  st = MakeDirsBeneath(root, "plainfile/sub", 0755);
  CHECK_EQ(st.err, ENOTDIR);
}

void TestEscapingSymlink(int root) {
  REQUIRE(symlink(g_outside.c_str(), (g_root + "/evil").c_str()) == 0);
  Status st = MakeDirsBeneath(root, "evil/x", 0755);
  CHECK_EQ(st.err, EXDEV);
  CHECK(st.message == "path escapes the sandbox through a symlink: evil/x");
  CHECK(st.code == "JETRECV_ERR_PATH_ESCAPE");
  CHECK(!Exists(g_outside + "/x"));

  int fd = -1;
  std::string partial;
  st = OpenPartialBeneath(root, "evil/file.bin", 100, &fd, &partial);
  CHECK_EQ(st.err, EXDEV);
  CHECK_EQ(fd, -1);
  CHECK(!Exists(g_outside + "/.file.bin.jrpart"));
  CHECK(!Exists(g_outside + "/file.bin"));

  // A relative symlink climbing out is refused just the same.
  REQUIRE(symlink("../../outside", (g_root + "/a/up").c_str()) == 0);
  st = OpenPartialBeneath(root, "a/up/f", 1, &fd, &partial);
  CHECK_EQ(st.err, EXDEV);
  CHECK(!Exists(g_outside + "/.f.jrpart"));
}

void TestInsideSymlink(int root) {
  REQUIRE(MakeDirsBeneath(root, "inner", 0755).ok());
  REQUIRE(symlink("inner", (g_root + "/link").c_str()) == 0);
  REQUIRE(symlink("../inner", (g_root + "/a/toinner").c_str()) == 0);
  int fd = -1;
  std::string partial;
  Status st = OpenPartialBeneath(root, "link/f1", 5, &fd, &partial);
  CHECK(st.ok());
  CHECK(partial == "link/.f1.jrpart");
  CHECK(IsRegular(g_root + "/inner/.f1.jrpart"));
  if (fd >= 0) close(fd);
  st = MakeDirsBeneath(root, "a/toinner/deeper", 0755);
  CHECK(st.ok());
  CHECK(IsDir(g_root + "/inner/deeper"));
}

void TestPartialAndFinalize(int root) {
  int fd = -1;
  std::string partial;
  Status st = OpenPartialBeneath(root, "d1/d2/data.bin", 12345, &fd, &partial);
  REQUIRE(st.ok());
  CHECK(partial == "d1/d2/.data.bin.jrpart");
  struct stat pst {};
  REQUIRE(fstat(fd, &pst) == 0);
  CHECK_EQ(pst.st_size, 12345);
  CHECK_EQ(pst.st_mode & 07777, 0600u);
  CHECK(!Exists(g_root + "/d1/d2/data.bin"));  // only the partial exists
  REQUIRE(pwrite(fd, "hello", 5, 0) == 5);
  close(fd);

  // Reopen (resume): content kept, size unchanged.
  st = OpenPartialBeneath(root, "d1/d2/data.bin", 12345, &fd, &partial);
  REQUIRE(st.ok());
  char buf[5];
  CHECK_EQ(pread(fd, buf, 5, 0), 5);
  CHECK(std::memcmp(buf, "hello", 5) == 0);

  const int64_t mtime_ms = 1'600'000'000'123;
  st = FinalizeBeneath(root, fd, partial, "d1/d2/data.bin", 0640, mtime_ms);
  CHECK(st.ok());
  close(fd);
  CHECK(!Exists(g_root + "/d1/d2/.data.bin.jrpart"));
  struct stat fst {};
  REQUIRE(lstat((g_root + "/d1/d2/data.bin").c_str(), &fst) == 0);
  CHECK(S_ISREG(fst.st_mode));
  CHECK_EQ(fst.st_mode & 07777, 0640u);
  CHECK_EQ(fst.st_size, 12345);
  CHECK_EQ(fst.st_mtim.tv_sec, 1'600'000'000);
  CHECK_EQ(fst.st_mtim.tv_nsec, 123'000'000);

  // A stale, longer partial is cut to the new size.
  WriteFile(g_root + "/d1/.short.jrpart", std::string(100, 'z'));
  st = OpenPartialBeneath(root, "d1/short", 10, &fd, &partial);
  REQUIRE(st.ok());
  REQUIRE(fstat(fd, &pst) == 0);
  CHECK_EQ(pst.st_size, 10);
  // Pre-1970 mtime (negative ms) still becomes a valid timestamp.
  st = FinalizeBeneath(root, fd, partial, "d1/short", 0600, -1500);
  CHECK(st.ok());
  close(fd);
  REQUIRE(lstat((g_root + "/d1/short").c_str(), &fst) == 0);
  CHECK_EQ(fst.st_mtim.tv_sec, -2);
  CHECK_EQ(fst.st_mtim.tv_nsec, 500'000'000);

  // Replacing an existing regular file.
  WriteFile(g_root + "/d1/replace.txt", "old");
  st = OpenPartialBeneath(root, "d1/replace.txt", 3, &fd, &partial);
  REQUIRE(st.ok());
  REQUIRE(pwrite(fd, "new", 3, 0) == 3);
  CHECK(FinalizeBeneath(root, fd, partial, "d1/replace.txt", 0644, 0).ok());
  close(fd);
  CHECK(ReadAll(g_root + "/d1/replace.txt") == "new");
}

void TestFinalNameSymlinkNotFollowed(int root) {
  WriteFile(g_outside + "/target", "outside-data");
  REQUIRE(MakeDirsBeneath(root, "s", 0755).ok());
  REQUIRE(symlink((g_outside + "/target").c_str(), (g_root + "/s/g").c_str()) == 0);
  int fd = -1;
  std::string partial;
  Status st = OpenPartialBeneath(root, "s/g", 4, &fd, &partial);
  REQUIRE(st.ok());
  REQUIRE(pwrite(fd, "mine", 4, 0) == 4);
  st = FinalizeBeneath(root, fd, partial, "s/g", 0644, 0);
  CHECK(st.ok());
  close(fd);
  CHECK(IsRegular(g_root + "/s/g"));  // the link itself was replaced
  CHECK(ReadAll(g_root + "/s/g") == "mine");
  CHECK(ReadAll(g_outside + "/target") == "outside-data");
  CHECK_EQ(ReadAll(g_outside + "/target").size(), 12u);

  // A symlink planted at the partial name is replaced, not written through.
  REQUIRE(symlink((g_outside + "/target").c_str(), (g_root + "/s/.h.jrpart").c_str()) == 0);
  st = OpenPartialBeneath(root, "s/h", 4, &fd, &partial);
  REQUIRE(st.ok());
  REQUIRE(pwrite(fd, "zzzz", 4, 0) == 4);
  close(fd);
  CHECK(IsRegular(g_root + "/s/.h.jrpart"));
  CHECK(ReadAll(g_outside + "/target") == "outside-data");
}

void TestFinalNameDirectory(int root) {
  REQUIRE(MakeDirsBeneath(root, "x/isdir", 0755).ok());
  int fd = -1;
  std::string partial;
  Status st = OpenPartialBeneath(root, "x/isdir", 4, &fd, &partial);
  CHECK_EQ(st.err, EISDIR);
  CHECK(st.message.find("x/isdir") != std::string::npos);
  // And at finalize, if the directory appeared meanwhile.
  st = OpenPartialBeneath(root, "x/later", 1, &fd, &partial);
  REQUIRE(st.ok());
  REQUIRE(MakeDirsBeneath(root, "x/later", 0755).ok());
  st = FinalizeBeneath(root, fd, partial, "x/later", 0644, 0);
  CHECK_EQ(st.err, EISDIR);
  close(fd);
  CHECK(IsDir(g_root + "/x/later"));
  CHECK(IsRegular(g_root + "/x/.later.jrpart"));
}

void TestPartialNames() {
  CHECK(PartialPathFor("f") == ".f.jrpart");
  CHECK(PartialPathFor("a/b/c.txt") == "a/b/.c.txt.jrpart");
  const std::string long_name(NAME_MAX, 'n');
  const std::string p1 = PartialPathFor("dir/" + long_name);
  const std::string p2 = PartialPathFor("dir/" + long_name);
  CHECK(p1 == p2);  // stable
  CHECK(p1.size() - 4 <= NAME_MAX);
  CHECK(p1.rfind(".jrpart") == p1.size() - 7);
  std::string other = long_name;
  other.back() = 'm';
  CHECK(PartialPathFor("dir/" + other) != p1);  // names differing only at the end
}

void TestUnlink(int root) {
  int fd = -1;
  std::string partial;
  REQUIRE(OpenPartialBeneath(root, "u/gone", 1, &fd, &partial).ok());
  close(fd);
  CHECK(UnlinkBeneath(root, partial).ok());
  CHECK(!Exists(g_root + "/u/.gone.jrpart"));
  CHECK_EQ(UnlinkBeneath(root, partial).err, ENOENT);
  CHECK_EQ(UnlinkBeneath(root, "evil/target").err, EXDEV);  // through the escaping link
  CHECK(Exists(g_outside + "/target"));
}

void TestFallbackWithoutOpenat2(int root) {
  ForceNoOpenat2ForTesting(true);
  CHECK(MakeDirsBeneath(root, "fb/one/two", 0755).ok());
  CHECK(IsDir(g_root + "/fb/one/two"));
  Status st = MakeDirsBeneath(root, "evil/y", 0755);
  CHECK_EQ(st.err, EXDEV);
  CHECK(!Exists(g_outside + "/y"));
  int fd = -1;
  std::string partial;
  st = OpenPartialBeneath(root, "evil/z", 1, &fd, &partial);
  CHECK_EQ(st.err, EXDEV);
  CHECK(!Exists(g_outside + "/.z.jrpart"));
  // Without openat2 even in-sandbox symlinks are refused (documented).
  st = OpenPartialBeneath(root, "link/f2", 1, &fd, &partial);
  CHECK_EQ(st.err, EXDEV);
  st = OpenPartialBeneath(root, "fb/one/f", 3, &fd, &partial);
  CHECK(st.ok());
  if (fd >= 0) {
    CHECK(FinalizeBeneath(root, fd, partial, "fb/one/f", 0644, 0).ok());
    close(fd);
  }
  CHECK(IsRegular(g_root + "/fb/one/f"));
  ForceNoOpenat2ForTesting(false);
}

}  // namespace

// Preallocation in a directory of its own on `dir`: on tmpfs a file larger than
// the free space fails at open with ENOSPC (and leaves no partial), and one that
// fits is sized without allocating its pages (no double write of every page);
// on ext4/xfs the blocks are reserved by fallocate.
void TestPreallocation(const std::string& dir) {
  struct statfs sfs {};
  if (statfs(dir.c_str(), &sfs) != 0) return;
  const bool tmpfs = static_cast<unsigned long>(sfs.f_type) == TMPFS_MAGIC;
  const bool reserves = static_cast<unsigned long>(sfs.f_type) == EXT4_SUPER_MAGIC ||
                        static_cast<unsigned long>(sfs.f_type) == XFS_SUPER_MAGIC;
  if (!tmpfs && !reserves) {
    std::printf("preallocation on %s skipped: neither tmpfs nor ext4/xfs\n", dir.c_str());
    return;
  }
  std::string base = dir + "/jetrecv-prealloc-XXXXXX";
  REQUIRE(mkdtemp(base.data()) != nullptr);
  int root = -1;
  REQUIRE(OpenRoot(base, &root).ok());
  struct statvfs vfs {};
  REQUIRE(statvfs(base.c_str(), &vfs) == 0);
  const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  int fd = -1;
  std::string partial;
  if (vfs.f_blocks != 0) {
    Status st = OpenPartialBeneath(root, "big.bin", avail + (1ull << 30), &fd, &partial);
    CHECK(!st.ok());
    CHECK(st.err == ENOSPC);
    CHECK(st.message.find("big.bin") != std::string::npos);
    CHECK(!Exists(base + "/.big.bin.jrpart"));
  }
  const uint64_t size = 16ull << 20;
  if (avail > 4 * size) {
    Status st = OpenPartialBeneath(root, "fits.bin", size, &fd, &partial);
    CHECK(st.ok());
    struct stat fst {};
    REQUIRE(fstat(fd, &fst) == 0);
    CHECK(static_cast<uint64_t>(fst.st_size) == size);
    const uint64_t allocated = static_cast<uint64_t>(fst.st_blocks) * 512;
    if (tmpfs) CHECK(allocated < (1u << 20));  // sparse: the writes allocate the pages
    if (reserves) CHECK(allocated >= size);    // extents reserved up front
    close(fd);
  }
  close(root);
  std::system(("rm -rf '" + base + "'").c_str());
}

int main() {
  char tmpl[] = "/tmp/jetrecv-sandbox-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  g_base = tmpl;
  g_root = g_base + "/root";
  g_outside = g_base + "/outside";
  REQUIRE(mkdir(g_root.c_str(), 0755) == 0);
  REQUIRE(mkdir(g_outside.c_str(), 0755) == 0);
  umask(022);

  TestOpenRoot();
  int root = -1;
  REQUIRE(OpenRoot(g_root, &root).ok());
  TestLexical(root);
  TestNestedDirs(root);
  TestEscapingSymlink(root);
  TestInsideSymlink(root);
  TestPartialAndFinalize(root);
  TestFinalNameSymlinkNotFollowed(root);
  TestFinalNameDirectory(root);
  TestPartialNames();
  TestUnlink(root);
  TestFallbackWithoutOpenat2(root);
  close(root);
  TestPreallocation("/dev/shm");
  TestPreallocation("/var/tmp");

  const int rc = jetrecv::test::TestExitCode();
  if (rc == 0) std::system(("rm -rf '" + g_base + "'").c_str());
  return rc;
}
