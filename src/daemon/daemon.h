// The always-on engine behind `slipway serve` (issue 5; doc/daemon.md): the
// durable run queue and the runner, the push trigger (polling and webhook
// deliveries, with the path filter), schedules, pause / resume, rollback
// with hold, and config reload. The HTTP API (src/server/) is a thin layer
// over this class.
//
// The queue lives in the store: every trigger is written as a `queued` run
// (or coalesced into one) before it is acknowledged, so nothing acknowledged
// is lost when the process dies. The runner starts queued runs oldest first,
// at most max_parallel at a time and never two of one environment; while an
// environment runs, further triggers coalesce into one queued run that
// resolves the newest settings head when it starts. Work is never refused
// because an environment is busy.
//
// Threads: one dispatcher, one thread per running run, one poller, one
// webhook inbox, one scheduler, one sync checker. Every public method is
// thread-safe and returns quickly (it never waits for git or a run), except
// Shutdown.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "daemon/metrics.h"
#include "pipeline/pipeline.h"
#include "proc/process.h"
#include "store/store.h"
#include "triggers/poll.h"
#include "triggers/webhook.h"
#include "util/status.h"

namespace slipway {

struct DaemonOptions {
  // SIGTERM: how long running steps may go on before they are cancelled.
  int64_t shutdown_grace_ms = 30'000;
  PollOptions poll;
  // Processed webhook deliveries are remembered this long (duplicates of
  // older ones are no longer recognised).
  int64_t keep_deliveries_ms = 7 * 24 * 3600'000LL;
  // Pause between two background sync checks (each fetches the settings and
  // code mirrors of one environment).
  int64_t sync_check_spacing_ms = 200;
  // Every environment's sync status is checked again this often, so that a
  // settings push shows as OutOfSync also where no push trigger looks at it.
  // A check reuses a mirror fetched less than sync_reuse_fetch_ms ago: many
  // environments on one repository cost one fetch.
  int64_t sync_refresh_ms = 180'000;
  int64_t sync_reuse_fetch_ms = 60'000;
  bool check_sync = true;  // false: sync status stays Unknown (benchmarks)
  // Fleet mode (issue 7; doc/fleet.md): several nodes on one PostgreSQL.
  // `slipway serve` turns it on when `database` is a postgresql:// URL.
  bool fleet = false;
  std::string node_address;      // where this node's API listens, shown in /api/v1/nodes
  int64_t heartbeat_ms = 2'000;  // heartbeat, reaping and lease renewal period
  int64_t node_ttl_ms = 15'000;  // a node silent this long is lost; leases last this long
  int64_t claim_poll_ms = 500;   // an idle node looks for queued runs this often
};

struct TriggerRequest {
  std::string environment;
  std::string trigger = "manual";  // "manual", "push", "webhook", "schedule"
  std::string actor;               // token name, "poller", "github delivery ID", ...
  std::string ref;                 // manual only: deploy this code ref instead of the pin
};

struct TriggerResult {
  int64_t run_id = 0;
  bool coalesced = false;  // an equivalent queued run existed: this trigger joined it
};

// What the API shows about one environment.
struct EnvironmentView {
  std::string name;
  bool paused = false;
  int64_t held_run_id = 0;  // held at the deployment of this run (rollback)
  std::string paused_by;
  int64_t paused_ms = 0;
  std::string state;  // one phrase: "idle", "running run 12", "held at run 7", "paused"
  int64_t running_run_id = 0;
  int64_t queued_runs = 0;
  std::optional<Deployment> deployed;
  SyncStatus sync = SyncStatus::kUnknown;
  std::string sync_reason;
  int64_t sync_checked_ms = 0;  // 0: not checked yet
  std::string desired_settings_commit;
  std::string desired_code_ref;
  std::string desired_code_commit;
  // The push trigger.
  bool push = false;
  int64_t poll_ms = 0;
  std::string evaluated_commit;
  std::string trigger_error;  // the last poll or evaluation error, "" when the last one worked
  int64_t trigger_error_ms = 0;
  std::vector<std::string> schedule;
  int64_t next_schedule_ms = 0;  // 0: none
  std::optional<RunRecord> last_run;
  // Drift checks (issue 8; doc/drift.md).
  std::string drift;  // "" (clean or never checked) or "Drifted"
  std::string drift_reason;
  int64_t drift_checked_ms = 0;  // 0: never checked
  int64_t drift_run_id = 0;
};

// Desired vs deployed settings of one environment, for the dashboard
// (Daemon::Changes; doc/api.md "Changes").
struct SettingsCommit {
  std::string commit;
  std::string subject;
  std::string author;
  int64_t time_ms = 0;
  // Files of the environment's folder this commit changed (diffed against
  // the commit listed after it, the deployed commit for the oldest).
  std::vector<std::string> files;
};
struct EnvironmentChanges {
  std::string environment;
  std::string path;                             // the environment's folder in the settings repository
  std::string from_commit;                      // deployed settings commit ("" never deployed)
  std::string to_commit;                        // desired settings head ("" not known yet)
  std::vector<SettingsCommit> commits;          // newest first, at most kMaxChangeCommits
  bool truncated = false;                       // there are more commits than listed
  std::vector<std::string> files;               // every file of the folder changed from..to
  std::string code_ref_from, code_commit_from;  // the pin: deployed
  std::string code_ref_to, code_commit_to;      // the pin: desired
  std::string note;                             // why nothing could be listed ("" when the lists are complete)
};
inline constexpr int kMaxChangeCommits = 50;

// What AcceptWebhook did with a delivery.
enum class WebhookOutcome {
  kQueued,     // a push, written to the inbox: environments are evaluated in the background
  kDuplicate,  // its delivery id was seen before: ignored
  kPing,       // answered, nothing started
  kIgnored,    // authentic, not a push of a branch
};
const char* WebhookOutcomeName(WebhookOutcome outcome);  // "queued", "duplicate", "ping", "ignored"

// Validates what the daemon needs beyond LoadConfig: cron expressions and
// time zones of every schedule. Errors name "FILE:LINE:COLUMN" like the
// config's own.
Status CheckDaemonConfig(const Config& config);

class Notifier;  // notify/notify.h

class Daemon {
 public:
  // `config` must pass CheckDaemonConfig; the store is shared with the API
  // (token checks, reads).
  Daemon(Config config, std::unique_ptr<Store> store, DaemonOptions options = {});
  ~Daemon();  // Shutdown()
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Marks runs left `running` by a previous process as `interrupted`, then
  // starts the threads; queued runs start at once. Call once.
  Status Start();
  // Stops triggers and the start of new runs, lets running runs go on for
  // up to shutdown_grace_ms, then cancels them (their records say so), and
  // joins every thread. Queued runs stay queued for the next start.
  // Idempotent.
  void Shutdown();
  // True once Shutdown began: the API refuses new work with 503.
  bool stopping() const;

