// The runner, the people's actions (trigger, cancel, rollback, pause,
// resume), reload, the environment views, metrics and the sync checker.
// Push triggers live in evaluate.cc, schedules in schedule.cc.
#include "daemon/daemon.h"

#include <algorithm>
#include <chrono>

#include "daemon/mirror_lock.h"
#include "git/git.h"
#include "notify/forge.h"
#include "notify/notify.h"
#include "store/retrying_store.h"
#include "triggers/cron.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

bool IsAutomatic(const std::string& trigger) {
  return trigger == "push" || trigger == "webhook" || trigger == "schedule";
}

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

}  // namespace

const char* WebhookOutcomeName(WebhookOutcome outcome) {
  switch (outcome) {
    case WebhookOutcome::kQueued:
      return "queued";
    case WebhookOutcome::kDuplicate:
      return "duplicate";
    case WebhookOutcome::kPing:
      return "ping";
    case WebhookOutcome::kIgnored:
      return "ignored";
  }
  return "unknown";
}

Status CheckDaemonConfig(const Config& config) {
  std::string problems;
  for (const EnvironmentConfig& env : config.environments) {
    const TriggersConfig& t = env.triggers;
    for (size_t i = 0; i < t.schedule.size(); ++i) {
      Result<CronSchedule> cron = ParseCron(t.schedule[i]);
      if (!cron.ok()) {
        std::string at = i < t.schedule_at.size() ? t.schedule_at[i] + ": " : config.path + ": ";
        problems += (problems.empty() ? "" : "\n") + at + cron.status().message();
      }
    }
    if (!t.verify.empty()) {  // the drift check's cron (doc/drift.md)
      Result<CronSchedule> cron = ParseCron(t.verify);
      if (!cron.ok()) problems += (problems.empty() ? "" : "\n") + t.verify_at + ": " + cron.status().message();
    }
    if (!t.tz.empty()) {
      Result<TimeZone> tz = TimeZone::Load(t.tz);
      if (!tz.ok()) {
        std::string at = t.tz_at.empty() ? config.path + ": " : t.tz_at + ": ";
        problems += (problems.empty() ? "" : "\n") + at + tz.status().message();
      }
    }
  }
  if (!problems.empty()) return InvalidArgument(problems);
  return Status::Ok();
}

Daemon::Daemon(Config config, std::unique_ptr<Store> store, DaemonOptions options)
    : store_(std::move(store)),
      options_(options),
      config_(std::make_shared<const Config>(std::move(config))),
      planner_(options_.poll) {}

Daemon::~Daemon() { Shutdown(); }

std::shared_ptr<const Config> Daemon::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

bool Daemon::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

int Daemon::MaxParallel(const Config& config) const {
  if (config.max_parallel > 0) return config.max_parallel;
  unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

Result<const EnvironmentConfig*> Daemon::FindEnv(const Config& config, const std::string& name) const {
  const EnvironmentConfig* env = config.Find(name);
  if (env == nullptr) {
    return NotFound("no environment '" + name + "' in " + config.path +
                    DidYouMeanHint(name, config.EnvironmentNames()));
  }
  return env;
}

Status Daemon::Start() {
  std::shared_ptr<const Config> config;
  {
    std::lock_guard lock(mu_);
    if (started_) return Internal("Daemon::Start called twice");
    started_ = true;
    config = config_;
  }
  // In a fleet, runs left running belong to other nodes (or to a lost one,
  // which the reaper interrupts after the TTL).
  if (!options_.fleet) {
    // Before anything of this engine runs: a previous engine killed with
    // SIGKILL left its steps running, and they must not overlap a new run.
    if (int stopped = Pipeline::StopOrphanedSteps(*config); stopped > 0) {
      LogEvent("stopped " + std::to_string(stopped) + " step process(es) left running by a previous engine");
    }
    SLIPWAY_ASSIGN_OR_RETURN(
        int interrupted,
        store_->InterruptRunning("interrupted: the engine stopped while the run was running (found at start-up)"));
    if (interrupted > 0)
      LogEvent(std::to_string(interrupted) + " run(s) left running by a previous process: interrupted");
  } else {
    SLIPWAY_RETURN_IF_ERROR(FleetStart());
  }
  SLIPWAY_ASSIGN_OR_RETURN(std::vector<RunRecord> queued, store_->QueuedRuns());
  LogEvent("serving " + std::to_string(config->environments.size()) + " environment(s) from " + config->path + "; " +
           std::to_string(queued.size()) + " queued run(s); at most " + std::to_string(MaxParallel(*config)) +
           " run(s) at once");
  {
    std::lock_guard lock(mu_);
    for (const auto& env : config->environments) sync_dirty_.insert(env.name);
    SetPollTargets(*config);
  }
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  poller_ = std::thread([this] { PollLoop(); });
  inbox_ = std::thread([this] { InboxLoop(); });
  scheduler_ = std::thread([this] { ScheduleLoop(); });
  sync_checker_ = std::thread([this] { SyncLoop(); });
  pruner_ = std::thread([this] { PruneLoop(); });  // log_retention_days (retention.cc)
  StartTrust();
  return Status::Ok();
}

void Daemon::Shutdown() {
  std::unique_lock lock(mu_);
  if (!started_ || stopping_) return;
  stopping_ = true;
  draining_ = true;
  dispatch_cv_.notify_all();
  trigger_cv_.notify_all();
  if (!running_.empty()) {
    LogEvent("shutting down: waiting up to " + FormatDurationMs(options_.shutdown_grace_ms) + " for " +
             std::to_string(running_.size()) + " running run(s)");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.shutdown_grace_ms);
    idle_cv_.wait_until(lock, deadline, [&] { return running_.empty(); });
  }
  if (!running_.empty()) {
    LogEvent("shutting down: cancelling " + std::to_string(running_.size()) + " run(s) still running");
    for (auto& [env, active] : running_) active.cancel->Cancel();
    idle_cv_.wait(lock, [&] { return running_.empty(); });
  }
  lock.unlock();
  for (std::thread* t : {&dispatcher_, &poller_, &inbox_, &scheduler_, &sync_checker_, &pruner_}) {
    if (t->joinable()) t->join();
  }
  if (options_.fleet) FleetStop();
  StopTrust();
  lock.lock();
  std::vector<std::thread> done;
  done.swap(finished_threads_);
  lock.unlock();
  for (auto& t : done) t.join();
  LogEvent("stopped");
}

