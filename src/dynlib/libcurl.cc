// The libcurl functions Slipway calls (aws/http.cc, notify/). They are
// defined here with <curl/curl.h>'s own declarations, so the compiler checks
// each signature, and forward to libcurl.so.4, loaded at first use.
#include "dynlib/libcurl.h"

#include <curl/curl.h>

#include <cstdarg>

#include "dynlib/lazy_library.h"

// X(name) for every libcurl function Slipway calls, and curl_global_init,
// which only LoadLibcurl calls. A function used but not listed here fails
// to link (the binary does not link libcurl).
#define SLIPWAY_LIBCURL_FUNCTIONS(X) \
  X(curl_global_init)                \
  X(curl_easy_init)                  \
  X(curl_easy_setopt)                \
  X(curl_easy_perform)               \
  X(curl_easy_getinfo)               \
  X(curl_easy_cleanup)               \
  X(curl_easy_strerror)              \
  X(curl_easy_escape)                \
  X(curl_free)                       \
  X(curl_slist_append)               \
  X(curl_slist_free_all)

namespace slipway {

namespace {

enum LibcurlFunction : size_t {
#define SLIPWAY_ENUM(name) k_##name,
  SLIPWAY_LIBCURL_FUNCTIONS(SLIPWAY_ENUM)
#undef SLIPWAY_ENUM
};

// Once, right after the load and before any other curl call: libcurl wants
// curl_global_init to run before any other thread uses it.
std::string GlobalInit(const std::vector<void*>& addresses) {
  auto init = reinterpret_cast<decltype(&curl_global_init)>(addresses[k_curl_global_init]);
  auto strerror = reinterpret_cast<decltype(&curl_easy_strerror)>(addresses[k_curl_easy_strerror]);
  CURLcode rc = init(CURL_GLOBAL_DEFAULT);
  return rc == CURLE_OK ? "" : std::string("curl_global_init: ") + strerror(rc);
}

LazyLibrary& Libcurl() {
#define SLIPWAY_NAME(name) #name,
  static LazyLibrary library(kLibcurlSoname, "libcurl4", {SLIPWAY_LIBCURL_FUNCTIONS(SLIPWAY_NAME)}, GlobalInit);
#undef SLIPWAY_NAME
  return library;
}

}  // namespace

Status LoadLibcurl(std::string_view purpose) { return Libcurl().Load(purpose); }

}  // namespace slipway

// libcurl's `name`, with its declared type.
#define SLIPWAY_CURL(name) reinterpret_cast<decltype(&::name)>(::slipway::Libcurl().Symbol(::slipway::k_##name))

// Null is a no-op for these in libcurl too; checked here so that releasing
// an empty handle never loads the library.
void curl_easy_cleanup(CURL* curl) {
  if (curl != nullptr) SLIPWAY_CURL(curl_easy_cleanup)(curl);
}
void curl_slist_free_all(curl_slist* list) {
  if (list != nullptr) SLIPWAY_CURL(curl_slist_free_all)(list);
}
void curl_free(void* p) {
  if (p != nullptr) SLIPWAY_CURL(curl_free)(p);
}

CURL* curl_easy_init() { return SLIPWAY_CURL(curl_easy_init)(); }
CURLcode curl_easy_perform(CURL* curl) { return SLIPWAY_CURL(curl_easy_perform)(curl); }
const char* curl_easy_strerror(CURLcode code) { return SLIPWAY_CURL(curl_easy_strerror)(code); }
char* curl_easy_escape(CURL* handle, const char* string, int length) {
  return SLIPWAY_CURL(curl_easy_escape)(handle, string, length);
}
curl_slist* curl_slist_append(curl_slist* list, const char* data) {
  return SLIPWAY_CURL(curl_slist_append)(list, data);
}

// A variadic call cannot be forwarded as it is: the argument is read with
// the type that the option's number announces (curl.h, CURLOPTTYPE_*), as
// libcurl itself reads it, and passed on with that type.
CURLcode curl_easy_setopt(CURL* curl, CURLoption option, ...) {
  auto setopt = SLIPWAY_CURL(curl_easy_setopt);
  va_list args;
  va_start(args, option);
  CURLcode rc = CURLE_UNKNOWN_OPTION;
  if (option < CURLOPTTYPE_OBJECTPOINT) {  // LONG, VALUES
    rc = setopt(curl, option, va_arg(args, long));
  } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {  // OBJECTPOINT, STRINGPOINT, SLISTPOINT, CBPOINT
    rc = setopt(curl, option, va_arg(args, void*));
  } else if (option < CURLOPTTYPE_OFF_T) {
    // Any function pointer type: all have one representation, and libcurl
    // reads the argument back with the callback's own type.
    using AnyFunction = void (*)();
    rc = setopt(curl, option, va_arg(args, AnyFunction));
  } else if (option < CURLOPTTYPE_BLOB) {
    rc = setopt(curl, option, va_arg(args, curl_off_t));
  } else if (option < CURLOPTTYPE_BLOB + 10000) {  // struct curl_blob*
    rc = setopt(curl, option, va_arg(args, void*));
  }
  va_end(args);
  return rc;
}

// Every CURLINFO_* takes a pointer to where the answer goes.
CURLcode curl_easy_getinfo(CURL* curl, CURLINFO info, ...) {
  auto getinfo = SLIPWAY_CURL(curl_easy_getinfo);
  va_list args;
  va_start(args, info);
  void* out = va_arg(args, void*);
  va_end(args);
  return getinfo(curl, info, out);
}
