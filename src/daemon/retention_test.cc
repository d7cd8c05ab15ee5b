// Log retention (log_retention_days) in a running daemon, on SQLite (one
// node) and on PostgreSQL (fleet mode): the logs of runs that finished
// before the cut-off are deleted at start-up, files and stored chunks; the
// run records stay, and newer logs are kept.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "daemon/daemon.h"
#include "store/store_test.h"
#include "testing/postgres.h"
#include "testing/testing.h"
#include "util/clock.h"
#include "util/fs.h"

namespace slipway {
namespace {

using slipway::testing::TempDir;

constexpr int64_t kDayMs = 24 * 3600'000LL;

Config RetentionConfig(const TempDir& dir, int days) {
  std::string text = "state_dir: state\nlog_retention_days: " + std::to_string(days) +
                     "\nenvironments:\n"
                     "  staging:\n"
                     "    code: { url: /nonexistent/code.git, ref: v1 }\n";
  Result<Config> config = ParseConfig(text, dir.Sub("slipway.yaml"));
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return config.ok() ? *config : Config{};
}

bool WaitFor(const std::function<bool()>& done, int64_t timeout_ms) {
  int64_t deadline = MonotonicMs() + timeout_ms;
  while (MonotonicMs() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

// A failed run of staging that finished `days_ago`, with its log file last
// written then (and, in a fleet, its log stored in the database).
int64_t FinishedRun(Store& store, const Config& config, int days_ago, bool fleet) {
  int64_t finished = NowMs() - days_ago * kDayMs;
  RunRecord run;
  run.environment = "staging";
  run.trigger = "manual";
  run.status = RunStatus::kRunning;
  run.started_ms = finished - 60'000;
  Result<int64_t> id = store.CreateRun(run);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  run.id = *id;
  std::string dir = JoinPath(JoinPath(config.state_dir, "logs"), "staging");
  EXPECT_OK(MakeDirs(dir));
  run.log_path = JoinPath(dir, std::to_string(run.id) + ".log");
  std::string text = "output of run " + std::to_string(run.id) + "\n";
  EXPECT_OK(WriteFile(run.log_path, text));
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = finished / 1000;
  times[0].tv_nsec = times[1].tv_nsec = 0;
  EXPECT_EQ(::utimensat(AT_FDCWD, run.log_path.c_str(), times, 0), 0);
  if (fleet) EXPECT_OK(store.AppendLog(run.id, 0, text));
  run.status = RunStatus::kFailed;
  run.error = "step 'deploy' failed";
  run.finished_ms = finished;
  EXPECT_OK(store.FinishRun(run, false));
  return run.id;
}

// Starts a daemon on `store` with a 90-day retention beside runs finished 100
// and 10 days ago, and checks what start-up pruning did.
void CheckStartUpPruning(const TempDir& dir, std::unique_ptr<Store> owned, bool fleet) {
  Config config = RetentionConfig(dir, 90);
  ASSERT_OK(MakeDirs(config.state_dir));
  Store& store = *owned;
  int64_t old_run = FinishedRun(store, config, 100, fleet);
  int64_t recent = FinishedRun(store, config, 10, fleet);
  ASSERT_OK_AND_ASSIGN(RunRecord old_record, store.GetRun(old_run));
  ASSERT_OK_AND_ASSIGN(RunRecord recent_record, store.GetRun(recent));
  ASSERT_TRUE(PathExists(old_record.log_path));

  DaemonOptions options;
  options.check_sync = false;
  options.fleet = fleet;
  options.heartbeat_ms = 200;
  options.node_ttl_ms = 2'000;
  Daemon daemon(config, std::move(owned), options);
  ASSERT_OK(daemon.Start());
  EXPECT_TRUE(WaitFor([&] { return !PathExists(old_record.log_path); }, 20'000))
      << "the log of run " << old_run << " (finished 100 days ago) was not deleted";
  ASSERT_OK_AND_ASSIGN(RunRecord got, daemon.store().GetRun(old_run));
  EXPECT_NE(got.log_pruned_ms, 0);
  EXPECT_EQ(got.status, RunStatus::kFailed);  // the record stays
  EXPECT_EQ(got.error, "step 'deploy' failed");
  EXPECT_EQ(PrunedLogMessage(got, 90), "the log of run " + std::to_string(old_run) +
                                           " was deleted after 90 days (log_retention_days); the run's record is kept");
  ASSERT_OK_AND_ASSIGN(std::string stored, daemon.store().ReadLog(old_run, 0, 1000));
  EXPECT_EQ(stored, "");
  // The run of 10 days ago keeps its log.
  EXPECT_TRUE(PathExists(recent_record.log_path));
  ASSERT_OK_AND_ASSIGN(got, daemon.store().GetRun(recent));
  EXPECT_EQ(got.log_pruned_ms, 0);
  if (fleet) {
    ASSERT_OK_AND_ASSIGN(stored, daemon.store().ReadLog(recent, 0, 1000));
    EXPECT_EQ(stored, "output of run " + std::to_string(recent) + "\n");
  }
  daemon.Shutdown();
}

TEST(LogRetention, StartUpDeletesOldLogsOnSqlite) {
  TempDir dir;
  ASSERT_OK(MakeDirs(dir.Sub("state")));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenSqliteStore(dir.Sub("state/slipway.db")));
  CheckStartUpPruning(dir, std::move(store), /*fleet=*/false);
}

TEST(LogRetention, StartUpDeletesOldLogsFilesAndStoredChunksInAFleet) {
  SLIPWAY_NEW_POSTGRES_DATABASE_OR_SKIP(url);
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store, OpenStore(url, ""));
  CheckStartUpPruning(dir, std::move(store), /*fleet=*/true);
  std::string why;
  testing::SharedPostgres(&why)->DropDatabase(url.substr(url.rfind('/') + 1), &why);
}

TEST(LogRetention, ZeroDaysKeepsEveryLog) {
  TempDir dir;
  ASSERT_OK(MakeDirs(dir.Sub("state")));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> owned, OpenSqliteStore(dir.Sub("state/slipway.db")));
  Config config = RetentionConfig(dir, 0);
  int64_t ancient = FinishedRun(*owned, config, 3000, false);
  ASSERT_OK_AND_ASSIGN(RunRecord record, owned->GetRun(ancient));
  DaemonOptions options;
  options.check_sync = false;
  Daemon daemon(config, std::move(owned), options);
  ASSERT_OK(daemon.Start());
  daemon.Shutdown();  // waits for the start-up pruning
  EXPECT_TRUE(PathExists(record.log_path));
  ASSERT_OK_AND_ASSIGN(RunRecord got, daemon.store().GetRun(ancient));
  EXPECT_EQ(got.log_pruned_ms, 0);
}

}  // namespace
}  // namespace slipway