// --- The runner ---

void Daemon::WakeDispatcher() {
  dispatch_wake_ = true;
  dispatch_cv_.notify_all();
}

void Daemon::DispatchLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    std::vector<std::thread> done;
    done.swap(finished_threads_);
    if (!done.empty()) {
      lock.unlock();
      for (auto& t : done) t.join();
      lock.lock();
      continue;
    }
    dispatch_wake_ = false;
    if (!draining_) StartQueuedLocked(lock);
    // The periodic rescan picks up runs queued by another process sharing
    // the database; our own triggers wake us at once.
    // In a fleet, other nodes' triggers are only seen by looking.
    dispatch_cv_.wait_for(lock, std::chrono::milliseconds(options_.fleet ? options_.claim_poll_ms : 5000),
                          [&] { return dispatch_wake_ || stopping_ || !finished_threads_.empty(); });
  }
}

void Daemon::StartQueuedLocked(std::unique_lock<std::mutex>& lock) {
  (void)lock;
  std::shared_ptr<const Config> config = config_;
  int max_parallel = MaxParallel(*config);
  if (static_cast<int>(running_.size()) >= max_parallel) return;
  if (options_.fleet) return StartFleetRunsLocked(config, max_parallel);
  Result<std::vector<RunRecord>> queued = store_->QueuedRuns();
  if (!queued.ok()) {
    LogEvent("cannot read the queue: " + queued.status().message());
    return;
  }
  for (RunRecord& run : *queued) {
    if (static_cast<int>(running_.size()) >= max_parallel) break;
    if (running_.count(RunSlot(run)) > 0) continue;  // one run per environment; this one waits
    if (config->Find(run.environment) == nullptr) {
      Result<bool> dropped = store_->FinishQueuedRun(
          run.id, RunStatus::kFailed, "environment '" + run.environment + "' is no longer in " + config->path, NowMs());
      if (!dropped.ok()) LogEvent("cannot drop run " + std::to_string(run.id) + ": " + dropped.status().message());
      continue;
    }
    run.started_ms = NowMs();
    Result<bool> claimed = store_->ClaimRun(run.id, run.started_ms);
    if (!claimed.ok()) {
      LogEvent("cannot start run " + std::to_string(run.id) + ": " + claimed.status().message());
      continue;
    }
    if (!*claimed) continue;  // cancelled meanwhile by another process
    run.status = RunStatus::kRunning;
    Active& active = running_[RunSlot(run)];
    active.run_id = run.id;
    active.environment = run.environment;
    active.cancel = std::make_shared<CancelToken>();
    running_ids_[run.id] = RunSlot(run);
    LogEvent("run " + std::to_string(run.id) + " of '" + run.environment + "' started (" + run.trigger +
             (run.actor.empty() ? "" : " by " + run.actor) + ")");
    // The thread cannot finish before it is stored: it needs mu_ to end.
    active.thread = std::thread([this, run, config, cancel = active.cancel] { Execute(run, config, cancel); });
  }
}

