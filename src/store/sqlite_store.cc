#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <string_view>
#include <thread>
#include <utility>

#include "store/refused_write.h"
#include "util/clock.h"

namespace slipway {

SqliteStatement::~SqliteStatement() {
  // sqlite3_finalize only repeats the error of the statement's last step,
  // which the caller has already checked; finalizing itself cannot fail.
  sqlite3_finalize(stmt_);
}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);  // as in the destructor
    stmt_ = other.Release();
  }
  return *this;
}

namespace {

void CloseDb(sqlite3* db) {
  if (db == nullptr) return;
  // The only failure is SQLITE_BUSY: a statement outlived its connection.
  int rc = sqlite3_close(db);
  if (rc != SQLITE_OK) {
    std::fprintf(stderr, "slipway: internal error: sqlite3_close: %s\n", sqlite3_errstr(rc));
    std::abort();
  }
}

}  // namespace

SqliteDb::~SqliteDb() { CloseDb(db_); }

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept {
  if (this != &other) {
    CloseDb(db_);
    db_ = other.Release();
  }
  return *this;
}

namespace {

// The schema, as an append-only list: migration N (1-based) takes a database
// from version N-1 to N, in one transaction. Never edit a migration that has
// shipped; add one (doc/store.md).
constexpr const char* kMigrations[] = {
    // 1: runs, their steps, the current deployment and build number of each
    // environment.
    R"sql(
CREATE TABLE runs (
  -- AUTOINCREMENT: an id is never reused, even after the newest run is
  -- deleted, since log files and links name runs by id.
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  environment     TEXT    NOT NULL,
  kind            TEXT    NOT NULL,
  "trigger"       TEXT    NOT NULL,
  actor           TEXT    NOT NULL,
  status          TEXT    NOT NULL,  -- RunStatusName()
  settings_commit TEXT    NOT NULL,
  code_url        TEXT    NOT NULL,
  code_ref        TEXT    NOT NULL,
  code_commit     TEXT    NOT NULL,
  branch_pin      INTEGER NOT NULL CHECK (branch_pin IN (0, 1)),
  requested_ref   TEXT    NOT NULL,
  created_ms      INTEGER NOT NULL,
  started_ms      INTEGER NOT NULL,
  finished_ms     INTEGER NOT NULL,
  error           TEXT    NOT NULL,
  log_path        TEXT    NOT NULL,
  workspace       TEXT    NOT NULL,
  exported_json   TEXT    NOT NULL
);
-- History of an environment, newest first; LastRun.
CREATE INDEX runs_by_environment ON runs (environment, id DESC);
-- Runs in a state: `running` at start-up (InterruptRunning), `queued`
-- oldest first (the trigger queue).
CREATE INDEX runs_by_status ON runs (status, id);

CREATE TABLE steps (
  run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  idx         INTEGER NOT NULL CHECK (idx >= 0),
  name        TEXT    NOT NULL,
  status      TEXT    NOT NULL,  -- StepStatusName()
  exit_code   INTEGER,           -- NULL: the step did not exit (not run, killed)
  started_ms  INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

-- What is live on each environment: written only by a succeeded deploy run.
-- The foreign key keeps the deployed run from being pruned.
CREATE TABLE deployments (
  environment     TEXT    PRIMARY KEY,
  run_id          INTEGER NOT NULL REFERENCES runs (id),
  settings_commit TEXT    NOT NULL,
  code_url        TEXT    NOT NULL,
  code_ref        TEXT    NOT NULL,
  code_commit     TEXT    NOT NULL,
  deployed_ms     INTEGER NOT NULL
);

CREATE TABLE build_numbers (
  environment TEXT    PRIMARY KEY,
  last        INTEGER NOT NULL CHECK (last >= 1)
);
)sql",
    // 2: the daemon (issue 5): the trigger queue's coalescing guard, the
    // state of each environment (paused, held, trigger bookkeeping), API
    // tokens and webhook deliveries.
    R"sql(
-- At most one floating queued run (no pinned commits: it resolves the newest
-- head when it starts) per environment, kind and requested ref: further
-- triggers coalesce into it (EnqueueRun).
CREATE UNIQUE INDEX runs_one_floating_queued ON runs (environment, kind, requested_ref)
  WHERE status = 'queued' AND settings_commit = '' AND code_commit = '';

CREATE TABLE environment_state (
  environment      TEXT    PRIMARY KEY,
  paused           INTEGER NOT NULL CHECK (paused IN (0, 1)),
  held_run_id      INTEGER NOT NULL,  -- 0: not held
  paused_by        TEXT    NOT NULL,
  paused_ms        INTEGER NOT NULL,
  evaluated_commit TEXT    NOT NULL,
  schedule_ms      INTEGER NOT NULL
);

CREATE TABLE tokens (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT    NOT NULL,
  role       TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  hash       TEXT    NOT NULL UNIQUE,  -- hex SHA-256; the token itself is never stored
  created_ms INTEGER NOT NULL
);

CREATE TABLE deliveries (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  source       TEXT    NOT NULL,
  delivery_id  TEXT    NOT NULL,
  payload      TEXT    NOT NULL,
  received_ms  INTEGER NOT NULL,
  processed_ms INTEGER NOT NULL,  -- 0: pending
  UNIQUE (source, delivery_id)
);
CREATE INDEX deliveries_by_processed ON deliveries (processed_ms, id);
)sql",
    // 3: trust (issue 8): the verified signer and a preview's pull request on
    // runs; drift state of each environment.
    R"sql(
ALTER TABLE runs ADD COLUMN signer       TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN context_json TEXT NOT NULL DEFAULT '';
ALTER TABLE environment_state ADD COLUMN drift            TEXT    NOT NULL DEFAULT '';
ALTER TABLE environment_state ADD COLUMN drift_reason     TEXT    NOT NULL DEFAULT '';
ALTER TABLE environment_state ADD COLUMN drift_checked_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE environment_state ADD COLUMN drift_run_id     INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4: fleet mode (issue 7; doc/fleet.md). SQLite serves one node, but
    // keeps the same records as PostgreSQL: the node running a run, nodes,
    // leases, fired schedule slots and run logs.
    R"sql(
ALTER TABLE runs ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE TABLE nodes (
  id           TEXT    PRIMARY KEY,
  address      TEXT    NOT NULL,
  version      TEXT    NOT NULL,
  started_ms   INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL
);
CREATE TABLE leases (
  name       TEXT    PRIMARY KEY,
  holder     TEXT    NOT NULL,
  expires_ms INTEGER NOT NULL
);
CREATE TABLE schedule_fires (
  environment TEXT    NOT NULL,
  slot_ms     INTEGER NOT NULL,
  PRIMARY KEY (environment, slot_ms)
) WITHOUT ROWID;
CREATE TABLE run_logs (
  run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  offset_bytes INTEGER NOT NULL CHECK (offset_bytes >= 0),
  data         BLOB    NOT NULL,
  PRIMARY KEY (run_id, offset_bytes)
) WITHOUT ROWID;
)sql",
    // 5: fleet mode, continued (issue 7): a cancel asked for through another
    // node than the one running the run, and log retention
    // (log_retention_days) records which runs' logs were deleted.
    R"sql(
ALTER TABLE runs ADD COLUMN cancel_requested_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cancel_requested_by TEXT    NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN log_pruned_ms       INTEGER NOT NULL DEFAULT 0;
)sql",
};

constexpr int kLatestVersion = static_cast<int>(std::size(kMigrations));

// The columns of a RunRecord, in the order ReadRun expects them.
constexpr const char* kRunColumns =
    R"sql(id, environment, kind, "trigger", actor, status, settings_commit, code_url, code_ref, code_commit,
branch_pin, requested_ref, created_ms, started_ms, finished_ms, error, log_path, workspace, exported_json, signer,
context_json, cancel_requested_ms, cancel_requested_by, log_pruned_ms, node)sql";

// The final statuses (IsFinal), for SQL.
constexpr const char* kFinalStatuses = "('succeeded', 'failed', 'cancelled', 'timed_out', 'interrupted')";

