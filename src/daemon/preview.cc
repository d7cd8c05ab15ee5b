// Previews of pull requests (issue 8; doc/previews.md): a pull (merge)
// request against an environment's settings branch that touches its folder
// queues a run of kind "preview" on the request's head commit; the forge
// hears `pending` at once and the result when the run ends (notify_hook.cc).
//
// The webhook handler only queues the request (AcceptPullRequest); the git
// work — fetch, merge base, changed paths — happens on the previewer thread.
// A request from a fork is previewed only with `server.preview_forks: true`:
// its head is fetched from the base repository's request ref
// (refs/pull/N/head, GitLab refs/merge-requests/N/head).
#include <algorithm>

#include "daemon/daemon.h"
#include "daemon/mirror_lock.h"
#include "git/git.h"
#include "notify/forge.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

constexpr int64_t kPreviewGitTimeoutMs = 2 * 60'000;
constexpr size_t kMaxRememberedDeliveries = 10'000;

bool Touches(const std::vector<std::string>& paths, const std::string& folder) {
  if (folder.empty()) return !paths.empty();
  return std::any_of(paths.begin(), paths.end(),
                     [&](const std::string& p) { return p == folder || StartsWith(p, folder + "/"); });
}

}  // namespace

std::string Daemon::RunSlot(const RunRecord& run) {
  // Deploys hold their environment's slot; a preview or a drift check runs
  // beside them (it never deploys), one slot per run.
  if (run.kind == "deploy" || run.kind.empty()) return run.environment;
  return run.environment + "\x1f" + run.kind + "\x1f" + std::to_string(run.id);
}

Result<WebhookOutcome> Daemon::AcceptPullRequest(const std::string& source, const WebhookEvent& event) {
  std::lock_guard lock(mu_);
  if (stopping_) return Failed("the engine is shutting down; deliver again later");
  if (!event.delivery_id.empty()) {
    if (!preview_deliveries_.insert(source + "/" + event.delivery_id).second) {
      metrics_.CountWebhook(source, WebhookOutcomeName(WebhookOutcome::kDuplicate));
      return WebhookOutcome::kDuplicate;
    }
    if (preview_deliveries_.size() > kMaxRememberedDeliveries) preview_deliveries_.clear();
  }
  preview_requests_.push_back(PreviewRequest{source, event});
  trigger_cv_.notify_all();
  metrics_.CountWebhook(source, WebhookOutcomeName(WebhookOutcome::kQueued));
  return WebhookOutcome::kQueued;
}

void Daemon::PreviewLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    trigger_cv_.wait(lock, [&] { return stopping_ || !preview_requests_.empty(); });
    if (stopping_) return;
    std::vector<PreviewRequest> requests;
    requests.swap(preview_requests_);
    std::shared_ptr<const Config> config = config_;
    lock.unlock();
    for (const PreviewRequest& r : requests) Preview(r, *config);
    lock.lock();
  }
}