  // Queues a run (or coalesces into the queued one). Automatic triggers
  // ("push", "webhook", "schedule") of a paused or held environment start
  // nothing: FailedPrecondition-like kFailed with a message. A manual
  // trigger of a held environment is refused (resume first); of a paused one
  // it is accepted. NotFound for an unknown environment.
  Result<TriggerResult> Trigger(const TriggerRequest& request);
  // Cancels a queued run (at once) or a running one (its steps get SIGTERM,
  // then SIGKILL after the grace). In a fleet, a run running on another node
  // gets a cancel request in the database, which that node acts on within
  // about one heartbeat (OK at once). NotFound for an unknown run; kFailed
  // when it is already finished.
  Status Cancel(int64_t run_id, const std::string& actor);
  // Re-deploys the exact settings and code commits of an earlier succeeded
  // run of env — `to_run_id`, or when 0 the newest succeeded run before the
  // current deployment that deployed something else — and holds env there
  // (automatic triggers paused) until Resume. Queued unpinned runs of env are
  // cancelled. Errors: NotFound (environment, run), kInvalidArgument (run of
  // another environment, not succeeded), kFailed (nothing to roll back to).
  Result<TriggerResult> Rollback(const std::string& environment, int64_t to_run_id, const std::string& actor);
  // Queues a drift check of env (doc/drift.md): the preview steps against
  // the deployed (settings, code) pair, as a run of kind "drift". kFailed
  // when env was never deployed; NotFound for an unknown environment.
  Result<TriggerResult> CheckDrift(const std::string& environment, const std::string& trigger,
                                   const std::string& actor);
  // Pauses automatic triggers of env. Idempotent.
  Status Pause(const std::string& environment, const std::string& actor);
  // Ends a pause or a hold. After a hold, the environment converges again:
  // the settings head is evaluated against what is deployed now.
  Status Resume(const std::string& environment, const std::string& actor);
  // Re-reads the config file. A file that does not load or check is refused
  // (the error is returned and logged) and the running config kept. Changes
  // of state_dir, database or server.listen need a restart (logged).
  Status Reload();

