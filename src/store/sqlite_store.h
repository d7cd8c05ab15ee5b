// The SQLite implementation of Store: one file, WAL mode, one connection per
// SqliteStore serialised by a mutex. Schema, migrations and durability
// choices: doc/store.md.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/store.h"
#include "util/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace slipway {

// Move-only owner of a prepared statement; finalizes it on destruction.
class SqliteStatement {
 public:
  SqliteStatement() = default;
  explicit SqliteStatement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~SqliteStatement();
  SqliteStatement(SqliteStatement&& other) noexcept : stmt_(other.Release()) {}
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  sqlite3_stmt* Release() {
    sqlite3_stmt* stmt = stmt_;
    stmt_ = nullptr;
    return stmt;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Move-only owner of a database connection; closes it on destruction. Every
// statement of the connection must be finalized (destroyed) first.
class SqliteDb {
 public:
  SqliteDb() = default;
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  ~SqliteDb();
  SqliteDb(SqliteDb&& other) noexcept : db_(other.Release()) {}
  SqliteDb& operator=(SqliteDb&& other) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  sqlite3* get() const { return db_; }
  sqlite3* Release() {
    sqlite3* db = db_;
    db_ = nullptr;
    return db;
  }

 private:
  sqlite3* db_ = nullptr;
};

struct SqliteStoreOptions {
  // How long a statement waits for another connection's lock (another
  // process writing, a WAL checkpoint) before failing with kTimeout.
  int busy_timeout_ms = 10000;
  // For tests: migrate only up to this version (0: the latest), to build a
  // database as an older Slipway left it.
  int TEST_migrate_to = 0;
};

// Thread-safe: every method takes the store's mutex.
class SqliteStore final : public Store {
 public:
  // See OpenSqliteStore in store/store.h. Errors: kIo when the file cannot
  // be opened (e.g. its folder is missing), kInvalidArgument when it is not
  // a Slipway database or its schema is newer than this build knows,
  // kTimeout when another process held it longer than the busy timeout.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, const SqliteStoreOptions& options = {});

  // The schema version this build creates and understands.
  static int LatestSchemaVersion();

  ~SqliteStore() override;

  Result<int64_t> CreateRun(const RunRecord& run) override;
  Status UpdateRun(const RunRecord& run) override;
  Status PutStep(int64_t run_id, const StepRecord& step) override;
  Status UpdateRunAndSteps(const RunRecord& run) override;
  Status FinishRun(const RunRecord& run, bool deployed) override;
  Result<RunRecord> GetRun(int64_t id) override;
  Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override;
  Result<std::optional<RunRecord>> LastRun(const std::string& environment) override;
  Result<std::optional<Deployment>> CurrentDeployment(const std::string& environment) override;
  Result<int64_t> NextBuildNumber(const std::string& environment) override;
  Result<int> InterruptRunning(const std::string& reason) override;
  Result<EnqueueResult> EnqueueRun(const RunRecord& run) override;
  Result<std::vector<RunRecord>> QueuedRuns() override;
  Result<bool> ClaimRun(int64_t id, int64_t started_ms) override;
  Result<bool> FinishQueuedRun(int64_t id, RunStatus status, const std::string& error, int64_t finished_ms) override;
  Result<std::vector<RunCount>> CountRuns() override;
  Result<EnvironmentState> GetEnvironmentState(const std::string& environment) override;
  Status PutEnvironmentState(const EnvironmentState& state) override;
  Result<std::vector<EnvironmentState>> ListEnvironmentStates() override;
  Result<int64_t> CreateToken(const TokenRecord& token) override;
  Result<std::optional<TokenRecord>> FindToken(const std::string& hash) override;
  Result<std::vector<TokenRecord>> ListTokens() override;
  Status DeleteToken(int64_t id) override;
  Result<bool> RecordDelivery(const Delivery& delivery, int64_t keep_ms) override;
  Result<std::vector<Delivery>> PendingDeliveries() override;
  Status MarkDeliveryProcessed(int64_t id, int64_t processed_ms) override;
  // Fleet mode on one node (doc/fleet.md).
  Status RegisterNode(const NodeRecord& node) override;
  Result<bool> Heartbeat(const std::string& node_id, int64_t now_ms) override;
  Result<std::vector<NodeRecord>> ListNodes() override;
  Status RemoveNode(const std::string& node_id) override;
  Result<std::optional<RunRecord>> ClaimNextRun(const std::string& node_id, int64_t started_ms,
                                                const std::vector<std::string>& busy) override;
  Result<std::vector<int64_t>> OwnedRuns(const std::string& node_id, const std::vector<int64_t>& run_ids) override;
  Result<ReapResult> ReapLostNodes(int64_t now_ms, int64_t ttl_ms) override;
  Result<bool> AcquireLease(const std::string& name, const std::string& holder, int64_t now_ms,
                            int64_t ttl_ms) override;
  Status ReleaseLease(const std::string& name, const std::string& holder) override;
  Result<std::vector<LeaseRecord>> ListLeases() override;
  Result<bool> ClaimScheduleSlot(const std::string& environment, int64_t slot_ms, int64_t keep_ms) override;
  Status AppendLog(int64_t run_id, int64_t offset, const std::string& data) override;
  Result<std::string> ReadLog(int64_t run_id, int64_t offset, int64_t max_bytes) override;
  Result<int> PruneLogs(int64_t before_ms, int64_t now_ms) override;
  Result<bool> RequestCancel(int64_t id, const std::string& actor, int64_t now_ms) override;
  Result<std::vector<RunRecord>> CancelRequests(const std::string& node_id) override;

  // The schema version recorded in the database.
  Result<int> SchemaVersion();
  // Runs `PRAGMA integrity_check`; kIo carrying SQLite's findings when the
  // database is damaged.
  Status CheckIntegrity();

  const std::string& path() const { return path_; }

  // For tests: runs SQL statements (no result rows) on this store's
  // connection, e.g. `PRAGMA max_page_count` to simulate a full disk.
  Status TEST_Exec(const std::string& sql);

 private:
  SqliteStore(std::string path, SqliteDb db);

  const std::string path_;
  std::mutex mu_;
  SqliteDb db_;  // guarded by mu_
};

// As OpenSqliteStore, with options.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const SqliteStoreOptions& options);

}  // namespace slipway
