#include "buildspec/runner.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "buildspec/artifacts.h"
#include "buildspec/shell_vars.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

const char* BuildStatusName(BuildStatus status) {
  switch (status) {
    case BuildStatus::kSucceeded:
      return "SUCCEEDED";
    case BuildStatus::kFailed:
      return "FAILED";
    case BuildStatus::kFault:
      return "FAULT";
    case BuildStatus::kTimedOut:
      return "TIMED_OUT";
    case BuildStatus::kStopped:
      return "STOPPED";
  }
  return "?";
}

const char* PhaseStatusName(PhaseStatus status) {
  switch (status) {
    case PhaseStatus::kSucceeded:
      return "SUCCEEDED";
    case PhaseStatus::kFailed:
      return "FAILED";
    case PhaseStatus::kFault:
      return "FAULT";
    case PhaseStatus::kTimedOut:
      return "TIMED_OUT";
    case PhaseStatus::kStopped:
      return "STOPPED";
    case PhaseStatus::kSkipped:
      return "SKIPPED";
  }
  return "?";
}

namespace {

constexpr const char* kDownloadSource = "DOWNLOAD_SOURCE";
constexpr const char* kUploadArtifacts = "UPLOAD_ARTIFACTS";
constexpr const char* kYamlFileError = "YAML_FILE_ERROR";
constexpr const char* kClientError = "CLIENT_ERROR";
constexpr const char* kCommandError = "COMMAND_EXECUTION_ERROR";
constexpr const char* kSecretsError = "Decrypted Variables Error";
constexpr const char* kTimedOutCode = "BUILD_TIMED_OUT";
constexpr const char* kStoppedCode = "BUILD_STOPPED";

// Variables the engine sets; a user-supplied value is replaced (§4.1).
const std::set<std::string>& EngineVariables() {
  static const std::set<std::string> kNames = {"CODEBUILD_BUILD_ID",
                                               "CODEBUILD_BUILD_ARN",
                                               "CODEBUILD_SRC_DIR",
                                               "CODEBUILD_BUILD_NUMBER",
                                               "CODEBUILD_BUILD_SUCCEEDING",
                                               "CODEBUILD_INITIATOR",
                                               "CODEBUILD_START_TIME",
                                               "CODEBUILD_BUILD_IMAGE",
                                               "CODEBUILD_PROJECT_ARN",
                                               "CODEBUILD_CI",
                                               "CODEBUILD_LAST_EXIT",
                                               "CODEBUILD_LOCAL_BUILD",
                                               "CODEBUILD_RESOLVED_SOURCE_VERSION",
                                               "CODEBUILD_SOURCE_VERSION"};
  return kNames;
}

std::string NewUuid() {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Fall back to the clock: the id must be unique-ish, not secret.
      int64_t t = MonotonicMs() ^ NowMs() ^ getpid();
      for (size_t i = got; i < sizeof b; ++i) b[i] = static_cast<unsigned char>(t >> ((i % 8) * 8));
      break;
    }
    got += static_cast<size_t>(n);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  std::string hex = HexEncode(std::string_view(reinterpret_cast<char*>(b), sizeof b));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

bool IsIdentifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Looks `name` up in a PATH value; "" when not found.
std::string FindInPath(const std::string& name, const std::string& path) {
  for (const auto& dir : Split(path, ':')) {
    if (dir.empty()) continue;
    std::string candidate = JoinPath(dir, name);
    if (access(candidate.c_str(), X_OK) == 0 && !IsDirectory(candidate)) return candidate;
  }
  return "";
}

struct RunAsUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

// One entry's outcome.
struct EntryOutcome {
  enum class Kind { kOk, kFailed, kTimedOut, kStopped };
  Kind kind = Kind::kOk;
  std::string reason;  // "exit status N"
};

class Runner {
 public:
  explicit Runner(const BuildspecRunOptions& options) : opt_(options) {}
  ~Runner() {
    if (!temp_dir_.empty()) (void)RemoveTree(temp_dir_);
  }

  Result<BuildResult> Run();

 private:
  // The log.
  void Agent(const std::string& message);
  void Raw(std::string_view text) { opt_.log(text); }

