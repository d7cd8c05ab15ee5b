#include "pipeline/pipeline.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "aws/codecommit.h"
#include "aws/credentials.h"
#include "aws/engine.h"
#include "aws/timestamp.h"
#include "buildspec/runner.h"
#include "proc/log.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"
#include "verify/verify.h"
#include "workspace/overlay.h"

namespace slipway {

namespace {

// An exclusive flock held for the lifetime of the object. Lock files live in
// <state_dir>/locks; the kernel drops the lock when the process dies, so a
// killed run never leaves an environment locked.
class FileLock {
 public:
  static Result<FileLock> Acquire(const std::string& path, const std::function<void()>& on_wait) {
    SLIPWAY_RETURN_IF_ERROR(MakeDirs(DirName(path)));
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid()) return PosixError("open '" + path + "'", errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return PosixError("lock '" + path + "'", errno);
      if (on_wait) on_wait();
      while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return PosixError("lock '" + path + "'", errno);
      }
    }
    return FileLock(std::move(fd));
  }

 private:
  explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

std::string LockPath(const Config& config, const std::string& name) {
  return JoinPath(JoinPath(config.state_dir, "locks"), name + ".lock");
}

std::string ShortCommit(const std::string& commit) { return commit.substr(0, 12); }

// A code checkout made after a run for the next one (PrepareNextRun), named by
// its commit and the digest of its mirror's refs (Git::RefsDigest).
constexpr const char* kSparePrefix = ".spare-";
std::string SparePath(const std::string& ws_root, const std::string& commit, const std::string& refs_digest) {
  return JoinPath(ws_root, kSparePrefix + commit + "-" + refs_digest);
}

// True when nobody holds the lock at path (taken and released at once).
bool LockIsFree(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return errno == ENOENT;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return false;
  ::flock(fd.get(), LOCK_UN);
  return true;
}

StepStatus PhaseToStepStatus(PhaseStatus status) {
  switch (status) {
    case PhaseStatus::kSucceeded:
      return StepStatus::kSucceeded;
    case PhaseStatus::kTimedOut:
      return StepStatus::kTimedOut;
    case PhaseStatus::kStopped:
      return StepStatus::kCancelled;
    case PhaseStatus::kSkipped:
      return StepStatus::kSkipped;
    default:
      return StepStatus::kFailed;
  }
}

std::string ExportedVariablesJson(const std::vector<std::pair<std::string, std::string>>& vars) {
  if (vars.empty()) return "";
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : vars) j[k] = v;
  return j.dump();
}

// Credentials are assumed again when a run gets this close to their expiry.
constexpr int64_t kRoleRefreshMs = 5 * 60 * 1000;

// The file a `{file: PATH}` secret names, without its trailing newline.
Result<std::string> ReadSecretFile(const std::string& path) {
  SLIPWAY_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// The path of the running binary, for git's credential.helper.
std::string SelfExecutable() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("slipway");
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

}  // namespace

struct Pipeline::RunAws {
  struct Role {
    aws::AssumeRoleParams params;
    aws::Credentials credentials;
  };

  RunAws(std::string environment, std::string run_label, LogWriter* log)
      : environment_(std::move(environment)), run_label_(std::move(run_label)), log_(log) {}

  void Note(const std::string& message) {
    if (log_ != nullptr) (void)log_->Engine(message);
  }
  // Registers values with the log's masker, from now on.
  void Mask(const std::vector<std::string>& values) {
    for (const auto& v : values) {
      if (!v.empty() && std::find(secrets_.begin(), secrets_.end(), v) == secrets_.end()) secrets_.push_back(v);
    }
    if (log_ != nullptr) log_->SetSecrets(secrets_);
  }
  const std::vector<std::string>& secrets() const { return secrets_; }

  // The engine's own credentials; the first call logs where they came from.
  Result<aws::Credentials> Base() {
    std::string source;
    Result<aws::Credentials> creds = aws::EngineAws::Default().BaseCredentials(&source);
    if (!creds.ok()) return creds.status().WithContext("aws");
    Mask(aws::SecretStrings(*creds));
    if (!base_noted_) {
      base_noted_ = true;
      Note("aws: base credentials from " + source + " (key " + aws::AbbreviateKeyId(creds->access_key_id) + ")");
    }
    return creds;
  }

  // The role's credentials: assumed on first use, again when they are about
  // to expire. `what` says who they are for ("step 'deploy'").
  Result<aws::Credentials> AssumeRole(const std::string& arn, const std::string& external_id, int64_t duration_s,
                                      const std::string& what) {
    for (Role& r : roles_) {
      if (r.params.role_arn != arn || r.params.external_id != external_id || r.params.duration_seconds != duration_s) {
        continue;
      }
      if (r.credentials.expiration_ms == 0 || r.credentials.expiration_ms - NowMs() > kRoleRefreshMs) {
        return r.credentials;
      }
      SLIPWAY_RETURN_IF_ERROR(Base().status());
      SLIPWAY_ASSIGN_OR_RETURN(r.credentials, aws::EngineAws::Default().AssumeRole(r.params));
      Mask(aws::SecretStrings(r.credentials));
      Note("aws: assumed role '" + arn + "' again for " + what + " (key " +
           aws::AbbreviateKeyId(r.credentials.access_key_id) + ")");
      return r.credentials;
    }
    SLIPWAY_RETURN_IF_ERROR(Base().status());
    Role role;
    role.params.role_arn = arn;
    role.params.external_id = external_id;
    role.params.duration_seconds = duration_s;
    role.params.session_name = aws::MakeSessionName(environment_, run_label_);
    SLIPWAY_ASSIGN_OR_RETURN(role.credentials, aws::EngineAws::Default().AssumeRole(role.params));
    Mask(aws::SecretStrings(role.credentials));
    Note(
        "aws: assumed role '" + arn + "' for " + what + " (session " + role.params.session_name + ", key " +
        aws::AbbreviateKeyId(role.credentials.access_key_id) +
        (role.credentials.expiration_ms == 0 ? "" : ", expires " + aws::FormatIso8601(role.credentials.expiration_ms)) +
        ")");
    roles_.push_back(role);
    return role.credentials;
  }

  // The credentials that sign for `role` (or the engine's when role is "").
  Result<aws::Credentials> For(const std::string& role, const std::string& external_id, int64_t duration_s,
                               const std::string& what) {
    return role.empty() ? Base() : AssumeRole(role, external_id, duration_s, what);
  }

  // Reads a secret with `credentials`.
  Result<std::string> Secret(const SecretSource& secret, const aws::Credentials* credentials) {
    Result<std::string> value = [&]() -> Result<std::string> {
      switch (secret.kind) {
        case SecretSource::Kind::kFile:
          return ReadSecretFile(secret.ref);
        case SecretSource::Kind::kSsm:
          return aws::EngineAws::Default().GetParameter(*credentials, secret.ref);
        case SecretSource::Kind::kSecretsManager:
          return aws::EngineAws::Default().GetSecretValue(*credentials, secret.ref);
      }
      return Internal("unknown secret kind");
    }();
    if (value.ok()) Mask({*value});
    return value;
  }

