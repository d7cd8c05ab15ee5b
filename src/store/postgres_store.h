// The PostgreSQL implementation of Store (fleet mode, issue 7): several
// `slipway serve` nodes share one database. Schema, migrations and the fleet
// tables: doc/store.md; how nodes use them: doc/fleet.md.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"
#include "util/status.h"

struct pg_conn;

namespace slipway {

// Move-only owner of a libpq connection; PQfinish on destruction.
class PgConn {
 public:
  PgConn() = default;
  explicit PgConn(pg_conn* conn) : conn_(conn) {}
  ~PgConn();
  PgConn(PgConn&& other) noexcept : conn_(other.Release()) {}
  PgConn& operator=(PgConn&& other) noexcept;
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  pg_conn* get() const { return conn_; }
  pg_conn* Release() {
    pg_conn* conn = conn_;
    conn_ = nullptr;
    return conn;
  }

 private:
  pg_conn* conn_ = nullptr;
};

struct PostgresStoreOptions {
  // libpq's connect_timeout (seconds) unless the URL sets one.
  int connect_timeout_s = 5;
  // Server-side statement_timeout (ms), so that no call waits forever on a
  // lock held by a stuck node; 0: none.
  int statement_timeout_ms = 30'000;
};

// Thread-safe: one connection per PostgresStore, serialised by a mutex. A
// connection lost (server restarted, network) is re-established by the next
// call; the call that saw it fail returns kNetwork, and a write that failed
// changed nothing (every write is one transaction).
class PostgresStore final : public Store {
 public:
  // Connects to `url` (postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?...])
  // and applies pending migrations under a session advisory lock, so that
  // nodes starting together migrate once. Errors: kNetwork when the server
  // cannot be reached, kPermissionDenied on authentication failures,
  // kInvalidArgument for a bad URL or a schema newer than this build knows.
  // Messages name the database without its password.
  static Result<std::unique_ptr<PostgresStore>> Open(const std::string& url, const PostgresStoreOptions& options = {});

  static int LatestSchemaVersion();

  ~PostgresStore() override;

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
  // "HOST:PORT/DB" — how messages name the database (never the password).
  const std::string& name() const { return name_; }

  // For tests: runs SQL (no result rows) on this store's connection.
  Status TEST_Exec(const std::string& sql);

 private:
  PostgresStore(std::string url, std::string name, PostgresStoreOptions options, PgConn conn);

  const std::string url_;
  const std::string name_;
  const PostgresStoreOptions options_;
  std::mutex mu_;
  PgConn conn_;  // guarded by mu_
};

// "postgresql://user:secret@db:5432/slipway" -> "db:5432/slipway": for
// messages and logs.
std::string RedactPostgresUrl(const std::string& url);

}  // namespace slipway
