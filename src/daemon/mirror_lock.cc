#include "daemon/mirror_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

namespace slipway {

Result<MirrorLock> MirrorLock::Acquire(const std::string& state_dir) {
  std::string dir = JoinPath(state_dir, "locks");
  SLIPWAY_RETURN_IF_ERROR(MakeDirs(dir));
  std::string path = JoinPath(dir, "git.lock");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return PosixError("open '" + path + "'", errno);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return PosixError("lock '" + path + "'", errno);
  }
  return MirrorLock(std::move(fd));
}

}  // namespace slipway
