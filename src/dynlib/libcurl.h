// libcurl, loaded at first use (see lazy_library.h). libcurl.cc defines the
// libcurl functions that Slipway calls, as declared by <curl/curl.h>; each
// forwards to libcurl.so.4. Include <curl/curl.h> where they are called.
#pragma once

#include <string_view>

#include "util/status.h"

namespace slipway {

inline constexpr const char* kLibcurlSoname = "libcurl.so.4";

// Loads libcurl.so.4 once (thread-safe) and calls curl_global_init. Error
// (kFailed): "<purpose> needs libcurl.so.4 (Debian package libcurl4):
// <why>", e.g. purpose "AWS calls". Call it before the first libcurl call:
// a libcurl function called while the library cannot be loaded aborts with
// an internal error. curl_easy_cleanup, curl_slist_free_all and curl_free
// of nullptr never load it.
Status LoadLibcurl(std::string_view purpose);

}  // namespace slipway
