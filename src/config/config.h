// The engine config, slipway.yaml (DESIGN.md §3; reference in doc/config.md).
//
// LoadConfig parses and validates the whole file and reports every problem it
// finds, each as "FILE:LINE:COLUMN: what is wrong, what was expected" (unknown
// keys get a did-you-mean hint). Relative paths in the file are resolved
// against the file's directory.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/trust_config.h"
#include "util/status.h"

namespace slipway {

// Where a secret's value comes from (`secrets:` of a step, doc/aws.md). The
// value becomes the variable `name` of that step only and is masked in logs.
struct SecretSource {
  enum class Kind { kSsm, kSecretsManager, kFile };
  std::string name;  // the variable, a shell identifier
  Kind kind = Kind::kSsm;
  // kSsm: the parameter name or ARN; kSecretsManager: "SECRET-ID[:JSON-KEY]";
  // kFile: an absolute path (resolved against the config's directory),
  // read when the run starts, without its trailing newline.
  std::string ref;
};

struct StepConfig {
  std::string name;
  std::string run;                         // shell text, run as /bin/sh -c
  std::map<std::string, std::string> env;  // the step's own variables
  int64_t timeout_ms = 0;                  // 0: only the run timeout applies
  bool always = false;                     // `when: always`: runs even after a failure
  std::string role;                        // optional AWS role ARN for this step only
  std::string external_id;                 // optional, with role
  int64_t role_duration_s = 0;             // optional, with role, 900..43200 (0: STS default)
  std::vector<SecretSource> secrets;       // read with the step's role (else the engine's credentials)
};

// URLs and refs never begin with '-' and hold no spaces or control
// characters (checked when the file is read). A URL written "./x" or "../x"
// is a local path made absolute against the config's directory.
struct SettingsSource {
  std::string url;
  std::string branch = "main";
  std::string path;  // folder inside the settings repository, normalised ("a/b", no "..",
                     // not absolute); "" is the root
  std::string role;  // optional role used for the settings fetch only
};

// An environment without `code` has no code checkout: its workspace is the
// settings folder alone. An environment with `code` but no `settings` always
// deploys code.ref, which is then required.
struct CodeSource {
  std::string url;
  std::string ref;                      // fallback when the pin gives none; "" when not given
  std::vector<std::string> allow_urls;  // URLs the settings may switch to; url first, always included
};

struct PushTrigger {
  bool enabled = false;
  int64_t poll_ms = 60'000;  // 0: webhooks only
  bool any_path = false;     // `paths: any`: every commit triggers
};

struct TriggersConfig {
  PushTrigger push;
  // Cron expressions. Only their shape is checked here (5 fields or an
  // @macro); the triggers module parses them. schedule_at[i] is
  // "FILE:LINE:COLUMN" of schedule[i], to report its problems like the
  // config's own.
  std::vector<std::string> schedule;
  std::vector<std::string> schedule_at;
  std::string tz;     // "" = UTC; only its characters are checked here
  std::string tz_at;  // "FILE:LINE:COLUMN" of tz
  bool catch_up = false;
  // `verify:` drift check cron (doc/drift.md), checked like schedule; "" none.
  std::string verify;
  std::string verify_at;
};

struct EnvironmentConfig {
  std::string name;
  std::optional<SettingsSource> settings;
  std::optional<CodeSource> code;
  std::vector<StepConfig> steps;  // the make contract when the file gives none and no buildspec
  // `buildspec: PATH` instead of steps. buildspec_in_settings is true for
  // `settings:PATH` (read from the environment's settings folder); otherwise
  // buildspec_path is absolute, resolved against the config directory.
  std::string buildspec_path;
  bool buildspec_in_settings = false;
  std::map<std::string, std::string> env;  // variables for every step of this environment
  // `role` of a buildspec environment (only there): like CodeBuild's service
  // role, its credentials reach the whole build and read the buildspec's
  // env.parameter-store / env.secrets-manager.
  std::string role;
  std::string external_id;
  int64_t role_duration_s = 0;
  int64_t timeout_ms = 60 * 60'000;  // whole run
  TriggersConfig triggers;
  // Issue 8 (config/trust_config.h).
  VerifyConfig verify;
  std::vector<StepConfig> preview_steps;  // `preview:`; empty: the default preview steps (doc/previews.md)
  std::vector<NotifyTarget> notify;       // this environment's own targets, besides the global ones

  int line = 0;  // where the environment is defined, for messages
};

// Exactly one of the two is set. An inline `secret:` is refused when the
// file is read: secrets never live in slipway.yaml.
struct WebhookSecret {
  std::string secret_file;  // absolute (resolved against the config directory)
  std::string secret_env;   // name of a variable of the engine's environment
};

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  std::map<std::string, WebhookSecret> webhooks;  // github, gitlab, gitea, generic
  std::string public_url;                         // links in commit statuses and notifications, "" none
  std::map<std::string, ForgeConfig> forges;      // github, gitlab, gitea: commit statuses of previews
  bool preview_forks = false;                     // preview pull requests whose head is in a fork (doc/previews.md)
};

struct Config {
  std::string path;       // absolute path of the file
  std::string dir;        // its directory
  std::string state_dir;  // absolute
  std::string database = "sqlite";
  int keep_workspaces = 3;
  int max_parallel = 0;         // 0: number of cores
  int log_retention_days = 90;  // logs of runs finished longer ago are deleted; 0: kept forever
  int64_t git_timeout_ms = 10 * 60'000;
  ServerConfig server;
  std::vector<EnvironmentConfig> environments;  // in file order
  std::vector<NotifyTarget> notify;             // global `notify:`, for every environment

  const EnvironmentConfig* Find(const std::string& name) const;
  std::vector<std::string> EnvironmentNames() const;
};

// The steps used when an environment gives neither steps nor a buildspec:
// make setup, make lint, make all-tests, make deploy.
std::vector<StepConfig> DefaultSteps();

// Environment and step names: [A-Za-z0-9][A-Za-z0-9_.-]*, at most
// kMaxNameLength characters (they appear in paths, URLs and log names).
inline constexpr size_t kMaxNameLength = 64;
bool IsValidName(std::string_view name);

// Which file to read: `flag_path` when non-empty, else $SLIPWAY_CONFIG when
// set and non-empty, else "slipway.yaml" (in the current directory).
std::string ResolveConfigPath(const std::string& flag_path);

// Reads and validates. On error the Status message holds every problem found,
// one per line, each starting with "FILE:LINE:COLUMN: " where FILE is `path`
// as given (code kInvalidArgument). A file that cannot be read gives one
// sentence, "open 'PATH': No such file or directory" (code from PosixError).
// Files over 1 MiB, nesting deeper than 64 levels and aliases that expand
// past 100000 nodes are refused before anything is built from them.
Result<Config> LoadConfig(const std::string& path);
// Same, from text (for tests and for reloading); `path` is used in messages
// and to resolve relative paths.
Result<Config> ParseConfig(const std::string& text, const std::string& path);

}  // namespace slipway