// How old a settings fetch a push-triggered run may reuse (RunOptions).
constexpr int64_t kReusePushFetchMs = 5'000;

void Daemon::Execute(RunRecord run, std::shared_ptr<const Config> config, std::shared_ptr<CancelToken> cancel) {
  const EnvironmentConfig* env = config->Find(run.environment);  // checked by the dispatcher
  RunOptions options;
  options.trigger = run.trigger;
  options.actor = run.actor;
  options.ref_override = run.requested_ref;
  options.cancel = cancel.get();
  options.run_id = run.id;
  options.pinned_settings_commit = run.settings_commit;
  options.pinned_code_commit = run.code_commit;
  // A push run's trigger has just made sure the mirror holds the head it
  // announced (Evaluate): the run does not fetch a second time. Not in a
  // fleet, where the run may be claimed by a node whose mirror was fetched
  // recently but before that push.
  if ((run.trigger == "push" || run.trigger == "webhook") && !options_.fleet) {
    options.reuse_fetch_ms = kReusePushFetchMs;
  }
  options.kind = run.kind;
  if (run.kind == "preview") {  // a fork's head is under a ref of the settings remote (doc/previews.md)
    if (Result<PreviewContext> pr = ParsePreviewContext(run.context_json); pr.ok()) {
      options.pinned_settings_ref = pr->fetch_ref;
    }
  }
  std::string diff_output;
  options.diff_output = &diff_output;
  // Fleet mode: the run's records wait out a database outage (up to 10
  // minutes) instead of failing the run (doc/fleet.md).
  RetryingStore retrying(*store_, options_.fleet ? 10 * 60'000 : 0);
  // Fleet mode: the log's last bytes are stored before the run reads as
  // final, so a follower on another node sees the whole log (fleet.cc).
  if (options_.fleet) {
    retrying.SetBeforeFinish([this](const RunRecord& r) {
      if (!r.log_path.empty()) (void)ShipLog(r.id, r.log_path);
    });
  }
  Pipeline pipeline(*config, options_.fleet ? static_cast<Store&>(retrying) : *store_);
  Result<RunRecord> result = pipeline.Run(*env, options);
  RunStatus status = RunStatus::kFailed;
  int64_t duration_ms = 0;
  if (result.ok()) {
    status = result->status;
    duration_ms = result->finished_ms - result->started_ms;
    LogEvent("run " + std::to_string(run.id) + " of '" + run.environment + "' " + RunStatusName(status) +
             (result->error.empty() ? "" : ": " + result->error));
  } else {
    // The pipeline could not even record the run (store or state directory
    // unusable): leave no run `running` behind if the store lets us.
    LogEvent("run " + std::to_string(run.id) + " of '" + run.environment +
             "' could not be recorded: " + result.status().message());
    Result<RunRecord> stored = store_->GetRun(run.id);
    // Fleet mode: the database may be away for a while (a restart, a
    // failover); a run left `running` would hold its environment until this
    // node dies. Retry until the record is written (or the node stops).
    for (int64_t wait_ms = 500; options_.fleet && !stored.ok() && !stopping();
         wait_ms = std::min<int64_t>(wait_ms * 2, 5000)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      stored = store_->GetRun(run.id);
    }
    if (stored.ok() && !IsFinal(stored->status)) {
      stored->status = RunStatus::kFailed;
      stored->error = result.status().message();
      stored->finished_ms = NowMs();
      for (auto& s : stored->steps) {
        if (s.status == StepStatus::kRunning) s.status = StepStatus::kCancelled;
        if (s.status == StepStatus::kPending) s.status = StepStatus::kSkipped;
      }
      Status finished = store_->FinishRun(*stored, false);
      if (!finished.ok()) LogEvent("cannot mark run " + std::to_string(run.id) + " failed: " + finished.message());
      duration_ms = stored->finished_ms - run.started_ms;
    }
  }
  metrics_.ObserveRun(run.environment, duration_ms);
  if (Result<RunRecord> finished = store_->GetRun(run.id); finished.ok()) AfterRun(*finished, diff_output, *config);

  // The run is over for everyone; its slot stays taken while the next run of
  // the environment is prepared (git housekeeping, the code checkout made
  // ahead), so that run starts after it and finds it.
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(RunSlot(run));
    if (it != running_.end() && it->second.run_id == run.id) it->second.finishing = true;
    running_ids_.erase(run.id);
  }
  if (result.ok()) pipeline.PrepareNextRun(*env, *result, run.kind == "deploy");

  std::lock_guard lock(mu_);
  auto it = running_.find(RunSlot(run));
  if (it != running_.end() && it->second.run_id == run.id) {
    finished_threads_.push_back(std::move(it->second.thread));
    running_.erase(it);
  }
  running_ids_.erase(run.id);
  sync_dirty_.insert(run.environment);
  trash_pending_ = true;  // the run's end moved old workspaces there (PruneLoop)
  WakeDispatcher();
  trigger_cv_.notify_all();
  idle_cv_.notify_all();
}