// A connection and the path it was opened with, for error messages.
struct Conn {
  sqlite3* db;
  const std::string* path;
};

StatusCode CodeOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return StatusCode::kNoSpace;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StatusCode::kTimeout;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return StatusCode::kPermissionDenied;
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) return StatusCode::kAlreadyExists;
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return StatusCode::kNotFound;
      return StatusCode::kInvalidArgument;
    case SQLITE_NOTADB:
      return StatusCode::kInvalidArgument;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return StatusCode::kIo;
    default:  // SQLITE_ERROR (bad SQL), SQLITE_MISUSE, SQLITE_RANGE, ...: our bugs
      return StatusCode::kInternal;
  }
}

const char* HintFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CANTOPEN:
      return " (does its folder exist, and may slipway write there?)";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return " (another process held it for longer than the busy timeout)";
    case SQLITE_NOTADB:
      return " (is this the slipway database?)";
    default:
      return "";
  }
}

Status Error(const Conn& c, std::string_view what, std::string_view detail, StatusCode code) {
  std::string message = "sqlite '" + *c.path + "': ";
  message.append(what).append(": ").append(detail);
  return Status(code, std::move(message));
}

// The one place where a SQLite result code becomes a Status. `detail` is
// SQLite's message when the connection holds it, else the code's text.
Status SqliteError(const Conn& c, int rc, std::string_view what, bool use_db_message = true) {
  std::string detail = use_db_message && c.db != nullptr ? sqlite3_errmsg(c.db) : sqlite3_errstr(rc);
  detail += HintFor(rc);
  return Error(c, what, detail, CodeOf(rc));
}

