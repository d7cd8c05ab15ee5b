#include "dynlib/lazy_library.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace slipway {

namespace {

std::string DlError(const std::string& fallback) {
  const char* error = dlerror();
  return error != nullptr ? error : fallback;
}

}  // namespace

LazyLibrary::LazyLibrary(std::string soname, std::string package, std::vector<const char*> symbols, Init init)
    : soname_(std::move(soname)), package_(std::move(package)), symbols_(std::move(symbols)), init_(init) {}

void LazyLibrary::LoadOnce() {
  // RTLD_LOCAL: the library's symbols must not interpose on anyone else's
  // (ours forward to them by address). RTLD_NOW: a broken install fails
  // here, where it can be reported, not at some later call.
  void* handle = dlopen(soname_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    error_ = DlError("dlopen failed");
    return;
  }
  std::vector<void*> addresses;
  for (const char* name : symbols_) {
    dlerror();  // clears an older message, so that the one read below is dlsym's
    void* address = dlsym(handle, name);
    if (address == nullptr) {
      error_ = DlError(std::string("undefined symbol: ") + name);
      dlclose(handle);
      return;
    }
    addresses.push_back(address);
  }
  if (init_ != nullptr) {
    // Through the addresses: Symbol would wait for this very call_once.
    std::string why = init_(addresses);
    if (!why.empty()) {
      // Not closed: init may have left the library half-initialised, and
      // nothing will call into it.
      error_ = std::move(why);
      return;
    }
  }
  addresses_ = std::move(addresses);
}

Status LazyLibrary::Load(std::string_view purpose) {
  std::call_once(once_, [this] { LoadOnce(); });
  if (error_.empty()) return Status::Ok();
  std::string message(purpose);
  message += " needs " + soname_ + " (Debian package " + package_ + "): " + error_;
  return Failed(std::move(message));
}

void* LazyLibrary::Symbol(size_t index) {
  std::call_once(once_, [this] { LoadOnce(); });
  if (!error_.empty() || index >= addresses_.size()) {
    std::fprintf(stderr, "slipway: internal error: %s called without %s: %s\n",
                 index < symbols_.size() ? symbols_[index] : "?", soname_.c_str(),
                 error_.empty() ? "no such symbol" : error_.c_str());
    std::abort();
  }
  return addresses_[index];
}

}  // namespace slipway
