// File-system helpers and the one place where OS errors get their context.
// Every function returns a Status naming the path on error; none throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace slipway {

// The single helper that turns errno into a Status:
//   PosixError("open 'x'", ENOENT) -> "open 'x': No such file or directory".
// ENOSPC and EDQUOT map to StatusCode::kNoSpace, ENOENT to kNotFound,
// EACCES/EPERM to kPermissionDenied, everything else to kIo.
Status PosixError(std::string_view context, int err);

// Move-only owner of a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A close-on-exec pipe.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
};
Result<Pipe> MakePipe();

// Writes all of data to fd, retrying on EINTR and short writes.
Status WriteAll(int fd, std::string_view data, std::string_view what);

Result<std::string> ReadFile(const std::string& path);
// Reads at most max_bytes; larger files are an InvalidArgument error naming the path.
Result<std::string> ReadFileLimited(const std::string& path, size_t max_bytes);
Status WriteFile(const std::string& path, std::string_view data, int mode = 0644);
// Writes to a temporary file beside path, fsyncs, and renames over path.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);
// mkdir -p.
Status MakeDirs(const std::string& path, int mode = 0755);
// rm -rf; a missing path is not an error. Never follows symbolic links.
Status RemoveTree(const std::string& path);
// Creates a fresh directory "<parent>/<prefix>XXXXXX" and returns its path.
Result<std::string> MakeTempDir(const std::string& parent, const std::string& prefix);
// Names in a directory (without "." and ".."), sorted.
Result<std::vector<std::string>> ListDir(const std::string& path);

// Joins with exactly one '/' between parts.
std::string JoinPath(std::string_view a, std::string_view b);
std::string DirName(std::string_view path);
std::string BaseName(std::string_view path);
// Absolute, lexically normalised ("." and ".." folded, no symlink resolution).
std::string AbsolutePath(std::string_view path, std::string_view base);
std::string CurrentDir();

}  // namespace slipway