// Runs SQL without result rows (several statements allowed).
Status Exec(const Conn& c, const char* sql, std::string_view what) {
  int rc = sqlite3_exec(c.db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(c, rc, what);
  return Status::Ok();
}

// A prepared statement with its context. Bind errors are sticky: the first
// one is reported by the next Step(). Likewise a column that could not be
// read (out of memory) is reported by ColumnStatus().
class Query {
 public:
  Query(const Conn& c, SqliteStatement stmt, std::string_view what) : c_(c), stmt_(std::move(stmt)), what_(what) {}

  Query& Bind(int index, int64_t value) { return Check(sqlite3_bind_int64(stmt_.get(), index, value)); }
  Query& Bind(int index, std::string_view value) {
    // An empty string_view may have a null data(), which SQLite would bind as NULL.
    const char* data = value.data() != nullptr ? value.data() : "";
    return Check(sqlite3_bind_text64(stmt_.get(), index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Query& BindBlob(int index, std::string_view value) {
    const char* data = value.data() != nullptr ? value.data() : "";
    return Check(sqlite3_bind_blob64(stmt_.get(), index, data, value.size(), SQLITE_TRANSIENT));
  }
  Query& Bind(int index, std::optional<int> value) {
    return value ? Bind(index, int64_t{*value}) : Check(sqlite3_bind_null(stmt_.get(), index));
  }

  // true: a row is ready; false: the statement is done.
  Result<bool> Step() {
    if (bind_rc_ != SQLITE_OK) return SqliteError(c_, bind_rc_, what_, /*use_db_message=*/false);
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(c_, rc, what_);
  }

  // Steps to the end, ignoring result rows.
  Status Run() {
    for (;;) {
      SLIPWAY_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return Status::Ok();
    }
  }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  std::string Text(int col) {
    const unsigned char* text = sqlite3_column_text(stmt_.get(), col);
    if (text == nullptr) {
      if (!IsNull(col)) column_rc_ = SQLITE_NOMEM;
      return "";
    }
    return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_.get(), col));
  }
  Status ColumnStatus() const {
    if (column_rc_ == SQLITE_OK) return Status::Ok();
    return SqliteError(c_, column_rc_, what_, /*use_db_message=*/false);
  }

  const std::string& what() const { return what_; }

 private:
  Query& Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }

  Conn c_;
  SqliteStatement stmt_;
  std::string what_;
  int bind_rc_ = SQLITE_OK;
  int column_rc_ = SQLITE_OK;
};

Result<Query> Prepare(const Conn& c, std::string_view sql, std::string_view what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(c.db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  SqliteStatement stmt(raw);  // owns it even on error (raw is then null)
  if (rc != SQLITE_OK) return SqliteError(c, rc, what);
  if (raw == nullptr) return Error(c, what, "empty statement", StatusCode::kInternal);
  return Query(c, std::move(stmt), what);
}

Status Rollback(const Conn& c, std::string_view what) {
  // SQLite may already have rolled the transaction back itself (after
  // SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, ...); a ROLLBACK would then fail
  // with "no transaction is active".
  if (sqlite3_get_autocommit(c.db)) return Status::Ok();
  return Exec(c, "ROLLBACK", std::string(what) + ": roll back");
}

enum class TxKind { kRead, kWrite };

// Runs body in a transaction, committing when it returns OK and rolling back
// otherwise. Writes use BEGIN IMMEDIATE: it takes the write lock up front, so
// a busy database makes us wait (busy_timeout) at BEGIN; a deferred
// transaction that later upgrades from reading to writing cannot wait (its
// snapshot may be stale) and would fail with SQLITE_BUSY halfway through.
// Reads use BEGIN so that several SELECTs see one snapshot.
Status InTransaction(const Conn& c, TxKind kind, std::string_view what, const std::function<Status()>& body) {
  // A rollback that failed earlier may have left a transaction open: retry it.
  SLIPWAY_RETURN_IF_ERROR(Rollback(c, what));
  SLIPWAY_RETURN_IF_ERROR(
      Exec(c, kind == TxKind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN", std::string(what) + ": begin transaction"));
  Status status = body();
  if (status.ok()) {
    status = Exec(c, "COMMIT", std::string(what) + ": commit");
    if (status.ok()) return status;
  }
  Status rollback = Rollback(c, what);
  if (!rollback.ok()) return Status(status.code(), status.message() + "; " + rollback.message());
  return status;
}

// Binds the run's fields, in kRunColumns order without the id, at 1..18.
void BindRunFields(Query& q, const RunRecord& run) {
  q.Bind(1, run.environment)
      .Bind(2, run.kind)
      .Bind(3, run.trigger)
      .Bind(4, run.actor)
      .Bind(5, std::string_view(RunStatusName(run.status)))
      .Bind(6, run.settings_commit)
      .Bind(7, run.code_url)
      .Bind(8, run.code_ref)
      .Bind(9, run.code_commit)
      .Bind(10, int64_t{run.branch_pin ? 1 : 0})
      .Bind(11, run.requested_ref)
      .Bind(12, run.created_ms)
      .Bind(13, run.started_ms)
      .Bind(14, run.finished_ms)
      .Bind(15, run.error)
      .Bind(16, run.log_path)
      .Bind(17, run.workspace)
      .Bind(18, run.exported_json)
      .Bind(19, run.signer)
      .Bind(20, run.context_json);
}

constexpr int kRunFieldCount = 20;

// Reads a row selected with kRunColumns.
Result<RunRecord> ReadRun(const Conn& c, Query& q) {
  RunRecord run;
  run.id = q.Int(0);
  run.environment = q.Text(1);
  run.kind = q.Text(2);
  run.trigger = q.Text(3);
  run.actor = q.Text(4);
  std::string status = q.Text(5);
  run.settings_commit = q.Text(6);
  run.code_url = q.Text(7);
  run.code_ref = q.Text(8);
  run.code_commit = q.Text(9);
  run.branch_pin = q.Int(10) != 0;
  run.requested_ref = q.Text(11);
  run.created_ms = q.Int(12);
  run.started_ms = q.Int(13);
  run.finished_ms = q.Int(14);
  run.error = q.Text(15);
  run.log_path = q.Text(16);
  run.workspace = q.Text(17);
  run.exported_json = q.Text(18);
  run.signer = q.Text(19);
  run.context_json = q.Text(20);
  run.cancel_requested_ms = q.Int(21);
  run.cancel_requested_by = q.Text(22);
  run.log_pruned_ms = q.Int(23);
  run.node = q.Text(24);
  SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
  if (!ParseRunStatus(status, &run.status)) {
    return Error(c, q.what(), "run " + std::to_string(run.id) + " has an unknown status '" + status + "'",
                 StatusCode::kInternal);
  }
  return run;
}

Status PutStepLocked(const Conn& c, int64_t run_id, const StepRecord& step, std::string_view what) {
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                            R"sql(
INSERT INTO steps (run_id, idx, name, status, exit_code, started_ms, duration_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (run_id, idx) DO UPDATE SET
  name = excluded.name, status = excluded.status, exit_code = excluded.exit_code,
  started_ms = excluded.started_ms, duration_ms = excluded.duration_ms)sql",
                                            what));
  q.Bind(1, run_id)
      .Bind(2, int64_t{step.index})
      .Bind(3, step.name)
      .Bind(4, std::string_view(StepStatusName(step.status)))
      .Bind(5, step.exit_code)
      .Bind(6, step.started_ms)
      .Bind(7, step.duration_ms);
  Status status = q.Run();
  if (status.code() == StatusCode::kNotFound) {  // the foreign key: no such run
    return Error(c, what, "no run " + std::to_string(run_id), StatusCode::kNotFound);
  }
  return status;
}

Result<std::vector<StepRecord>> ReadSteps(const Conn& c, int64_t run_id, std::string_view what) {
  SLIPWAY_ASSIGN_OR_RETURN(
      Query q,
      Prepare(c,
              "SELECT idx, name, status, exit_code, started_ms, duration_ms FROM steps WHERE run_id = ?1 ORDER BY idx",
              what));
  q.Bind(1, run_id);
  std::vector<StepRecord> steps;
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    StepRecord step;
    step.index = static_cast<int>(q.Int(0));
    step.name = q.Text(1);
    std::string status = q.Text(2);
    if (!q.IsNull(3)) step.exit_code = static_cast<int>(q.Int(3));
    step.started_ms = q.Int(4);
    step.duration_ms = q.Int(5);
    SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
    if (!ParseStepStatus(status, &step.status)) {
      return Error(c, what,
                   "step " + std::to_string(step.index) + " of run " + std::to_string(run_id) +
                       " has an unknown status '" + status + "'",
                   StatusCode::kInternal);
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

// Runs a query selecting kRunColumns and collects its rows.
Result<std::vector<RunRecord>> ReadRuns(const Conn& c, Query& q) {
  std::vector<RunRecord> runs;
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return runs;
    SLIPWAY_ASSIGN_OR_RETURN(RunRecord run, ReadRun(c, q));
    runs.push_back(std::move(run));
  }
}

Result<int> ReadSchemaVersion(const Conn& c) {
  constexpr std::string_view kWhat = "read schema version";
  SLIPWAY_ASSIGN_OR_RETURN(
      Query exists,
      Prepare(c, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", kWhat));
  SLIPWAY_ASSIGN_OR_RETURN(bool row, exists.Step());
  if (!row || exists.Int(0) == 0) return 0;
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, "SELECT coalesce(max(version), 0) FROM schema_version", kWhat));
  SLIPWAY_ASSIGN_OR_RETURN(row, q.Step());
  if (!row) return Error(c, kWhat, "no result", StatusCode::kInternal);
  return static_cast<int>(q.Int(0));
}

Status RefuseNewer(const Conn& c, int version) {
  return Error(c, "open",
               "database schema version " + std::to_string(version) + " is newer than this slipway understands (" +
                   std::to_string(kLatestVersion) + "); upgrade slipway, or point it at another database",
               StatusCode::kInvalidArgument);
}

// Applies the migrations the database lacks up to `target`, each in its own
// transaction.
// Safe against another process migrating the same file at the same time: the
// version is re-read under the write lock before each step.
Status Migrate(const Conn& c, int target) {
  int version = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kRead, "read schema version", [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(version, ReadSchemaVersion(c));
    return Status::Ok();
  }));
  if (version > kLatestVersion) return RefuseNewer(c, version);
  while (version < target) {
    std::string what = "migrate schema to version " + std::to_string(version + 1);
    SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
      SLIPWAY_ASSIGN_OR_RETURN(version, ReadSchemaVersion(c));
      if (version > kLatestVersion) return RefuseNewer(c, version);
      if (version >= target) return Status::Ok();  // another process got there first
      SLIPWAY_RETURN_IF_ERROR(Exec(c,
                                   "CREATE TABLE IF NOT EXISTS schema_version ("
                                   "version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
                                   what));
      SLIPWAY_RETURN_IF_ERROR(Exec(c, kMigrations[version], what));
      SLIPWAY_ASSIGN_OR_RETURN(Query q,
                               Prepare(c, "INSERT INTO schema_version (version, applied_ms) VALUES (?1, ?2)", what));
      q.Bind(1, int64_t{version + 1}).Bind(2, NowMs());
      SLIPWAY_RETURN_IF_ERROR(q.Run());
      ++version;
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

// Runs a PRAGMA that answers with one row and returns its first column.
Result<std::string> PragmaText(const Conn& c, const char* sql, std::string_view what) {
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, sql, what));
  SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Error(c, what, "no result", StatusCode::kInternal);
  std::string text = q.Text(0);
  SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
  SLIPWAY_RETURN_IF_ERROR(q.Run());
  return text;
}

Status Configure(const Conn& c, const SqliteStoreOptions& options) {
  int rc = sqlite3_extended_result_codes(c.db, 1);
  if (rc != SQLITE_OK) return SqliteError(c, rc, "enable extended result codes");
  // Set before anything else touches the file: even switching to WAL may
  // have to wait for another process.
  rc = sqlite3_busy_timeout(c.db, options.busy_timeout_ms);
  if (rc != SQLITE_OK) return SqliteError(c, rc, "set busy timeout");

  // WAL: readers (a CLI `slipway history`) never block the daemon's writer
  // and the other way round.
  // Switching a new database to WAL takes an exclusive lock, and SQLite
  // answers SQLITE_BUSY at once, without the busy timeout, where waiting
  // could deadlock: when another connection opening it at the same moment
  // holds a shared lock. That one lets go as soon as its own statement ends,
  // so try again, within the busy timeout.
  const int64_t give_up_ms = MonotonicMs() + options.busy_timeout_ms;
  auto to_wal = [&c] { return PragmaText(c, "PRAGMA journal_mode = WAL", "set journal mode"); };
  Result<std::string> switched = to_wal();
  while (!switched.ok() && switched.status().code() == StatusCode::kTimeout && MonotonicMs() < give_up_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    switched = to_wal();
  }
  SLIPWAY_ASSIGN_OR_RETURN(std::string mode, std::move(switched));
  bool in_memory = *c.path == ":memory:" || c.path->empty();
  if (mode != "wal" && !(in_memory && mode == "memory")) {
    return Error(c, "set journal mode",
                 "the database stays in '" + mode + "' mode instead of 'wal' (is it on a network file system?)",
                 StatusCode::kIo);
  }
  // FULL, not NORMAL. With WAL, NORMAL never corrupts the database, but it
  // syncs the WAL only at checkpoints, so the last commits before a power
  // loss or kernel crash can vanish. A run whose deploy step succeeded would
  // then read as still running (and be marked interrupted), and the
  // environment's current deployment would name what was there before: the
  // engine would lie about what is live. FULL costs one fsync per commit,
  // and Slipway commits a handful of times per run.
  SLIPWAY_RETURN_IF_ERROR(Exec(c, "PRAGMA synchronous = FULL", "set synchronous mode"));
  SLIPWAY_RETURN_IF_ERROR(Exec(c, "PRAGMA foreign_keys = ON", "enable foreign keys"));
  // A library built without foreign keys accepts the PRAGMA silently.
  SLIPWAY_ASSIGN_OR_RETURN(std::string fk, PragmaText(c, "PRAGMA foreign_keys", "check foreign keys"));
  if (fk != "1") return Error(c, "enable foreign keys", "this sqlite library ignores them", StatusCode::kInternal);
  return Status::Ok();
}

}  // namespace

