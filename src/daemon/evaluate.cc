// The push trigger: polling settings repositories (one ls-remote per distinct
// URL per cycle, PollPlanner), the webhook inbox, and the evaluation both
// share (DecideTriggers with the path filter).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>

#include "daemon/daemon.h"
#include "daemon/mirror_lock.h"
#include "git/git.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

using nlohmann::json;

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

// ls-remote and the path-filter fetch must not hang the trigger loops for the
// 10 minutes a pipeline fetch may take.
constexpr int64_t kTriggerGitTimeoutMs = 2 * 60'000;

// The git options for the settings URL of `env` (any environment on that
// URL): for codecommit:: URLs, the credential helper with the settings
// role's credentials (or the engine's), as the pipeline uses them.
Result<GitOptions> TriggerGitOptions(const Config& config, const EnvironmentConfig* env, const std::string& url) {
  GitOptions options;
  options.mirrors_dir = JoinPath(config.state_dir, "mirrors");
  options.timeout_ms = std::min(config.git_timeout_ms, kTriggerGitTimeoutMs);
  if (env == nullptr) return options;
  return Pipeline::GitOptionsForUrl(*env, url, /*for_settings=*/true, options);
}

Result<std::vector<RemoteRef>> LsRemote(const Config& config, const EnvironmentConfig* env, const std::string& url) {
  SLIPWAY_ASSIGN_OR_RETURN(GitOptions options, TriggerGitOptions(config, env, url));
  Git git(options);
  return git.LsRemote(url);
}

// The inbox form of a push event: what Evaluate needs, nothing else.
std::string EncodePush(const WebhookEvent& event) {
  json j;
  j["repository_urls"] = event.repository_urls;
  j["branch"] = event.branch;
  j["commit"] = event.commit;
  return j.dump();
}

struct PushPayload {
  std::vector<std::string> repository_urls;
  std::string branch;
  std::string commit;
};

Result<PushPayload> DecodePush(const std::string& text) {
  try {
    json j = json::parse(text);
    PushPayload p;
    p.repository_urls = j.at("repository_urls").get<std::vector<std::string>>();
    p.branch = j.at("branch").get<std::string>();
    p.commit = j.at("commit").get<std::string>();
    return p;
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("unreadable inbox payload: ") + e.what());
  }
}

std::string RandomId() {
  // Deliveries without an id of their own still get one, so that the inbox
  // row is unique; such deliveries are never treated as duplicates.
  static std::atomic<uint64_t> counter{0};
  return "slipway-" + std::to_string(NowMs()) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

}  // namespace

void Daemon::SetPollTargets(const Config& config) {
  std::vector<PollTarget> targets;
  for (const EnvironmentConfig& env : config.environments) {
    if (!env.settings || !env.triggers.push.enabled || env.triggers.push.poll_ms <= 0) continue;
    // In a fleet, only the holder of the environment's lease polls it (fleet.cc).
    if (options_.fleet && leased_.count(env.name) == 0) continue;
    PollTarget t;
    t.environment = env.name;
    t.url = env.settings->url;
    t.branch = env.settings->branch;
    t.path = env.settings->path;
    t.role = env.settings->role;
    t.interval_ms = env.triggers.push.poll_ms;
    t.any_path = env.triggers.push.any_path;
    targets.push_back(std::move(t));
  }
  planner_.SetTargets(targets, NowMs());
}

void Daemon::SetTriggerError(const std::string& environment, const std::string& message) {
  std::lock_guard lock(mu_);
  if (message.empty()) {
    trigger_errors_.erase(environment);
  } else {
    trigger_errors_[environment] = TriggerError{message, NowMs()};
  }
}

void Daemon::RequestEvaluation(const std::string& environment) {
  std::lock_guard lock(mu_);
  evaluate_requests_.insert(environment);
  trigger_cv_.notify_all();
}

Result<WebhookOutcome> Daemon::AcceptWebhook(const std::string& source, const WebhookEvent& event) {
  if (event.kind == WebhookKind::kPullRequest) return AcceptPullRequest(source, event);  // preview.cc
  WebhookOutcome outcome = WebhookOutcome::kIgnored;
  if (event.kind == WebhookKind::kPing) {
    outcome = WebhookOutcome::kPing;
  } else if (event.kind == WebhookKind::kPush) {
    Delivery d;
    d.source = source;
    d.delivery_id = event.delivery_id.empty() ? RandomId() : event.delivery_id;
    d.payload = EncodePush(event);
    d.received_ms = NowMs();
    // Written (and synced) before the hook is answered: an acknowledged push
    // survives a crash and is evaluated at the next start.
    Result<bool> fresh = store_->RecordDelivery(d, options_.keep_deliveries_ms);
    if (!fresh.ok()) {
      metrics_.CountWebhook(source, "error");
      return fresh.status();
    }
    outcome = *fresh ? WebhookOutcome::kQueued : WebhookOutcome::kDuplicate;
    if (*fresh) {
      std::lock_guard lock(mu_);
      inbox_wake_ = true;
      trigger_cv_.notify_all();
    }
  }
  metrics_.CountWebhook(source, WebhookOutcomeName(outcome));
  return outcome;
}

