// The pipeline of one environment (DESIGN.md §1): fetch the settings, read
// the pin, fetch that exact code, lay the settings over it, run the steps,
// record everything.
//
// A run goes through these stages; doc/pipeline.md has the details:
//   prepare   fetch settings head, read deploy.yaml / variables.sh, resolve the
//             code ref exactly (tag, full commit, or a branch — flagged)
//   workspace code checkout at the commit + settings overlay, in
//             <state_dir>/workspaces/<env>/<run id>
//   steps     each step its own process group; a failure stops the run, but
//             `when: always` steps still run
//   finish    the run record and, only for a fully successful run, the
//             environment's current deployment — in one store transaction
//
// Thread-safety: a Pipeline may run different environments from different
// threads; runs of the same environment are serialised by a lock file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/pin.h"
#include "git/git.h"
#include "proc/process.h"
#include "store/store.h"
#include "util/status.h"

namespace slipway {

class LogWriter;

// True when the environment runs a CodeBuild buildspec instead of steps.
bool IsBuildspecEnvironment(const EnvironmentConfig& env);

enum class SyncStatus { kSynced, kOutOfSync, kUnknown };
const char* SyncStatusName(SyncStatus status);  // "Synced", "OutOfSync", "Unknown"

// What would be deployed now: the result of the prepare stage.
struct Desired {
  std::string settings_commit;  // "" when the environment has no settings source
  Pin pin;
  std::string code_url;  // "" when the environment has no code source
  std::string code_ref;
  ResolvedRef code;  // code.commit is "" when there is no code source
  std::vector<std::string> warnings;
};

struct Plan {
  std::string environment;
  std::optional<Desired> desired;  // empty when it could not be resolved
  std::string error;               // why, when desired is empty
  std::optional<Deployment> deployed;
  SyncStatus sync = SyncStatus::kUnknown;
  std::string reason;                      // one sentence explaining the sync status
  std::vector<std::string> changed_paths;  // settings files changed in the folder since the deployment
};

struct RunOptions {
  std::string trigger = "manual";
  std::string actor;
  std::string ref_override;  // run ENV --ref REF
  const CancelToken* cancel = nullptr;
  int echo_fd = -1;  // where to echo the log live (a terminal), -1 for none
  // Called once the run has an id, before anything is fetched.
  std::function<void(int64_t run_id)> on_started;

  // For the daemon (issue 5; the daemon engineer's addition). When non-zero,
  // the run already exists in the store — queued by the daemon, then claimed
  // (`running`) — and the pipeline takes it over instead of creating one.
  int64_t run_id = 0;
  // Rollback: deploy exactly this settings commit and this code commit (full
  // 40-hex hashes) instead of the settings head and the pinned ref. The pin
  // is still read at that settings commit (its variables, the ref's name).
  std::string pinned_settings_commit;
  std::string pinned_code_commit;
  // A fork's preview (doc/previews.md): the settings remote's ref that holds
  // pinned_settings_commit ("refs/pull/12/head"), fetched when the mirror
  // lacks the commit (a fleet node other than the one that took the hook).
  std::string pinned_settings_ref;
  // A fetch of the settings or code mirror that completed less than this
  // long ago is not repeated (GitOptions::reuse_fetch_ms): the daemon sets it
  // for push-triggered runs, whose trigger has just fetched the commit that
  // triggered them.
  int64_t reuse_fetch_ms = 0;

  // Issue 8 (doc/previews.md, doc/drift.md): "deploy", "preview" or "drift".
  // A preview or drift run runs the environment's preview steps
  // (PreviewStepsOf) without any role, never takes the environment's deploy
  // lock (it may run beside a deploy) and never becomes a deployment.
  std::string kind = "deploy";
  // Preview and drift runs: receives the tail (at most 64 KiB) of the output
  // of the step named "diff", "" when there was none. May be null.
  std::string* diff_output = nullptr;
};

class Pipeline {
 public:
  // `config` and `store` must outlive the Pipeline.
  Pipeline(const Config& config, Store& store);

  // Resolves what would be deployed (fetching, never executing anything) and
  // compares it with the current deployment.
  // reuse_fetch_ms: as RunOptions::reuse_fetch_ms, for the settings and
  // the code mirror (the daemon's background sync checks).
  Plan MakePlan(const EnvironmentConfig& env, int64_t reuse_fetch_ms = 0);

  // Runs the environment's pipeline to the end and returns the final record.
  // An error Status only when the run could not even be recorded (store or
  // state directory unusable); everything else — a missing tag, a failing
  // step, a timeout — is a finished run whose status and error say so.
  Result<RunRecord> Run(const EnvironmentConfig& env, const RunOptions& options);

  // After a run (`run` as Run returned it), once it is final for everyone:
  // git's housekeeping of its mirrors, which fetches leave out, and with
  // `checkout_ahead` the next run's code checkout made ahead (doc/git.md).
  // Best effort; nothing waits for it but the environment's next run.
  void PrepareNextRun(const EnvironmentConfig& env, const RunRecord& run, bool checkout_ahead);