SqliteStore::SqliteStore(std::string path, SqliteDb db) : path_(std::move(path)), db_(std::move(db)) {}

SqliteStore::~SqliteStore() = default;

int SqliteStore::LatestSchemaVersion() { return kLatestVersion; }

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, const SqliteStoreOptions& options) {
  Conn c{nullptr, &path};
  // We serialise each connection with our own mutex (NOMUTEX), but the
  // library must still be safe for several connections in several threads.
  if (sqlite3_threadsafe() == 0) {
    return Error(c, "open", "this sqlite library was built without thread support", StatusCode::kInternal);
  }
  sqlite3* raw = nullptr;
  // SQLite opens its files close-on-exec, so steps never inherit them.
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDb db(raw);  // a handle is returned even on most errors; it must be closed
  c.db = db.get();
  if (rc != SQLITE_OK) return SqliteError(c, rc, "open");
  SLIPWAY_RETURN_IF_ERROR(Configure(c, options));
  int target = options.TEST_migrate_to > 0 ? std::min(options.TEST_migrate_to, kLatestVersion) : kLatestVersion;
  SLIPWAY_RETURN_IF_ERROR(Migrate(c, target));
  return std::unique_ptr<SqliteStore>(new SqliteStore(path, std::move(db)));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const SqliteStoreOptions& options) {
  SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(path, options));
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) { return OpenSqliteStore(path, {}); }

Result<int64_t> SqliteStore::CreateRun(const RunRecord& run) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "insert run";
  int64_t id = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, kWhat, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              R"sql(
INSERT INTO runs (environment, kind, "trigger", actor, status, settings_commit, code_url, code_ref, code_commit,
                  branch_pin, requested_ref, created_ms, started_ms, finished_ms, error, log_path, workspace,
                  exported_json, signer, context_json)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20))sql",
                                              kWhat));
    BindRunFields(q, run);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    // Safe: the connection is ours alone while we hold mu_.
    id = sqlite3_last_insert_rowid(c.db);
    return Status::Ok();
  }));
  return id;
}

namespace {

// Overwrites a run's fields when the stored run matches `condition` (SQL on
// runs; ?5 is run.status). NotFound when there is no such run; kFailed
// (nothing written) when the condition refused it, with `refused` saying why
// from the stored status.
Status UpdateRunLocked(const Conn& c, const RunRecord& run, std::string_view what, const std::string& condition,
                       std::string (*refused)(const RunRecord&, const std::string& stored), bool* written = nullptr) {
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                            R"sql(
UPDATE runs SET environment = ?1, kind = ?2, "trigger" = ?3, actor = ?4, status = ?5, settings_commit = ?6,
  code_url = ?7, code_ref = ?8, code_commit = ?9, branch_pin = ?10, requested_ref = ?11, created_ms = ?12,
  started_ms = ?13, finished_ms = ?14, error = ?15, log_path = ?16, workspace = ?17, exported_json = ?18,
  signer = ?19, context_json = ?20
WHERE id = ?21 AND )sql" + condition,
                                            what));
  BindRunFields(q, run);
  q.Bind(kRunFieldCount + 1, run.id);
  SLIPWAY_RETURN_IF_ERROR(q.Run());
  if (written != nullptr) *written = sqlite3_changes(c.db) > 0;
  if (sqlite3_changes(c.db) > 0) return Status::Ok();
  SLIPWAY_ASSIGN_OR_RETURN(Query stored, Prepare(c, "SELECT status, finished_ms FROM runs WHERE id = ?1", what));
  stored.Bind(1, run.id);
  SLIPWAY_ASSIGN_OR_RETURN(bool row, stored.Step());
  if (!row) return Error(c, what, "no such run", StatusCode::kNotFound);
  std::string status = stored.Text(0);
  int64_t finished_ms = stored.Int(1);
  SLIPWAY_RETURN_IF_ERROR(stored.ColumnStatus());
  SLIPWAY_RETURN_IF_ERROR(stored.Run());
  // A repeated FinishRun whose first attempt was applied: nothing to do.
  if (status == RunStatusName(run.status) && finished_ms == run.finished_ms) return Status::Ok();
  return Error(c, what, refused(run, status), StatusCode::kFailed);
}

Status UpdateRunLocked(const Conn& c, const RunRecord& run, std::string_view what) {
  return UpdateRunLocked(c, run, what, std::string("(status NOT IN ") + kFinalStatuses + " OR status = ?5)",
                         FinalStatusKeptMessage);
}

}  // namespace

Status SqliteStore::UpdateRun(const RunRecord& run) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "update run " + std::to_string(run.id);
  return InTransaction(c, TxKind::kWrite, what, [&] { return UpdateRunLocked(c, run, what); });
}

Status SqliteStore::PutStep(int64_t run_id, const StepRecord& step) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "put step " + std::to_string(step.index) + " of run " + std::to_string(run_id);
  return InTransaction(c, TxKind::kWrite, what, [&] { return PutStepLocked(c, run_id, step, what); });
}

Status SqliteStore::UpdateRunAndSteps(const RunRecord& run) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "update run " + std::to_string(run.id) + " and its steps";
  return InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_RETURN_IF_ERROR(UpdateRunLocked(c, run, what));
    for (const StepRecord& step : run.steps) SLIPWAY_RETURN_IF_ERROR(PutStepLocked(c, run.id, step, what));
    return Status::Ok();
  });
}

Status SqliteStore::FinishRun(const RunRecord& run, bool deployed) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "finish run " + std::to_string(run.id);
  if (!IsFinal(run.status)) {
    return Error(c, what, std::string("internal error: status '") + RunStatusName(run.status) + "' is not final",
                 StatusCode::kInternal);
  }
  return InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    // Only a run still `running` (store.h): a node declared lost must not
    // overwrite the `interrupted` another node wrote.
    bool written = false;
    SLIPWAY_RETURN_IF_ERROR(UpdateRunLocked(c, run, what, "status = 'running'", NoLongerRunningMessage, &written));
    if (!written) return Status::Ok();  // a repeated FinishRun, applied before
    for (const StepRecord& step : run.steps) SLIPWAY_RETURN_IF_ERROR(PutStepLocked(c, run.id, step, what));
    if (!deployed || run.status != RunStatus::kSucceeded) return Status::Ok();
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              R"sql(
INSERT INTO deployments (environment, run_id, settings_commit, code_url, code_ref, code_commit, deployed_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (environment) DO UPDATE SET
  run_id = excluded.run_id, settings_commit = excluded.settings_commit, code_url = excluded.code_url,
  code_ref = excluded.code_ref, code_commit = excluded.code_commit, deployed_ms = excluded.deployed_ms)sql",
                                              what));
    q.Bind(1, run.environment)
        .Bind(2, run.id)
        .Bind(3, run.settings_commit)
        .Bind(4, run.code_url)
        .Bind(5, run.code_ref)
        .Bind(6, run.code_commit)
        .Bind(7, run.finished_ms);
    return q.Run();
  });
}

Result<RunRecord> SqliteStore::GetRun(int64_t id) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "get run " + std::to_string(id);
  RunRecord run;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kRead, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q,
                             Prepare(c, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?1", what));
    q.Bind(1, id);
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Error(c, what, "no such run", StatusCode::kNotFound);
    SLIPWAY_ASSIGN_OR_RETURN(run, ReadRun(c, q));
    SLIPWAY_ASSIGN_OR_RETURN(run.steps, ReadSteps(c, id, what));
    return Status::Ok();
  }));
  return run;
}

