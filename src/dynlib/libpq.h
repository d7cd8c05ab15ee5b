// libpq, loaded at first use (see lazy_library.h). libpq.cc defines the
// libpq functions that Slipway calls, as declared by <libpq-fe.h>; each
// forwards to libpq.so.5. Include <libpq-fe.h> where they are called.
#pragma once

#include "util/status.h"

namespace slipway {

inline constexpr const char* kLibpqSoname = "libpq.so.5";

// Loads libpq.so.5 once (thread-safe). Error (kFailed): "PostgreSQL store
// needs libpq.so.5 (Debian package libpq5): <why>". Call it before the
// first libpq call: a libpq function called while the library cannot be
// loaded aborts with an internal error. PQfinish(nullptr) and
// PQclear(nullptr) never load it.
Status LoadLibpq();

}  // namespace slipway
