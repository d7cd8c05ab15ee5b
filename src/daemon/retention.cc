// Log retention (config `log_retention_days`, issue 7; doc/fleet.md "Logs
// from any node"): the logs of runs that finished more than N days ago are
// deleted, at start-up and then every hour; the run records stay, and
// reading such a log says why it is gone (PrunedLogMessage).
//
// Every node prunes, without a lease: Store::PruneLogs is idempotent (it
// marks each run once and deletes its stored chunks), and the log files live
// on each node's own disk, so each node must delete its own anyway.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "daemon/daemon.h"
#include "util/clock.h"
#include "util/fs.h"

namespace slipway {

namespace {

constexpr int64_t kDayMs = 24 * 3600'000LL;
constexpr int64_t kPruneEveryMs = 3600'000;

bool IsDigits(const std::string& s) { return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit); }

}  // namespace

void Daemon::PruneLoop() {
  // Logs: once at start-up whatever happens (a Shutdown right after Start
  // waits for it), then hourly. The trash (old workspaces, moved there by the
  // runs that ended: Pipeline::EmptyTrash): at start-up and after each run.
  auto next_logs = std::chrono::steady_clock::now();
  std::unique_lock lock(mu_);
  do {
    trash_pending_ = false;
    const bool logs_due = std::chrono::steady_clock::now() >= next_logs;
    lock.unlock();
    if (logs_due) {
      PruneLogsOnce();
      next_logs = std::chrono::steady_clock::now() + std::chrono::milliseconds(kPruneEveryMs);
    }
    Pipeline::EmptyTrash(config()->state_dir);
    lock.lock();
    trigger_cv_.wait_until(lock, next_logs, [&] { return stopping_ || trash_pending_; });
  } while (!stopping_);
}

void Daemon::PruneLogsOnce() {
  std::shared_ptr<const Config> config = this->config();
  const int days = config->log_retention_days;
  if (days <= 0) return;  // kept forever
  const int64_t now = NowMs();
  const int64_t cut = now - days * kDayMs;
  Result<int> marked = store_->PruneLogs(cut, now);
  if (!marked.ok()) {
    LogEvent("log retention: cannot prune the logs of runs finished before " + FormatTimestamp(cut) +
             " (retrying in an hour): " + marked.status().message());
    return;
  }
  // This node's log files: state_dir/logs/ENV/RUN.log. A file last written
  // after the cut belongs to a run that finished after it: only older ones
  // are looked up, and deleted when the store says their log was pruned.
  int deleted = 0;
  std::string logs = JoinPath(config->state_dir, "logs");
  Result<std::vector<std::string>> envs = ListDir(logs);
  if (envs.ok()) {
    for (const std::string& env : *envs) {
      std::string dir = JoinPath(logs, env);
      Result<std::vector<std::string>> names = ListDir(dir);
      if (!names.ok()) continue;
      for (const std::string& name : *names) {
        if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
        std::string id_text = name.substr(0, name.size() - 4);
        if (!IsDigits(id_text) || id_text.size() > 18) continue;
        std::string path = JoinPath(dir, name);
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (static_cast<int64_t>(st.st_mtime) * 1000 >= cut) continue;
        Result<RunRecord> run = store_->GetRun(std::stoll(id_text));
        if (!run.ok() || run->log_pruned_ms == 0 || run->log_path != path) continue;
        if (::unlink(path.c_str()) == 0) {
          ++deleted;
        } else if (errno != ENOENT) {
          LogEvent("log retention: " + PosixError("delete '" + path + "'", errno).message());
        }
      }
    }
  }
  if (*marked > 0 || deleted > 0) {
    LogEvent("log retention: deleted the logs of " + std::to_string(std::max(*marked, deleted)) +
             " run(s) finished more than " + std::to_string(days) + " day(s) ago (log_retention_days); " +
             std::to_string(deleted) + " log file(s) on this node");
  }
}

}  // namespace slipway