Result<TriggerResult> Daemon::EnqueueLocked(const EnvironmentConfig& env, RunRecord run) {
  run.environment = env.name;
  run.status = RunStatus::kQueued;
  run.created_ms = NowMs();
  SLIPWAY_ASSIGN_OR_RETURN(EnqueueResult queued, store_->EnqueueRun(run));
  metrics_.CountTrigger(env.name, run.trigger, queued.coalesced ? "coalesced" : "queued");
  if (queued.coalesced) {
    LogEvent(run.trigger + " trigger of '" + env.name + "' joined queued run " + std::to_string(queued.id));
  } else {
    LogEvent(run.trigger + " trigger of '" + env.name + "' queued run " + std::to_string(queued.id) +
             (run.actor.empty() ? "" : " (" + run.actor + ")"));
  }
  WakeDispatcher();
  return TriggerResult{queued.id, queued.coalesced};
}

// --- People's actions ---

Result<TriggerResult> Daemon::Trigger(const TriggerRequest& request) {
  std::shared_ptr<const Config> config = this->config();
  SLIPWAY_ASSIGN_OR_RETURN(const EnvironmentConfig* env, FindEnv(*config, request.environment));
  if (!request.ref.empty()) SLIPWAY_RETURN_IF_ERROR(ValidateRef(request.ref));
  std::lock_guard lock(mu_);
  if (stopping_) return Failed("the engine is shutting down; the trigger was not recorded");
  SLIPWAY_ASSIGN_OR_RETURN(EnvironmentState state, store_->GetEnvironmentState(env->name));
  if (IsAutomatic(request.trigger) && state.paused) {
    metrics_.CountTrigger(env->name, request.trigger, "paused");
    return Failed("environment '" + env->name + "' is " +
                  (state.held_run_id ? "held at run " + std::to_string(state.held_run_id) : std::string("paused")) +
                  "; automatic triggers start nothing until 'slipway resume " + env->name + "'");
  }
  if (!IsAutomatic(request.trigger) && state.held_run_id != 0) {
    return Failed("environment '" + env->name + "' is held at run " + std::to_string(state.held_run_id) +
                  " by a rollback; resume it first ('slipway resume " + env->name + "')");
  }
  RunRecord run;
  run.trigger = request.trigger;
  run.actor = request.actor;
  run.requested_ref = request.ref;
  return EnqueueLocked(*env, std::move(run));
}

Status Daemon::Cancel(int64_t run_id, const std::string& actor) {
  std::lock_guard lock(mu_);
  auto it = running_ids_.find(run_id);
  if (it != running_ids_.end()) {
    Active& active = running_[it->second];
    active.cancel->Cancel();
    LogEvent("run " + std::to_string(run_id) + " cancelled by " + (actor.empty() ? "someone" : actor));
    return Status::Ok();
  }
  SLIPWAY_ASSIGN_OR_RETURN(
      bool cancelled,
      store_->FinishQueuedRun(run_id, RunStatus::kCancelled,
                              "cancelled while queued" + (actor.empty() ? "" : " by " + actor), NowMs()));
  if (cancelled) {
    LogEvent("queued run " + std::to_string(run_id) + " cancelled by " + (actor.empty() ? "someone" : actor));
    return Status::Ok();
  }
  SLIPWAY_ASSIGN_OR_RETURN(RunRecord run, store_->GetRun(run_id));
  if (run.status == RunStatus::kRunning && options_.fleet) {
    // Another node runs it: record the request; that node cancels within
    // about a heartbeat (fleet.cc, CancelRequested).
    SLIPWAY_ASSIGN_OR_RETURN(bool asked, store_->RequestCancel(run_id, actor, NowMs()));
    if (asked) {
      LogEvent("run " + std::to_string(run_id) + " cancel requested by " + (actor.empty() ? "someone" : actor) +
               "; the node running it cancels it");
      return Status::Ok();
    }
    SLIPWAY_ASSIGN_OR_RETURN(run, store_->GetRun(run_id));  // it finished meanwhile
  }
  if (run.status == RunStatus::kRunning) {
    return Failed("run " + std::to_string(run_id) + " is running in another process; cancel it there");
  }
  return Failed("run " + std::to_string(run_id) + " has already finished (" + RunStatusName(run.status) + ")");
}