void Daemon::Evaluate(const std::string& url, const std::map<std::string, std::string>& heads,
                      const std::vector<const EnvironmentConfig*>& envs, const std::string& trigger,
                      const std::string& actor, const Config& config) {
  std::lock_guard evaluating(evaluate_mu_);
  std::vector<TriggerInput> inputs;
  for (const EnvironmentConfig* env : envs) {
    Result<EnvironmentState> state = store_->GetEnvironmentState(env->name);
    if (!state.ok()) {
      SetTriggerError(env->name, state.status().message());
      continue;
    }
    // A paused environment is not evaluated: the commits it misses are
    // looked at when it is resumed.
    if (state->paused) continue;
    Result<std::optional<Deployment>> deployed = store_->CurrentDeployment(env->name);
    if (!deployed.ok()) {
      SetTriggerError(env->name, deployed.status().message());
      continue;
    }
    TriggerInput in;
    in.environment = env->name;
    in.branch = env->settings->branch;
    in.path = env->settings->path;
    in.any_path = env->triggers.push.any_path;
    in.last_evaluated_commit = state->evaluated_commit;
    in.deployed_commit = deployed->has_value() ? (*deployed)->settings_commit : "";
    inputs.push_back(std::move(in));
  }
  if (inputs.empty()) return;

  Result<GitOptions> options = TriggerGitOptions(config, envs.front(), url);
  if (!options.ok()) {
    for (const auto& in : inputs) SetTriggerError(in.environment, options.status().message());
    return;
  }
  Git git(*options);
  bool fetched = false;
  // Makes the mirror hold `commit`, fetching at most once per evaluation.
  // Callers hold the MirrorLock.
  auto hold = [&](const std::string& u, const std::string& commit) -> Status {
    if (git.HasCommit(u, commit)) return Status::Ok();
    if (!fetched) {
      SLIPWAY_RETURN_IF_ERROR(git.Fetch(u));
      fetched = true;
    }
    if (!git.HasCommit(u, commit))
      return NotFound("commit " + commit + " is not in " + RedactUrl(u) + " after a fetch");
    return Status::Ok();
  };
  ChangedFn changed = [&](const std::string& u, const std::string& from, const std::string& to,
                          const std::string& path) -> Result<bool> {
    SLIPWAY_ASSIGN_OR_RETURN(MirrorLock lock, MirrorLock::Acquire(config.state_dir));
    (void)lock;
    SLIPWAY_RETURN_IF_ERROR(hold(u, to));
    if (!git.HasCommit(u, from)) return true;  // history rewritten: when in doubt, deploy
    return git.FolderChanged(u, from, to, path);
  };
  std::vector<TriggerDecision> decisions = DecideTriggers(url, heads, inputs, changed);
  // A push run reuses its trigger's fetch (Execute), so the mirror must hold
  // every head that triggers a run, also one no path filter looked at
  // (`paths: any`, a first deployment): else the run deploys an older head.
  // Fleet runs always fetch (Execute). A failure is the run's to report: it
  // fetches again.
  for (const TriggerDecision& d : decisions) {
    if (d.action != TriggerAction::kTrigger || options_.fleet) continue;
    Result<MirrorLock> lock = MirrorLock::Acquire(config.state_dir);
    if (!lock.ok() || !hold(url, d.head).ok()) break;
  }

  for (const TriggerDecision& d : decisions) {
    bool record = d.record_evaluated();
    switch (d.action) {
      case TriggerAction::kTrigger: {
        TriggerRequest request;
        request.environment = d.environment;
        request.trigger = trigger;
        request.actor = actor;
        Result<TriggerResult> r = Trigger(request);
        if (!r.ok()) {
          // Paused meanwhile, shutting down, or the store failed: decide
          // again next time.
          LogEvent("'" + d.environment + "': " + d.reason + ", but nothing was queued: " + r.status().message());
          record = false;
        } else {
          LogEvent("'" + d.environment + "': " + d.reason);
        }
        SetTriggerError(d.environment, "");
        break;
      }
      case TriggerAction::kError:
        LogEvent("'" + d.environment + "': cannot evaluate " + Short(d.head) + ": " + d.error.message());
        SetTriggerError(d.environment, d.error.message());
        break;
      case TriggerAction::kBranchMissing:
        SetTriggerError(d.environment, d.reason.empty() ? "the settings branch is missing" : d.reason);
        break;
      default:
        SetTriggerError(d.environment, "");
        break;
    }
    if (record) {
      Status s = UpdateState(d.environment, [&](EnvironmentState& state) { state.evaluated_commit = d.head; });
      if (!s.ok()) LogEvent("'" + d.environment + "': cannot record the evaluated commit: " + s.message());
    }
    if (d.action != TriggerAction::kUnchanged) MarkSyncDirty(d.environment);
  }
}

