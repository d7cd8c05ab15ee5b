// Running a buildspec 0.2 with CodeBuild's semantics (doc/buildspec.md; the
// specification is ../shared/reference/buildspec-semantics.md, whose section
// numbers the comments cite).
//
// Process model (§2): every `commands` / `finally` entry is a fresh /bin/sh
// (bash with env.shell: bash) running a generated script.sh whose user text
// starts on line 4. The variables the entry leaves (exported or not) and its
// working directory are captured by an EXIT trap and become the environment
// and cwd of the next entry, in this and later phases. Arrays, functions,
// aliases, traps and shell options do not carry. `exit N` ends only the entry.
//
// Phases (§3): INSTALL, PRE_BUILD, BUILD, POST_BUILD are always entered and
// logged (even when absent); on-failure ABORT/CONTINUE and the default
// transitions decide what runs after a failure; UPLOAD_ARTIFACTS follows.
//
// The log (§5.3) is CodeBuild's: "[Container] YYYY/MM/DD HH:MM:SS.ffffff msg"
// agent lines (UTC) and the commands' raw output, streamed as it arrives.
//
// This is a library: the caller provides the complete base environment
// (nothing of the engine's own environment is read) and where the log goes.
// Thread-safety: RunBuildspec may run on several threads at once with
// different options; one call uses only its own temp dir and children.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "buildspec/buildspec.h"
#include "proc/process.h"
#include "util/status.h"

namespace slipway {

// Build and phase statuses (CodeBuild's StatusType, plus kSkipped for a phase
// that did not run; CodeBuild leaves such a phase out of its list).
enum class BuildStatus { kSucceeded, kFailed, kFault, kTimedOut, kStopped };
enum class PhaseStatus { kSucceeded, kFailed, kFault, kTimedOut, kStopped, kSkipped };
const char* BuildStatusName(BuildStatus status);  // "SUCCEEDED", ...
const char* PhaseStatusName(PhaseStatus status);  // "SUCCEEDED", ..., "SKIPPED"

struct PhaseRecord {
  std::string name;  // DOWNLOAD_SOURCE, INSTALL, PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS
  PhaseStatus status = PhaseStatus::kSkipped;
  std::string context_code;     // "" on success; COMMAND_EXECUTION_ERROR, YAML_FILE_ERROR, ...
  std::string context_message;  // "" on success
  int64_t started_ms = 0;       // epoch ms; 0 when skipped
  int64_t duration_ms = 0;
  int commands_run = 0;  // entries started (commands and finally)
};

struct BuildResult {
  std::string build_id;  // "<project>:<uuid>"
  std::string build_arn;
  BuildStatus status = BuildStatus::kFailed;
  std::vector<PhaseRecord> phases;  // the six phases above, in order, always all six
  // env.exported-variables that existed at the end of POST_BUILD, in the
  // buildspec's order.
  std::vector<std::pair<std::string, std::string>> exported_variables;
  std::vector<std::string> artifacts;  // copied files, relative to artifacts_dir
  int64_t started_ms = 0;
  int64_t finished_ms = 0;

  // True when the buildspec could not be used at all (DOWNLOAD_SOURCE failed:
  // YAML_FILE_ERROR, a refusal, or an unresolvable secret); nothing ran.
  bool rejected() const { return !phases.empty() && phases[0].status != PhaseStatus::kSucceeded; }
};

// Resolves env.parameter-store / env.secrets-manager references (the AWS layer
// provides it). Returns the value, or an error whose message is logged as the
// DOWNLOAD_SOURCE context. Values are also passed to `on_secret` for masking.
using SecretResolver = std::function<Result<std::string>(const SecretReference&)>;

struct BuildspecRunOptions {
  // The buildspec: `buildspec` when already parsed, else read from `buildspec_path`.
  std::optional<Buildspec> buildspec;
  std::string buildspec_path;  // also logged as "YAML location is ..."

  std::string src_dir;  // CODEBUILD_SRC_DIR and the first working directory; must exist

  // Environment levels, lowest first: base (the complete starting environment,
  // e.g. AllowedBaseEnvironment() in the CLI), then the buildspec's
  // env.variables, then env_config (project level), then overrides (start-build
  // level). CODEBUILD_* variables the engine sets win over all of them.
  EnvMap base_env;
  EnvMap env_config;
  EnvMap overrides;

  std::string project = "local";  // CODEBUILD_BUILD_ID is "<project>:<uuid>"
  int64_t build_number = 1;
  std::string initiator;                // CODEBUILD_INITIATOR
  std::string source_version;           // CODEBUILD_SOURCE_VERSION when non-empty
  std::string resolved_source_version;  // CODEBUILD_RESOLVED_SOURCE_VERSION when non-empty
  std::string region;                   // "": AWS_REGION from the levels above, else us-east-1
  std::string build_uuid;               // "": a random v4 UUID (tests may pin it)

  int64_t timeout_ms = 60 * 60 * 1000;  // whole build; <= 0: none
  int64_t grace_ms = 5000;              // SIGTERM to SIGKILL on timeout or cancel
  const CancelToken* cancel = nullptr;  // Cancel() stops the build: status STOPPED

  // Where the log goes, in order, on the calling thread. Required.
  OutputSink log;
  // Called with each secret value before any command runs (e.g. to register
  // it with the log's masker). Optional.
  std::function<void(const std::string&)> on_secret;
  SecretResolver resolve_secret;  // null: parameter-store/secrets-manager are refused

  std::string artifacts_dir;  // "": artifacts and reports are matched, not copied
  std::string temp_parent;    // where the private temp dir is made; "": /tmp

  // Progress for callers that record phases as they happen (the pipeline).
  std::function<void(const PhaseRecord&)> on_phase_start;
  std::function<void(const PhaseRecord&)> on_phase_end;
};

// Runs the buildspec to completion. A build that ran and failed, timed out,
// was stopped or was rejected (YAML_FILE_ERROR etc., see BuildResult::rejected)
// is an OK result describing it. An error Status is returned only when the
// engine itself could not work: no log sink, no private temp dir, a script
// that could not be written.
Result<BuildResult> RunBuildspec(const BuildspecRunOptions& options);

// The build record as JSON: build_id, build_arn, status, started_ms,
// finished_ms, phases[{name, status, context_code, context_message,
// started_ms, duration_ms, commands_run}], exported_variables{}, artifacts[].
std::string BuildResultToJson(const BuildResult& result, int indent = 2);

}  // namespace slipway