  // DOWNLOAD_SOURCE: read, validate and prepare; false when the build is rejected.
  bool Prepare();
  void Reject(const std::string& code, const std::string& message);
  Status MakeTempDir();
  Result<std::string> ResolveShell();
  Result<std::optional<RunAsUser>> ResolveRunAs(const std::string& user);
  void BuildEnvironment();

  void RunPhase(BuildPhase which, PhaseRecord* record);
  Result<EntryOutcome> RunEntry(const PhaseCommand& command, const std::optional<RunAsUser>& user, PhaseRecord* record);
  Result<std::string> StateDirFor(const std::optional<RunAsUser>& user);
  void LoadState(const std::string& state_dir, const EnvMap& input_env);
  void UploadArtifacts(PhaseRecord* record);
  bool CollectSet(const FileSet& set, const std::string& dest, bool required, std::string* error);
  void CaptureExportedVariables();

  void StartPhase(PhaseRecord* record);
  void EndPhase(PhaseRecord* record, int64_t started_mono);

  const BuildspecRunOptions& opt_;
  Buildspec spec_;
  BuildResult result_;
  std::string temp_dir_;
  std::map<uid_t, std::string> state_dirs_;
  std::string shell_;
  std::string setpriv_;
  std::array<std::optional<RunAsUser>, kBuildPhaseCount> run_as_;
  EnvMap vars_;  // the variables carried from entry to entry
  std::string cwd_;
  std::string region_;
  bool succeeding_ = true;
  int last_exit_ = 0;
  int64_t deadline_mono_ = 0;  // 0: none
  std::set<std::string> secret_vars_;
};

void Runner::Agent(const std::string& message) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char prefix[96];
  std::snprintf(prefix, sizeof prefix, "[Container] %04d/%02d/%02d %02d:%02d:%02d.%06ld ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
  Raw(std::string(prefix) + message + "\n");
}

void Runner::StartPhase(PhaseRecord* record) {
  record->started_ms = NowMs();
  if (opt_.on_phase_start) opt_.on_phase_start(*record);
}

void Runner::EndPhase(PhaseRecord* record, int64_t started_mono) {
  record->duration_ms = MonotonicMs() - started_mono;
  Agent("Phase complete: " + record->name + " State: " + PhaseStatusName(record->status));
  Agent("Phase context status code: " + record->context_code + " Message: " + record->context_message);
  if (opt_.on_phase_end) opt_.on_phase_end(*record);
}

void Runner::Reject(const std::string& code, const std::string& message) {
  PhaseRecord& ds = result_.phases[0];
  ds.status = PhaseStatus::kFailed;
  ds.context_code = code;
  ds.context_message = message;
}

Status Runner::MakeTempDir() {
  std::string parent = opt_.temp_parent.empty() ? "/tmp" : opt_.temp_parent;
  SLIPWAY_ASSIGN_OR_RETURN(temp_dir_, slipway::MakeTempDir(parent, "slipway-buildspec-"));
  // The trap line quotes these paths in single quotes.
  if (temp_dir_.find('\'') != std::string::npos || temp_dir_.find('\n') != std::string::npos) {
    return InvalidArgument("temporary directory '" + temp_dir_ + "' contains a quote or newline");
  }
  if (::chmod(temp_dir_.c_str(), 0700) != 0) return PosixError("chmod '" + temp_dir_ + "'", errno);
  return Status::Ok();
}

Result<std::string> Runner::StateDirFor(const std::optional<RunAsUser>& user) {
  uid_t uid = user ? user->uid : geteuid();
  auto it = state_dirs_.find(uid);
  if (it != state_dirs_.end()) return it->second;
  std::string dir = JoinPath(temp_dir_, "state-" + std::to_string(uid));
  if (::mkdir(dir.c_str(), 0700) != 0) return PosixError("mkdir '" + dir + "'", errno);
  if (user) {
    // The other user needs to reach script.sh and to write its own state.
    if (::chmod(temp_dir_.c_str(), 0711) != 0) return PosixError("chmod '" + temp_dir_ + "'", errno);
    if (::chown(dir.c_str(), user->uid, user->gid) != 0) return PosixError("chown '" + dir + "'", errno);
  }
  state_dirs_[uid] = dir;
  return dir;
}

Result<std::string> Runner::ResolveShell() {
  if (spec_.shell == BuildspecShell::kSh) return std::string("/bin/sh");
  auto path = vars_.find("PATH");
  std::string found = FindInPath("bash", path == vars_.end() ? "/usr/bin:/bin" : path->second);
  if (found.empty() && access("/bin/bash", X_OK) == 0) found = "/bin/bash";
  if (found.empty()) return NotFound("env.shell is bash but no bash was found on PATH");
  return found;
}

Result<std::optional<RunAsUser>> Runner::ResolveRunAs(const std::string& user) {
  if (user.empty()) return std::optional<RunAsUser>();
  struct passwd pw;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (found == nullptr) return InvalidArgument("run-as user '" + user + "' does not exist on this host");
  if (found->pw_uid == geteuid()) return std::optional<RunAsUser>();  // already that user
  if (geteuid() != 0) {
    return InvalidArgument("run-as '" + user + "' needs Slipway to run as root (it runs as uid " +
                           std::to_string(geteuid()) + "): remove run-as or run the engine as root");
  }
  if (setpriv_.empty()) {
    auto path = vars_.find("PATH");
    setpriv_ = FindInPath("setpriv", path == vars_.end() ? "/usr/bin:/bin" : path->second + ":/usr/bin:/bin");
    if (setpriv_.empty()) return NotFound("run-as needs the 'setpriv' program (util-linux), which was not found");
  }
  return std::optional<RunAsUser>(RunAsUser{found->pw_uid, found->pw_gid, user});
}

void Runner::BuildEnvironment() {
  vars_ = opt_.base_env;
  if (!vars_.count("HOME")) {
    // HOME is the engine user's home (doc/buildspec.md "HOME"); /root only as a last resort.
    struct passwd pw;
    struct passwd* found = nullptr;
    std::vector<char> buf(16384);
    getpwuid_r(geteuid(), &pw, buf.data(), buf.size(), &found);
    vars_["HOME"] = found != nullptr && found->pw_dir != nullptr && *found->pw_dir ? found->pw_dir : "/root";
  }
  std::vector<std::string> reserved;
  auto apply = [&](const std::string& k, const std::string& v) {
    if (EngineVariables().count(k)) {
      reserved.push_back(k);
      return;
    }
    vars_[k] = v;
  };
  for (const auto& [k, v] : spec_.variables) apply(k, v);
  for (const auto& [k, v] : opt_.env_config) apply(k, v);
  for (const auto& [k, v] : opt_.overrides) apply(k, v);
  for (const auto& k : reserved) Agent("Ignoring " + k + ": CODEBUILD_ variables are set by the build");

  region_ = opt_.region;
  if (region_.empty() && vars_.count("AWS_REGION")) region_ = vars_["AWS_REGION"];
  if (region_.empty() && vars_.count("AWS_DEFAULT_REGION")) region_ = vars_["AWS_DEFAULT_REGION"];
  if (region_.empty()) region_ = "us-east-1";
  if (!vars_.count("AWS_REGION") || !opt_.region.empty()) vars_["AWS_REGION"] = region_;
  if (!vars_.count("AWS_DEFAULT_REGION") || !opt_.region.empty()) vars_["AWS_DEFAULT_REGION"] = region_;

  result_.build_arn = "arn:aws:codebuild:" + region_ + ":000000000000:build/" + result_.build_id;
  vars_["CODEBUILD_BUILD_ID"] = result_.build_id;
  vars_["CODEBUILD_BUILD_ARN"] = result_.build_arn;
  vars_["CODEBUILD_PROJECT_ARN"] = "arn:aws:codebuild:" + region_ + ":000000000000:project/" + opt_.project;
  vars_["CODEBUILD_SRC_DIR"] = opt_.src_dir;
  vars_["CODEBUILD_BUILD_NUMBER"] = std::to_string(opt_.build_number);
  vars_["CODEBUILD_INITIATOR"] = opt_.initiator;
  vars_["CODEBUILD_START_TIME"] = std::to_string(result_.started_ms);
  vars_["CODEBUILD_BUILD_IMAGE"] = "slipway/host";
  vars_["CODEBUILD_CI"] = "true";
  vars_["CODEBUILD_LOCAL_BUILD"] = "true";
  vars_["CODEBUILD_BUILD_SUCCEEDING"] = "1";
  if (!opt_.source_version.empty()) vars_["CODEBUILD_SOURCE_VERSION"] = opt_.source_version;
  if (!opt_.resolved_source_version.empty()) {
    vars_["CODEBUILD_RESOLVED_SOURCE_VERSION"] = opt_.resolved_source_version;
  }
}

bool Runner::Prepare() {
  PhaseRecord& ds = result_.phases[0];
  int64_t started_mono = MonotonicMs();
  StartPhase(&ds);
  ds.status = PhaseStatus::kSucceeded;
  Agent("Waiting for agent ping");
  Agent("Waiting for DOWNLOAD_SOURCE");
  Agent("Phase is DOWNLOAD_SOURCE");
  Agent("CODEBUILD_SRC_DIR=" + opt_.src_dir);
  Agent("YAML location is " + (opt_.buildspec_path.empty() ? std::string("(inline buildspec)") : opt_.buildspec_path));

  auto done = [&]() {
    EndPhase(&ds, started_mono);
    return ds.status == PhaseStatus::kSucceeded;
  };

  if (opt_.buildspec) {
    spec_ = *opt_.buildspec;
  } else {
    Result<Buildspec> loaded = LoadBuildspecFile(opt_.buildspec_path);
    if (!loaded.ok()) {
      Reject(kYamlFileError, loaded.status().message());
      return done();
    }
    spec_ = std::move(loaded).value();
  }
  if (!IsDirectory(opt_.src_dir)) {
    Reject(kClientError, "source directory '" + opt_.src_dir + "' does not exist");
    return done();
  }

  Agent("Processing environment variables");
  BuildEnvironment();

  // Secrets: a variable given at project or start-build level needs no lookup.
  for (const auto& secret : spec_.secrets) {
    if (opt_.env_config.count(secret.variable) || opt_.overrides.count(secret.variable)) continue;
    const char* key =
        secret.kind == SecretReference::Kind::kParameterStore ? "env.parameter-store" : "env.secrets-manager";
    if (!opt_.resolve_secret) {
      Reject(kSecretsError, std::string(key) + " is not available yet in Slipway: cannot resolve " + secret.variable +
                                " from '" + secret.reference + "'; give its value with --env " + secret.variable +
                                "=... or in the environment config");
      return done();
    }
    Result<std::string> value = opt_.resolve_secret(secret);
    if (!value.ok()) {
      Reject(kSecretsError, value.status().message());
      return done();
    }
    if (opt_.on_secret) opt_.on_secret(*value);
    vars_[secret.variable] = *value;
    secret_vars_.insert(secret.variable);
  }

  Result<std::string> shell = ResolveShell();
  if (!shell.ok()) {
    Reject(kYamlFileError, shell.status().message());
    return done();
  }
  shell_ = *shell;
  for (size_t i = 0; i < kBuildPhaseCount; ++i) {
    const BuildspecPhase& phase = spec_.phases[i];
    std::string user = phase.run_as.empty() ? spec_.run_as : phase.run_as;
    Result<std::optional<RunAsUser>> run_as = ResolveRunAs(user);
    if (!run_as.ok()) {
      Reject(kYamlFileError, run_as.status().message());
      return done();
    }
    run_as_[i] = *run_as;
  }

  for (const auto& note : spec_.notes) Agent(note);
  if (spec_.git_credential_helper.value_or(false)) {
    Agent("git-credential-helper: yes is a no-op: git uses the host's own credential configuration");
  }
  if (spec_.has_proxy) Agent("proxy settings are ignored: Slipway uploads nothing and sends logs nowhere");
  if (!spec_.has_cache) {
    Agent("Cache is not defined in the buildspec");
  } else {
    Agent("Cache paths are neither restored nor saved: Slipway keeps no build cache (paths stay where they are)");
  }
  Agent("Moving to directory " + opt_.src_dir);
  cwd_ = opt_.src_dir;
  Agent("Registering with agent");

  std::vector<std::pair<std::string, size_t>> found;
  for (size_t i = 0; i < kBuildPhaseCount; ++i) {
    if (spec_.phases[i].present) {
      found.emplace_back(BuildPhaseName(static_cast<BuildPhase>(i)), spec_.phases[i].commands.size());
    }
  }
  std::sort(found.begin(), found.end());
  Agent("Phases found in YAML: " + std::to_string(found.size()));
  for (const auto& [name, count] : found) Agent(" " + name + ": " + std::to_string(count) + " commands");
  return done();
}

void Runner::LoadState(const std::string& state_dir, const EnvMap& input_env) {
  std::string vars_path = JoinPath(state_dir, "vars");
  std::string cwd_path = JoinPath(state_dir, "cwd");
  Result<std::string> cwd = ReadFile(cwd_path);
  Result<std::string> text = ReadFile(vars_path);
  (void)::unlink(vars_path.c_str());
  (void)::unlink(cwd_path.c_str());
  // No state: the shell was killed or exec'd, or the entry replaced our EXIT
  // trap. Variables and cwd stay as they were before the entry.
  if (!cwd.ok() || !text.ok()) return;
  Result<std::vector<ShellVariable>> parsed = ParseSetOutput(*text);
  if (!parsed.ok()) {
    Agent("Warning: shell variables not carried over: " + parsed.status().message());
    return;
  }
  EnvMap next;
  for (auto& var : *parsed) {
    if (IsShellManagedVariable(var.name)) continue;
    if (IsShellDefaultVariable(var.name) && !input_env.count(var.name)) continue;
    next[var.name] = std::move(var.value);
  }
  // Names that are not identifiers cannot be changed by the shell; keep them.
  for (const auto& [k, v] : input_env) {
    if (!IsIdentifier(k)) next[k] = v;
  }
  vars_ = std::move(next);
  std::string dir = *cwd;
  while (!dir.empty() && dir.back() == '\n') dir.pop_back();
  if (!dir.empty()) cwd_ = dir;
}

Result<EntryOutcome> Runner::RunEntry(const PhaseCommand& command, const std::optional<RunAsUser>& user,
                                      PhaseRecord* record) {
  EntryOutcome outcome;
  if (opt_.cancel != nullptr && opt_.cancel->cancelled()) {
    outcome.kind = EntryOutcome::Kind::kStopped;
    return outcome;
  }
  int64_t remaining = 0;
  if (deadline_mono_ > 0) {
    remaining = deadline_mono_ - MonotonicMs();
    if (remaining <= 0) {
      outcome.kind = EntryOutcome::Kind::kTimedOut;
      return outcome;
    }
  }
  ++record->commands_run;
  Agent("Running command " + command.text);
  SLIPWAY_ASSIGN_OR_RETURN(std::string state_dir, StateDirFor(user));
  // Three lines of preamble, so the user's text starts on line 4 as in
  // CodeBuild's script.sh; the variables arrive as the environment. The trap
  // hides itself from `set -x`, and `>|` works under `set -C`.
  std::string script = "# slipway buildspec entry; variables come from the environment; your text starts on line 4\n";
  script += "trap '{ set +x; } 2>/dev/null; set +e; command pwd >|\"" + state_dir + "/cwd\"; set >|\"" + state_dir +
            "/vars\"' EXIT\n";
  script += "cd -- " + ShellQuote(cwd_) + " || exit 1\n";
  script += command.text;
  if (command.text.empty() || command.text.back() != '\n') script += "\n";
  std::string script_path = JoinPath(temp_dir_, "script.sh");
  SLIPWAY_RETURN_IF_ERROR(WriteFile(script_path, script, 0644));

  EnvMap env = vars_;
  env["CODEBUILD_BUILD_SUCCEEDING"] = succeeding_ ? "1" : "0";
  env["CODEBUILD_LAST_EXIT"] = std::to_string(last_exit_);

  ProcessOptions po;
  if (user) {
    po.argv = {setpriv_,
               "--reuid=" + std::to_string(user->uid),
               "--regid=" + std::to_string(user->gid),
               "--init-groups",
               "--",
               shell_,
               script_path};
  } else {
    po.argv = {shell_, script_path};
  }
  po.env = env;
  po.cwd = IsDirectory(cwd_) ? cwd_ : opt_.src_dir;
  po.timeout_ms = remaining;
  po.grace_ms = opt_.grace_ms;
  po.cancel = opt_.cancel;

  bool wrote = false;
  char last = '\n';
  Result<ProcessResult> ran = RunProcess(po, [&](std::string_view chunk) {
    if (chunk.empty()) return;
    wrote = true;
    last = chunk.back();
    Raw(chunk);
  });
  if (wrote && last != '\n') Raw("\n");
  Raw("\n");  // CodeBuild follows each command's output with a blank line
  if (!ran.ok()) {
    outcome.kind = EntryOutcome::Kind::kFailed;
    outcome.reason = ran.status().message();
    last_exit_ = 127;
    return outcome;
  }
  if (ran->timed_out) {
    outcome.kind = EntryOutcome::Kind::kTimedOut;
    return outcome;
  }
  if (ran->cancelled) {
    outcome.kind = EntryOutcome::Kind::kStopped;
    return outcome;
  }
  if (ran->killed_leftovers) {
    // CodeBuild lets a background job (`dockerd &`) outlive its command; the
    // process layer ends every process group with its command (doc/buildspec.md).
    Agent("Warning: background processes started by this command were stopped when it ended");
  }
  LoadState(state_dir, env);
  last_exit_ = ran->exit.ShellCode();
  if (!ran->exit.success()) {
    outcome.kind = EntryOutcome::Kind::kFailed;
    outcome.reason = "exit status " + std::to_string(ran->exit.ShellCode());
  }
  return outcome;
}

void Runner::RunPhase(BuildPhase which, PhaseRecord* record) {
  const BuildspecPhase& phase = spec_.phase(which);
  const std::optional<RunAsUser>& user = run_as_[static_cast<size_t>(which)];
  int64_t started_mono = MonotonicMs();
  StartPhase(record);
  record->status = PhaseStatus::kSucceeded;
  Agent(std::string("Entering phase ") + BuildPhaseName(which));
  if (which == BuildPhase::kInstall && !phase.runtime_versions.empty()) {
    Agent("Skipping install of runtimes. Runtime version selection is not supported by this build image");
  }
  if (phase.present && phase.commands.empty() && phase.finally_commands.empty()) {
    Agent(std::string("No commands found for phase name: ") + BuildPhaseKey(which));
  }

  std::optional<EntryOutcome> failure;
  std::string failed_text;
  auto run_list = [&](const std::vector<PhaseCommand>& list) -> bool {
    for (const auto& command : list) {
      Result<EntryOutcome> outcome = RunEntry(command, user, record);
      if (!outcome.ok()) {
        // The engine could not write the script: a fault, not the user's command.
        record->status = PhaseStatus::kFault;
        record->context_code = kClientError;
        record->context_message = outcome.status().message();
        failure = EntryOutcome{EntryOutcome::Kind::kFailed, outcome.status().message()};
        return false;
      }
      if (outcome->kind == EntryOutcome::Kind::kOk) continue;
      if (outcome->kind == EntryOutcome::Kind::kFailed) {
        Agent("Command did not exit successfully " + command.text + " " + outcome->reason);
        succeeding_ = false;  // already 0 in the failing phase's own finally [U]
      }
      if (!failure) {
        failure = *outcome;
        failed_text = command.text;
      }
      return false;
    }
    return true;
  };
  run_list(phase.commands);
  bool interrupted =
      failure && (failure->kind == EntryOutcome::Kind::kTimedOut || failure->kind == EntryOutcome::Kind::kStopped ||
                  record->status == PhaseStatus::kFault);
  if (!interrupted && !phase.finally_commands.empty()) run_list(phase.finally_commands);

  if (failure && record->status != PhaseStatus::kFault) {
    switch (failure->kind) {
      case EntryOutcome::Kind::kTimedOut:
        record->status = PhaseStatus::kTimedOut;
        record->context_code = kTimedOutCode;
        record->context_message = "Build has timed out. " + std::to_string(opt_.timeout_ms / 1000) + " secs";
        succeeding_ = false;
        break;
      case EntryOutcome::Kind::kStopped:
        record->status = PhaseStatus::kStopped;
        record->context_code = kStoppedCode;
        record->context_message = "Build was stopped";
        succeeding_ = false;
        break;
      default:
        record->status = PhaseStatus::kFailed;
        record->context_code = kCommandError;
        record->context_message = "Error while executing command: " + failed_text + ". Reason: " + failure->reason;
        break;
    }
  }
  EndPhase(record, started_mono);
}

bool Runner::CollectSet(const FileSet& set, const std::string& dest, bool required, std::string* error) {
  std::string base = set.base_directory.empty() ? opt_.src_dir : AbsolutePath(set.base_directory, opt_.src_dir);
  if (!set.base_directory.empty()) Agent("Expanding base directory path: " + set.base_directory);
  Agent("Assembling file list");
  for (const auto& pattern : set.files) Agent("Expanding " + pattern);
  Result<std::vector<std::string>> files = MatchFileSet(set, base);
  if (!files.ok() || files->empty()) {
    if (required) *error = "no matching artifact paths found";
    return false;
  }
  Agent("Found " + std::to_string(files->size()) + " file(s)");
  if (dest.empty()) return true;
  Status copied = CopyFiles(base, *files, dest, set.discard_paths, set.enable_symlinks);
  if (!copied.ok()) {
    *error = copied.message();
    return false;
  }
  std::string prefix = dest.size() > opt_.artifacts_dir.size() ? dest.substr(opt_.artifacts_dir.size() + 1) : "";
  for (const auto& f : *files) {
    std::string rel = set.discard_paths ? BaseName(f) : f;
    if (required) result_.artifacts.push_back(prefix.empty() ? rel : prefix + "/" + rel);
  }
  return true;
}

void Runner::UploadArtifacts(PhaseRecord* record) {
  int64_t started_mono = MonotonicMs();
  StartPhase(record);
  record->status = PhaseStatus::kSucceeded;
  std::string error;
  bool copy = !opt_.artifacts_dir.empty();
  if ((spec_.artifacts || !spec_.reports.empty()) && !copy) {
    Agent("No artifacts directory given: artifact and report files are matched but not copied");
  }
  if (spec_.artifacts) {
    if (!spec_.artifacts->name.empty()) Agent("Artifact name '" + spec_.artifacts->name + "' is not used locally");
    if (!spec_.artifacts->s3_prefix.empty()) Agent("s3-prefix is not used locally");
    if (!CollectSet(*spec_.artifacts, copy ? opt_.artifacts_dir : "", true, &error)) {
      record->status = PhaseStatus::kFailed;
      record->context_code = kClientError;
      record->context_message = error;
    }
  }
  for (const auto& secondary : spec_.secondary_artifacts) {
    if (record->status != PhaseStatus::kSucceeded) break;
    if (!CollectSet(secondary, copy ? JoinPath(opt_.artifacts_dir, secondary.identifier) : "", true, &error)) {
      record->status = PhaseStatus::kFailed;
      record->context_code = kClientError;
      record->context_message = error + " for secondary artifact " + secondary.identifier;
    }
  }
  for (const auto& report : spec_.reports) {
    // Reports never fail the build; their files are collected for the user.
    std::string report_error;
    std::string dest = copy ? JoinPath(JoinPath(opt_.artifacts_dir, "reports"), report.identifier) : "";
    if (!CollectSet(report, dest, false, &report_error)) {
      Agent("Report group " + report.identifier + ": no report files found" +
            (report_error.empty() ? "" : ": " + report_error));
    }
  }
  EndPhase(record, started_mono);
}

void Runner::CaptureExportedVariables() {
  for (const auto& name : spec_.exported_variables) {
    if (StartsWith(name, "AWS_")) {
      Agent("Not exporting " + name + ": names starting with AWS_ cannot be exported");
      continue;
    }
    if (secret_vars_.count(name)) {
      Agent("Not exporting " + name + ": secrets cannot be exported");
      continue;
    }
    auto it = vars_.find(name);
    if (it != vars_.end()) result_.exported_variables.emplace_back(name, it->second);
  }
}

Result<BuildResult> Runner::Run() {
  if (!opt_.log) return InvalidArgument("RunBuildspec: no log sink given");
  result_.started_ms = NowMs();
  result_.build_id = opt_.project + ":" + (opt_.build_uuid.empty() ? NewUuid() : opt_.build_uuid);
  result_.build_arn = "arn:aws:codebuild:" + (opt_.region.empty() ? std::string("us-east-1") : opt_.region) +
                      ":000000000000:build/" + result_.build_id;
  int64_t start_mono = MonotonicMs();
  if (opt_.timeout_ms > 0) deadline_mono_ = start_mono + opt_.timeout_ms;
  for (const char* name : {kDownloadSource, "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD", kUploadArtifacts}) {
    PhaseRecord record;
    record.name = name;
    result_.phases.push_back(record);
  }
  SLIPWAY_RETURN_IF_ERROR(MakeTempDir());

  if (!Prepare()) {
    result_.status = BuildStatus::kFailed;
    result_.finished_ms = NowMs();
    return result_;
  }

  bool stop = false;  // nothing more runs, not even UPLOAD_ARTIFACTS
  bool any_failed = false;
  BuildStatus final_status = BuildStatus::kSucceeded;
  for (size_t i = 0; i < kBuildPhaseCount && !stop; ++i) {
    BuildPhase which = static_cast<BuildPhase>(i);
    PhaseRecord& record = result_.phases[i + 1];
    RunPhase(which, &record);
    switch (record.status) {
      case PhaseStatus::kSucceeded:
      case PhaseStatus::kSkipped:
        break;
      case PhaseStatus::kTimedOut:
        final_status = BuildStatus::kTimedOut;
        stop = true;
        break;
      case PhaseStatus::kStopped:
        final_status = BuildStatus::kStopped;
        stop = true;
        break;
      case PhaseStatus::kFault:
        final_status = BuildStatus::kFault;
        stop = true;
        break;
      case PhaseStatus::kFailed: {
        any_failed = true;
        OnFailure on_failure = spec_.phase(which).on_failure;
        if (on_failure == OnFailure::kAbort) {
          stop = true;
        } else if (on_failure == OnFailure::kDefault &&
                   (which == BuildPhase::kInstall || which == BuildPhase::kPreBuild)) {
          stop = true;  // §3.3: the rest is skipped, straight to FINALIZING
        }
        break;
      }
    }
  }
  CaptureExportedVariables();  // the values at the end of POST_BUILD (§5.1)
  if (!stop) {
    UploadArtifacts(&result_.phases.back());
    if (result_.phases.back().status != PhaseStatus::kSucceeded) any_failed = true;
  }
  if (final_status == BuildStatus::kSucceeded && any_failed) final_status = BuildStatus::kFailed;
  result_.status = final_status;
  result_.finished_ms = NowMs();
  return result_;
}

}  // namespace

Result<BuildResult> RunBuildspec(const BuildspecRunOptions& options) {
  Runner runner(options);
  return runner.Run();
}

std::string BuildResultToJson(const BuildResult& result, int indent) {
  using nlohmann::json;
  json j;
  j["build_id"] = result.build_id;
  j["build_arn"] = result.build_arn;
  j["status"] = BuildStatusName(result.status);
  j["started_ms"] = result.started_ms;
  j["finished_ms"] = result.finished_ms;
  j["duration_ms"] = result.finished_ms - result.started_ms;
  json phases = json::array();
  for (const auto& p : result.phases) {
    phases.push_back({{"name", p.name},
                      {"status", PhaseStatusName(p.status)},
                      {"context_code", p.context_code},
                      {"context_message", p.context_message},
                      {"started_ms", p.started_ms},
                      {"duration_ms", p.duration_ms},
                      {"commands_run", p.commands_run}});
  }
  j["phases"] = phases;
  json exported = json::object();
  for (const auto& [k, v] : result.exported_variables) exported[k] = v;
  j["exported_variables"] = exported;
  j["artifacts"] = result.artifacts;
  // Command output is arbitrary bytes; never let invalid UTF-8 throw here.
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace slipway