Result<std::vector<RunRecord>> SqliteStore::ListRuns(const RunFilter& filter) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "list runs";
  // Only the clauses in use, so that SQLite picks the matching index.
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE 1";
  if (!filter.environment.empty()) sql += " AND environment = ?1";
  if (filter.status) sql += " AND status = ?2";
  if (filter.before_id > 0) sql += " AND id < ?3";
  sql += " ORDER BY id DESC LIMIT ?4";
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, sql, kWhat));
  if (!filter.environment.empty()) q.Bind(1, filter.environment);
  if (filter.status) q.Bind(2, std::string_view(RunStatusName(*filter.status)));
  if (filter.before_id > 0) q.Bind(3, filter.before_id);
  q.Bind(4, int64_t{filter.limit > 0 ? filter.limit : -1});  // LIMIT -1: no limit
  return ReadRuns(c, q);
}

Result<std::optional<RunRecord>> SqliteStore::LastRun(const std::string& environment) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "last run of '" + environment + "'";
  SLIPWAY_ASSIGN_OR_RETURN(
      Query q,
      Prepare(c, std::string("SELECT ") + kRunColumns + " FROM runs WHERE environment = ?1 ORDER BY id DESC LIMIT 1",
              what));
  q.Bind(1, environment);
  SLIPWAY_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, ReadRuns(c, q));
  if (runs.empty()) return std::optional<RunRecord>();
  return std::optional<RunRecord>(std::move(runs.front()));
}

Result<std::optional<Deployment>> SqliteStore::CurrentDeployment(const std::string& environment) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "current deployment of '" + environment + "'";
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                            "SELECT run_id, settings_commit, code_url, code_ref, code_commit, "
                                            "deployed_ms FROM deployments WHERE environment = ?1",
                                            what));
  q.Bind(1, environment);
  SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<Deployment>();
  Deployment d;
  d.environment = environment;
  d.run_id = q.Int(0);
  d.settings_commit = q.Text(1);
  d.code_url = q.Text(2);
  d.code_ref = q.Text(3);
  d.code_commit = q.Text(4);
  d.deployed_ms = q.Int(5);
  SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
  SLIPWAY_RETURN_IF_ERROR(q.Run());  // the primary key allows no second row
  return std::optional<Deployment>(std::move(d));
}

Result<int64_t> SqliteStore::NextBuildNumber(const std::string& environment) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "next build number of '" + environment + "'";
  int64_t number = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query up, Prepare(c,
                                               "INSERT INTO build_numbers (environment, last) VALUES (?1, 1) "
                                               "ON CONFLICT (environment) DO UPDATE SET last = last + 1",
                                               what));
    up.Bind(1, environment);
    SLIPWAY_RETURN_IF_ERROR(up.Run());
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, "SELECT last FROM build_numbers WHERE environment = ?1", what));
    q.Bind(1, environment);
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Error(c, what, "the number just written is missing", StatusCode::kInternal);
    number = q.Int(0);
    return q.Run();
  }));
  return number;
}

Result<int> SqliteStore::InterruptRunning(const std::string& reason) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "interrupt running runs";
  int count = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, kWhat, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query steps, Prepare(c,
                                                  "UPDATE steps SET status = 'cancelled' WHERE status = 'running' "
                                                  "AND run_id IN (SELECT id FROM runs WHERE status = 'running')",
                                                  kWhat));
    SLIPWAY_RETURN_IF_ERROR(steps.Run());
    SLIPWAY_ASSIGN_OR_RETURN(Query runs, Prepare(c,
                                                 "UPDATE runs SET status = 'interrupted', error = ?1, "
                                                 "finished_ms = CASE WHEN finished_ms = 0 THEN ?2 ELSE finished_ms END "
                                                 "WHERE status = 'running'",
                                                 kWhat));
    runs.Bind(1, reason).Bind(2, NowMs());
    SLIPWAY_RETURN_IF_ERROR(runs.Run());
    count = sqlite3_changes(c.db);
    return Status::Ok();
  }));
  return count;
}

// --- The queue ---

Result<EnqueueResult> SqliteStore::EnqueueRun(const RunRecord& run) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "enqueue run";
  if (run.status != RunStatus::kQueued) {
    return Error(c, kWhat, std::string("internal error: status '") + RunStatusName(run.status) + "' is not queued",
                 StatusCode::kInternal);
  }
  EnqueueResult result;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, kWhat, [&]() -> Status {
    if (run.settings_commit.empty() && run.code_commit.empty()) {
      SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                                "SELECT id FROM runs WHERE status = 'queued' AND environment = ?1 "
                                                "AND kind = ?2 AND requested_ref = ?3 AND settings_commit = '' "
                                                "AND code_commit = '' ORDER BY id LIMIT 1",
                                                kWhat));
      q.Bind(1, run.environment).Bind(2, run.kind).Bind(3, run.requested_ref);
      SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
      if (row) {
        result.id = q.Int(0);
        result.coalesced = true;
        return q.Run();
      }
    }
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              R"sql(
INSERT INTO runs (environment, kind, "trigger", actor, status, settings_commit, code_url, code_ref, code_commit,
                  branch_pin, requested_ref, created_ms, started_ms, finished_ms, error, log_path, workspace,
                  exported_json, signer, context_json)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20))sql",
                                              kWhat));
    BindRunFields(q, run);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    result.id = sqlite3_last_insert_rowid(c.db);
    return Status::Ok();
  }));
  return result;
}

Result<std::vector<RunRecord>> SqliteStore::QueuedRuns() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "list queued runs";
  SLIPWAY_ASSIGN_OR_RETURN(
      Query q,
      Prepare(c, std::string("SELECT ") + kRunColumns + " FROM runs WHERE status = 'queued' ORDER BY id", kWhat));
  return ReadRuns(c, q);
}

namespace {

// Moves run `id` from `queued` to `to`, setting `time_column`; false when
// the run exists but is not queued.
Result<bool> LeaveQueueLocked(const Conn& c, int64_t id, RunStatus to, const std::string& error,
                              const char* time_column, int64_t ms, const std::string& what) {
  bool moved = false;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              std::string("UPDATE runs SET status = ?1, error = ?2, ") + time_column +
                                                  " = ?3 WHERE id = ?4 AND status = 'queued'",
                                              what));
    q.Bind(1, std::string_view(RunStatusName(to))).Bind(2, error).Bind(3, ms).Bind(4, id);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    moved = sqlite3_changes(c.db) > 0;
    if (moved) return Status::Ok();
    SLIPWAY_ASSIGN_OR_RETURN(Query exists, Prepare(c, "SELECT 1 FROM runs WHERE id = ?1", what));
    exists.Bind(1, id);
    SLIPWAY_ASSIGN_OR_RETURN(bool row, exists.Step());
    if (!row) return Error(c, what, "no such run", StatusCode::kNotFound);
    return exists.Run();
  }));
  return moved;
}

}  // namespace

Result<bool> SqliteStore::ClaimRun(int64_t id, int64_t started_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  return LeaveQueueLocked(c, id, RunStatus::kRunning, "", "started_ms", started_ms, "claim run " + std::to_string(id));
}

Result<bool> SqliteStore::FinishQueuedRun(int64_t id, RunStatus status, const std::string& error, int64_t finished_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "finish queued run " + std::to_string(id);
  if (!IsFinal(status)) {
    return Error(c, what, std::string("internal error: status '") + RunStatusName(status) + "' is not final",
                 StatusCode::kInternal);
  }
  return LeaveQueueLocked(c, id, status, error, "finished_ms", finished_ms, what);
}

Result<std::vector<RunCount>> SqliteStore::CountRuns() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "count runs";
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                            "SELECT environment, status, count(*), max(finished_ms) FROM runs "
                                            "GROUP BY environment, status ORDER BY environment, status",
                                            kWhat));
  std::vector<RunCount> counts;
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return counts;
    RunCount count;
    count.environment = q.Text(0);
    std::string status = q.Text(1);
    count.count = q.Int(2);
    count.last_finished_ms = q.Int(3);
    SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
    if (!ParseRunStatus(status, &count.status)) {
      return Error(c, kWhat, "unknown run status '" + status + "'", StatusCode::kInternal);
    }
    counts.push_back(std::move(count));
  }
}

// --- Environment state ---

