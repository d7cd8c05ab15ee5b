// Checks of values shared by slipway.yaml (config.cc) and the pin (pin.cc).
// Internal to src/config.
#pragma once

#include <string>
#include <string_view>

namespace slipway {

// Each returns "" when `value` is acceptable, else why it is not, ready to
// follow "'NAME' " in a message, e.g. "must not begin with '-' ...".

// A git branch, tag or commit: never an option ('-'), no spaces or control
// characters, and the characters git-check-ref-format refuses.
std::string RefProblem(std::string_view ref);
// A git URL or local path: never an option ('-'), no spaces or control
// characters, not git's command-running ext:: or fd:: transports.
std::string UrlProblem(std::string_view url);

// Lower-level pieces.
bool HasControlOrSpace(std::string_view s);

}  // namespace slipway
