// End-to-end: crash consistency of `slipway serve` on SQLite (issue 9,
// doc/reliability.md). A stream of triggered runs while the daemon is killed
// with SIGKILL at random instants (during start-up, fetch, overlay, steps,
// store and log writes); after each kill and each restart the promises of
// doc/daemon.md must hold.
//
// Randomness is seeded: SLIPWAY_CRASH_SEED=N repeats a run, the seed is
// printed. SLIPWAY_CRASH_KILLS=N changes the number of kills (default 100).
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "e2e/daemon_fixture.h"
#include "testing/leak_scan.h"

namespace slipway {
namespace {

using namespace daemon_testing;

// What the database says, read with SQLite itself while no daemon runs.
struct DbState {
  std::string integrity;                      // PRAGMA integrity_check, rows joined
  std::map<int64_t, std::string> status;      // run id -> status
  std::map<int64_t, std::string> running_at;  // running run -> its running step ("" = before any step)
  std::map<std::string, int64_t> deployed;    // deployments: environment -> run id
  std::map<std::string, int64_t> last_succeeded;
  std::string error;  // non-empty when the database could not be read
};

DbState ReadDb(const std::string& path) {
  DbState s;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    s.error = "open '" + path + "': " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return s;
  }
  sqlite3_busy_timeout(db, 5000);
  auto query = [&](const char* sql, const std::function<void(sqlite3_stmt*)>& row) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) {
      s.error += std::string(sql) + ": " + sqlite3_errmsg(db) + "; ";
      return;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
    if (rc != SQLITE_DONE) s.error += std::string(sql) + ": " + sqlite3_errmsg(db) + "; ";
    sqlite3_finalize(st);
  };
  auto text = [](sqlite3_stmt* st, int col) {
    const unsigned char* t = sqlite3_column_text(st, col);
    return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
  };
  query("PRAGMA integrity_check", [&](sqlite3_stmt* st) { s.integrity += text(st, 0); });
  query("SELECT id, status FROM runs", [&](sqlite3_stmt* st) { s.status[sqlite3_column_int64(st, 0)] = text(st, 1); });
  query(
      "SELECT r.id, COALESCE((SELECT name FROM steps s WHERE s.run_id = r.id AND s.status = 'running'), '') "
      "FROM runs r WHERE r.status = 'running'",
      [&](sqlite3_stmt* st) { s.running_at[sqlite3_column_int64(st, 0)] = text(st, 1); });
  query("SELECT environment, run_id FROM deployments",
        [&](sqlite3_stmt* st) { s.deployed[text(st, 0)] = sqlite3_column_int64(st, 1); });
  query("SELECT environment, MAX(id) FROM runs WHERE status = 'succeeded' GROUP BY environment",
        [&](sqlite3_stmt* st) { s.last_succeeded[text(st, 0)] = sqlite3_column_int64(st, 1); });
  sqlite3_close(db);
  return s;
}

bool IsFinal(const std::string& status) { return status != "queued" && status != "running"; }

// The step that deploys: it takes the environment's lock file with O_EXCL
// (dash's `set -C`), holds it while it "deploys", and records an overlap when
// the file already exists and its holder still runs (a zombie does not):
// two deploys of one environment at once.
constexpr const char* kExclusiveDeploy =
    "mkdir -p \"$OUT\"; L=\"$OUT/$SLIPWAY_ENV.lock\"; "
    "if ! (set -C; echo \"$$\" > \"$L\") 2>/dev/null; then "
    "  H=$(cat \"$L\"); "
    "  if kill -0 \"$H\" 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' /proc/$H/status; then "
    "    echo \"run $SLIPWAY_RUN_ID of $SLIPWAY_ENV overlapped the holder $H\" >> \"$OUT/overlaps.txt\"; exit 1; "
    "  fi; "
    "  echo \"$$\" > \"$L\"; "  // the holder was killed (with the engine, or stopped at its restart): stale
    "fi; sleep 0.6; echo \"$SLIPWAY_RUN_ID $(cat VERSION)\" >> \"$OUT/$SLIPWAY_ENV.txt\"; rm -f \"$L\"";
// A step that writes a few hundred log lines.
constexpr const char* kChatty =
    "i=0; while [ $i -lt 300 ]; do echo \"line $i of run $SLIPWAY_RUN_ID\"; i=$((i+1)); done";