namespace {

constexpr const char* kStateColumns =
    "environment, paused, held_run_id, paused_by, paused_ms, evaluated_commit, schedule_ms, drift, drift_reason, "
    "drift_checked_ms, drift_run_id";

Result<EnvironmentState> ReadState(Query& q) {
  EnvironmentState state;
  state.environment = q.Text(0);
  state.paused = q.Int(1) != 0;
  state.held_run_id = q.Int(2);
  state.paused_by = q.Text(3);
  state.paused_ms = q.Int(4);
  state.evaluated_commit = q.Text(5);
  state.schedule_ms = q.Int(6);
  state.drift = q.Text(7);
  state.drift_reason = q.Text(8);
  state.drift_checked_ms = q.Int(9);
  state.drift_run_id = q.Int(10);
  SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
  return state;
}

}  // namespace

Result<EnvironmentState> SqliteStore::GetEnvironmentState(const std::string& environment) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "get state of '" + environment + "'";
  SLIPWAY_ASSIGN_OR_RETURN(
      Query q,
      Prepare(c, std::string("SELECT ") + kStateColumns + " FROM environment_state WHERE environment = ?1", what));
  q.Bind(1, environment);
  SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) {
    EnvironmentState state;
    state.environment = environment;
    return state;
  }
  SLIPWAY_ASSIGN_OR_RETURN(EnvironmentState state, ReadState(q));
  SLIPWAY_RETURN_IF_ERROR(q.Run());
  return state;
}

Status SqliteStore::PutEnvironmentState(const EnvironmentState& state) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "put state of '" + state.environment + "'";
  return InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              R"sql(
INSERT INTO environment_state (environment, paused, held_run_id, paused_by, paused_ms, evaluated_commit, schedule_ms,
                               drift, drift_reason, drift_checked_ms, drift_run_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT (environment) DO UPDATE SET
  paused = excluded.paused, held_run_id = excluded.held_run_id, paused_by = excluded.paused_by,
  paused_ms = excluded.paused_ms, evaluated_commit = excluded.evaluated_commit,
  schedule_ms = excluded.schedule_ms, drift = excluded.drift, drift_reason = excluded.drift_reason,
  drift_checked_ms = excluded.drift_checked_ms, drift_run_id = excluded.drift_run_id)sql",
                                              what));
    q.Bind(1, state.environment)
        .Bind(2, int64_t{state.paused ? 1 : 0})
        .Bind(3, state.held_run_id)
        .Bind(4, state.paused_by)
        .Bind(5, state.paused_ms)
        .Bind(6, state.evaluated_commit)
        .Bind(7, state.schedule_ms)
        .Bind(8, state.drift)
        .Bind(9, state.drift_reason)
        .Bind(10, state.drift_checked_ms)
        .Bind(11, state.drift_run_id);
    return q.Run();
  });
}

Result<std::vector<EnvironmentState>> SqliteStore::ListEnvironmentStates() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "list environment states";
  SLIPWAY_ASSIGN_OR_RETURN(
      Query q,
      Prepare(c, std::string("SELECT ") + kStateColumns + " FROM environment_state ORDER BY environment", kWhat));
  std::vector<EnvironmentState> states;
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return states;
    SLIPWAY_ASSIGN_OR_RETURN(EnvironmentState state, ReadState(q));
    states.push_back(std::move(state));
  }
}

// --- API tokens ---

namespace {

Result<TokenRecord> ReadToken(const Conn& c, Query& q) {
  TokenRecord token;
  token.id = q.Int(0);
  token.name = q.Text(1);
  std::string role = q.Text(2);
  token.hash = q.Text(3);
  token.created_ms = q.Int(4);
  SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
  if (!ParseTokenRole(role, &token.role)) {
    return Error(c, q.what(), "token " + std::to_string(token.id) + " has an unknown role '" + role + "'",
                 StatusCode::kInternal);
  }
  return token;
}

}  // namespace

Result<int64_t> SqliteStore::CreateToken(const TokenRecord& token) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "create token";
  int64_t id = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, kWhat, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(
        Query q, Prepare(c, "INSERT INTO tokens (name, role, hash, created_ms) VALUES (?1, ?2, ?3, ?4)", kWhat));
    q.Bind(1, token.name)
        .Bind(2, std::string_view(TokenRoleName(token.role)))
        .Bind(3, token.hash)
        .Bind(4, token.created_ms);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    id = sqlite3_last_insert_rowid(c.db);
    return Status::Ok();
  }));
  return id;
}

Result<std::optional<TokenRecord>> SqliteStore::FindToken(const std::string& hash) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "find token";
  SLIPWAY_ASSIGN_OR_RETURN(Query q,
                           Prepare(c, "SELECT id, name, role, hash, created_ms FROM tokens WHERE hash = ?1", kWhat));
  q.Bind(1, hash);
  SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<TokenRecord>();
  SLIPWAY_ASSIGN_OR_RETURN(TokenRecord token, ReadToken(c, q));
  SLIPWAY_RETURN_IF_ERROR(q.Run());
  return std::optional<TokenRecord>(std::move(token));
}

Result<std::vector<TokenRecord>> SqliteStore::ListTokens() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "list tokens";
  SLIPWAY_ASSIGN_OR_RETURN(Query q,
                           Prepare(c, "SELECT id, name, role, hash, created_ms FROM tokens ORDER BY id", kWhat));
  std::vector<TokenRecord> tokens;
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return tokens;
    SLIPWAY_ASSIGN_OR_RETURN(TokenRecord token, ReadToken(c, q));
    tokens.push_back(std::move(token));
  }
}

Status SqliteStore::DeleteToken(int64_t id) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "delete token " + std::to_string(id);
  return InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, "DELETE FROM tokens WHERE id = ?1", what));
    q.Bind(1, id);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    if (sqlite3_changes(c.db) == 0) return Error(c, what, "no such token", StatusCode::kNotFound);
    return Status::Ok();
  });
}

// --- Webhook deliveries ---

Result<bool> SqliteStore::RecordDelivery(const Delivery& delivery, int64_t keep_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "record " + delivery.source + " delivery";
  bool recorded = false;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query prune, Prepare(c,
                                                  "DELETE FROM deliveries WHERE processed_ms != 0 "
                                                  "AND received_ms < ?1",
                                                  what));
    prune.Bind(1, delivery.received_ms - keep_ms);
    SLIPWAY_RETURN_IF_ERROR(prune.Run());
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              "INSERT INTO deliveries (source, delivery_id, payload, received_ms, "
                                              "processed_ms) VALUES (?1, ?2, ?3, ?4, ?5) "
                                              "ON CONFLICT (source, delivery_id) DO NOTHING",
                                              what));
    q.Bind(1, delivery.source)
        .Bind(2, delivery.delivery_id)
        .Bind(3, delivery.payload)
        .Bind(4, delivery.received_ms)
        .Bind(5, delivery.processed_ms);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    recorded = sqlite3_changes(c.db) > 0;
    return Status::Ok();
  }));
  return recorded;
}

Result<std::vector<Delivery>> SqliteStore::PendingDeliveries() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "list pending deliveries";
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                            "SELECT id, source, delivery_id, payload, received_ms, processed_ms "
                                            "FROM deliveries WHERE processed_ms = 0 ORDER BY id",
                                            kWhat));
  std::vector<Delivery> deliveries;
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return deliveries;
    Delivery d;
    d.id = q.Int(0);
    d.source = q.Text(1);
    d.delivery_id = q.Text(2);
    d.payload = q.Text(3);
    d.received_ms = q.Int(4);
    d.processed_ms = q.Int(5);
    SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
    deliveries.push_back(std::move(d));
  }
}

Status SqliteStore::MarkDeliveryProcessed(int64_t id, int64_t processed_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "mark delivery " + std::to_string(id) + " processed";
  return InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, "UPDATE deliveries SET processed_ms = ?1 WHERE id = ?2", what));
    q.Bind(1, processed_ms).Bind(2, id);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    if (sqlite3_changes(c.db) == 0) return Error(c, what, "no such delivery", StatusCode::kNotFound);
    return Status::Ok();
  });
}

