// A shared library loaded at first use instead of at program start (issue 5):
// libpq and libcurl, with the 16 libraries that only they pull in (LDAP,
// SASL, GnuTLS, nghttp2, ...), cost an idle `slipway serve` about 3 MB of
// RSS, yet only a fleet node (PostgreSQL store), AWS calls, notifications and
// forge statuses need them. `slipway` does not link them; dynlib/libpq.cc and
// dynlib/libcurl.cc define the C functions Slipway calls and forward each to
// the library loaded here.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace slipway {

// Thread-safe. The library is opened once, with dlopen(RTLD_NOW |
// RTLD_LOCAL), and never closed: its functions stay in use until exit.
class LazyLibrary {
 public:
  // soname: the versioned name ("libpq.so.5"); package: the Debian package
  // that installs it ("libpq5"); symbols: the functions to resolve, all of
  // which must exist. `init`, when set, runs once after a successful load
  // (libcurl's curl_global_init) with the symbols' addresses, and returns ""
  // or why it failed.
  using Init = std::string (*)(const std::vector<void*>& addresses);
  LazyLibrary(std::string soname, std::string package, std::vector<const char*> symbols, Init init = nullptr);
  LazyLibrary(const LazyLibrary&) = delete;
  LazyLibrary& operator=(const LazyLibrary&) = delete;

  // Loads the library and resolves every symbol, the first time; later calls
  // return the first outcome. On failure (library missing, a symbol missing,
  // init failed) returns kFailed with one sentence naming what needed it:
  //   "PostgreSQL store needs libpq.so.5 (Debian package libpq5): libpq.so.5:
  //    cannot open shared object file: No such file or directory"
  // and leaves the library unloaded (unless init failed: it stays, unused).
  Status Load(std::string_view purpose);

  // The address of symbols[index], loading the library if needed. Callers
  // call Load at the point of need first, where a failure can be reported;
  // a library that cannot be loaded here is a bug: "slipway: internal
  // error: ..." on stderr, then abort.
  void* Symbol(size_t index);

 private:
  void LoadOnce();

  const std::string soname_;
  const std::string package_;
  const std::vector<const char*> symbols_;
  const Init init_;
  std::once_flag once_;
  std::string error_;             // written once under once_: "" when loaded
  std::vector<void*> addresses_;  // written once under once_: symbols_' addresses
};

}  // namespace slipway