Result<TriggerResult> Daemon::Rollback(const std::string& environment, int64_t to_run_id, const std::string& actor) {
  std::shared_ptr<const Config> config = this->config();
  SLIPWAY_ASSIGN_OR_RETURN(const EnvironmentConfig* env, FindEnv(*config, environment));
  SLIPWAY_ASSIGN_OR_RETURN(std::optional<Deployment> deployed, store_->CurrentDeployment(env->name));
  RunRecord target;
  if (to_run_id != 0) {
    Result<RunRecord> run = store_->GetRun(to_run_id);
    if (!run.ok()) return run.status();
    if (run->environment != env->name) {
      return InvalidArgument("run " + std::to_string(to_run_id) + " is a run of '" + run->environment + "', not of '" +
                             env->name + "'");
    }
    if (run->status != RunStatus::kSucceeded) {
      return InvalidArgument("run " + std::to_string(to_run_id) + " did not succeed (" + RunStatusName(run->status) +
                             "); only a successful deployment can be rolled back to");
    }
    target = *run;
  } else {
    if (!deployed) return Failed("'" + env->name + "' was never deployed; there is nothing to roll back to");
    RunFilter filter;
    filter.environment = env->name;
    filter.status = RunStatus::kSucceeded;
    filter.before_id = deployed->run_id;
    filter.limit = 0;
    SLIPWAY_ASSIGN_OR_RETURN(std::vector<RunRecord> earlier, store_->ListRuns(filter));
    auto it = std::find_if(earlier.begin(), earlier.end(), [&](const RunRecord& r) {
      return r.settings_commit != deployed->settings_commit || r.code_commit != deployed->code_commit;
    });
    if (it == earlier.end()) {
      return Failed("'" + env->name + "' has no successful deployment before run " + std::to_string(deployed->run_id) +
                    " that deployed something else; name one with --to RUN");
    }
    target = *it;
  }
  if (!env->settings && !env->code) {
    return InvalidArgument("'" + env->name +
                           "' has neither a settings nor a code source; there is no version to roll back to");
  }
  if (env->settings && target.settings_commit.empty()) {
    return InvalidArgument("run " + std::to_string(target.id) + " recorded no settings commit; it cannot be replayed");
  }
  if (env->code && target.code_commit.empty()) {
    return InvalidArgument("run " + std::to_string(target.id) + " recorded no code commit; it cannot be replayed");
  }

  std::lock_guard lock(mu_);
  if (stopping_) return Failed("the engine is shutting down; the rollback was not recorded");
  // Queued runs that would deploy the head after the rollback are cancelled:
  // the hold starts now.
  SLIPWAY_ASSIGN_OR_RETURN(std::vector<RunRecord> queued, store_->QueuedRuns());
  for (const RunRecord& q : queued) {
    if (q.environment != env->name) continue;
    Result<bool> cancelled = store_->FinishQueuedRun(
        q.id, RunStatus::kCancelled, "superseded by a rollback to run " + std::to_string(target.id), NowMs());
    if (!cancelled.ok()) return cancelled.status();
  }
  SLIPWAY_RETURN_IF_ERROR(UpdateStateLocked(env->name, [&](EnvironmentState& state) {
    state.paused = true;
    state.held_run_id = target.id;
    state.paused_by = actor;
    state.paused_ms = NowMs();
  }));
  RunRecord run;
  run.trigger = "rollback";
  run.actor = actor;
  // A pinned run: never coalesced, and the pipeline deploys exactly these.
  run.settings_commit = target.settings_commit;
  run.code_url = target.code_url;
  run.code_ref = target.code_ref;
  run.code_commit = target.code_commit;
  LogEvent("'" + env->name + "' rolled back to run " + std::to_string(target.id) + " (settings " +
           Short(target.settings_commit) + ", code " + Short(target.code_commit) + ") by " +
           (actor.empty() ? "someone" : actor) + "; held until resumed");
  return EnqueueLocked(*env, std::move(run));
}

Status Daemon::UpdateState(const std::string& environment, const std::function<void(EnvironmentState&)>& change) {
  std::lock_guard lock(mu_);
  return UpdateStateLocked(environment, change);
}

Status Daemon::UpdateStateLocked(const std::string& environment, const std::function<void(EnvironmentState&)>& change) {
  SLIPWAY_ASSIGN_OR_RETURN(EnvironmentState state, store_->GetEnvironmentState(environment));
  change(state);
  return store_->PutEnvironmentState(state);
}

Status Daemon::Pause(const std::string& environment, const std::string& actor) {
  std::shared_ptr<const Config> config = this->config();
  SLIPWAY_ASSIGN_OR_RETURN(const EnvironmentConfig* env, FindEnv(*config, environment));
  SLIPWAY_RETURN_IF_ERROR(UpdateState(env->name, [&](EnvironmentState& state) {
    if (state.paused) return;
    state.paused = true;
    state.paused_by = actor;
    state.paused_ms = NowMs();
  }));
  LogEvent("'" + env->name + "' paused by " + (actor.empty() ? "someone" : actor));
  return Status::Ok();
}