  std::map<size_t, EnvMap> step_secrets;  // by step index: variable -> value

 private:
  std::string environment_;
  std::string run_label_;
  LogWriter* log_;
  bool base_noted_ = false;
  std::vector<std::string> secrets_;
  std::vector<Role> roles_;
};

const char* SyncStatusName(SyncStatus status) {
  switch (status) {
    case SyncStatus::kSynced:
      return "Synced";
    case SyncStatus::kOutOfSync:
      return "OutOfSync";
    case SyncStatus::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

Pipeline::Pipeline(const Config& config, Store& store) : config_(config), store_(store) {}

Git Pipeline::MakeGit(const CancelToken* cancel) const {
  GitOptions options;
  options.mirrors_dir = JoinPath(config_.state_dir, "mirrors");
  options.timeout_ms = config_.git_timeout_ms;
  options.cancel = cancel;
  return Git(options);
}

Result<Git> Pipeline::MakeGitFor(const std::string& url, bool for_settings, const EnvironmentConfig& env, RunAws* aws,
                                 const CancelToken* cancel, int64_t reuse_fetch_ms) const {
  GitOptions options;
  options.mirrors_dir = JoinPath(config_.state_dir, "mirrors");
  options.timeout_ms = config_.git_timeout_ms;
  options.cancel = cancel;
  options.reuse_fetch_ms = reuse_fetch_ms;
  SLIPWAY_ASSIGN_OR_RETURN(options, AddCodeCommitAccess(std::move(options), url, for_settings, env, aws));
  return Git(options);
}

int Pipeline::StopOrphanedSteps(const Config& config) {
  char resolved[PATH_MAX];
  std::string root = JoinPath(config.state_dir, "workspaces");
  if (::realpath(root.c_str(), resolved) == nullptr) return 0;
  root = std::string(resolved) + "/";
  Result<std::vector<std::string>> pids = ListDir("/proc");
  if (!pids.ok()) return 0;
  std::map<std::string, bool> free_by_env;
  int killed = 0;
  for (const std::string& name : *pids) {
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::atoi(name.c_str()));
    if (pid == ::getpid()) continue;
    ssize_t n = ::readlink(("/proc/" + name + "/cwd").c_str(), resolved, sizeof resolved - 1);
    if (n <= 0) continue;
    std::string cwd(resolved, static_cast<size_t>(n));
    if (!StartsWith(cwd, root)) continue;
    std::string env = cwd.substr(root.size(), cwd.find('/', root.size()) - root.size());
    auto [it, fresh] = free_by_env.try_emplace(env, false);
    if (fresh) it->second = LockIsFree(LockPath(config, "env-" + env));
    if (!it->second) continue;  // a live run (this engine's or `slipway run`'s) owns it
    pid_t group = ::getpgid(pid);
    if (group > 1 && group != ::getpgrp()) ::kill(-group, SIGKILL);
    ::kill(pid, SIGKILL);
    ++killed;
  }
  return killed;
}

Result<GitOptions> Pipeline::GitOptionsForUrl(const EnvironmentConfig& env, const std::string& url, bool for_settings,
                                              GitOptions base) {
  if (!aws::IsCodeCommitUrl(url)) return base;
  RunAws aws(env.name, "poll", nullptr);
  return AddCodeCommitAccess(std::move(base), url, for_settings, env, &aws);
}

Result<GitOptions> Pipeline::AddCodeCommitAccess(GitOptions options, const std::string& url, bool for_settings,
                                                 const EnvironmentConfig& env, RunAws* aws) {
  if (!aws::IsCodeCommitUrl(url)) return options;
  SLIPWAY_ASSIGN_OR_RETURN(aws::CodeCommitUrl cc, aws::ParseCodeCommitUrl(url));
  aws::EngineAws& engine = aws::EngineAws::Default();
  if (cc.region.empty()) cc.region = engine.region();
  aws::Credentials credentials;
  const std::string& role = for_settings && env.settings ? env.settings->role : std::string();
  if (!role.empty()) {
    SLIPWAY_ASSIGN_OR_RETURN(credentials, aws->AssumeRole(role, "", 0, "the settings fetch"));
  } else if (!cc.profile.empty()) {
    // codecommit://PROFILE@REPO: that profile's credentials, as git-remote-codecommit does.
    EnvMap env_copy = engine.env();
    env_copy["AWS_PROFILE"] = cc.profile;
    std::unique_ptr<aws::HttpClient> http = aws::NewCurlHttpClient(aws::HttpSettings::FromEnvironment(env_copy));
    aws::ChainOptions chain;
    chain.env = env_copy;
    chain.http = http.get();
    Result<aws::ResolvedCredentials> resolved = aws::ResolveBaseCredentials(chain);
    if (!resolved.ok()) return resolved.status().WithContext("credentials of profile '" + cc.profile + "' for " + url);
    credentials = resolved->credentials;
    aws->Mask(aws::SecretStrings(credentials));
    aws->Note("aws: " + url + " with credentials from " + resolved->source);
  } else {
    SLIPWAY_ASSIGN_OR_RETURN(credentials, aws->Base());
  }
  std::string https = cc.HttpsUrl();
  // For tests: CodeCommit itself cannot be reached from a test, so its origin
  // can be moved (to a local git http-backend); the helper still signs for
  // the real host, which is what the local server checks.
  auto hook = engine.env().find("SLIPWAY_TEST_CODECOMMIT_ORIGIN");
  if (hook != engine.env().end() && !hook->second.empty()) {
    Result<aws::Url> real = aws::ParseUrl(https);
    if (real.ok()) {
      options.extra_env["SLIPWAY_CC_SIGN_HOST"] = real->host;
      https = hook->second + real->path;
    }
  }
  // The mirror stays keyed by the codecommit:: URL; git rewrites it to HTTPS,
  // and only our helper answers (the empty value resets the helper list).
  options.extra_config = {"url." + https + ".insteadOf=" + url, "credential.helper=",
                          "credential.helper=!" + ShellQuote(SelfExecutable()) + " git-credential",
                          "credential.useHttpPath=true"};
  options.extra_env["SLIPWAY_CC_ACCESS_KEY_ID"] = credentials.access_key_id;
  options.extra_env["SLIPWAY_CC_SECRET_ACCESS_KEY"] = credentials.secret_access_key;
  options.extra_env["SLIPWAY_CC_SESSION_TOKEN"] = credentials.session_token;
  options.extra_env["SLIPWAY_CC_REGION"] = cc.region;
  return options;
}

std::vector<StepConfig> Pipeline::StepsOf(const EnvironmentConfig& env) {
  return env.steps.empty() ? DefaultSteps() : env.steps;
}

std::vector<StepConfig> Pipeline::PreviewStepsOf(const EnvironmentConfig& env, bool has_diff_target) {
  std::vector<StepConfig> steps = env.preview_steps;
  if (steps.empty()) {
    for (const char* target : {"setup", "lint", "all-tests"}) {
      StepConfig step;
      step.name = target;
      step.run = std::string("make ") + target;
      steps.push_back(std::move(step));
    }
    if (has_diff_target) {
      StepConfig step;
      step.name = "diff";
      step.run = "make -s diff";  // -s: the recipe lines are not echoed, so any output is a difference
      steps.push_back(std::move(step));
    }
  }
  for (StepConfig& step : steps) {
    step.role.clear();  // a preview never holds a role (config.cc refuses them; defence in depth)
    step.external_id.clear();
  }
  return steps;
}

namespace {

// True when the Makefile of `dir` has a rule for `target` ("diff:" at the
// start of a line; "diff::" and "diff: deps" too).
bool MakefileHasTarget(const std::string& dir, const std::string& target) {
  for (const char* name : {"GNUmakefile", "makefile", "Makefile"}) {
    Result<std::string> text = ReadFileLimited(JoinPath(dir, name), 4 << 20);
    if (!text.ok()) continue;
    for (const std::string& line : Split(*text, '\n')) {
      if (StartsWith(line, target + ":") && !StartsWith(line, target + ":=")) return true;
      // ".PHONY: a diff" does not make a rule; a rule list "lint diff:" does.
      size_t colon = line.find(':');
      if (colon == std::string::npos || line.empty() || line[0] == '\t' || line[0] == '.' || line[0] == '#') continue;
      if (colon + 1 < line.size() && line[colon + 1] == '=') continue;
      for (const std::string& word : Split(line.substr(0, colon), ' ')) {
        if (word == target) return true;
      }
    }
    return false;  // make reads the first one it finds
  }
  return false;
}

}  // namespace

bool IsBuildspecEnvironment(const EnvironmentConfig& env) { return !env.buildspec_path.empty(); }

std::vector<std::string> Pipeline::StepNamesOf(const EnvironmentConfig& env) {
  std::vector<std::string> names;
  if (IsBuildspecEnvironment(env)) {
    for (const char* phase : {"DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS"}) {
      names.emplace_back(phase);
    }
  } else {
    for (const auto& step : StepsOf(env)) names.push_back(step.name);
  }
  return names;
}

Result<Desired> Pipeline::Prepare(const EnvironmentConfig& env, const RunOptions& options, RunAws* aws) {
  const std::string& ref_override = options.ref_override;
  const std::string& pinned_settings_commit = options.pinned_settings_commit;
  const std::string& pinned_code_commit = options.pinned_code_commit;
  Desired desired;
  std::optional<RunAws> own_aws;  // a plan's: its roles are assumed here
  if (aws == nullptr) aws = &own_aws.emplace(env.name, "plan", nullptr);
  // Only environments with code look at what is deployed (a moved tag, below).
  Result<std::optional<Deployment>> deployed = std::optional<Deployment>();
  if (env.code) deployed = store_.CurrentDeployment(env.name);

  // The code is fetched while the settings are: they usually pin a tag of
  // the configured code URL, which Git::Resolve fetches to resolve. Not for
  // an exact commit (a rollback, an override, or an environment deployed
  // from a commit hash: usually no fetch at all), nor when both live in
  // one repository (one mirror).
  std::future<Status> code_fetch;
  const bool commit_pinned = !pinned_code_commit.empty() || IsFullCommitHash(ref_override) ||
                             (deployed.ok() && deployed->has_value() && IsFullCommitHash((*deployed)->code_ref));
  if (env.settings && env.code && !commit_pinned) {
    Result<Git> git = MakeGitFor(env.code->url, false, env, aws, options.cancel, options.reuse_fetch_ms);
    if (git.ok() && git->MirrorPath(env.code->url) != git->MirrorPath(env.settings->url)) {
      code_fetch = std::async(std::launch::async,
                              [git = std::move(*git), &url = env.code->url]() mutable { return git.Fetch(url); });
    }
  }

  if (env.settings) {
    const SettingsSource& s = *env.settings;
    SLIPWAY_ASSIGN_OR_RETURN(Git git, MakeGitFor(s.url, true, env, aws, options.cancel, options.reuse_fetch_ms));
    if (!pinned_settings_commit.empty()) {
      // A rollback: exactly this commit, fetched only when the mirror lacks it.
      if (!git.HasCommit(s.url, pinned_settings_commit)) SLIPWAY_RETURN_IF_ERROR(git.Fetch(s.url));
      if (!git.HasCommit(s.url, pinned_settings_commit) && !options.pinned_settings_ref.empty()) {
        SLIPWAY_RETURN_IF_ERROR(git.FetchRef(s.url, options.pinned_settings_ref).status());
      }
      if (!git.HasCommit(s.url, pinned_settings_commit)) {
        return NotFound("settings commit " + pinned_settings_commit + " no longer exists in " + RedactUrl(s.url));
      }
      desired.settings_commit = pinned_settings_commit;
    } else {
      SLIPWAY_ASSIGN_OR_RETURN(desired.settings_commit, git.FetchBranchHead(s.url, s.branch));
    }
    std::string folder = s.path.empty() ? "" : s.path + "/";
    std::string where = "settings@" + ShortCommit(desired.settings_commit) + ":" + folder;
    Result<std::string> deploy_yaml = git.ReadFile(s.url, desired.settings_commit, folder + "deploy.yaml");
    if (deploy_yaml.ok()) {
      SLIPWAY_ASSIGN_OR_RETURN(desired.pin, ParseDeployYaml(*deploy_yaml, where + "deploy.yaml"));
      desired.pin.source = "deploy.yaml";
    } else if (deploy_yaml.status().code() == StatusCode::kNotFound) {
      Result<std::string> vars = git.ReadFile(s.url, desired.settings_commit, folder + "variables.sh");
      if (vars.ok()) {
        SLIPWAY_ASSIGN_OR_RETURN(desired.pin, ParseVariablesSh(*vars, where + "variables.sh"));
        desired.pin.source = "variables.sh";
      } else if (vars.status().code() != StatusCode::kNotFound) {
        return vars.status();
      }
    } else {
      return deploy_yaml.status();
    }
    for (const auto& w : desired.pin.warnings) desired.warnings.push_back(w);
  }
  if (!env.code) return desired;

  const CodeSource& code = *env.code;
  desired.code_url = code.url;
  if (!desired.pin.code_url.empty() && desired.pin.code_url != code.url) {
    const auto& allowed = code.allow_urls;
    if (std::find(allowed.begin(), allowed.end(), desired.pin.code_url) == allowed.end()) {
      return InvalidArgument("the settings of '" + env.name + "' ask for code url '" + desired.pin.code_url +
                             "', which is not in code.allow_urls of " + config_.path);
    }
    desired.code_url = desired.pin.code_url;
  }
  std::optional<Status> fetched;
  if (code_fetch.valid()) {
    fetched = code_fetch.get();
    if (desired.code_url != env.code->url) fetched.reset();  // the settings asked for another URL
  }
  SLIPWAY_ASSIGN_OR_RETURN(Git git,
                           MakeGitFor(desired.code_url, false, env, aws, options.cancel, options.reuse_fetch_ms));
  desired.code_ref = !ref_override.empty()           ? ref_override
                     : !desired.pin.code_ref.empty() ? desired.pin.code_ref
                                                     : code.ref;
  if (desired.code_ref.empty()) {
    return InvalidArgument("no code ref for '" + env.name +
                           "': set code.ref in deploy.yaml of the settings folder, or code.ref in " + config_.path);
  }
  SLIPWAY_RETURN_IF_ERROR(ValidateRef(desired.code_ref));
  std::string warning;
  if (!pinned_code_commit.empty()) {
    // A rollback: the exact commit deployed before, whatever the ref says now.
    SLIPWAY_ASSIGN_OR_RETURN(desired.code, git.Resolve(desired.code_url, pinned_code_commit, &warning));
  } else {
    SLIPWAY_ASSIGN_OR_RETURN(desired.code,
                             git.Resolve(desired.code_url, desired.code_ref, &warning, fetched ? &*fetched : nullptr));
  }
  if (!warning.empty()) desired.warnings.push_back(warning);
  if (desired.code.kind == RefKind::kBranch) {
    desired.warnings.push_back("code ref '" + desired.code_ref + "' is a branch (resolved to " +
                               ShortCommit(desired.code.commit) +
                               "); pin a tag or a full commit hash to deploy an explicit version");
  }
  if (deployed.ok() && deployed->has_value()) {
    const Deployment& d = **deployed;
    if (desired.code.kind == RefKind::kTag && d.code_ref == desired.code_ref && d.code_url == desired.code_url &&
        d.code_commit != desired.code.commit) {
      desired.warnings.push_back("tag '" + desired.code_ref + "' now points to " + ShortCommit(desired.code.commit) +
                                 ", but it pointed to " + ShortCommit(d.code_commit) + " when run " +
                                 std::to_string(d.run_id) + " deployed it");
    }
  }
  return desired;
}

Plan Pipeline::MakePlan(const EnvironmentConfig& env, int64_t reuse_fetch_ms) {
  Plan plan;
  plan.environment = env.name;
  Result<std::optional<Deployment>> deployed = store_.CurrentDeployment(env.name);
  if (deployed.ok()) plan.deployed = *deployed;
  RunOptions options;
  options.reuse_fetch_ms = reuse_fetch_ms;
  Result<Desired> desired = Prepare(env, options);
  if (!desired.ok()) {
    plan.error = desired.status().message();
    plan.sync = SyncStatus::kUnknown;
    plan.reason = "the desired version could not be resolved: " + plan.error;
    return plan;
  }
  plan.desired = *desired;
  if (!plan.deployed) {
    plan.sync = SyncStatus::kOutOfSync;
    plan.reason = "never deployed";
    return plan;
  }
  const Deployment& d = *plan.deployed;
  if (d.code_commit != desired->code.commit || d.code_url != desired->code_url) {
    plan.sync = SyncStatus::kOutOfSync;
    plan.reason = "code " + (d.code_ref.empty() ? "" : d.code_ref + " ") + ShortCommit(d.code_commit) +
                  " is deployed, " + desired->code_ref + " " + ShortCommit(desired->code.commit) + " is desired";
  } else {
    plan.sync = SyncStatus::kSynced;
    plan.reason = "deployed by run " + std::to_string(d.run_id);
  }
  if (env.settings && d.settings_commit != desired->settings_commit) {
    Git git = MakeGit(nullptr);
    Result<std::vector<std::string>> changed =
        git.ChangedPaths(env.settings->url, d.settings_commit, desired->settings_commit, env.settings->path);
    if (!changed.ok()) {
      plan.sync = SyncStatus::kUnknown;
      plan.reason = "cannot compare settings: " + changed.status().message();
    } else if (!changed->empty()) {
      plan.changed_paths = *changed;
      plan.sync = SyncStatus::kOutOfSync;
      plan.reason = std::to_string(changed->size()) + " settings file(s) changed since run " +
                    std::to_string(d.run_id) + " deployed";
    }
  }
  return plan;
}

EnvMap StepEnvironment(const EnvironmentConfig& env, const StepConfig& step, const RunRecord& run,
                       const Desired& desired, const std::string& workspace) {
  EnvMap vars = AllowedBaseEnvironment();
  vars["SLIPWAY_ENV"] = env.name;
  vars["SLIPWAY_RUN_ID"] = std::to_string(run.id);
  vars["SLIPWAY_SETTINGS_COMMIT"] = desired.settings_commit;
  vars["SLIPWAY_CODE_COMMIT"] = desired.code.commit;
  vars["SLIPWAY_CODE_REF"] = desired.code_ref;
  vars["SLIPWAY_TRIGGER"] = run.trigger;
  vars["SLIPWAY_WORKSPACE"] = workspace;
  vars["SLIPWAY_STEP"] = step.name;
  for (const auto& [k, v] : env.env) vars[k] = v;
  for (const auto& [k, v] : desired.pin.variables) vars[k] = v;
  for (const auto& [k, v] : step.env) vars[k] = v;
  return vars;
}

Result<RunRecord> Pipeline::Run(const EnvironmentConfig& configured_env, const RunOptions& options) {
  // A preview or drift check runs the preview steps, without roles, and
  // never deploys (doc/previews.md): it works on a copy of the environment.
  const bool deploys = options.kind == "deploy";
  EnvironmentConfig preview_env;
  if (!deploys) {
    preview_env = configured_env;
    preview_env.steps = PreviewStepsOf(configured_env, false);
    preview_env.buildspec_path.clear();
    preview_env.buildspec_in_settings = false;
    preview_env.role.clear();
  }
  EnvironmentConfig& env = deploys ? const_cast<EnvironmentConfig&>(configured_env) : preview_env;  // NOLINT
  // One run of an environment at a time, across processes; previews and
  // drift checks change nothing and never wait for it.
  std::optional<FileLock> env_lock;
  if (deploys) {
    SLIPWAY_ASSIGN_OR_RETURN(env_lock, FileLock::Acquire(LockPath(config_, "env-" + env.name), [&] {
                               if (options.echo_fd >= 0) {
                                 std::string msg = "==> environment '" + env.name +
                                                   "' is running elsewhere; waiting for that run to finish\n";
                                 (void)WriteAll(options.echo_fd, msg, "terminal");
                               }
                             }));
  }

  RunRecord run;
  run.kind = options.kind;
  run.environment = env.name;
  run.trigger = options.trigger;
  run.actor = options.actor;
  run.requested_ref = options.ref_override;
  run.status = RunStatus::kRunning;
  run.created_ms = NowMs();
  run.started_ms = run.created_ms;
  std::vector<std::string> step_names = StepNamesOf(env);
  for (size_t i = 0; i < step_names.size(); ++i) {
    StepRecord s;
    s.index = static_cast<int>(i);
    s.name = step_names[i];
    run.steps.push_back(s);
  }
  if (options.run_id != 0) {
    // The daemon's queued run, already claimed: take it over.
    SLIPWAY_ASSIGN_OR_RETURN(RunRecord queued, store_.GetRun(options.run_id));
    run.id = queued.id;
    run.created_ms = queued.created_ms;
    run.context_json = queued.context_json;
  } else {
    SLIPWAY_ASSIGN_OR_RETURN(run.id, store_.CreateRun(run));
  }
  std::string log_dir = JoinPath(JoinPath(config_.state_dir, "logs"), env.name);
  SLIPWAY_RETURN_IF_ERROR(MakeDirs(log_dir));
  run.log_path = JoinPath(log_dir, std::to_string(run.id) + ".log");
  LogWriterOptions log_options;
  log_options.echo_fd = options.echo_fd;
  SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<LogWriter> log, LogWriter::Open(run.log_path, log_options));
  // Engine messages: a log write error (a full disk, say) surfaces through
  // log->status() when the run finishes; it must not stop the cleanup.
  auto note = [&log](const std::string& message) { (void)log->Engine(message); };
  // One commit for the run and all its steps: each commit waits for the disk.
  SLIPWAY_RETURN_IF_ERROR(store_.UpdateRunAndSteps(run));
  if (options.on_started) options.on_started(run.id);

  const int64_t deadline = MonotonicMs() + env.timeout_ms;
  auto finish = [&](RunStatus status, const std::string& error, bool deployed) -> Result<RunRecord> {
    run.status = status;
    run.error = error;
    run.finished_ms = NowMs();
    for (auto& s : run.steps) {
      if (s.status == StepStatus::kPending) s.status = StepStatus::kSkipped;
    }
    if (!error.empty()) note("error: " + error);
    note("run " + std::to_string(run.id) + " " + RunStatusName(status) + " after " +
         FormatDurationMs(run.finished_ms - run.started_ms));
    SLIPWAY_RETURN_IF_ERROR(store_.FinishRun(run, deployed));
    PruneWorkspaces(env.name);
    return run;
  };

  note("==> run " + std::to_string(run.id) + " of '" + env.name + "' (trigger: " + run.trigger + ")");

  // Credentials: every role the run needs is assumed, and every secret of its
  // steps read, before anything is fetched or run, so a refused role runs
  // nothing. All of them are masked in the log from here on.
  RunAws aws(env.name, std::to_string(run.id), log.get());
  if (Status ready = PrepareAws(env, &aws); !ready.ok()) return finish(RunStatus::kFailed, ready.message(), false);

  // Prepare: settings, pin, exact code commit. Mirrors are shared between
  // environments, so the git stage is serialised per state directory.
  Result<Desired> prepared = [&]() -> Result<Desired> {
    SLIPWAY_ASSIGN_OR_RETURN(FileLock git_lock, FileLock::Acquire(LockPath(config_, "git"), nullptr));
    (void)git_lock;
    return Prepare(env, options, &aws);
  }();
  if (!prepared.ok()) {
    RunStatus status = prepared.status().code() == StatusCode::kCancelled ? RunStatus::kCancelled : RunStatus::kFailed;
    return finish(status, prepared.status().message(), false);
  }
  const Desired& desired = *prepared;
  run.settings_commit = desired.settings_commit;
  run.code_url = desired.code_url;
  run.code_ref = desired.code_ref;
  run.code_commit = desired.code.commit;
  run.branch_pin = env.code && desired.code.kind == RefKind::kBranch;
  if (env.settings) {
    note("settings " + env.settings->url + " " + env.settings->branch + " at " + desired.settings_commit +
         (desired.pin.source.empty() ? "" : " (pin from " + desired.pin.source + ")"));
  }
  if (env.code) {
    note("code " + desired.code_url + " " + desired.code_ref + " (" + RefKindName(desired.code.kind) + ") at " +
         desired.code.commit);
  }
  for (const auto& w : desired.warnings) note("warning: " + w);
  SLIPWAY_RETURN_IF_ERROR(store_.UpdateRun(run));

  // Signatures (doc/verify.md): before anything of the code is checked out
  // or run. A pull request's preview is not verified: it is not signed off yet.
  if (env.verify.mode != VerifyConfig::Mode::kNone && options.kind != "preview") {
    VerifyRequest request;
    request.environment = env.name;
    request.config = env.verify;
    request.git.mirrors_dir = JoinPath(config_.state_dir, "mirrors");
    request.git.timeout_ms = config_.git_timeout_ms;
    request.git.cancel = options.cancel;
    request.temp_dir = JoinPath(config_.state_dir, "tmp");
    if (env.settings) {
      request.settings_url = env.settings->url;
      request.settings_commit = desired.settings_commit;
    }
    if (env.code) {
      request.code_url = desired.code_url;
      request.code_ref = desired.code_ref;
      request.code_kind = desired.code.kind;
      request.code_commit = desired.code.commit;
    }
    Result<std::string> signer = [&]() -> Result<std::string> {
      SLIPWAY_RETURN_IF_ERROR(MakeDirs(request.temp_dir));
      SLIPWAY_ASSIGN_OR_RETURN(FileLock git_lock, FileLock::Acquire(LockPath(config_, "git"), nullptr));
      (void)git_lock;
      return VerifyRun(request);
    }();
    if (!signer.ok()) {
      RunStatus status = signer.status().code() == StatusCode::kCancelled ? RunStatus::kCancelled : RunStatus::kFailed;
      return finish(status, signer.status().message(), false);
    }
    run.signer = *signer;
    note("verified (" + std::string(VerifyModeName(env.verify.mode)) + "): " + run.signer);
    SLIPWAY_RETURN_IF_ERROR(store_.UpdateRun(run));
  }

  // Workspace: the code at the commit, the settings folder laid over it.
  std::string ws_root = JoinPath(JoinPath(config_.state_dir, "workspaces"), env.name);
  std::string workspace = JoinPath(ws_root, std::to_string(run.id));
  Status ws_status = [&]() -> Status {
    SLIPWAY_RETURN_IF_ERROR(MakeDirs(ws_root));
    SLIPWAY_RETURN_IF_ERROR(RemoveTree(workspace));
    SLIPWAY_ASSIGN_OR_RETURN(FileLock git_lock, FileLock::Acquire(LockPath(config_, "git"), nullptr));
    (void)git_lock;
    Git git = MakeGit(options.cancel);
    if (env.code) {
      // The checkout the previous run prepared (PrepareNextRun), when it is
      // of this commit and the mirror's refs have not moved since.
      Result<std::string> digest = git.RefsDigest(desired.code_url);
      if (digest.ok() && ::rename(SparePath(ws_root, desired.code.commit, *digest).c_str(), workspace.c_str()) == 0) {
        note("code checked out ahead of the run (after the previous one)");
      } else {
        SLIPWAY_RETURN_IF_ERROR(git.Checkout(desired.code_url, desired.code.commit, workspace));
      }
    } else {
      SLIPWAY_RETURN_IF_ERROR(MakeDirs(workspace));
    }
    // A buildspec without a code source starts in an empty workspace, like a
    // CodeBuild project with "No source"; its settings only trigger runs.
    if (env.settings && !(IsBuildspecEnvironment(env) && !env.code)) {
      // Only the environment's folder is written out, in-process.
      std::string settings_tree = workspace + ".settings";
      SLIPWAY_RETURN_IF_ERROR(RemoveTree(settings_tree));
      SLIPWAY_RETURN_IF_ERROR(
          git.ExportFolder(env.settings->url, desired.settings_commit, env.settings->path, settings_tree));
      // Never follows a link in the settings repository out of its checkout.
      Status overlay = OverlaySettingsFolder(settings_tree, env.settings->path, workspace);
      Status cleanup = RemoveTree(settings_tree);
      SLIPWAY_RETURN_IF_ERROR(overlay);
      SLIPWAY_RETURN_IF_ERROR(cleanup);
    }
    return Status::Ok();
  }();
  run.workspace = workspace;
  if (!ws_status.ok()) {
    RunStatus status = ws_status.code() == StatusCode::kCancelled ? RunStatus::kCancelled : RunStatus::kFailed;
    return finish(status, ws_status.message(), false);
  }
  note("workspace " + workspace);
  SLIPWAY_RETURN_IF_ERROR(store_.UpdateRun(run));
  if (!deploys && configured_env.preview_steps.empty() && MakefileHasTarget(workspace, "diff")) {
    // The code's Makefile has `make diff`: the preview shows what would change.
    env.steps = PreviewStepsOf(configured_env, true);
    StepRecord diff;
    diff.index = static_cast<int>(run.steps.size());
    diff.name = env.steps.back().name;
    run.steps.push_back(diff);
    SLIPWAY_RETURN_IF_ERROR(store_.PutStep(run.id, diff));
  }

  // Steps: the native ones, or the phases of a CodeBuild buildspec.
  StageOutcome outcome;
  StageContext ctx{env, options, desired, workspace, deadline, run, *log, aws};
  Status stage = IsBuildspecEnvironment(env) ? RunBuildspecPhases(ctx, &outcome) : RunSteps(ctx, &outcome);
  SLIPWAY_RETURN_IF_ERROR(stage);
  return finish(outcome.status, outcome.error, deploys && outcome.status == RunStatus::kSucceeded);
}