// --- Fleet mode (one node with SQLite; doc/fleet.md) ---

Status SqliteStore::RegisterNode(const NodeRecord& node) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "register node '" + node.id + "'";
  return InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              "INSERT INTO nodes (id, address, version, started_ms, heartbeat_ms) "
                                              "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET "
                                              "address = excluded.address, version = excluded.version, "
                                              "started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms",
                                              what));
    q.Bind(1, node.id).Bind(2, node.address).Bind(3, node.version).Bind(4, node.started_ms).Bind(5, node.heartbeat_ms);
    return q.Run();
  });
}

Result<bool> SqliteStore::Heartbeat(const std::string& node_id, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "heartbeat of node '" + node_id + "'";
  bool found = false;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, "UPDATE nodes SET heartbeat_ms = ?1 WHERE id = ?2", what));
    q.Bind(1, now_ms).Bind(2, node_id);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    found = sqlite3_changes(c.db) > 0;
    return Status::Ok();
  }));
  return found;
}

Result<std::vector<NodeRecord>> SqliteStore::ListNodes() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "list nodes";
  std::vector<NodeRecord> nodes;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kRead, kWhat, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              "SELECT id, address, version, started_ms, heartbeat_ms FROM nodes "
                                              "ORDER BY started_ms, id",
                                              kWhat));
    for (;;) {
      SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      NodeRecord n;
      n.id = q.Text(0);
      n.address = q.Text(1);
      n.version = q.Text(2);
      n.started_ms = q.Int(3);
      n.heartbeat_ms = q.Int(4);
      SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
      nodes.push_back(std::move(n));
    }
    for (NodeRecord& n : nodes) {
      SLIPWAY_ASSIGN_OR_RETURN(
          Query r, Prepare(c, "SELECT id FROM runs WHERE status = 'running' AND node = ?1 ORDER BY id", kWhat));
      r.Bind(1, n.id);
      for (;;) {
        SLIPWAY_ASSIGN_OR_RETURN(bool row, r.Step());
        if (!row) break;
        n.running_run_ids.push_back(r.Int(0));
      }
    }
    return Status::Ok();
  }));
  return nodes;
}

Status SqliteStore::RemoveNode(const std::string& node_id) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "remove node '" + node_id + "'";
  return InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    for (const char* sql : {"DELETE FROM leases WHERE holder = ?1", "DELETE FROM nodes WHERE id = ?1"}) {
      SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, sql, what));
      q.Bind(1, node_id);
      SLIPWAY_RETURN_IF_ERROR(q.Run());
    }
    return Status::Ok();
  });
}

Result<std::optional<RunRecord>> SqliteStore::ClaimNextRun(const std::string& node_id, int64_t started_ms,
                                                           const std::vector<std::string>& busy) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "claim a queued run";
  std::optional<RunRecord> claimed;
  // BEGIN IMMEDIATE takes the database's one write lock: the choice and the
  // claim are one step for every process sharing the file.
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, kWhat, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q,
                             Prepare(c,
                                     "SELECT id, environment FROM runs q WHERE status = 'queued' AND NOT EXISTS "
                                     "(SELECT 1 FROM runs x WHERE x.environment = q.environment "
                                     "AND x.status = 'running') ORDER BY id",
                                     kWhat));
    int64_t id = 0;
    for (;;) {
      SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      std::string env = q.Text(1);
      if (std::find(busy.begin(), busy.end(), env) != busy.end()) continue;
      id = q.Int(0);
      break;
    }
    SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
    if (id == 0) return Status::Ok();
    SLIPWAY_ASSIGN_OR_RETURN(Query up, Prepare(c,
                                               "UPDATE runs SET status = 'running', started_ms = ?1, node = ?2, "
                                               "error = '' WHERE id = ?3",
                                               kWhat));
    up.Bind(1, started_ms).Bind(2, node_id).Bind(3, id);
    SLIPWAY_RETURN_IF_ERROR(up.Run());
    SLIPWAY_ASSIGN_OR_RETURN(Query get,
                             Prepare(c, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?1", kWhat));
    get.Bind(1, id);
    SLIPWAY_ASSIGN_OR_RETURN(std::vector<RunRecord> runs, ReadRuns(c, get));
    if (runs.size() != 1) return Error(c, kWhat, "the claimed run vanished", StatusCode::kInternal);
    claimed = std::move(runs.front());
    return Status::Ok();
  }));
  return claimed;
}

Result<std::vector<int64_t>> SqliteStore::OwnedRuns(const std::string& node_id, const std::vector<int64_t>& run_ids) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "runs of node '" + node_id + "'";
  std::vector<int64_t> owned;
  for (int64_t id : run_ids) {
    SLIPWAY_ASSIGN_OR_RETURN(Query q,
                             Prepare(c, "SELECT 1 FROM runs WHERE id = ?1 AND node = ?2 AND status = 'running'", what));
    q.Bind(1, id).Bind(2, node_id);
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) owned.push_back(id);
  }
  std::sort(owned.begin(), owned.end());
  return owned;
}

Result<ReapResult> SqliteStore::ReapLostNodes(int64_t now_ms, int64_t ttl_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "reap lost nodes";
  ReapResult result;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, kWhat, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(
        Query q, Prepare(c, "SELECT id, heartbeat_ms FROM nodes WHERE heartbeat_ms < ?1 ORDER BY id", kWhat));
    q.Bind(1, now_ms - ttl_ms);
    std::vector<std::pair<std::string, int64_t>> lost;
    for (;;) {
      SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      lost.emplace_back(q.Text(0), q.Int(1));
    }
    for (const auto& [node, heartbeat] : lost) {
      SLIPWAY_ASSIGN_OR_RETURN(
          Query ids, Prepare(c, "SELECT id FROM runs WHERE status = 'running' AND node = ?1 ORDER BY id", kWhat));
      ids.Bind(1, node);
      for (;;) {
        SLIPWAY_ASSIGN_OR_RETURN(bool row, ids.Step());
        if (!row) break;
        result.interrupted_run_ids.push_back(ids.Int(0));
      }
      SLIPWAY_ASSIGN_OR_RETURN(Query steps, Prepare(c,
                                                    "UPDATE steps SET status = 'cancelled' WHERE status = 'running' "
                                                    "AND run_id IN (SELECT id FROM runs WHERE status = 'running' "
                                                    "AND node = ?1)",
                                                    kWhat));
      steps.Bind(1, node);
      SLIPWAY_RETURN_IF_ERROR(steps.Run());
      SLIPWAY_ASSIGN_OR_RETURN(Query runs, Prepare(c,
                                                   "UPDATE runs SET status = 'interrupted', error = ?1, "
                                                   "finished_ms = CASE WHEN finished_ms = 0 THEN ?2 ELSE finished_ms "
                                                   "END WHERE status = 'running' AND node = ?3",
                                                   kWhat));
      runs.Bind(1, "node lost: " + node + " stopped heartbeating (last heartbeat " +
                       std::to_string((now_ms - heartbeat) / 1000) + " s before it was declared lost)")
          .Bind(2, now_ms)
          .Bind(3, node);
      SLIPWAY_RETURN_IF_ERROR(runs.Run());
      for (const char* sql : {"DELETE FROM leases WHERE holder = ?1", "DELETE FROM nodes WHERE id = ?1"}) {
        SLIPWAY_ASSIGN_OR_RETURN(Query d, Prepare(c, sql, kWhat));
        d.Bind(1, node);
        SLIPWAY_RETURN_IF_ERROR(d.Run());
      }
      result.lost_nodes.push_back(node);
    }
    return Status::Ok();
  }));
  std::sort(result.interrupted_run_ids.begin(), result.interrupted_run_ids.end());
  return result;
}