Status Daemon::Resume(const std::string& environment, const std::string& actor) {
  std::shared_ptr<const Config> config = this->config();
  SLIPWAY_ASSIGN_OR_RETURN(const EnvironmentConfig* env, FindEnv(*config, environment));
  bool was_held = false;
  SLIPWAY_RETURN_IF_ERROR(UpdateState(env->name, [&](EnvironmentState& state) {
    was_held = state.held_run_id != 0;
    state.paused = false;
    state.held_run_id = 0;
    state.paused_by.clear();
    state.paused_ms = 0;
    // After a hold the environment converges again: the head is compared
    // with what is deployed (the rollback), not with what was evaluated
    // before it.
    if (was_held) state.evaluated_commit.clear();
  }));
  LogEvent("'" + env->name + "' resumed by " + (actor.empty() ? "someone" : actor));
  // Pushes that arrived during the pause were not evaluated: look now.
  if (env->settings && env->triggers.push.enabled) RequestEvaluation(env->name);
  return Status::Ok();
}

Status Daemon::Reload() {
  std::shared_ptr<const Config> old = config();
  Result<Config> loaded = LoadConfig(old->path);
  Status status = loaded.ok() ? CheckDaemonConfig(*loaded) : loaded.status();
  if (!status.ok()) {
    LogEvent("reload refused, the running config is kept: " + status.message());
    return status;
  }
  Config next = std::move(loaded).value();
  if (next.state_dir != old->state_dir || next.database != old->database) {
    LogEvent("reload: state_dir and database changes take effect at the next start; keeping " + old->state_dir);
    next.state_dir = old->state_dir;
    next.database = old->database;
  }
  if (next.server.listen != old->server.listen) {
    LogEvent("reload: server.listen changes take effect at the next start; still listening on " + old->server.listen);
  }
  auto fresh = std::make_shared<const Config>(std::move(next));
  {
    std::lock_guard lock(mu_);
    for (const auto& env : fresh->environments) {
      if (old->Find(env.name) == nullptr) sync_dirty_.insert(env.name);
    }
    config_ = fresh;
    ++config_generation_;
    SetPollTargets(*fresh);
    WakeDispatcher();
    trigger_cv_.notify_all();
  }
  LogEvent("reloaded " + fresh->path + ": " + std::to_string(fresh->environments.size()) + " environment(s)");
  return Status::Ok();
}

// --- Views ---

EnvironmentView Daemon::ViewOf(const EnvironmentConfig& env, const EnvironmentState& state,
                               const std::vector<RunRecord>& queued) {
  EnvironmentView v;
  v.name = env.name;
  v.paused = state.paused;
  v.held_run_id = state.held_run_id;
  v.paused_by = state.paused_by;
  v.paused_ms = state.paused_ms;
  v.evaluated_commit = state.evaluated_commit;
  v.push = env.settings.has_value() && env.triggers.push.enabled;
  v.poll_ms = v.push ? env.triggers.push.poll_ms : 0;
  v.schedule = env.triggers.schedule;
  v.drift = state.drift;
  v.drift_reason = state.drift_reason;
  v.drift_checked_ms = state.drift_checked_ms;
  v.drift_run_id = state.drift_run_id;
  for (const auto& r : queued) {
    if (r.environment == env.name) ++v.queued_runs;
  }
  Result<std::optional<Deployment>> deployed = store_->CurrentDeployment(env.name);
  if (deployed.ok()) v.deployed = *deployed;
  Result<std::optional<RunRecord>> last = store_->LastRun(env.name);
  if (last.ok()) v.last_run = *last;
  {
    std::lock_guard lock(mu_);
    if (auto it = running_.find(env.name); it != running_.end() && !it->second.finishing) {
      v.running_run_id = it->second.run_id;
    }
    if (auto it = sync_.find(env.name); it != sync_.end()) {
      v.sync = it->second.sync;
      v.sync_reason = it->second.reason;
      v.sync_checked_ms = it->second.checked_ms;
      v.desired_settings_commit = it->second.desired_settings_commit;
      v.desired_code_ref = it->second.desired_code_ref;
      v.desired_code_commit = it->second.desired_code_commit;
    } else {
      v.sync_reason = options_.check_sync ? "not checked yet" : "not checked (sync checks are off)";
    }
    if (auto it = trigger_errors_.find(env.name); it != trigger_errors_.end()) {
      v.trigger_error = it->second.message;
      v.trigger_error_ms = it->second.at_ms;
    }
    if (auto it = next_schedule_.find(env.name); it != next_schedule_.end()) v.next_schedule_ms = it->second;
  }
  if (state.held_run_id != 0) {
    v.state = "held at run " + std::to_string(state.held_run_id);
  } else if (state.paused) {
    v.state = "paused";
  } else if (v.running_run_id != 0) {
    v.state = "running run " + std::to_string(v.running_run_id);
  } else if (v.queued_runs > 0) {
    v.state = "queued";
  } else {
    v.state = "idle";
  }
  if (v.running_run_id != 0 && state.paused) v.state += ", running run " + std::to_string(v.running_run_id);
  return v;
}