void Daemon::Preview(const PreviewRequest& request, const Config& config) {
  const PullRequestInfo& pr = request.event.pull_request;
  const std::string what = request.source + " pull request " + std::to_string(pr.number);
  // Environments on this repository whose settings branch is the request's target.
  std::map<std::string, std::vector<const EnvironmentConfig*>> by_url;
  for (const EnvironmentConfig& env : config.environments) {
    if (!env.settings || env.settings->branch != pr.base_branch) continue;
    bool same = std::any_of(request.event.repository_urls.begin(), request.event.repository_urls.end(),
                            [&](const std::string& u) { return SameRepository(u, env.settings->url); });
    if (same) by_url[env.settings->url].push_back(&env);
  }
  if (by_url.empty()) {
    LogEvent(what + " (into '" + pr.base_branch + "'): no environment reads that repository and branch");
    return;
  }
  PreviewContext context;
  context.forge = request.source;
  context.repo = pr.repo;
  context.number = pr.number;
  context.head = pr.head_commit;
  context.head_branch = pr.head_branch;
  context.base_branch = pr.base_branch;
  context.title = pr.title;

  // A fork's request runs its author's code: previewed only when the
  // operator opted in (server.preview_forks; doc/previews.md).
  const bool forks_allowed = config.server.preview_forks;
  if (pr.from_fork && !forks_allowed) {
    LogEvent(what + " comes from a fork: not previewed (server.preview_forks is off)");
    return;
  }
  // Where the base repository keeps the request's head, fork or not.
  const std::string pull_ref = request.source == "gitlab" ? "refs/merge-requests/" + std::to_string(pr.number) + "/head"
                                                          : "refs/pull/" + std::to_string(pr.number) + "/head";

  for (const auto& entry : by_url) {
    const std::string& url = entry.first;  // not a structured binding: the lambda below captures it
    const std::vector<const EnvironmentConfig*>& envs = entry.second;
    GitOptions options;
    options.mirrors_dir = JoinPath(config.state_dir, "mirrors");
    options.timeout_ms = std::min(config.git_timeout_ms, kPreviewGitTimeoutMs);
    Result<GitOptions> with_access = Pipeline::GitOptionsForUrl(*envs.front(), url, /*for_settings=*/true, options);
    bool fork_refused = false;
    bool from_pull_ref = false;
    Result<std::vector<std::string>> changed = [&]() -> Result<std::vector<std::string>> {
      if (!with_access.ok()) return with_access.status();
      Git git(*with_access);
      SLIPWAY_ASSIGN_OR_RETURN(MirrorLock lock, MirrorLock::Acquire(config.state_dir));
      (void)lock;
      SLIPWAY_ASSIGN_OR_RETURN(std::string base_head, git.FetchBranchHead(url, pr.base_branch));
      if (!git.HasCommit(url, pr.head_commit)) {
        // Not on any branch: the head lives in a fork (whatever the payload
        // said), reachable only through the request's ref.
        if (!forks_allowed) {
          fork_refused = true;
          return NotFound("commit " + pr.head_commit.substr(0, 12) + " is on no branch of " + RedactUrl(url) +
                          ": a request from a fork is not previewed (server.preview_forks is off)");
        }
        Result<std::string> at_ref = git.FetchRef(url, pull_ref);
        if (!at_ref.ok() || !git.HasCommit(url, pr.head_commit)) {
          return NotFound(
              "commit " + pr.head_commit.substr(0, 12) + " of " + what + " is neither on a branch of " +
              RedactUrl(url) + " nor under " + pull_ref +
              (at_ref.ok() ? " (it points at " + at_ref->substr(0, 12) + " now)" : ": " + at_ref.status().message()));
        }
        from_pull_ref = true;
        LogEvent(what + " comes from a fork: previewing " + pr.head_commit.substr(0, 12) + " from " + pull_ref +
                 " (server.preview_forks is on)");
      }
      SLIPWAY_ASSIGN_OR_RETURN(std::string base, git.MergeBase(url, base_head, pr.head_commit));
      return git.ChangedPaths(url, base, pr.head_commit, "");
    }();
    if (fork_refused) {
      LogEvent(what + ": not previewed: " + changed.status().message());
      continue;
    }
    if (!changed.ok()) {
      LogEvent(what + ": cannot preview: " + changed.status().message());
      for (const EnvironmentConfig* env : envs) SetTriggerError(env->name, changed.status().message());
      continue;
    }
    for (const EnvironmentConfig* env : envs) {
      if (!Touches(*changed, env->settings->path)) continue;
      RunRecord run;
      run.kind = "preview";
      run.trigger = "pull_request";
      run.actor = request.source + " #" + std::to_string(pr.number);
      run.settings_commit = pr.head_commit;
      PreviewContext with_ref = context;
      if (from_pull_ref) with_ref.fetch_ref = pull_ref;
      run.context_json = EncodePreviewContext(with_ref);
      Result<TriggerResult> queued = [&]() -> Result<TriggerResult> {
        std::lock_guard lock(mu_);
        if (stopping_) return Failed("shutting down");
        return EnqueueLocked(*env, run);
      }();
      if (!queued.ok()) {
        LogEvent(what + ": preview of '" + env->name + "' not queued: " + queued.status().message());
        continue;
      }
      run.id = queued->run_id;
      run.environment = env->name;
      ReportPreview(run, "pending", "", config);
    }
  }
}

}  // namespace slipway