void Daemon::PollLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    int64_t now = NowMs();
    std::vector<std::string> due = planner_.Due(now);
    std::shared_ptr<const Config> config = config_;
    lock.unlock();
    for (const std::string& url : due) {
      std::vector<PollTarget> targets;
      {
        std::lock_guard relock(mu_);
        targets = planner_.TargetsFor(url);
      }
      std::vector<const EnvironmentConfig*> envs;
      for (const auto& t : targets) {
        const EnvironmentConfig* env = config->Find(t.environment);
        if (env != nullptr && env->settings) envs.push_back(env);
      }
      Result<std::vector<RemoteRef>> refs = LsRemote(*config, envs.empty() ? nullptr : envs.front(), url);
      ls_remote_calls_.fetch_add(1);
      metrics_.CountPoll(RedactUrl(url), refs.ok());
      {
        std::lock_guard relock(mu_);
        if (refs.ok()) {
          planner_.ReportSuccess(url, NowMs());
        } else {
          planner_.ReportError(url, NowMs(), refs.status().message());
        }
      }
      if (!refs.ok()) {
        LogEvent("poll " + RedactUrl(url) + ": " + refs.status().message());
        for (const auto& t : targets) SetTriggerError(t.environment, "poll: " + refs.status().message());
        continue;
      }
      if (!envs.empty()) Evaluate(url, BranchHeads(*refs), envs, "push", "poller", *config);
    }
    lock.lock();
    if (stopping_) break;
    int64_t next = planner_.NextDueMs();
    int64_t wait_ms = next == INT64_MAX ? 60'000 : std::clamp<int64_t>(next - NowMs(), 0, 60'000);
    uint64_t generation = config_generation_;
    trigger_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                         [&] { return stopping_ || config_generation_ != generation; });
  }
}

void Daemon::InboxLoop() {
  std::unique_lock lock(mu_);
  bool first = true;  // deliveries left pending by a previous process
  while (!stopping_) {
    if (!first) {
      trigger_cv_.wait_for(lock, std::chrono::seconds(30),
                           [&] { return stopping_ || inbox_wake_ || !evaluate_requests_.empty(); });
    }
    first = false;
    if (stopping_) break;
    inbox_wake_ = false;
    std::set<std::string> requests;
    requests.swap(evaluate_requests_);
    std::shared_ptr<const Config> config = config_;
    lock.unlock();

    Result<std::vector<Delivery>> pending = store_->PendingDeliveries();
    if (!pending.ok()) LogEvent("cannot read the webhook inbox: " + pending.status().message());
    for (const Delivery& d : pending.ok() ? *pending : std::vector<Delivery>{}) {
      Result<PushPayload> push = DecodePush(d.payload);
      if (push.ok()) {
        // Every environment watching that repository and branch, grouped by
        // its settings URL as written in the config.
        std::map<std::string, std::vector<const EnvironmentConfig*>> by_url;
        for (const EnvironmentConfig& env : config->environments) {
          if (!env.settings || !env.triggers.push.enabled || env.settings->branch != push->branch) continue;
          for (const auto& u : push->repository_urls) {
            if (SameRepository(u, env.settings->url)) {
              by_url[env.settings->url].push_back(&env);
              break;
            }
          }
        }
        for (const auto& [url, envs] : by_url) {
          std::map<std::string, std::string> heads;
          if (!push->commit.empty()) {
            heads[push->branch] = push->commit;
          } else {
            Result<std::vector<RemoteRef>> refs = LsRemote(*config, envs.front(), url);
            ls_remote_calls_.fetch_add(1);
            if (!refs.ok()) {
              for (const auto* env : envs) SetTriggerError(env->name, "webhook: " + refs.status().message());
              continue;
            }
            heads = BranchHeads(*refs);
          }
          Evaluate(url, heads, envs, "webhook", d.source + " delivery " + d.delivery_id, *config);
        }
        if (by_url.empty()) {
          LogEvent(d.source + " delivery " + d.delivery_id + ": no environment watches branch '" + push->branch +
                   "' of that repository");
        }
      } else {
        LogEvent(d.source + " delivery " + d.delivery_id + ": " + push.status().message());
      }
      Status marked = store_->MarkDeliveryProcessed(d.id, NowMs());
      if (!marked.ok()) LogEvent("cannot mark a delivery processed: " + marked.message());
    }

    // Environments to evaluate against the remote head (after a resume).
    std::map<std::string, std::vector<const EnvironmentConfig*>> by_url;
    for (const std::string& name : requests) {
      const EnvironmentConfig* env = config->Find(name);
      if (env != nullptr && env->settings) by_url[env->settings->url].push_back(env);
    }
    for (const auto& [url, envs] : by_url) {
      Result<std::vector<RemoteRef>> refs = LsRemote(*config, envs.front(), url);
      ls_remote_calls_.fetch_add(1);
      if (!refs.ok()) {
        for (const auto* env : envs) SetTriggerError(env->name, "poll: " + refs.status().message());
        continue;
      }
      Evaluate(url, BranchHeads(*refs), envs, "push", "resume", *config);
    }
    lock.lock();
  }
}

}  // namespace slipway
