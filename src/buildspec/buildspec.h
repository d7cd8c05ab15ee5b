// AWS CodeBuild buildspec 0.2: the parsed file (doc/buildspec.md; the
// semantics we implement are ../shared/reference/buildspec-semantics.md).
//
// ParseBuildspec validates the whole file before anything runs. Its errors are
// the text CodeBuild puts after "YAML_FILE_ERROR Message: " wherever the
// specification gives that text (e.g. "Invalid buildspec phase name: POSTBUILD.
// Expecting: BUILD,INSTALL,POST_BUILD,PRE_BUILD"), and a clear lower-case
// sentence with the fix otherwise. Keys that CodeBuild would honour but Slipway
// cannot (version 0.1, batch, RETRY*, other shells) are refused the same way,
// never ignored. Keys that are honoured only locally or not at all are kept in
// the structure and reported through `notes` so the runner can log them.
//
// yaml-cpp stays inside buildspec.cc; nothing here throws.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace slipway {

// The four command phases, in execution order.
enum class BuildPhase { kInstall = 0, kPreBuild = 1, kBuild = 2, kPostBuild = 3 };
inline constexpr size_t kBuildPhaseCount = 4;
// "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD" (CodeBuild's phaseType).
const char* BuildPhaseName(BuildPhase phase);
// "install", "pre_build", "build", "post_build" (the YAML key).
const char* BuildPhaseKey(BuildPhase phase);

enum class BuildspecShell { kSh, kBash };
// What `on-failure` says; kDefault when the key is absent (§3.3 transitions).
enum class OnFailure { kDefault, kAbort, kContinue };

struct PhaseCommand {
  std::string text;  // exactly as written; a `- |` block is one command
  int line = 0;      // 1-based line of the entry in the file
};

struct BuildspecPhase {
  bool present = false;  // the phase key appears in the file
  std::vector<PhaseCommand> commands;
  std::vector<PhaseCommand> finally_commands;
  std::string run_as;  // "" = the top-level run-as (or the engine's user)
  OnFailure on_failure = OnFailure::kDefault;
  // phases.install.runtime-versions, in file order (only logged, §1).
  std::vector<std::pair<std::string, std::string>> runtime_versions;
};

// One env.parameter-store / env.secrets-manager entry. Resolution belongs to
// the AWS layer; the runner asks its SecretResolver (see runner.h).
struct SecretReference {
  enum class Kind { kParameterStore, kSecretsManager };
  Kind kind = Kind::kParameterStore;
  std::string variable;   // the environment variable to set
  std::string reference;  // parameter name, or "secret-id:json-key:version-stage:version-id"
};

// artifacts / secondary-artifacts / a reports group: a set of files.
struct FileSet {
  std::string identifier;          // secondary artifact identifier or report group name; "" for primary
  std::vector<std::string> files;  // glob patterns relative to base_directory ("**" allowed)
  std::string base_directory;      // relative to CODEBUILD_SRC_DIR; "" = the source dir
  bool discard_paths = false;
  std::vector<std::string> exclude_paths;
  std::string name;       // artifacts.name (not used locally, logged)
  std::string s3_prefix;  // artifacts.s3-prefix (not used locally, logged)
  bool enable_symlinks = false;
  std::string file_format;  // reports only
};

struct Buildspec {
  std::string version;  // "0.2"
  BuildspecShell shell = BuildspecShell::kSh;
  std::string run_as;  // top-level run-as; "" = not given
  // env.variables in file order; values are literal text (no expansion).
  std::vector<std::pair<std::string, std::string>> variables;
  std::vector<SecretReference> secrets;  // parameter-store then secrets-manager, file order
  std::vector<std::string> exported_variables;
  std::optional<bool> git_credential_helper;
  bool has_proxy = false;
  std::array<BuildspecPhase, kBuildPhaseCount> phases;
  std::optional<FileSet> artifacts;
  std::vector<FileSet> secondary_artifacts;
  std::vector<FileSet> reports;
  std::vector<std::string> cache_paths;
  bool has_cache = false;
  // Things accepted but not honoured as CodeBuild would (unknown keys, keys
  // with a local no-op meaning): one line each, for the runner to log.
  std::vector<std::string> notes;

  const BuildspecPhase& phase(BuildPhase p) const { return phases[static_cast<size_t>(p)]; }
  BuildspecPhase& phase(BuildPhase p) { return phases[static_cast<size_t>(p)]; }
};

// Largest buildspec accepted (CodeBuild's own files are a few KiB).
inline constexpr size_t kMaxBuildspecBytes = 1 << 20;
// Largest number of YAML nodes examined; bounds work on alias-heavy files.
inline constexpr size_t kMaxBuildspecNodes = 100000;

// Parses and validates buildspec text. On error returns kInvalidArgument whose
// message is the YAML_FILE_ERROR message (without the "YAML_FILE_ERROR" code).
Result<Buildspec> ParseBuildspec(std::string_view text);

// Reads and parses a file. A missing file gives kNotFound with the message
// "YAML file does not exist"; an unreadable or oversized one kInvalidArgument.
Result<Buildspec> LoadBuildspecFile(const std::string& path);

}  // namespace slipway
