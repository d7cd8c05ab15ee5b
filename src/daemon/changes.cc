// Daemon::Changes: what a deploy of the desired settings would bring, read
// from the local settings mirror for the dashboard's environment page.

#include <algorithm>

#include "daemon/daemon.h"
#include "git/git.h"
#include "util/fs.h"

namespace slipway {

namespace {

// Local reads of a mirror take milliseconds; a stuck one must not hold an
// HTTP thread for long.
constexpr int64_t kChangesGitTimeoutMs = 20'000;

}  // namespace

Result<EnvironmentChanges> Daemon::Changes(const std::string& name) {
  std::shared_ptr<const Config> cfg = config();
  SLIPWAY_ASSIGN_OR_RETURN(const EnvironmentConfig* env, FindEnv(*cfg, name));
  SLIPWAY_ASSIGN_OR_RETURN(EnvironmentView view, Environment(name));

  EnvironmentChanges c;
  c.environment = name;
  if (view.deployed) {
    c.from_commit = view.deployed->settings_commit;
    c.code_ref_from = view.deployed->code_ref;
    c.code_commit_from = view.deployed->code_commit;
  }
  c.to_commit = view.desired_settings_commit;
  c.code_ref_to = view.desired_code_ref;
  c.code_commit_to = view.desired_code_commit;
  if (!env->settings) {
    c.note = "this environment has no settings repository";
    return c;
  }
  c.path = env->settings->path;
  if (c.to_commit.empty()) {
    c.note = "the desired settings commit is not known yet (the sync check has not run)";
    return c;
  }
  if (c.to_commit == c.from_commit) return c;

  GitOptions options;
  options.mirrors_dir = JoinPath(cfg->state_dir, "mirrors");
  options.timeout_ms = kChangesGitTimeoutMs;
  Git git(options);
  const std::string& url = env->settings->url;
  if (!git.HasCommit(url, c.to_commit)) {
    c.note = "settings commit " + c.to_commit.substr(0, 12) + " is not in the local mirror yet";
    return c;
  }
  std::string from = c.from_commit;
  if (!from.empty() && !git.HasCommit(url, from)) {
    c.note = "the deployed settings commit " + from.substr(0, 12) +
             " is no longer in the settings history (rewritten?): showing the newest commits";
    from.clear();
  }
  // Every commit of the range (not only those touching the folder), so that
  // each one's files are its own diff against the next older one.
  SLIPWAY_ASSIGN_OR_RETURN(std::vector<Git::LogEntry> log, git.Log(url, from, c.to_commit, "", kMaxChangeCommits + 1));
  if (static_cast<int>(log.size()) > kMaxChangeCommits) {
    c.truncated = true;
    log.resize(kMaxChangeCommits);
  }
  for (size_t i = 0; i < log.size(); ++i) {
    SettingsCommit sc;
    sc.commit = log[i].commit;
    sc.subject = log[i].subject;
    sc.author = log[i].author;
    sc.time_ms = log[i].time_ms;
    std::string older = i + 1 < log.size() ? log[i + 1].commit : (c.truncated ? "" : from);
    // The oldest commit of a truncated or rootward list has no older one to
    // diff against: its files stay unlisted rather than listing the tree.
    if (!older.empty()) {
      SLIPWAY_ASSIGN_OR_RETURN(sc.files, git.ChangedPaths(url, older, sc.commit, c.path));
    }
    c.commits.push_back(std::move(sc));
  }
  if (!from.empty()) {
    SLIPWAY_ASSIGN_OR_RETURN(c.files, git.ChangedPaths(url, from, c.to_commit, c.path));
  }
  return c;
}

}  // namespace slipway
