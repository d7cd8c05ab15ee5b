// Poll planning and trigger decisions for the push trigger (DESIGN.md §6,
// doc/triggers.md). No threads, sockets or clocks here: the daemon owns the
// loop, passes the time in, runs `git ls-remote` for the URLs PollPlanner
// says are due, and asks DecideTriggers which environments to start.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "git/git.h"
#include "util/status.h"

namespace slipway {

// One environment's polling settings (from EnvironmentConfig.settings and
// .triggers.push).
struct PollTarget {
  std::string environment;
  std::string url;               // settings.url, compared as an exact string for grouping
  std::string branch;            // settings.branch
  std::string path;              // settings.path ("" = repository root)
  std::string role;              // settings.role; carried for the daemon (which role to ls-remote with), not used here
  int64_t interval_ms = 60'000;  // <= 0: not polled (webhooks only); ignored by PollPlanner
  bool any_path = false;         // `paths: any`
};

struct PollOptions {
  double jitter = 0.10;                  // each delay is drawn in [d·(1-jitter), d·(1+jitter)]
  int64_t max_backoff_ms = 10 * 60'000;  // backoff cap (or the interval itself when larger)
  uint64_t seed = 0;                     // jitter seed; 0 picks one at random. Fixed: deterministic (tests)
};

// What status pages and /metrics show about one polled URL.
struct PollUrlStatus {
  std::string url;
  std::vector<std::string> environments;  // in the order SetTargets gave them
  int64_t interval_ms = 0;                // the smallest interval of its environments
  int64_t next_due_ms = 0;
  bool in_flight = false;        // returned by Due, not yet reported
  int64_t last_attempt_ms = 0;   // 0: never
  int64_t last_success_ms = 0;   // 0: never
  int consecutive_failures = 0;  // reset by ReportSuccess
  std::string last_error;        // of the latest failure; kept after a success for display
  int64_t polls_total = 0;       // reports received, success or error
  int64_t errors_total = 0;
};

// Decides which settings URLs to `ls-remote` and when. Environments are
// grouped by their exact settings URL: one ls-remote per distinct URL per
// cycle serves all of its environments. A URL's interval is the smallest of
// its environments' intervals (so it is due whenever any of them is due).
// After a poll the next one is scheduled `interval ± jitter` later; after n
// consecutive errors, `min(interval·2^n, max(max_backoff, interval)) ± jitter`
// later. A URL returned by Due is "in flight" and not returned again until
// ReportSuccess or ReportError is called for it.
//
// Not thread-safe: the daemon calls it under its own lock (or from one thread).
class PollPlanner {
 public:
  explicit PollPlanner(PollOptions options = {});

  // Sets the polled environments (at start and on every config reload).
  // Targets with interval_ms <= 0 or an empty url are left out. URLs that
  // remain keep their schedule, failures and in-flight mark (the interval
  // is recomputed; a shorter one takes effect at once); new URLs are due at
  // now_ms; URLs no longer listed are forgotten (a later report for them is
  // ignored).
  void SetTargets(const std::vector<PollTarget>& targets, int64_t now_ms);

  // URLs to ls-remote now (due at or before now_ms, not in flight), each at
  // most once, in the order of first appearance in SetTargets. Marks them
  // in flight. The caller must report each one.
  std::vector<std::string> Due(int64_t now_ms);

  // The outcome of the ls-remote of url. Unknown URLs are ignored.
  void ReportSuccess(const std::string& url, int64_t now_ms);
  void ReportError(const std::string& url, int64_t now_ms, const std::string& error);

  // The earliest instant a URL not in flight becomes due (to sleep until),
  // or INT64_MAX when none.
  int64_t NextDueMs() const;

  // The environments polled through url, in SetTargets order (empty when unknown).
  std::vector<PollTarget> TargetsFor(const std::string& url) const;

  // All URLs, in SetTargets order / one URL.
  std::vector<PollUrlStatus> Status() const;
  std::optional<PollUrlStatus> StatusOf(const std::string& url) const;

 private:
  struct UrlState {
    PollUrlStatus status;
    std::vector<PollTarget> targets;
    uint64_t draws = 0;  // jitter draws so far (keeps the sequence deterministic per URL)
  };
  // delay_ms scaled by a factor in [1-jitter, 1+jitter].
  int64_t Jittered(UrlState& state, int64_t delay_ms);
  UrlState* Find(const std::string& url);
  const UrlState* Find(const std::string& url) const;

