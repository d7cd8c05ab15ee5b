// Poll planning and trigger decisions. Pure logic: the daemon supplies the
// time, runs git, and records what DecideTriggers tells it to.
#include "triggers/poll.h"

#include <algorithm>
#include <climits>
#include <random>
#include <set>
#include <tuple>

namespace slipway {

namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a: stable across runs and platforms, unlike std::hash.
uint64_t StableHash(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

std::string Short(const std::string& commit) { return commit.substr(0, 7); }

}  // namespace

PollPlanner::PollPlanner(PollOptions options) : options_(options) {
  options_.jitter = std::clamp(options_.jitter, 0.0, 0.5);
  seed_ = options_.seed != 0 ? options_.seed : std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
}

PollPlanner::UrlState* PollPlanner::Find(const std::string& url) {
  auto it = index_.find(url);
  return it == index_.end() ? nullptr : &states_[it->second];
}

const PollPlanner::UrlState* PollPlanner::Find(const std::string& url) const {
  auto it = index_.find(url);
  return it == index_.end() ? nullptr : &states_[it->second];
}

int64_t PollPlanner::Jittered(UrlState& state, int64_t delay_ms) {
  // One independent draw per URL and per poll: the sequence depends only on
  // the seed, the URL and how many polls it had, not on call interleaving.
  uint64_t r = SplitMix64(seed_ ^ StableHash(state.status.url) ^ SplitMix64(++state.draws));
  double unit = static_cast<double>(r >> 11) / static_cast<double>(uint64_t{1} << 53);  // [0, 1)
  double factor = 1.0 - options_.jitter + 2.0 * options_.jitter * unit;
  return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(delay_ms) * factor));
}

void PollPlanner::SetTargets(const std::vector<PollTarget>& targets, int64_t now_ms) {
  std::vector<UrlState> next;
  std::map<std::string, size_t> index;
  for (const PollTarget& t : targets) {
    if (t.interval_ms <= 0 || t.url.empty()) continue;
    auto it = index.find(t.url);
    if (it == index.end()) {
      UrlState state;
      if (UrlState* old = Find(t.url)) {
        state = std::move(*old);
        state.targets.clear();
        state.status.environments.clear();
        state.status.interval_ms = 0;
      } else {
        state.status.url = t.url;
        state.status.next_due_ms = now_ms;
      }
      it = index.emplace(t.url, next.size()).first;
      next.push_back(std::move(state));
    }
    UrlState& state = next[it->second];
    state.targets.push_back(t);
    state.status.environments.push_back(t.environment);
    if (state.status.interval_ms == 0 || t.interval_ms < state.status.interval_ms) {
      state.status.interval_ms = t.interval_ms;
    }
  }
  // A shorter interval takes effect at once: never wait longer than the new
  // interval after the last poll (unless backing off).
  for (UrlState& state : next) {
    const PollUrlStatus& st = state.status;
    if (st.polls_total > 0 && !st.in_flight && st.consecutive_failures == 0) {
      state.status.next_due_ms = std::min(st.next_due_ms, st.last_attempt_ms + st.interval_ms);
    }
  }
  states_ = std::move(next);
  index_ = std::move(index);
}

std::vector<std::string> PollPlanner::Due(int64_t now_ms) {
  std::vector<std::string> due;
  for (UrlState& state : states_) {
    if (!state.status.in_flight && state.status.next_due_ms <= now_ms) {
      state.status.in_flight = true;
      state.status.last_attempt_ms = now_ms;
      due.push_back(state.status.url);
    }
  }
  return due;
}

void PollPlanner::ReportSuccess(const std::string& url, int64_t now_ms) {
  UrlState* state = Find(url);
  if (state == nullptr) return;
  PollUrlStatus& st = state->status;
  st.in_flight = false;
  st.last_success_ms = now_ms;
  st.consecutive_failures = 0;
  ++st.polls_total;
  st.next_due_ms = now_ms + Jittered(*state, st.interval_ms);
}

