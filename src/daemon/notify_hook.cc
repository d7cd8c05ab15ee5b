// What happens after a run (issue 8): a preview's result goes back to its
// forge as a commit status (and optionally a comment with the tail of
// `make diff`); a drift check updates the environment's drift state; deploy
// runs and drift findings are notified (doc/notifications.md). Nothing here
// can fail or delay a run's record: the run is final before AfterRun.
#include <algorithm>
#include <optional>

#include "daemon/daemon.h"
#include "notify/forge.h"
#include "notify/notify.h"
#include "util/clock.h"
#include "util/strings.h"

namespace slipway {

namespace {

constexpr size_t kCommentMaxBytes = 60'000;
constexpr size_t kCommentMaxLines = 80;

std::string RunUrl(const Config& config, int64_t run_id) {
  if (config.server.public_url.empty()) return "";
  return config.server.public_url + "/#/run/" + std::to_string(run_id);
}

// The last lines of text, at most kCommentMaxLines / kCommentMaxBytes.
std::string Tail(const std::string& text) {
  std::string t = text.size() > kCommentMaxBytes ? text.substr(text.size() - kCommentMaxBytes) : text;
  size_t lines = 0;
  size_t pos = t.size();
  while (pos > 0 && lines <= kCommentMaxLines) {
    pos = t.rfind('\n', pos - 1);
    if (pos == std::string::npos) {
      pos = 0;
      break;
    }
    ++lines;
  }
  return pos == 0 ? t : t.substr(pos + 1);
}

size_t CountLines(const std::string& text) {
  std::string_view t = Trim(text);
  if (t.empty()) return 0;
  return static_cast<size_t>(std::count(t.begin(), t.end(), '\n')) + 1;
}

bool IsFailure(RunStatus s) {
  return s == RunStatus::kFailed || s == RunStatus::kTimedOut || s == RunStatus::kInterrupted;
}

}  // namespace

void Daemon::StartTrust() {
  auto notifier = std::make_unique<Notifier>(Notifier::Options{}, [](const std::string& line) { LogEvent(line); });
  {
    std::lock_guard lock(mu_);
    notifier_ = std::move(notifier);
  }
  previewer_ = std::thread([this] { PreviewLoop(); });
  drifter_ = std::thread([this] { DriftLoop(); });
}

void Daemon::StopTrust() {
  {
    std::lock_guard lock(mu_);
    trigger_cv_.notify_all();
  }
  for (std::thread* t : {&previewer_, &drifter_}) {
    if (t->joinable()) t->join();
  }
  // Notifications of the last runs get a short while to go out.
  Notifier* notifier = nullptr;
  {
    std::lock_guard lock(mu_);
    notifier = notifier_.get();
  }
  if (notifier != nullptr) notifier->Stop(5'000);
}

void Daemon::ReportPreview(const RunRecord& run, const std::string& state, const std::string& diff_output,
                           const Config& config) {
  Result<PreviewContext> pr = ParsePreviewContext(run.context_json);
  if (!pr.ok()) return;
  auto forge = config.server.forges.find(pr->forge);
  if (forge == config.server.forges.end()) {
    LogEvent("preview run " + std::to_string(run.id) + ": no server.forges." + pr->forge +
             " in the config, so no commit status is sent");
    return;
  }
  std::string description = state == "pending"   ? "preview of " + run.environment + " queued"
                            : state == "success" ? "preview of " + run.environment + " passed"
                                                 : run.error;
  if (description.size() > 138) description = description.substr(0, 137) + "…";
  // Posted by the notifier's thread, with its retries: never on the run's
  // thread, and a status retried late never overwrites a newer one of the
  // same check (the key).
  const std::string check = "slipway/" + run.environment;
  const std::string url = RunUrl(config, run.id);
  Notifier::Delivery status;
  status.family = "commit_status";
  status.target = pr->forge;
  status.what = "preview run " + std::to_string(run.id) + ": commit status '" + state + "'";
  status.where = pr->forge;
  status.key = pr->forge + "\x1f" + pr->repo + "\x1f" + pr->head + "\x1f" + check;
  status.attempt = [forge = forge->second, pr = *pr, state, url, description, check](int64_t timeout_ms) {
    return PostCommitStatus(forge, pr, state, url, description, check, timeout_ms);
  };
  std::optional<Notifier::Delivery> comment;
  if (state != "pending" && forge->second.comment) {
    std::string body = "**Slipway preview of `" + run.environment + "`** (run " + std::to_string(run.id) +
                       "): " + (state == "success" ? "passed" : "failed") + "\n";
    if (!run.error.empty()) body += "\n" + run.error + "\n";
    if (!url.empty()) body += "\n" + url + "\n";
    if (!Trim(diff_output).empty()) body += "\n`make diff` (tail):\n\n```\n" + Tail(diff_output) + "\n```\n";
    comment.emplace();
    comment->family = "comment";
    comment->target = pr->forge;
    comment->what = "preview run " + std::to_string(run.id) + ": comment";
    comment->where = pr->forge;
    comment->attempt = [forge = forge->second, pr = *pr, body](int64_t timeout_ms) {
      return PostPullRequestComment(forge, pr, body, timeout_ms);
    };
  }
  std::lock_guard lock(mu_);
  if (!notifier_) {
    LogEvent("preview run " + std::to_string(run.id) + ": the engine is not started; no commit status is sent");
    return;
  }
  notifier_->Enqueue(std::move(status));
  if (comment) notifier_->Enqueue(std::move(*comment));
}

Result<TriggerResult> Daemon::CheckDrift(const std::string& environment, const std::string& trigger,
                                         const std::string& actor) {
  std::shared_ptr<const Config> config = this->config();
  SLIPWAY_ASSIGN_OR_RETURN(const EnvironmentConfig* env, FindEnv(*config, environment));
  SLIPWAY_ASSIGN_OR_RETURN(std::optional<Deployment> deployed, store_->CurrentDeployment(env->name));
  if (!deployed) {
    return Failed("environment '" + env->name + "' was never deployed: there is nothing to check for drift");
  }
  RunRecord run;
  run.kind = "drift";
  run.trigger = trigger;
  run.actor = actor;
  run.settings_commit = deployed->settings_commit;
  run.code_commit = deployed->code_commit;
  std::lock_guard lock(mu_);
  if (stopping_) return Failed("the engine is shutting down; the drift check was not recorded");
  return EnqueueLocked(*env, std::move(run));
}

void Daemon::AfterRun(const RunRecord& run, const std::string& diff_output, const Config& config) {
  const EnvironmentConfig* env = config.Find(run.environment);
  if (env == nullptr || !IsFinal(run.status)) return;
  if (run.kind == "preview") {
    ReportPreview(run, run.status == RunStatus::kSucceeded ? "success" : "failure", diff_output, config);
    return;
  }
  std::vector<NotifyTarget> targets = config.notify;
  targets.insert(targets.end(), env->notify.begin(), env->notify.end());

  Notification n;
  n.environment = run.environment;
  n.run_id = run.id;
  n.kind = run.kind;
  n.status = RunStatusName(run.status);
  n.trigger = run.trigger;
  n.actor = run.actor;
  n.settings_commit = run.settings_commit;
  n.code_ref = run.code_ref;
  n.code_commit = run.code_commit;
  n.error = run.error;
  n.url = RunUrl(config, run.id);
  n.finished_ms = run.finished_ms;

  if (run.kind == "drift") {
    if (run.status == RunStatus::kCancelled) return;  // says nothing about the target
    bool drifted = false;
    std::string reason;
    if (run.status != RunStatus::kSucceeded) {
      drifted = true;
      reason = "the drift check failed: " + run.error;
    } else if (size_t lines = CountLines(diff_output); lines > 0) {
      drifted = true;
      reason = "make diff printed " + std::to_string(lines) + " line" + (lines == 1 ? "" : "s");
    }
    bool was_drifted = false;
    Status updated = UpdateState(run.environment, [&](EnvironmentState& s) {
      was_drifted = s.drift == "Drifted";
      s.drift = drifted ? "Drifted" : "";
      s.drift_reason = reason;
      s.drift_checked_ms = run.finished_ms;
      s.drift_run_id = run.id;
    });
    if (!updated.ok()) LogEvent("cannot record the drift of '" + run.environment + "': " + updated.message());
    LogEvent("drift check " + std::to_string(run.id) + " of '" + run.environment +
             "': " + (drifted ? "Drifted (" + reason + ")" : std::string("no drift")));
    if (drifted && !was_drifted) {
      n.event = "drift";
      n.detail = reason;
      std::lock_guard lock(mu_);
      if (notifier_) notifier_->Send(targets, n);
    }
    return;
  }

  // Deploy runs: failure, success, and recovery (the first success after a failure).
  if (run.status == RunStatus::kCancelled) return;
  std::vector<std::string> events;
  if (IsFailure(run.status)) {
    events.push_back("failure");
  } else if (run.status == RunStatus::kSucceeded) {
    events.push_back("success");
    RunFilter filter;
    filter.environment = run.environment;
    filter.before_id = run.id;
    filter.limit = 50;
    Result<std::vector<RunRecord>> earlier = store_->ListRuns(filter);
    if (earlier.ok()) {
      for (const RunRecord& r : *earlier) {
        if (r.kind != "deploy" || !IsFinal(r.status) || r.status == RunStatus::kCancelled) continue;
        if (IsFailure(r.status)) events.push_back("recovery");
        break;
      }
    }
  }
  std::lock_guard lock(mu_);
  if (!notifier_) return;
  for (const std::string& e : events) {
    n.event = e;
    notifier_->Send(targets, n);
  }
}

}  // namespace slipway