Result<bool> SqliteStore::AcquireLease(const std::string& name, const std::string& holder, int64_t now_ms,
                                       int64_t ttl_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "acquire lease '" + name + "'";
  bool held = false;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3) "
                                              "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                                              "expires_ms = excluded.expires_ms "
                                              "WHERE leases.holder = excluded.holder OR leases.expires_ms < ?4",
                                              what));
    q.Bind(1, name).Bind(2, holder).Bind(3, now_ms + ttl_ms).Bind(4, now_ms);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    held = sqlite3_changes(c.db) > 0;
    return Status::Ok();
  }));
  return held;
}

Status SqliteStore::ReleaseLease(const std::string& name, const std::string& holder) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "release lease '" + name + "'";
  return InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, "DELETE FROM leases WHERE name = ?1 AND holder = ?2", what));
    q.Bind(1, name).Bind(2, holder);
    return q.Run();
  });
}

Result<std::vector<LeaseRecord>> SqliteStore::ListLeases() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "list leases";
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c, "SELECT name, holder, expires_ms FROM leases ORDER BY name", kWhat));
  std::vector<LeaseRecord> leases;
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return leases;
    leases.push_back(LeaseRecord{q.Text(0), q.Text(1), q.Int(2)});
    SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
  }
}

Result<bool> SqliteStore::ClaimScheduleSlot(const std::string& environment, int64_t slot_ms, int64_t keep_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "claim schedule of '" + environment + "'";
  bool claimed = false;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query prune,
                             Prepare(c, "DELETE FROM schedule_fires WHERE environment = ?1 AND slot_ms < ?2", what));
    prune.Bind(1, environment).Bind(2, slot_ms - keep_ms);
    SLIPWAY_RETURN_IF_ERROR(prune.Run());
    SLIPWAY_ASSIGN_OR_RETURN(
        Query q,
        Prepare(c, "INSERT INTO schedule_fires (environment, slot_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING", what));
    q.Bind(1, environment).Bind(2, slot_ms);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    claimed = sqlite3_changes(c.db) > 0;
    return Status::Ok();
  }));
  return claimed;
}

Status SqliteStore::AppendLog(int64_t run_id, int64_t offset, const std::string& data) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "append to the log of run " + std::to_string(run_id);
  Status status = InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              "INSERT INTO run_logs (run_id, offset_bytes, data) VALUES (?1, ?2, ?3) "
                                              "ON CONFLICT DO NOTHING",
                                              what));
    q.Bind(1, run_id).Bind(2, offset).BindBlob(3, data);
    return q.Run();
  });
  if (status.code() == StatusCode::kNotFound) return Error(c, what, "no such run", StatusCode::kNotFound);
  return status;
}

Result<std::string> SqliteStore::ReadLog(int64_t run_id, int64_t offset, int64_t max_bytes) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "read the log of run " + std::to_string(run_id);
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                            "SELECT offset_bytes, data FROM run_logs WHERE run_id = ?1 "
                                            "AND offset_bytes + length(data) > ?2 ORDER BY offset_bytes LIMIT 64",
                                            what));
  q.Bind(1, run_id).Bind(2, offset);
  std::string out;
  int64_t at = offset;
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row || static_cast<int64_t>(out.size()) >= max_bytes) break;
    int64_t start = q.Int(0);
    if (start > at) break;  // a gap: only contiguous bytes
    std::string data = q.Text(1);
    SLIPWAY_RETURN_IF_ERROR(q.ColumnStatus());
    size_t skip = static_cast<size_t>(at - start);
    size_t take = std::min<size_t>(data.size() - skip, static_cast<size_t>(max_bytes) - out.size());
    out.append(data, skip, take);
    at += static_cast<int64_t>(take);
  }
  return out;
}

Result<int> SqliteStore::PruneLogs(int64_t before_ms, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "prune logs";
  int count = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, kWhat, [&]() -> Status {
    std::string old = std::string("SELECT id FROM runs WHERE status IN ") + kFinalStatuses + " AND finished_ms < ?1";
    SLIPWAY_ASSIGN_OR_RETURN(Query d, Prepare(c, "DELETE FROM run_logs WHERE run_id IN (" + old + ")", kWhat));
    d.Bind(1, before_ms);
    SLIPWAY_RETURN_IF_ERROR(d.Run());
    SLIPWAY_ASSIGN_OR_RETURN(Query mark,
                             Prepare(c,
                                     std::string("UPDATE runs SET log_pruned_ms = ?2 WHERE log_pruned_ms = 0 AND "
                                                 "status IN ") +
                                         kFinalStatuses + " AND finished_ms < ?1",
                                     kWhat));
    mark.Bind(1, before_ms).Bind(2, now_ms);
    SLIPWAY_RETURN_IF_ERROR(mark.Run());
    count = sqlite3_changes(c.db);
    return Status::Ok();
  }));
  return count;
}

Result<bool> SqliteStore::RequestCancel(int64_t id, const std::string& actor, int64_t now_ms) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "request cancel of run " + std::to_string(id);
  bool recorded = false;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kWrite, what, [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                              "UPDATE runs SET cancel_requested_by = CASE WHEN cancel_requested_ms = 0 "
                                              "THEN ?2 ELSE cancel_requested_by END, cancel_requested_ms = CASE WHEN "
                                              "cancel_requested_ms = 0 THEN ?3 ELSE cancel_requested_ms END "
                                              "WHERE id = ?1 AND status = 'running'",
                                              what));
    q.Bind(1, id).Bind(2, actor).Bind(3, now_ms);
    SLIPWAY_RETURN_IF_ERROR(q.Run());
    recorded = sqlite3_changes(c.db) > 0;
    if (recorded) return Status::Ok();
    SLIPWAY_ASSIGN_OR_RETURN(Query exists, Prepare(c, "SELECT 1 FROM runs WHERE id = ?1", what));
    exists.Bind(1, id);
    SLIPWAY_ASSIGN_OR_RETURN(bool row, exists.Step());
    if (!row) return Error(c, what, "no such run", StatusCode::kNotFound);
    return exists.Run();
  }));
  return recorded;
}

Result<std::vector<RunRecord>> SqliteStore::CancelRequests(const std::string& node_id) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  std::string what = "cancel requests of node '" + node_id + "'";
  SLIPWAY_ASSIGN_OR_RETURN(Query q, Prepare(c,
                                            std::string("SELECT ") + kRunColumns +
                                                " FROM runs WHERE status = 'running' AND node = ?1 "
                                                "AND cancel_requested_ms != 0 ORDER BY id",
                                            what));
  q.Bind(1, node_id);
  return ReadRuns(c, q);
}

Result<int> SqliteStore::SchemaVersion() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  int version = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, TxKind::kRead, "read schema version", [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(version, ReadSchemaVersion(c));
    return Status::Ok();
  }));
  return version;
}

Status SqliteStore::CheckIntegrity() {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  constexpr std::string_view kWhat = "integrity check";
  std::string findings;
  SLIPWAY_ASSIGN_OR_RETURN(Query integrity, Prepare(c, "PRAGMA integrity_check", kWhat));
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, integrity.Step());
    if (!row) break;
    std::string line = integrity.Text(0);
    SLIPWAY_RETURN_IF_ERROR(integrity.ColumnStatus());
    if (line != "ok") findings += (findings.empty() ? "" : "; ") + line;
  }
  SLIPWAY_ASSIGN_OR_RETURN(Query fk, Prepare(c, "PRAGMA foreign_key_check", kWhat));
  for (;;) {
    SLIPWAY_ASSIGN_OR_RETURN(bool row, fk.Step());
    if (!row) break;
    std::string line =
        "row " + std::to_string(fk.Int(1)) + " of " + fk.Text(0) + " refers to a missing row of " + fk.Text(2);
    SLIPWAY_RETURN_IF_ERROR(fk.ColumnStatus());
    findings += (findings.empty() ? "" : "; ") + line;
  }
  if (!findings.empty()) return Error(c, kWhat, findings, StatusCode::kIo);
  return Status::Ok();
}

Status SqliteStore::TEST_Exec(const std::string& sql) {
  std::lock_guard lock(mu_);
  Conn c{db_.get(), &path_};
  return Exec(c, sql.c_str(), "exec");
}

}  // namespace slipway