Result<std::vector<EnvironmentView>> Daemon::Environments() {
  std::shared_ptr<const Config> config = this->config();
  SLIPWAY_ASSIGN_OR_RETURN(std::vector<EnvironmentState> states, store_->ListEnvironmentStates());
  SLIPWAY_ASSIGN_OR_RETURN(std::vector<RunRecord> queued, store_->QueuedRuns());
  std::map<std::string, EnvironmentState> by_name;
  for (auto& s : states) by_name[s.environment] = std::move(s);
  std::vector<EnvironmentView> views;
  for (const EnvironmentConfig& env : config->environments) {
    EnvironmentState state;
    state.environment = env.name;
    if (auto it = by_name.find(env.name); it != by_name.end()) state = it->second;
    views.push_back(ViewOf(env, state, queued));
  }
  return views;
}

Result<EnvironmentView> Daemon::Environment(const std::string& name) {
  std::shared_ptr<const Config> config = this->config();
  SLIPWAY_ASSIGN_OR_RETURN(const EnvironmentConfig* env, FindEnv(*config, name));
  SLIPWAY_ASSIGN_OR_RETURN(EnvironmentState state, store_->GetEnvironmentState(env->name));
  SLIPWAY_ASSIGN_OR_RETURN(std::vector<RunRecord> queued, store_->QueuedRuns());
  return ViewOf(*env, state, queued);
}

std::vector<PollUrlStatus> Daemon::PollStatus() {
  std::lock_guard lock(mu_);
  return planner_.Status();
}

int64_t Daemon::TEST_ls_remote_calls() const { return ls_remote_calls_.load(); }

std::string Daemon::MetricsText() {
  std::string out;
  std::shared_ptr<const Config> config = this->config();
  Result<std::vector<RunCount>> counts = store_->CountRuns();
  out += "# HELP slipway_runs Runs in the store, by environment and status.\n# TYPE slipway_runs gauge\n";
  std::map<std::string, int64_t> last_success;
  int64_t queued = 0;
  if (counts.ok()) {
    for (const RunCount& c : *counts) {
      out += "slipway_runs{environment=\"" + PromLabel(c.environment) + "\",status=\"" + RunStatusName(c.status) +
             "\"} " + std::to_string(c.count) + "\n";
      if (c.status == RunStatus::kSucceeded) last_success[c.environment] = c.last_finished_ms;
      if (c.status == RunStatus::kQueued) queued += c.count;
    }
  }
  out += "# HELP slipway_queue_depth Runs waiting to start.\n# TYPE slipway_queue_depth gauge\n";
  out += "slipway_queue_depth " + std::to_string(queued) + "\n";
  std::map<std::string, SyncInfo> sync;
  size_t running = 0;
  std::map<std::string, TriggerError> errors;
  {
    std::lock_guard lock(mu_);
    sync = sync_;
    running = running_.size();
    errors = trigger_errors_;
  }
  out += "# HELP slipway_running_runs Runs running now.\n# TYPE slipway_running_runs gauge\n";
  out += "slipway_running_runs " + std::to_string(running) + "\n";
  out +=
      "# HELP slipway_last_success_timestamp_seconds When the environment's last successful run finished.\n"
      "# TYPE slipway_last_success_timestamp_seconds gauge\n";
  for (const auto& [env, ms] : last_success) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ms) / 1000.0);
    out += "slipway_last_success_timestamp_seconds{environment=\"" + PromLabel(env) + "\"} " + buf + "\n";
  }
  out +=
      "# HELP slipway_environment_sync 1 for the environment's sync status (Synced, OutOfSync, Unknown).\n"
      "# TYPE slipway_environment_sync gauge\n";
  for (const auto& env : config->environments) {
    SyncStatus status = SyncStatus::kUnknown;
    if (auto it = sync.find(env.name); it != sync.end()) status = it->second.sync;
    for (SyncStatus s : {SyncStatus::kSynced, SyncStatus::kOutOfSync, SyncStatus::kUnknown}) {
      out += "slipway_environment_sync{environment=\"" + PromLabel(env.name) + "\",status=\"" + SyncStatusName(s) +
             "\"} " + (s == status ? "1" : "0") + "\n";
    }
  }
  out +=
      "# HELP slipway_trigger_error 1 when the environment's last poll or trigger evaluation failed.\n"
      "# TYPE slipway_trigger_error gauge\n";
  for (const auto& env : config->environments) {
    out += "slipway_trigger_error{environment=\"" + PromLabel(env.name) + "\"} " +
           (errors.count(env.name) ? "1" : "0") + "\n";
  }
  Result<std::vector<EnvironmentState>> states = store_->ListEnvironmentStates();
  out +=
      "# HELP slipway_environment_paused 1 when automatic triggers are paused (or held by a rollback).\n"
      "# TYPE slipway_environment_paused gauge\n";
  if (states.ok()) {
    std::set<std::string> paused;
    for (const auto& s : *states) {
      if (s.paused) paused.insert(s.environment);
    }
    for (const auto& env : config->environments) {
      out += "slipway_environment_paused{environment=\"" + PromLabel(env.name) + "\"} " +
             (paused.count(env.name) ? "1" : "0") + "\n";
    }
  }
  if (states.ok()) {
    out +=
        "# HELP slipway_environment_drifted 1 when the last drift check found the environment drifted.\n"
        "# TYPE slipway_environment_drifted gauge\n";
    std::set<std::string> drifted;
    for (const auto& s : *states) {
      if (s.drift == "Drifted") drifted.insert(s.environment);
    }
    for (const auto& env : config->environments) {
      out += "slipway_environment_drifted{environment=\"" + PromLabel(env.name) + "\"} " +
             (drifted.count(env.name) ? "1" : "0") + "\n";
    }
  }
  {
    std::lock_guard lock(mu_);
    if (notifier_) notifier_->RenderMetrics(&out);
  }
  if (options_.fleet) FleetMetrics(&out);
  metrics_.Render(&out);
  return out;
}