  // Records a verified webhook event (from ParseWebhook) and returns at once;
  // a push is evaluated in the background. `source` is the provider name.
  Result<WebhookOutcome> AcceptWebhook(const std::string& source, const WebhookEvent& event);
  // Counts a refused delivery (bad signature, unparseable, too large) in the
  // metrics; `result` is a short word ("unauthorized", "bad_request", ...).
  void CountWebhook(const std::string& source, const std::string& result);

  // Reads for the API.
  std::shared_ptr<const Config> config() const;
  Store& store() { return *store_; }
  Result<std::vector<EnvironmentView>> Environments();
  Result<EnvironmentView> Environment(const std::string& name);
  // The settings commits between the deployed and the desired settings
  // commit, the files they changed in env's folder and the pin change
  // (changes.cc). Reads the local settings mirror only (no network, no
  // mirror lock: git reads of a mirror are safe beside a fetch); when a
  // commit is not in the mirror, the lists stay empty and `note` says why.
  // NotFound for an unknown environment.
  Result<EnvironmentChanges> Changes(const std::string& name);
  // The Prometheus text exposition of every metric (doc/daemon.md).
  std::string MetricsText();
  // Fleet mode (fleet.cc): this node's id ("" outside fleet mode), and every
  // live node with what it runs.
  std::string node_id() const;
  Result<std::vector<NodeRecord>> Nodes();

  // For tests and benchmarks: the poller's view of each settings URL.
  std::vector<PollUrlStatus> PollStatus();
  int64_t TEST_ls_remote_calls() const;

 private:
  struct Active {
    int64_t run_id = 0;
    std::string environment;
    std::shared_ptr<CancelToken> cancel;
    std::thread thread;
    // The run is final; its thread is preparing the environment's next run
    // (Pipeline::PrepareNextRun), which keeps the slot but shows no run.
    bool finishing = false;
  };
  struct SyncInfo {
    SyncStatus sync = SyncStatus::kUnknown;
    std::string reason;
    int64_t checked_ms = 0;
    std::string desired_settings_commit, desired_code_ref, desired_code_commit;
  };
  struct TriggerError {
    std::string message;
    int64_t at_ms = 0;
  };

  // The runner (daemon.cc).
  void DispatchLoop();
  void StartQueuedLocked(std::unique_lock<std::mutex>& lock);
  void Execute(RunRecord run, std::shared_ptr<const Config> config, std::shared_ptr<CancelToken> cancel);
  int MaxParallel(const Config& config) const;
  void WakeDispatcher();
  Result<TriggerResult> EnqueueLocked(const EnvironmentConfig& env, RunRecord run);

  // Push triggers (evaluate.cc).
  void PollLoop();
  void InboxLoop();
  // Decides for `envs` (all watching url) whether the heads trigger them,
  // enqueueing runs and recording what was evaluated.
  void Evaluate(const std::string& url, const std::map<std::string, std::string>& heads,
                const std::vector<const EnvironmentConfig*>& envs, const std::string& trigger, const std::string& actor,
                const Config& config);
  void SetPollTargets(const Config& config);
  void SetTriggerError(const std::string& environment, const std::string& message);
  void RequestEvaluation(const std::string& environment);

  // Schedules (schedule.cc).
  void ScheduleLoop();

  // Log retention (retention.cc; config log_retention_days): at start-up,
  // then hourly, on every node.
  void PruneLoop();
  void PruneLogsOnce();

  // Fleet mode (fleet.cc; doc/fleet.md).
  Status FleetStart();  // registers the node, starts fleet_
  void FleetStop();     // after the runs ended: joins fleet_, unregisters
  void FleetLoop();
  void FleetTick(int64_t now);
  void ShipLogs();
  // Copies the new bytes of one run's log file into the database; false
  // when the store refused (the next call resumes at the same offset).
  // Called by the fleet thread, and by a run's thread just before the run
  // is marked final (RetryingStore::SetBeforeFinish).
  struct ShippedLog {
    std::string path;
    int64_t offset = 0;  // bytes stored in the database
  };
  bool ShipLog(int64_t run_id, const std::string& log_path);
  bool ShipLogLocked(int64_t run_id, ShippedLog& log);  // ship_mu_ held
  // Runs of this node whose cancel was asked for through another node.
  void CancelRequested();
  void StartClaimedLocked(RunRecord run, const std::shared_ptr<const Config>& config);
  void StartFleetRunsLocked(const std::shared_ptr<const Config>& config, int max_parallel);
  // True when this node may fire env's schedule occurrence `slot_ms`:
  // always outside fleet mode; in a fleet, for the first node only.
  bool ClaimScheduleSlot(const std::string& environment, int64_t slot_ms);
  void FleetMetrics(std::string* out);