Status Pipeline::PrepareAws(const EnvironmentConfig& env, RunAws* aws) {
  if (env.settings && !env.settings->role.empty()) {
    SLIPWAY_RETURN_IF_ERROR(aws->AssumeRole(env.settings->role, "", 0, "the settings fetch").status());
  }
  if (IsBuildspecEnvironment(env)) {
    if (!env.role.empty()) {
      SLIPWAY_RETURN_IF_ERROR(aws->AssumeRole(env.role, env.external_id, env.role_duration_s, "the build").status());
    }
    return Status::Ok();
  }
  std::vector<StepConfig> steps = StepsOf(env);
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepConfig& step = steps[i];
    const std::string what = "step '" + step.name + "'";
    std::optional<aws::Credentials> credentials;
    if (!step.role.empty()) {
      SLIPWAY_ASSIGN_OR_RETURN(credentials, aws->AssumeRole(step.role, step.external_id, step.role_duration_s, what));
    }
    for (const SecretSource& secret : step.secrets) {
      if (secret.kind != SecretSource::Kind::kFile && !credentials) {
        SLIPWAY_ASSIGN_OR_RETURN(credentials, aws->Base());
      }
      Result<std::string> value = aws->Secret(secret, credentials ? &*credentials : nullptr);
      if (!value.ok()) return value.status().WithContext("secret " + secret.name + " of " + what);
      aws->step_secrets[i][secret.name] = *value;
    }
  }
  return Status::Ok();
}