void Daemon::CountWebhook(const std::string& source, const std::string& result) {
  metrics_.CountWebhook(source, result);
}

// --- Sync status ---

void Daemon::MarkSyncDirty(const std::string& environment) {
  std::lock_guard lock(mu_);
  sync_dirty_.insert(environment);
  trigger_cv_.notify_all();
}

void Daemon::SyncLoop() {
  if (!options_.check_sync) return;
  std::unique_lock lock(mu_);
  auto next_refresh = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.sync_refresh_ms);
  while (!stopping_) {
    bool dirty = trigger_cv_.wait_until(lock, next_refresh, [&] { return stopping_ || !sync_dirty_.empty(); });
    if (stopping_) break;
    if (!dirty) {
      for (const EnvironmentConfig& env : config_->environments) sync_dirty_.insert(env.name);
      next_refresh = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.sync_refresh_ms);
      continue;
    }
    std::string name = *sync_dirty_.begin();
    sync_dirty_.erase(sync_dirty_.begin());
    std::shared_ptr<const Config> config = config_;
    // Checking while the environment runs would only fetch what the run
    // fetches; its end marks it dirty again.
    if (running_.count(name) > 0) continue;
    lock.unlock();
    const EnvironmentConfig* env = config->Find(name);
    // Never deployed is OutOfSync whatever the remotes say: no fetch for
    // that (a fleet of new environments would otherwise fetch once each).
    Result<std::optional<Deployment>> deployed = store_->CurrentDeployment(name);
    bool never_deployed = deployed.ok() && !deployed->has_value();
    if (env != nullptr) {
      Plan plan;
      if (never_deployed) {
        plan.sync = SyncStatus::kOutOfSync;
        plan.reason = "never deployed";
      } else if (Result<MirrorLock> mirrors = MirrorLock::Acquire(config->state_dir); mirrors.ok()) {
        Pipeline pipeline(*config, *store_);
        plan = pipeline.MakePlan(*env, options_.sync_reuse_fetch_ms);
      } else {
        plan.reason = mirrors.status().message();
      }
      SyncInfo info;
      info.sync = plan.sync;
      info.reason = plan.reason;
      info.checked_ms = NowMs();
      if (plan.desired) {
        info.desired_settings_commit = plan.desired->settings_commit;
        info.desired_code_ref = plan.desired->code_ref;
        info.desired_code_commit = plan.desired->code.commit;
      }
      lock.lock();
      sync_[name] = std::move(info);
    } else {
      lock.lock();
      sync_.erase(name);
    }
    if (!never_deployed) {
      trigger_cv_.wait_for(lock, std::chrono::milliseconds(options_.sync_check_spacing_ms), [&] { return stopping_; });
    }
  }
}

}  // namespace slipway
