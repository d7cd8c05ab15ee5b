#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "store/store_test.h"
#include "testing/testing.h"

namespace slipway {
namespace {

using slipway::testing::TempDir;

class SqliteTestDatabase : public StoreTestDatabase {
 public:
  Result<std::unique_ptr<Store>> Connect() override { return OpenSqliteStore(path_); }
  Status CheckIntegrity() override {
    SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(path_));
    return store->CheckIntegrity();
  }

 private:
  TempDir dir_;
  std::string path_ = dir_.Sub("slipway.db");
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreTest,
                         ::testing::Values(StoreTestParam{"sqlite",
                                                          [] { return std::make_unique<SqliteTestDatabase>(); }}),
                         StoreTestName);

// A raw connection, for poking at the file behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    sqlite3* db = nullptr;
    rc_ = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    db_ = SqliteDb(db);
  }
  // Runs sql; returns the first column of the last row ("" when none).
  std::string Exec(const std::string& sql) {
    EXPECT_EQ(rc_, SQLITE_OK);
    std::string last;
    char* error = nullptr;
    int rc = sqlite3_exec(
        db_.get(), sql.c_str(),
        [](void* out, int n, char** values, char**) {
          if (n > 0) *static_cast<std::string*>(out) = values[0] ? values[0] : "NULL";
          return 0;
        },
        &last, &error);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (error ? error : "");
    sqlite3_free(error);
    return last;
  }

 private:
  int rc_;
  SqliteDb db_;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> Open(const SqliteStoreOptions& options = {}) {
    Result<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  TempDir dir_;
  std::string path_ = dir_.Sub("slipway.db");
};

RunRecord SmallRun(const std::string& environment) {
  RunRecord run;
  run.environment = environment;
  run.trigger = "manual";
  run.actor = "test";
  run.status = RunStatus::kRunning;
  return run;
}

TEST_F(SqliteStoreTest, NewDatabaseIsAtTheLatestVersionInWalMode) {
  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(int version, store->SchemaVersion());
  EXPECT_EQ(version, SqliteStore::LatestSchemaVersion());
  EXPECT_GE(version, 1);
  RawDb raw(path_);
  EXPECT_EQ(raw.Exec("PRAGMA journal_mode"), "wal");  // persistent: stored in the file
  EXPECT_EQ(raw.Exec("SELECT count(*) FROM schema_version"), std::to_string(version));
  EXPECT_OK(store->CheckIntegrity());
}

TEST_F(SqliteStoreTest, ReopenAppliesNoMigrationTwice) {
  {
    std::unique_ptr<SqliteStore> store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_OK(StatusOf(store->CreateRun(SmallRun("automation"))));
  }
  // Each migration ran once: rerunning one would fail ("table runs already
  // exists") or duplicate its schema_version row.
  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<SqliteStore> store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> last, store->LastRun("automation"));
    EXPECT_TRUE(last.has_value());
  }
  RawDb raw(path_);
  EXPECT_EQ(raw.Exec("SELECT count(*) FROM schema_version"), std::to_string(SqliteStore::LatestSchemaVersion()));
}

TEST_F(SqliteStoreTest, DatabaseOfEveryOlderVersionIsUpgraded) {
  for (int from = 1; from < SqliteStore::LatestSchemaVersion(); ++from) {
    SCOPED_TRACE("from version " + std::to_string(from));
    TempDir dir;
    std::string path = dir.Sub("old.db");
    SqliteStoreOptions old;
    old.TEST_migrate_to = from;
    {
      Result<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path, old);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      ASSERT_OK_AND_ASSIGN(int version, (*store)->SchemaVersion());
      EXPECT_EQ(version, from);
      // Every version so far has had the runs table.
      ASSERT_OK((*store)->TEST_Exec(
          "INSERT INTO runs (environment, kind, \"trigger\", actor, status, settings_commit, code_url, code_ref, "
          "code_commit, branch_pin, requested_ref, created_ms, started_ms, finished_ms, error, log_path, workspace, "
          "exported_json) VALUES ('automation', 'deploy', 'manual', 'old', 'succeeded', '', '', '', '', 0, '', 1, 2, "
          "3, "
          "'', '', '', '')"));
    }
    Result<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_OK_AND_ASSIGN(int version, (*store)->SchemaVersion());
    EXPECT_EQ(version, SqliteStore::LatestSchemaVersion());
    ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> last, (*store)->LastRun("automation"));
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->actor, "old");
    EXPECT_OK((*store)->CheckIntegrity());
  }
}

TEST_F(SqliteStoreTest, DatabaseFromANewerSlipwayIsRefused) {
  {
    std::unique_ptr<SqliteStore> store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_OK(store->TEST_Exec("INSERT INTO schema_version (version, applied_ms) VALUES (99, 0)"));
  }
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.status().message(), "sqlite '" + path_ +
                                          "': open: database schema version 99 is newer than this slipway "
                                          "understands (" +
                                          std::to_string(SqliteStore::LatestSchemaVersion()) +
                                          "); upgrade slipway, or point it at another database");
  // Refusing changed nothing.
  RawDb raw(path_);
  EXPECT_EQ(raw.Exec("SELECT max(version) FROM schema_version"), "99");
}

TEST_F(SqliteStoreTest, MissingFolderIsAClearIoError) {
  std::string path = dir_.Sub("no/such/folder/slipway.db");
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kIo);
  EXPECT_EQ(store.status().message(), "sqlite '" + path +
                                          "': open: unable to open database file (does its folder exist, and may "
                                          "slipway write there?)");
}

TEST_F(SqliteStoreTest, FileThatIsNotADatabaseIsRefused) {
  slipway::testing::WriteTextFile(path_, std::string(8192, 'x'));
  Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("file is not a database"), std::string::npos) << store.status().ToString();
  EXPECT_EQ(slipway::testing::ReadTextFile(path_), std::string(8192, 'x'));
}

