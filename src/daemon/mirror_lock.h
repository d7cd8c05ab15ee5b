// The lock around work on git mirrors. The pipeline serialises its mirror
// work (fetch, checkout) with an exclusive flock on <state_dir>/locks/git.lock;
// the daemon's poller and sync checker take the same lock, so that two
// fetches never write one mirror at once, in this process or another.
#pragma once

#include <string>

#include "util/fs.h"
#include "util/status.h"

namespace slipway {

class MirrorLock {
 public:
  // Blocks until the lock is held. Errors name the lock file.
  static Result<MirrorLock> Acquire(const std::string& state_dir);

 private:
  explicit MirrorLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // the kernel drops the lock when it is closed
};

}  // namespace slipway