// Removes lock files whose holder died (a step killed with the engine never
// got to remove its lock); returns how many.
int RemoveStaleLocks(const std::string& out) {
  int removed = 0;
  for (const char* env : {"alpha", "beta"}) {
    std::string lock = out + "/" + env + ".lock";
    if (!slipway::testing::FileExists(lock)) continue;
    std::string pid_text = slipway::testing::ReadTextFile(lock);
    pid_t pid = static_cast<pid_t>(std::atoi(pid_text.c_str()));
    // A killed holder may linger as a zombie until its new parent reaps it.
    bool zombie = pid > 0 && slipway::testing::FileExists("/proc/" + std::to_string(pid) + "/status") &&
                  slipway::testing::ReadTextFile("/proc/" + std::to_string(pid) + "/status").find("\nState:\tZ") !=
                      std::string::npos;
    if (pid <= 0 || zombie || (kill(pid, 0) != 0 && errno == ESRCH)) {
      unlink(lock.c_str());
      ++removed;
    }
  }
  return removed;
}

TEST(CrashE2E, SigkillAtAHundredRandomInstantsLosesNothingAndNeverDeploysTwiceAtOnce) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("SLIPWAY_CRASH_SEED"); s != nullptr && *s != '\0')
    seed = std::strtoull(s, nullptr, 10);
  int kills_wanted = 100;
  if (const char* k = std::getenv("SLIPWAY_CRASH_KILLS"); k != nullptr && *k != '\0') kills_wanted = std::atoi(k);
  std::cout << "crash test seed: " << seed << " (SLIPWAY_CRASH_SEED=" << seed << " repeats it)\n";
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  World w;
  w.Pin("alpha", "v1.0.0");
  w.Pin("beta", "v1.1.0");
  w.PushSettings("pins");
  std::vector<std::pair<std::string, std::string>> steps = {{"chatty", kChatty}, {"deploy", kExclusiveDeploy}};
  std::string cfg = w.WriteConfig(w.Env("alpha", "", steps) + w.Env("beta", "", steps), "", "max_parallel: 2\n");
  std::string token = w.Token("operator", "crash");
  slipway::testing::RecordSecret(token);
  Api api(w.port_, token);
  const std::string db_path = w.tmp_.Sub("state/slipway.db");
  const std::string out = w.tmp_.Sub("out");

  std::set<int64_t> acknowledged;          // run ids the API answered 202 for
  std::map<std::string, int> kill_points;  // where the engine was when killed
  int kills = 0, stale_locks = 0, interrupted_checked = 0, pushes = 0;
  const int64_t started = SteadyMs();
  const int64_t budget_ms = 240000;

  while (kills < kills_wanted && SteadyMs() - started < budget_ms) {
    // Now and then the settings move, so that runs fetch something new.
    if (kills % 10 == 5) {
      w.Pin("alpha", ++pushes % 2 ? "v1.1.0" : "v1.0.0");
      w.PushSettings("move alpha " + std::to_string(pushes));
    }
    DbState before = slipway::testing::FileExists(db_path) ? ReadDb(db_path) : DbState{};
    Serve serve(w.tmp_.path(), cfg);
    std::string where;
    if (kills % 10 == 3) {
      // Killed while starting: migrations, interrupting, opening the queue.
      std::this_thread::sleep_for(std::chrono::milliseconds(uniform(0, 120)));
      where = "start-up";
    } else {
      ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 30000)) << serve.Log();
      // What the previous engine left running is interrupted, not running.
      for (const auto& [id, step] : before.running_at) {
        json run = api.Run(id);
        EXPECT_EQ(run["status"], "interrupted") << "run " << id << " after restart: " << run.dump();
        ++interrupted_checked;
      }
      // A stream of triggers until the kill.
      std::atomic<bool> stop{false};
      std::mt19937_64 trigger_rng(seed + static_cast<uint64_t>(kills));
      std::thread triggers([&] {
        while (!stop) {
          const char* env = trigger_rng() % 2 ? "alpha" : "beta";
          auto r = api.Post(std::string("/api/v1/environments/") + env + "/trigger");
          if (r && r->status == 202) acknowledged.insert(json::parse(r->body)["run_id"].get<int64_t>());
          std::this_thread::sleep_for(std::chrono::milliseconds(20 + trigger_rng() % 80));
        }
      });
      // Two kills in three soon after start (fetch, overlay, store writes),
      // one in three later (steps, log writes, the deploy's lock).
      std::this_thread::sleep_for(std::chrono::milliseconds(kills % 3 == 2 ? uniform(700, 2500) : uniform(0, 700)));
      stop = true;
      // Killed while the trigger thread may be mid-request: an answer that
      // never came is not an acknowledgement.
      serve.Signal(SIGKILL);
      triggers.join();
    }
    serve.Signal(SIGKILL);
    ASSERT_EQ(serve.Wait(10000), 128 + SIGKILL) << serve.Log();
    ++kills;

    DbState after = ReadDb(db_path);
    if (!slipway::testing::FileExists(db_path)) {
      kill_points["before the database existed"]++;
      continue;
    }
    ASSERT_EQ(after.error, "") << "kill " << kills << ", seed " << seed;
    ASSERT_EQ(after.integrity, "ok") << "kill " << kills << ", seed " << seed;
    for (int64_t id : acknowledged) {
      ASSERT_TRUE(after.status.count(id))
          << "acknowledged run " << id << " lost at kill " << kills << ", seed " << seed;
    }
    for (const auto& [env, run] : after.deployed) {
      EXPECT_EQ(run, after.last_succeeded[env])
          << "the deployment of " << env << " is not its last succeeded run at kill " << kills << ", seed " << seed;
    }
    if (where.empty()) {
      if (after.running_at.empty()) {
        bool queued = false;
        for (const auto& [id, st] : after.status) queued = queued || st == "queued";
        where = queued ? "queue waiting" : "idle";
      } else {
        for (const auto& [id, step] : after.running_at) {
          where = step.empty() ? "fetch/overlay (no step yet)" : "step '" + step + "'";
          if (step.empty()) break;
        }
      }
    }
    kill_points[where]++;
    stale_locks += RemoveStaleLocks(out);
  }
  EXPECT_GE(kills, kills_wanted) << "only " << kills << " kills within " << budget_ms / 1000 << " s";

  // The last engine drains the queue.
  {
    Serve serve(w.tmp_.path(), cfg);
    ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 30000)) << serve.Log();
    EXPECT_TRUE(WaitFor(
        [&] {
          for (int64_t id : acknowledged) {
            json run = api.Run(id);
            if (!run.is_object() || !IsFinal(run["status"].get<std::string>())) return false;
          }
          return true;
        },
        120000))
        << serve.Log();
    serve.Signal(SIGTERM);
    EXPECT_EQ(serve.Wait(30000), 0) << serve.Log();
  }
  DbState end = ReadDb(db_path);
  EXPECT_EQ(end.integrity, "ok");
  EXPECT_TRUE(end.running_at.empty());
  std::map<std::string, int> outcomes;
  for (const auto& [id, st] : end.status) outcomes[st]++;
  for (const char* env : {"alpha", "beta"}) {
    ASSERT_TRUE(end.last_succeeded.count(env)) << env << " never succeeded";
    EXPECT_EQ(end.deployed[env], end.last_succeeded[env]) << env;
  }
  // Orphaned steps of killed engines finish on their own; wait for them so
  // that no overlap goes unseen.
  WaitFor(
      [&] {
        return !slipway::testing::FileExists(out + "/alpha.lock") && !slipway::testing::FileExists(out + "/beta.lock");
      },
      10000);
  std::string overlaps =
      slipway::testing::FileExists(out + "/overlaps.txt") ? slipway::testing::ReadTextFile(out + "/overlaps.txt") : "";
  EXPECT_EQ(overlaps, "") << "an environment was deployed twice at once (seed " << seed << ")";

  std::ostringstream report;
  report << "crash test: seed " << seed << ", " << kills << " SIGKILLs in " << (SteadyMs() - started) / 1000 << " s, "
         << acknowledged.size() << " acknowledged triggers, " << end.status.size() << " runs, " << interrupted_checked
         << " interrupted runs checked, " << stale_locks << " stale locks of killed steps\n  killed at:";
  for (const auto& [where, n] : kill_points) report << " " << where << " " << n << ";";
  report << "\n  outcomes:";
  for (const auto& [st, n] : outcomes) report << " " << st << " " << n << ";";
  std::cout << report.str() << std::endl;
  RecordProperty("report", report.str());
}

}  // namespace
}  // namespace slipway
