#include "config/values.h"

#include <algorithm>

#include "util/strings.h"

namespace slipway {

bool HasControlOrSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

std::string RefProblem(std::string_view r) {
  if (r.empty()) return "must not be empty";
  if (r[0] == '-') return "must not begin with '-' (git would read it as an option), got '" + std::string(r) + "'";
  if (HasControlOrSpace(r) || r.find_first_of("~^:?*[\\") != std::string_view::npos ||
      r.find("..") != std::string_view::npos || r.find("@{") != std::string_view::npos || r.back() == '/' ||
      r.back() == '.' || r.front() == '/' || EndsWith(r, ".lock")) {
    return "must be a git branch, tag or commit, got '" + std::string(r) +
           "' (spaces, '..', '~', '^', ':', '?', '*', '[' and '\\' are not allowed)";
  }
  return "";
}

std::string UrlProblem(std::string_view url) {
  if (url.empty()) return "must not be empty";
  if (url[0] == '-') return "must not begin with '-' (git would read it as an option), got '" + std::string(url) + "'";
  if (HasControlOrSpace(url)) return "must not contain spaces or control characters, got '" + std::string(url) + "'";
  // git's ext:: and fd:: remote helpers run commands or use file descriptors
  // of the caller: never a place to fetch a settings or code repository from.
  std::string lower = ToLower(url);
  if (StartsWith(lower, "ext::") || StartsWith(lower, "fd::")) {
    return "must not use git's '" + lower.substr(0, lower.find("::") + 2) + "' transport (it runs commands), got '" +
           std::string(url) + "'";
  }
  return "";
}

}  // namespace slipway