void PollPlanner::ReportError(const std::string& url, int64_t now_ms, const std::string& error) {
  UrlState* state = Find(url);
  if (state == nullptr) return;
  PollUrlStatus& st = state->status;
  st.in_flight = false;
  st.last_error = error;
  ++st.polls_total;
  ++st.errors_total;
  ++st.consecutive_failures;
  const int64_t cap = std::max(options_.max_backoff_ms, st.interval_ms);
  int64_t delay = st.interval_ms;
  for (int i = 0; i < st.consecutive_failures && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  st.next_due_ms = now_ms + std::min(Jittered(*state, delay), cap);
}

int64_t PollPlanner::NextDueMs() const {
  int64_t next = INT64_MAX;
  for (const UrlState& state : states_) {
    if (!state.status.in_flight) next = std::min(next, state.status.next_due_ms);
  }
  return next;
}

std::vector<PollTarget> PollPlanner::TargetsFor(const std::string& url) const {
  const UrlState* state = Find(url);
  return state == nullptr ? std::vector<PollTarget>{} : state->targets;
}

std::vector<PollUrlStatus> PollPlanner::Status() const {
  std::vector<PollUrlStatus> out;
  out.reserve(states_.size());
  for (const UrlState& state : states_) out.push_back(state.status);
  return out;
}

std::optional<PollUrlStatus> PollPlanner::StatusOf(const std::string& url) const {
  const UrlState* state = Find(url);
  if (state == nullptr) return std::nullopt;
  return state->status;
}

std::map<std::string, std::string> BranchHeads(const std::vector<RemoteRef>& refs) {
  std::map<std::string, std::string> heads;
  constexpr std::string_view kPrefix = "refs/heads/";
  for (const RemoteRef& ref : refs) {
    if (ref.name.size() > kPrefix.size() && ref.name.compare(0, kPrefix.size(), kPrefix) == 0) {
      heads[ref.name.substr(kPrefix.size())] = ref.peeled.empty() ? ref.object : ref.peeled;
    }
  }
  return heads;
}

bool PathIsUnder(const std::string& changed_path, const std::string& folder) {
  std::string_view f = folder;
  while (!f.empty() && f.back() == '/') f.remove_suffix(1);
  if (f.empty()) return true;
  if (changed_path.size() < f.size() || changed_path.compare(0, f.size(), f) != 0) return false;
  return changed_path.size() == f.size() || changed_path[f.size()] == '/';
}

const char* TriggerActionName(TriggerAction action) {
  switch (action) {
    case TriggerAction::kTrigger:
      return "trigger";
    case TriggerAction::kUnchanged:
      return "unchanged";
    case TriggerAction::kUpToDate:
      return "up_to_date";
    case TriggerAction::kFolderUnchanged:
      return "folder_unchanged";
    case TriggerAction::kBranchMissing:
      return "branch_missing";
    case TriggerAction::kError:
      return "error";
  }
  return "unknown";
}

bool TriggerDecision::record_evaluated() const {
  return action == TriggerAction::kTrigger || action == TriggerAction::kUpToDate ||
         action == TriggerAction::kFolderUnchanged;
}

std::vector<TriggerDecision> DecideTriggers(const std::string& url, const std::map<std::string, std::string>& heads,
                                            const std::vector<TriggerInput>& inputs, const ChangedFn& changed) {
  std::map<std::tuple<std::string, std::string, std::string>, Result<bool>> memo;
  std::vector<TriggerDecision> out;
  out.reserve(inputs.size());
  for (const TriggerInput& in : inputs) {
    TriggerDecision d;
    d.environment = in.environment;
    auto head = heads.find(in.branch);
    if (head == heads.end() || head->second.empty()) {
      d.action = TriggerAction::kBranchMissing;
      d.reason = "branch '" + in.branch + "' not found in the settings repository";
      out.push_back(std::move(d));
      continue;
    }
    d.head = head->second;
    const std::string where = in.path.empty() ? "the repository" : "folder '" + in.path + "'";
    if (d.head == in.last_evaluated_commit) {
      d.action = TriggerAction::kUnchanged;
      d.base = in.last_evaluated_commit;
      d.reason = "branch '" + in.branch + "' still at " + Short(d.head);
    } else if (d.head == in.deployed_commit) {
      d.action = TriggerAction::kUpToDate;
      d.base = in.deployed_commit;
      d.reason = "head " + Short(d.head) + " of '" + in.branch + "' is already deployed";
    } else if (in.last_evaluated_commit.empty() && in.deployed_commit.empty()) {
      d.action = TriggerAction::kTrigger;
      d.reason = "never deployed; head of '" + in.branch + "' is " + Short(d.head);
    } else if (in.any_path) {
      d.action = TriggerAction::kTrigger;
      d.base = in.last_evaluated_commit.empty() ? in.deployed_commit : in.last_evaluated_commit;
      d.reason = "new commit " + Short(d.head) + " on '" + in.branch + "' (paths: any)";
    } else {
      d.base = in.last_evaluated_commit.empty() ? in.deployed_commit : in.last_evaluated_commit;
      auto key = std::make_tuple(d.base, d.head, in.path);
      auto it = memo.find(key);
      if (it == memo.end()) {
        Result<bool> answer = changed ? changed(url, d.base, d.head, in.path)
                                      : Result<bool>(Internal("internal error: DecideTriggers without changed()"));
        it = memo.emplace(key, std::move(answer)).first;
      }
      const Result<bool>& r = it->second;
      if (!r.ok()) {
        d.action = TriggerAction::kError;
        d.error = r.status();
        d.reason = "cannot compare " + Short(d.base) + ".." + Short(d.head) + ": " + r.status().message();
      } else if (*r) {
        d.action = TriggerAction::kTrigger;
        d.reason = where + " changed between " + Short(d.base) + " and " + Short(d.head);
      } else {
        d.action = TriggerAction::kFolderUnchanged;
        d.reason = "nothing changed under " + where + " between " + Short(d.base) + " and " + Short(d.head);
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace slipway