Status Pipeline::RunSteps(StageContext& ctx, StageOutcome* outcome) {
  const EnvironmentConfig& env = ctx.env;
  RunRecord& run = ctx.run;
  LogWriter* log = &ctx.log;
  auto note = [log](const std::string& message) { (void)log->Engine(message); };
  std::vector<StepConfig> steps = StepsOf(env);
  RunStatus& status = outcome->status;
  std::string& error = outcome->error;
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepConfig& step = steps[i];
    StepRecord& record = run.steps[i];
    bool stopped = status != RunStatus::kSucceeded;
    if (stopped && (!step.always || status == RunStatus::kCancelled)) continue;
    if (!log->status().ok() && status == RunStatus::kSucceeded) {
      // Nothing runs unrecorded: a log that cannot be written stops the run.
      status = RunStatus::kFailed;
      error = "the run's log cannot be written: " + log->status().message();
      continue;
    }
    int64_t remaining = ctx.deadline - MonotonicMs();
    if (remaining <= 0 && !step.always) {
      status = RunStatus::kTimedOut;
      error = "run timed out after " + FormatDurationMs(env.timeout_ms);
      continue;
    }
    ProcessOptions p;
    p.argv = {"/bin/sh", "-c", step.run};
    p.env = StepEnvironment(env, step, run, ctx.desired, ctx.workspace);
    // The step's own secrets and role credentials, for this step only.
    for (const auto& [k, v] : ctx.aws.step_secrets[i]) p.env[k] = v;
    if (!step.role.empty()) {
      // Assumed before the run started; again here if they are about to expire.
      Result<aws::Credentials> creds =
          ctx.aws.AssumeRole(step.role, step.external_id, step.role_duration_s, "step '" + step.name + "'");
      if (!creds.ok()) {
        if (status == RunStatus::kSucceeded) {
          status = RunStatus::kFailed;
          error = creds.status().message();
        }
        continue;
      }
      for (const auto& [k, v] : aws::CredentialsEnvironment(*creds, aws::EngineAws::Default().region())) p.env[k] = v;
    }
    p.cwd = ctx.workspace;
    bool run_timeout_applies = step.timeout_ms == 0 || remaining < step.timeout_ms;
    p.timeout_ms = step.timeout_ms == 0 ? remaining : std::min(step.timeout_ms, remaining);
    if (p.timeout_ms <= 0) p.timeout_ms = step.timeout_ms;  // an `always` step after the run timed out
    p.cancel = ctx.options.cancel;
    record.status = StepStatus::kRunning;
    record.started_ms = NowMs();
    SLIPWAY_RETURN_IF_ERROR(store_.PutStep(run.id, record));
    note("==> step " + step.name + ": " + step.run);
    std::unique_ptr<LogStream> out = log->NewStream();
    OutputSink sink = out->sink();
    if (ctx.options.diff_output != nullptr && ctx.options.kind != "deploy" && step.name == "diff") {
      // The tail of `make diff` for drift (non-empty: drifted) and PR comments.
      std::string* tail = ctx.options.diff_output;
      tail->clear();
      sink = [inner = out->sink(), tail](std::string_view chunk) {
        constexpr size_t kMaxTail = 64 << 10;
        tail->append(chunk);
        if (tail->size() > kMaxTail) tail->erase(0, tail->size() - kMaxTail);
        inner(chunk);
      };
    }
    Result<ProcessResult> result = RunProcess(p, sink);
    (void)out->Finish();
    out.reset();
    record.duration_ms = NowMs() - record.started_ms;
    if (!result.ok()) {
      record.status = StepStatus::kFailed;
      if (status == RunStatus::kSucceeded) {
        status = RunStatus::kFailed;
        error = "step '" + step.name + "' could not start: " + result.status().message();
      }
    } else if (result->cancelled) {
      record.status = StepStatus::kCancelled;
      record.exit_code = result->exit.ShellCode();
      status = RunStatus::kCancelled;
      error = "cancelled during step '" + step.name + "'";
    } else if (result->timed_out) {
      record.status = StepStatus::kTimedOut;
      record.exit_code = result->exit.ShellCode();
      if (status == RunStatus::kSucceeded) {
        status = RunStatus::kTimedOut;
        error = run_timeout_applies
                    ? "run timed out after " + FormatDurationMs(env.timeout_ms) + " during step '" + step.name + "'"
                    : "step '" + step.name + "' timed out after " + FormatDurationMs(step.timeout_ms);
      }
    } else {
      record.exit_code = result->exit.ShellCode();
      record.status = result->exit.success() ? StepStatus::kSucceeded : StepStatus::kFailed;
      if (!result->exit.success() && status == RunStatus::kSucceeded) {
        status = RunStatus::kFailed;
        error = "step '" + step.name + "' failed with " + result->exit.Describe();
      }
    }
    note("<== step " + step.name + " " + StepStatusName(record.status) + " in " + FormatDurationMs(record.duration_ms));
    SLIPWAY_RETURN_IF_ERROR(store_.PutStep(run.id, record));
  }
  return Status::Ok();
}

