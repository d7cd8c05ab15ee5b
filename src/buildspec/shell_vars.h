// Reading the variables a shell leaves behind, so they can be carried to the
// next buildspec entry (doc/buildspec.md "Process model").
//
// After each entry the runner has the shell print `set` (all shell variables,
// exported or not) from an EXIT trap. dash prints every value single-quoted;
// bash prints bare words, single quotes ('\'' for a quote), $'...' for control
// characters, arrays as NAME=(...) and, after the variables, its functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace slipway {

struct ShellVariable {
  std::string name;
  std::string value;
};

// Parses the output of `set` from dash or bash. Scalar variables are returned
// in order; arrays and associative arrays (NAME=(...)) are skipped, since
// CodeBuild does not carry them either; parsing stops at the first line that
// is not NAME=VALUE (bash's function definitions follow the variables).
// Returns kInvalidArgument when a quoted value is not terminated.
Result<std::vector<ShellVariable>> ParseSetOutput(std::string_view text);

// True for a variable the shell manages itself and that must never be carried
// from one entry to the next: PPID, PWD, OLDPWD, SHLVL, _, IFS, OPTIND, PS1-4,
// LINENO, RANDOM, SECONDS, UID, EUID, SHELLOPTS, BASH*, ... (see the list in
// shell_vars.cc).
bool IsShellManagedVariable(std::string_view name);

// True for a variable bash sets by itself only when the environment lacks it
// (SHELL, TERM, HOSTNAME): carried only if it was in the entry's environment.
bool IsShellDefaultVariable(std::string_view name);

}  // namespace slipway