  // A run ends by moving the workspaces of all but the last keep_workspaces
  // runs of its environment into <state_dir>/trash, and PrepareNextRun a
  // stale spare checkout: a rename, where deleting a checkout of 20,000 files
  // takes seconds (bench/pipeline). These delete
  // what is in the trash: here and now (the daemon's pruner thread), or in
  // a detached `rm -rf` that outlives this process (`slipway run`, which
  // then exits without waiting for it). Best effort.
  static void EmptyTrash(const std::string& state_dir);
  static void EmptyTrashDetached(const std::string& state_dir);

  // For callers that run git on an environment's URLs outside a run (the
  // daemon's push poller): `base`, plus for a codecommit:: URL the HTTPS
  // rewrite and the built-in credential helper, with the settings role's
  // credentials (`for_settings` and settings.role set; session
  // slipway-ENV-poll, cached by the aws layer until five minutes before they
  // expire) or the engine's. Any other URL: `base` unchanged. Errors: the
  // role's refusal, no base credentials, a malformed codecommit URL.
  // Steps of runs that an engine killed with SIGKILL left running outlive it
  // (each step has a process group of its own). For every environment whose
  // run lock nobody holds, kills (SIGKILL, whole process group) each process
  // whose working directory is inside that environment's workspaces, so that
  // the environment never runs twice at once. Returns how many processes.
  // Call at start-up, before any run of this engine starts.
  static int StopOrphanedSteps(const Config& config);

  static Result<GitOptions> GitOptionsForUrl(const EnvironmentConfig& env, const std::string& url, bool for_settings,
                                             GitOptions base);

  // The steps that will run for env (the configured ones or the make contract).
  static std::vector<StepConfig> StepsOf(const EnvironmentConfig& env);
  // The steps of a preview or drift run: env.preview_steps when given, else
  // make setup, make lint, make all-tests, and `make -s diff` when
  // `has_diff_target` (the code's Makefile has a `diff:` rule). Never roles.
  static std::vector<StepConfig> PreviewStepsOf(const EnvironmentConfig& env, bool has_diff_target);
  // The names recorded as the run's steps: the steps, or for a buildspec
  // environment its phases (DOWNLOAD_SOURCE … UPLOAD_ARTIFACTS).
  static std::vector<std::string> StepNamesOf(const EnvironmentConfig& env);

 private:
  // The AWS side of one run (doc/aws.md "Wiring"): the credentials of every
  // role the run needs, assumed before anything is fetched or run, the
  // steps' secret values, and every secret string registered with the log's
  // masker. Defined in pipeline.cc.
  struct RunAws;

  // `aws` may be null (a plan): roles needed for a codecommit settings URL are
  // then assumed on the spot.
  // From `options`: ref_override, the pinned commits, cancel and
  // reuse_fetch_ms.
  Result<Desired> Prepare(const EnvironmentConfig& env, const RunOptions& options, RunAws* aws = nullptr);
  // Assumes every role of the run and reads every secret of its steps; an
  // error is the one sentence that fails the run before anything runs.
  Status PrepareAws(const EnvironmentConfig& env, RunAws* aws);
  // What one stage of a run works on, and how it ended.
  struct StageContext {
    const EnvironmentConfig& env;
    const RunOptions& options;
    const Desired& desired;
    const std::string& workspace;
    int64_t deadline;  // monotonic ms
    RunRecord& run;
    LogWriter& log;
    RunAws& aws;
  };
  struct StageOutcome {
    RunStatus status = RunStatus::kSucceeded;
    std::string error;
  };
  // Run the native steps / the buildspec's phases, recording each in the
  // store. An error Status only when the store cannot record.
  Status RunSteps(StageContext& ctx, StageOutcome* outcome);
  Status RunBuildspecPhases(StageContext& ctx, StageOutcome* outcome);
  Git MakeGit(const CancelToken* cancel) const;
  // A Git for fetching `url`: MakeGit's, plus for a codecommit:: URL the
  // rewrite to CodeCommit's HTTPS endpoint and the built-in credential helper
  // (`slipway git-credential`) with the settings role's credentials
  // (`for_settings`) or the engine's, for these git calls only.
  Result<Git> MakeGitFor(const std::string& url, bool for_settings, const EnvironmentConfig& env, RunAws* aws,
                         const CancelToken* cancel, int64_t reuse_fetch_ms = 0) const;
  static Result<GitOptions> AddCodeCommitAccess(GitOptions options, const std::string& url, bool for_settings,
                                                const EnvironmentConfig& env, RunAws* aws);
  void PruneWorkspaces(const std::string& environment);

  const Config& config_;
  Store& store_;
};

// The environment a step sees (DESIGN.md §5): the allow-list of the engine's
// environment, the SLIPWAY_* run facts, the environment's and the pin's
// variables, then the step's own. Exposed for tests.
EnvMap StepEnvironment(const EnvironmentConfig& env, const StepConfig& step, const RunRecord& run,
                       const Desired& desired, const std::string& workspace);

}  // namespace slipway