Status Pipeline::RunBuildspecPhases(StageContext& ctx, StageOutcome* outcome) {
  const EnvironmentConfig& env = ctx.env;
  RunRecord& run = ctx.run;
  BuildspecRunOptions b;
  // The buildspec itself: from the engine's config directory, or from the
  // environment's settings folder at the run's settings commit.
  if (env.buildspec_in_settings) {
    Git git = MakeGit(ctx.options.cancel);
    std::string folder = env.settings->path.empty() ? "" : env.settings->path + "/";
    Result<std::string> text =
        git.ReadFile(env.settings->url, ctx.desired.settings_commit, folder + env.buildspec_path);
    if (!text.ok()) {
      outcome->status = RunStatus::kFailed;
      outcome->error = "buildspec 'settings:" + env.buildspec_path + "': " + text.status().message();
      return Status::Ok();
    }
    b.buildspec_path = JoinPath(ctx.workspace + ".buildspec", BaseName(env.buildspec_path));
    SLIPWAY_RETURN_IF_ERROR(MakeDirs(DirName(b.buildspec_path)));
    SLIPWAY_RETURN_IF_ERROR(WriteFile(b.buildspec_path, *text));
  } else {
    b.buildspec_path = env.buildspec_path;
  }
  b.src_dir = ctx.workspace;
  StepConfig facts;
  facts.name = "buildspec";
  b.base_env = StepEnvironment(env, facts, run, ctx.desired, ctx.workspace);
  RunAws& aws = ctx.aws;
  std::optional<aws::Credentials> build_credentials;
  if (!env.role.empty()) {
    // Like CodeBuild's service role: the whole build gets its credentials.
    Result<aws::Credentials> creds = aws.AssumeRole(env.role, env.external_id, env.role_duration_s, "the build");
    if (!creds.ok()) {
      outcome->status = RunStatus::kFailed;
      outcome->error = creds.status().message();
      return Status::Ok();
    }
    build_credentials = *creds;
    for (const auto& [k, v] : aws::CredentialsEnvironment(*creds, aws::EngineAws::Default().region())) {
      b.base_env[k] = v;
    }
  }
  // env.parameter-store / env.secrets-manager: read with the build's role,
  // else with the engine's credentials.
  b.resolve_secret = [&aws, &build_credentials](const SecretReference& ref) -> Result<std::string> {
    if (!build_credentials) {
      SLIPWAY_ASSIGN_OR_RETURN(build_credentials, aws.Base());
    }
    SecretSource source;
    source.name = ref.variable;
    source.ref = ref.reference;
    source.kind = ref.kind == SecretReference::Kind::kParameterStore ? SecretSource::Kind::kSsm
                                                                     : SecretSource::Kind::kSecretsManager;
    return aws.Secret(source, &*build_credentials);
  };
  b.on_secret = [&aws](const std::string& value) { aws.Mask({value}); };
  for (const auto& [k, v] : env.env) b.env_config[k] = v;
  for (const auto& [k, v] : ctx.desired.pin.variables) b.env_config[k] = v;
  b.project = env.name;
  Result<int64_t> number = store_.NextBuildNumber(env.name);
  b.build_number = number.ok() ? *number : run.id;
  b.initiator = run.actor.empty() ? run.trigger : run.actor;
  b.source_version = ctx.desired.code_ref;
  b.resolved_source_version = ctx.desired.code.commit;
  b.timeout_ms = std::max<int64_t>(1, ctx.deadline - MonotonicMs());
  b.cancel = ctx.options.cancel;
  b.temp_parent = DirName(ctx.workspace);
  b.artifacts_dir = ctx.workspace + ".artifacts";
  // One stream for the whole build, so a secret split between two chunks of
  // output is still masked.
  std::unique_ptr<RawLogStream> raw = ctx.log.NewRawStream();
  b.log = [&raw](std::string_view chunk) { raw->Write(chunk); };
  // Phases are the run's steps, recorded as they start and end.
  auto record_phase = [&](const PhaseRecord& phase, bool ended) {
    for (auto& step : run.steps) {
      if (step.name != phase.name) continue;
      step.started_ms = phase.started_ms;
      step.duration_ms = phase.duration_ms;
      if (!ended) {
        step.status = StepStatus::kRunning;
      } else {
        step.status = PhaseToStepStatus(phase.status);
      }
      (void)store_.PutStep(run.id, step);
    }
  };
  b.on_phase_start = [&](const PhaseRecord& phase) { record_phase(phase, false); };
  b.on_phase_end = [&](const PhaseRecord& phase) { record_phase(phase, true); };

  Result<BuildResult> result = RunBuildspec(b);
  (void)raw->Finish();
  (void)RemoveTree(ctx.workspace + ".buildspec");
  if (!result.ok()) {
    outcome->status = RunStatus::kFailed;
    outcome->error = "buildspec: " + result.status().message();
    return Status::Ok();
  }
  for (const auto& phase : result->phases) record_phase(phase, true);
  // Exported variables are stored and served by the API: never a secret.
  SecretMasker masker(aws.secrets());
  for (auto& [k, v] : result->exported_variables) v = masker.Mask(v);
  run.exported_json = ExportedVariablesJson(result->exported_variables);
  switch (result->status) {
    case BuildStatus::kSucceeded:
      outcome->status = RunStatus::kSucceeded;
      break;
    case BuildStatus::kTimedOut:
      outcome->status = RunStatus::kTimedOut;
      outcome->error = "build timed out after " + FormatDurationMs(env.timeout_ms);
      break;
    case BuildStatus::kStopped:
      outcome->status = RunStatus::kCancelled;
      outcome->error = "build stopped";
      break;
    default:
      outcome->status = RunStatus::kFailed;
      for (const auto& phase : result->phases) {
        if (phase.status != PhaseStatus::kSucceeded && phase.status != PhaseStatus::kSkipped) {
          outcome->error = "phase " + phase.name + " " + PhaseStatusName(phase.status) +
                           (phase.context_code.empty() ? "" : ": " + phase.context_code) +
                           (phase.context_message.empty() ? "" : ": " + phase.context_message);
          break;
        }
      }
      break;
  }
  return Status::Ok();
}

