#include "proc/sigpipe.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "util/fs.h"

namespace slipway {

ssize_t WriteNoSigpipe(int fd, const void* data, size_t size) {
  // SIGPIPE for a write is directed at the writing thread, so blocking it here
  // is enough; if it was already pending before (raised by someone else) it is
  // left alone for them.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  sigset_t pending;
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;

  ssize_t n = ::write(fd, data, size);
  int saved_errno = errno;
  if (n < 0 && saved_errno == EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved_errno;
  return n;
}

Status WriteAllNoSigpipe(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = WriteNoSigpipe(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write '" + std::string(what) + "'", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace slipway