  PollOptions options_;
  uint64_t seed_ = 0;
  std::vector<UrlState> states_;         // SetTargets order
  std::map<std::string, size_t> index_;  // url -> position in states_
};

// Branch heads from ls-remote refs: "refs/heads/main" -> commit. Tags and
// other refs are left out.
std::map<std::string, std::string> BranchHeads(const std::vector<RemoteRef>& refs);

// What the daemon knows about one environment when a URL's heads are fresh.
struct TriggerInput {
  std::string environment;
  std::string branch;
  std::string path;  // settings folder ("" = root)
  bool any_path = false;
  // The settings head this environment was last evaluated at (the latest
  // head DecideTriggers looked at for it and the daemon recorded); "" never.
  std::string last_evaluated_commit;
  // The settings commit of its current deployment (last succeeded deploy);
  // "" when never deployed.
  std::string deployed_commit;
};

// Did anything under `path` change between two commits of url? The daemon
// implements it with Git::Fetch (once per URL per cycle, before calling
// DecideTriggers) and Git::ChangedPaths(url, from, to, path). It must return
// true when `from` is unknown to the repository (history rewritten by a
// forced push): when in doubt, deploy. Any error leaves the environment
// undecided (kError) and it is tried again on the next poll.
using ChangedFn = std::function<Result<bool>(const std::string& url, const std::string& from, const std::string& to,
                                             const std::string& path)>;

enum class TriggerAction {
  kTrigger,          // start (or coalesce into) a run at `head`
  kUnchanged,        // head == last evaluated commit: nothing new
  kUpToDate,         // first evaluation and head == deployed commit
  kFolderUnchanged,  // new head, but nothing changed under path since `base`
  kBranchMissing,    // the branch is not among the heads
  kError,            // the changed() callback failed; see `error`
};
const char* TriggerActionName(TriggerAction action);  // "trigger", "unchanged", …

struct TriggerDecision {
  std::string environment;
  TriggerAction action = TriggerAction::kUnchanged;
  std::string head;    // the branch head ("" for kBranchMissing)
  std::string base;    // the commit compared against ("" when none)
  std::string reason;  // one lower-case sentence for logs and the run record,
                       // e.g. "folder 'envs/prod' changed since 1a2b3c4 (now 5d6e7f8)"
  Status error;        // kError only

  // True when the daemon should record `head` as this environment's
  // last_evaluated_commit (kTrigger — after the trigger is written to the
  // store —, kUpToDate, kFolderUnchanged). False for kUnchanged (nothing to
  // record), kBranchMissing and kError (decide again next time).
  bool record_evaluated() const;
};

// Decides, for every environment in `inputs` (all watching `url`), whether the
// new heads trigger it. Rules, first match wins (doc/triggers.md "The path
// filter"):
//   1. branch absent from heads                          → kBranchMissing
//   2. head == last_evaluated_commit                     → kUnchanged
//   3. head == deployed_commit                           → kUpToDate
//   4. never evaluated and never deployed                → kTrigger
//   5. any_path                                          → kTrigger
//   6. base = last_evaluated_commit, or deployed_commit when never evaluated;
//      changed(url, base, head, path): true → kTrigger, false →
//      kFolderUnchanged, error → kError.
// So a new environment with nothing live deploys at once, and one that
// already has a deployment only when its folder differs from what is live.
// changed() is called at most once per distinct (base, head, path), and never
// for rules 1-5. Decisions are returned in input order. Webhooks use the same
// function with heads = {branch: commit}, passing only the environments
// whose settings URL is the hook's repository (SameRepository) and whose
// branch is the pushed one.
std::vector<TriggerDecision> DecideTriggers(const std::string& url, const std::map<std::string, std::string>& heads,
                                            const std::vector<TriggerInput>& inputs, const ChangedFn& changed);

// True when `changed_path` (a path in the repository) lies under `folder`
// ("" = everything; "a/b" covers "a/b" and "a/b/…", not "a/bc").
bool PathIsUnder(const std::string& changed_path, const std::string& folder);

}  // namespace slipway