namespace {

std::string TrashDir(const std::string& state_dir) { return JoinPath(state_dir, "trash"); }

std::vector<std::string> TrashEntries(const std::string& state_dir) {
  const std::string trash = TrashDir(state_dir);
  std::vector<std::string> paths;
  Result<std::vector<std::string>> names = ListDir(trash);
  if (names.ok()) {
    for (const std::string& name : *names) paths.push_back(JoinPath(trash, name));
  }
  return paths;
}

// Takes a checkout of `environment` (a workspace, a spare) out of the way at
// once: a rename into the trash, which Pipeline::EmptyTrash(Detached)
// deletes later; deleted here when it cannot be moved. OK once it is gone.
Status Discard(const std::string& state_dir, const std::string& environment, const std::string& path) {
  const std::string trashed = JoinPath(TrashDir(state_dir), environment + "-" + BaseName(path));
  if (MakeDirs(TrashDir(state_dir)).ok() && ::rename(path.c_str(), trashed.c_str()) == 0) return Status::Ok();
  return RemoveTree(path);
}

}  // namespace

void Pipeline::PrepareNextRun(const EnvironmentConfig& env, const RunRecord& run, bool checkout_ahead) {
  Result<FileLock> git_lock = FileLock::Acquire(LockPath(config_, "git"), nullptr);
  if (!git_lock.ok()) return;
  Git git = MakeGit(nullptr);  // not the run's cancel token: a cancelled run's mirrors too
  // Git's housekeeping, which fetches leave out (Git::Maintain).
  if (env.settings) (void)git.Maintain(env.settings->url);
  if (!run.code_url.empty()) (void)git.Maintain(run.code_url);

  // The next run's code checkout, made now: the usual change is a settings
  // change that deploys the same code commit, and its run then starts without
  // a checkout. One spare per environment, valid while the mirror's refs are
  // those it was made with (SparePath).
  if (!checkout_ahead || run.code_url.empty() || !IsFullCommitHash(run.code_commit)) return;
  Result<std::string> digest = git.RefsDigest(run.code_url);
  if (!digest.ok()) return;
  const std::string ws_root = JoinPath(JoinPath(config_.state_dir, "workspaces"), env.name);
  const std::string spare = SparePath(ws_root, run.code_commit, *digest);
  if (IsDirectory(spare)) return;
  Result<std::vector<std::string>> names = ListDir(ws_root);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    if (StartsWith(name, kSparePrefix)) (void)Discard(config_.state_dir, env.name, JoinPath(ws_root, name));
  }
  const std::string tmp = JoinPath(ws_root, std::string(kSparePrefix) + "tmp");
  if (git.Checkout(run.code_url, run.code_commit, tmp).ok() && ::rename(tmp.c_str(), spare.c_str()) != 0) {
    (void)RemoveTree(tmp);
  }
}

