// The shared Store suite against a real PostgreSQL (tests/testing/postgres.h),
// and what only PostgreSQL does: migrations under an advisory lock, refusing
// a newer schema, naming the database without its password, surviving a
// server restart.
#include "store/postgres_store.h"

#include <libpq-fe.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/retrying_store.h"
#include "store/store_test.h"
#include "testing/postgres.h"
#include "testing/testing.h"

namespace slipway {
namespace {

class PostgresTestDatabase : public StoreTestDatabase {
 public:
  explicit PostgresTestDatabase(std::string url) : url_(std::move(url)) {}
  ~PostgresTestDatabase() override {
    std::string why;
    testing::PostgresServer* server = testing::SharedPostgres(&why);
    if (server != nullptr) server->DropDatabase(url_.substr(url_.rfind('/') + 1), &why);
  }
  Result<std::unique_ptr<Store>> Connect() override {
    SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(url_));
    return std::unique_ptr<Store>(std::move(store));
  }

 private:
  std::string url_;
};

std::string Unavailable() {
  std::string why;
  testing::SharedPostgres(&why);
  return why.empty() ? "" : "no PostgreSQL server for the tests: " + why;
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreTest,
                         ::testing::Values(StoreTestParam{"postgres",
                                                          []() -> std::unique_ptr<StoreTestDatabase> {
                                                            std::string why;
                                                            std::string url = testing::NewPostgresDatabaseUrl(&why);
                                                            if (url.empty()) return nullptr;
                                                            return std::make_unique<PostgresTestDatabase>(url);
                                                          },
                                                          Unavailable}),
                         StoreTestName);

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = Unavailable();
    if (!why.empty()) {
      if (testing::PostgresRequired()) FAIL() << why;
      GTEST_SKIP() << why;
    }
    url_ = testing::NewPostgresDatabaseUrl(&why);
    ASSERT_FALSE(url_.empty()) << why;
  }
  void TearDown() override {
    std::string why;
    if (!url_.empty()) testing::SharedPostgres(&why)->DropDatabase(url_.substr(url_.rfind('/') + 1), &why);
  }
  std::string url_;
};

TEST_F(PostgresStoreTest, NodesStartingTogetherMigrateOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      Result<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(url_);
      if (!store.ok()) {
        ++failures;
        ADD_FAILURE() << store.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(url_));
  ASSERT_OK_AND_ASSIGN(int version, store->SchemaVersion());
  EXPECT_EQ(version, PostgresStore::LatestSchemaVersion());
}

TEST_F(PostgresStoreTest, DatabaseFromANewerSlipwayIsRefused) {
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(url_));
    ASSERT_OK(store->TEST_Exec("INSERT INTO schema_version (version, applied_ms) VALUES (99, 0)"));
  }
  Result<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(url_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(store.status().message().find("schema version 99 is newer"), std::string::npos) << store.status().message();
}

TEST_F(PostgresStoreTest, UnreachableServerIsANetworkErrorWithoutThePassword) {
  std::string url = "postgresql://slipway:hunter2@127.0.0.1:" + std::to_string(testing::FreePort()) + "/nothing";
  PostgresStoreOptions options;
  options.connect_timeout_s = 2;
  Result<std::unique_ptr<PostgresStore>> store = PostgresStore::Open(url, options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kNetwork);
  EXPECT_EQ(store.status().message().find("hunter2"), std::string::npos) << store.status().message();
  EXPECT_NE(store.status().message().find("postgresql '127.0.0.1:"), std::string::npos) << store.status().message();
}

TEST_F(PostgresStoreTest, TheDatabaseRefusesASecondRunningDeployOfAnEnvironment) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(url_));
  RunRecord run;
  run.environment = "automation";
  run.status = RunStatus::kRunning;
  ASSERT_OK(StatusOf(store->CreateRun(run)));
  Result<int64_t> second = store->CreateRun(run);  // a bug or a race elsewhere: refused all the same
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists) << second.status().ToString();
  run.kind = "drift";  // other kinds are not deployments
  ASSERT_OK(StatusOf(store->CreateRun(run)));
}

