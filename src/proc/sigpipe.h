// Writing to a pipe or terminal whose reader may have gone away, without the
// SIGPIPE that would otherwise kill the whole engine (a step's stdin closed
// early, `slipway run | head`). Works whatever the process-wide disposition of
// SIGPIPE is: the signal is blocked in the calling thread for the duration of
// the write and a SIGPIPE raised by it is consumed.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string_view>

#include "util/status.h"

namespace slipway {

// Like write(2): returns the byte count, or -1 with errno set (EPIPE when the
// reader is gone). Thread-safe; never raises SIGPIPE.
ssize_t WriteNoSigpipe(int fd, const void* data, size_t size);

// Writes all of data (retrying short writes and EINTR) with WriteNoSigpipe.
// Returns e.g. "write 'terminal': Broken pipe".
Status WriteAllNoSigpipe(int fd, std::string_view data, std::string_view what);

}  // namespace slipway