void Pipeline::EmptyTrash(const std::string& state_dir) {
  for (const std::string& path : TrashEntries(state_dir)) (void)RemoveTree(path);
}

void Pipeline::EmptyTrashDetached(const std::string& state_dir) {
  std::vector<std::string> paths = TrashEntries(state_dir);
  if (paths.empty()) return;
  ProcessOptions po;
  po.argv = {"rm", "-rf", "--"};
  po.argv.insert(po.argv.end(), paths.begin(), paths.end());
  po.env = {{"PATH", "/usr/bin:/bin"}};
  po.cwd = "/";
  (void)SpawnDetached(po);
}

void Pipeline::PruneWorkspaces(const std::string& environment) {
  std::string ws_root = JoinPath(JoinPath(config_.state_dir, "workspaces"), environment);
  Result<std::vector<std::string>> names = ListDir(ws_root);
  if (!names.ok()) return;
  std::vector<int64_t> ids;
  for (const auto& n : *names) {
    if (!n.empty() && std::all_of(n.begin(), n.end(), ::isdigit)) ids.push_back(std::stoll(n));
  }
  std::sort(ids.begin(), ids.end());
  size_t keep = static_cast<size_t>(std::max(0, config_.keep_workspaces));
  for (size_t i = 0; i + keep < ids.size(); ++i) {
    std::string path = JoinPath(ws_root, std::to_string(ids[i]));
    if (Discard(config_.state_dir, environment, path).ok()) {
      Result<RunRecord> r = store_.GetRun(ids[i]);
      if (r.ok() && r->workspace == path) {
        r->workspace.clear();
        (void)store_.UpdateRun(*r);
      }
    }
  }
}

}  // namespace slipway