// A node that finds an environment's oldest queued run locked by another
// node's claim in flight must not take a younger run of that environment:
// runs of one environment start in the order they were queued.
TEST_F(PostgresStoreTest, AClaimNeverSkipsALockedOlderRunOfTheSameEnvironment) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(url_));
  std::vector<int64_t> ids;
  for (const char* ref : {"v1", "v2"}) {
    RunRecord run;
    run.environment = "automation";
    run.status = RunStatus::kQueued;
    run.requested_ref = ref;
    ASSERT_OK_AND_ASSIGN(EnqueueResult queued, store->EnqueueRun(run));
    ASSERT_FALSE(queued.coalesced);
    ids.push_back(queued.id);
  }
  // Another node's claim holds the older row (as its FOR UPDATE does).
  PGconn* other = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(other), CONNECTION_OK) << PQerrorMessage(other);
  auto exec = [&](const std::string& sql) {
    PGresult* r = PQexec(other, sql.c_str());
    ExecStatusType status = PQresultStatus(r);
    PQclear(r);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  };
  ASSERT_TRUE(exec("BEGIN"));
  ASSERT_TRUE(exec("SELECT id FROM runs WHERE id = " + std::to_string(ids[0]) + " FOR UPDATE"));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> during, store->ClaimNextRun("n2", 1, {}));
  EXPECT_FALSE(during.has_value()) << "took run " << during->id << " while the older run " << ids[0] << " waits";
  ASSERT_TRUE(exec("ROLLBACK"));
  PQfinish(other);
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> after, store->ClaimNextRun("n2", 2, {}));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->id, ids[0]);
}

TEST_F(PostgresStoreTest, ARetryingStoreWaitsOutARestart) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(url_));
  RetryingStore retrying(*store, 60'000);
  std::string why;
  testing::PostgresServer* server = testing::SharedPostgres(&why);
  ASSERT_TRUE(server->Pause(&why)) << why;
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    std::string error;
    EXPECT_TRUE(server->Resume(&error)) << error;
  });
  Result<int64_t> n = retrying.NextBuildNumber("automation");  // waits for the server
  restart.join();
  ASSERT_OK(StatusOf(n));
  EXPECT_EQ(*n, 1);
  EXPECT_GT(retrying.retries(), 0);
  RetryingStore impatient(*store, 0);  // no waiting: the error as it is
  ASSERT_TRUE(server->Pause(&why)) << why;
  Result<int64_t> down = impatient.NextBuildNumber("automation");
  EXPECT_EQ(down.status().code(), StatusCode::kNetwork);
  ASSERT_TRUE(server->Resume(&why)) << why;
}

TEST(RedactPostgresUrlTest, KeepsHostPortAndDatabaseOnly) {
  EXPECT_EQ(RedactPostgresUrl("postgresql://u:secret@db.example:5433/slipway?sslmode=require"),
            "db.example:5433/slipway");
  EXPECT_EQ(RedactPostgresUrl("postgres://db/slipway"), "db/slipway");
  EXPECT_EQ(RedactPostgresUrl("postgresql:///slipway"), "localhost/slipway");
}

TEST_F(PostgresStoreTest, ServerRestartIsSurvivedByTheNextCall) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(url_));
  ASSERT_OK_AND_ASSIGN(int64_t first, store->NextBuildNumber("automation"));
  std::string why;
  testing::PostgresServer* server = testing::SharedPostgres(&why);
  ASSERT_TRUE(server->Pause(&why)) << why;
  Result<int64_t> down = store->NextBuildNumber("automation");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), StatusCode::kNetwork) << down.status().ToString();
  ASSERT_TRUE(server->Resume(&why)) << why;
  ASSERT_OK_AND_ASSIGN(int64_t second, store->NextBuildNumber("automation"));
  EXPECT_EQ(second, first + 1);  // the failed call changed nothing
}

}  // namespace
}  // namespace slipway