TEST_F(SqliteStoreTest, WriterWaitsForAnotherProcessesLock) {
  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  RawDb other(path_);  // another process, as far as SQLite can tell
  other.Exec("BEGIN IMMEDIATE");
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    other.Exec("COMMIT");
  });
  auto start = std::chrono::steady_clock::now();
  Result<int64_t> id = store->CreateRun(SmallRun("automation"));
  auto waited = std::chrono::steady_clock::now() - start;
  release.join();
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_GE(waited, std::chrono::milliseconds(250));
}

TEST_F(SqliteStoreTest, LockHeldPastTheBusyTimeoutIsATimeout) {
  SqliteStoreOptions options;
  options.busy_timeout_ms = 100;
  std::unique_ptr<SqliteStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  RawDb other(path_);
  other.Exec("BEGIN IMMEDIATE");
  Result<int64_t> id = store->CreateRun(SmallRun("automation"));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(id.status().message(), "sqlite '" + path_ +
                                       "': insert run: begin transaction: database is locked (another process held it "
                                       "for longer than the busy timeout)");
  // Readers are not blocked by a writer (WAL).
  EXPECT_OK(StatusOf(store->ListRuns(RunFilter())));
  other.Exec("COMMIT");
  EXPECT_OK(StatusOf(store->CreateRun(SmallRun("automation"))));
}

TEST_F(SqliteStoreTest, FullDiskIsNoSpaceAndChangesNothing) {
  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(int64_t deployed, store->CreateRun(SmallRun("automation")));
  RunRecord first = SmallRun("automation");
  first.id = deployed;
  first.status = RunStatus::kSucceeded;
  first.code_commit = "first";
  ASSERT_OK(store->FinishRun(first, true));
  ASSERT_OK_AND_ASSIGN(int64_t id, store->CreateRun(SmallRun("automation")));
  ASSERT_OK(store->PutStep(id, StepRecord{0, "setup", StepStatus::kRunning, std::nullopt, 1, 0}));

  // The database may not grow any more: the next page it needs is "disk full".
  ASSERT_OK(store->TEST_Exec("PRAGMA max_page_count = 1"));

  RunRecord big = SmallRun("automation");
  big.error = std::string(256 * 1024, 'e');
  Result<int64_t> insert = store->CreateRun(big);
  ASSERT_FALSE(insert.ok());
  EXPECT_EQ(insert.status().code(), StatusCode::kNoSpace);
  EXPECT_EQ(insert.status().message(), "sqlite '" + path_ + "': insert run: database or disk is full");

  // FinishRun is all or nothing: the run, its steps and the deployment.
  RunRecord finish = SmallRun("automation");
  finish.id = id;
  finish.status = RunStatus::kSucceeded;
  finish.code_commit = "second";
  finish.steps = {StepRecord{0, "setup", StepStatus::kSucceeded, 0, 1, 5},
                  StepRecord{1, std::string(256 * 1024, 's'), StepStatus::kSucceeded, 0, 6, 5}};
  Status status = store->FinishRun(finish, true);
  EXPECT_EQ(status.code(), StatusCode::kNoSpace) << status.ToString();
  EXPECT_EQ(status.message(),
            "sqlite '" + path_ + "': finish run " + std::to_string(id) + ": database or disk is full");

  // Still usable, and unchanged.
  ASSERT_OK_AND_ASSIGN(RunRecord got, store->GetRun(id));
  EXPECT_EQ(got.status, RunStatus::kRunning);
  ASSERT_EQ(got.steps.size(), 1u);
  EXPECT_EQ(got.steps[0].status, StepStatus::kRunning);
  ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, store->CurrentDeployment("automation"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_id, deployed);
  RunFilter all;
  all.limit = 0;
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> runs, store->ListRuns(all));
  EXPECT_EQ(runs.size(), 2u);

  // Space again: the same writes now succeed.
  ASSERT_OK(store->TEST_Exec("PRAGMA max_page_count = 1073741823"));
  ASSERT_OK(store->FinishRun(finish, true));
  ASSERT_OK_AND_ASSIGN(d, store->CurrentDeployment("automation"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_id, id);
  EXPECT_OK(StatusOf(store->CreateRun(big)));
  EXPECT_OK(store->CheckIntegrity());
}

TEST_F(SqliteStoreTest, TwoStoresMigratingAtOnceBothSucceed) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      Result<std::unique_ptr<Store>> store = OpenSqliteStore(path_);
      if (store.ok()) {
        ++ok;
      } else {
        ADD_FAILURE() << store.status().ToString();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  RawDb raw(path_);
  EXPECT_EQ(raw.Exec("SELECT count(*) FROM schema_version"), std::to_string(SqliteStore::LatestSchemaVersion()));
}

TEST_F(SqliteStoreTest, IntegrityCheckReportsDamage) {
  std::unique_ptr<SqliteStore> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_OK_AND_ASSIGN(int64_t id, store->CreateRun(SmallRun("automation")));
  ASSERT_OK(store->PutStep(id, StepRecord{0, "setup", StepStatus::kRunning, std::nullopt, 1, 0}));
  // A step whose run vanished, written with foreign keys off.
  ASSERT_OK(store->TEST_Exec("PRAGMA foreign_keys = OFF; DELETE FROM runs; PRAGMA foreign_keys = ON"));
  Status status = store->CheckIntegrity();
  EXPECT_EQ(status.code(), StatusCode::kIo);
  EXPECT_NE(status.message().find("steps refers to a missing row of runs"), std::string::npos) << status.ToString();
}

}  // namespace
}  // namespace slipway