  // Issue 8: pull-request previews (preview.cc), drift checks on a schedule
  // (drift.cc), what happens after a run: commit statuses, drift state,
  // notifications (notify_hook.cc).
  struct PreviewRequest {
    std::string source;
    WebhookEvent event;
  };
  Result<WebhookOutcome> AcceptPullRequest(const std::string& source, const WebhookEvent& event);
  void PreviewLoop();
  void Preview(const PreviewRequest& request, const Config& config);
  void DriftLoop();
  void StartTrust();  // from Start: the notifier and the preview and drift threads
  void StopTrust();   // from Shutdown, after the runs ended
  void AfterRun(const RunRecord& run, const std::string& diff_output, const Config& config);
  void ReportPreview(const RunRecord& run, const std::string& state, const std::string& diff_output,
                     const Config& config);
  static std::string RunSlot(const RunRecord& run);  // running_'s key: the environment, or a preview's own

  // Sync status (daemon.cc).
  void SyncLoop();
  void MarkSyncDirty(const std::string& environment);

  // Helpers.
  Result<const EnvironmentConfig*> FindEnv(const Config& config, const std::string& name) const;
  EnvironmentView ViewOf(const EnvironmentConfig& env, const EnvironmentState& state,
                         const std::vector<RunRecord>& queued);
  // Reads, changes and writes an environment's state under mu_, so that
  // pause, resume, rollback and the trigger bookkeeping never undo each other.
  Status UpdateState(const std::string& environment, const std::function<void(EnvironmentState&)>& change);
  Status UpdateStateLocked(const std::string& environment, const std::function<void(EnvironmentState&)>& change);

  std::unique_ptr<Store> store_;
  const DaemonOptions options_;
  Metrics metrics_;

  mutable std::mutex mu_;
  // Serialises Evaluate: the poller, webhooks and a resume may look at the
  // same environment at once, and its read-decide-record of the evaluated
  // commit must be one step, or one push triggers twice.
  std::mutex evaluate_mu_;
  std::condition_variable dispatch_cv_;   // the dispatcher: a run may start
  std::condition_variable idle_cv_;       // Shutdown: a run finished
  std::condition_variable trigger_cv_;    // poller, inbox, scheduler, sync checker
  std::shared_ptr<const Config> config_;  // guarded by mu_; replaced whole on reload
  bool started_ = false;
  bool stopping_ = false;
  bool draining_ = false;  // no new run starts
  bool dispatch_wake_ = false;
  bool inbox_wake_ = false;
  bool trash_pending_ = false;                  // a run ended: PruneLoop empties the trash (old workspaces)
  uint64_t config_generation_ = 0;              // bumped on reload: the loops re-read the config
  std::map<std::string, Active> running_;       // by environment
  std::map<int64_t, std::string> running_ids_;  // run id -> environment
  std::vector<std::thread> finished_threads_;   // to join
  std::map<std::string, SyncInfo> sync_;        // by environment
  std::set<std::string> sync_dirty_;
  std::map<std::string, TriggerError> trigger_errors_;
  std::set<std::string> evaluate_requests_;       // environments to evaluate against the remote head
  std::map<std::string, int64_t> next_schedule_;  // by environment
  PollPlanner planner_;                           // guarded by mu_
  std::atomic<int64_t> ls_remote_calls_{0};

  std::thread dispatcher_, poller_, inbox_, scheduler_, sync_checker_, pruner_;

  // Fleet mode.
  std::string node_id_;           // set by FleetStart, then constant
  std::set<std::string> leased_;  // environments whose triggers this node owns; guarded by mu_
  // Log shipping (fleet mode): run id -> log bytes stored in the database;
  // the fleet thread and a finishing run's thread both ship, under ship_mu_.
  std::mutex ship_mu_;
  std::map<int64_t, ShippedLog> shipped_;  // by run id; guarded by ship_mu_
  std::atomic<int64_t> store_failures_{0};
  std::atomic<int64_t> store_down_since_ms_{0};  // 0: the last store call of the fleet loop worked
  std::atomic<int64_t> takeovers_{0};
  std::thread fleet_;
  // Issue 8, guarded by mu_ (the notifier is thread-safe itself).
  std::unique_ptr<Notifier> notifier_;
  std::vector<PreviewRequest> preview_requests_;
  std::set<std::string> preview_deliveries_;  // recent delivery ids (duplicates are ignored)
  std::thread previewer_, drifter_;
};

}  // namespace slipway
