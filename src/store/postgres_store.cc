#include "store/postgres_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <iterator>
#include <string_view>
#include <utility>

#include "dynlib/libpq.h"
#include "store/refused_write.h"
#include "util/clock.h"

namespace slipway {

PgConn::~PgConn() { PQfinish(conn_); }

PgConn& PgConn::operator=(PgConn&& other) noexcept {
  if (this != &other) {
    PQfinish(conn_);
    conn_ = other.Release();
  }
  return *this;
}

std::string RedactPostgresUrl(const std::string& url) {
  // postgresql://[userinfo@]host[:port][/db][?params]: keep host, port, db.
  std::string rest = url;
  size_t scheme = rest.find("://");
  if (scheme != std::string::npos) rest = rest.substr(scheme + 3);
  size_t query = rest.find('?');
  if (query != std::string::npos) rest = rest.substr(0, query);
  size_t at = rest.rfind('@');
  if (at != std::string::npos) rest = rest.substr(at + 1);
  if (rest.empty() || rest[0] == '/') rest = "localhost" + rest;
  return rest;
}

namespace {

// Move-only owner of a query result; PQclear on destruction.
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* res) : res_(res) {}
  ~PgResult() { PQclear(res_); }
  PgResult(PgResult&& other) noexcept : res_(std::exchange(other.res_, nullptr)) {}
  PgResult& operator=(PgResult&& other) noexcept {
    if (this != &other) {
      PQclear(res_);
      res_ = std::exchange(other.res_, nullptr);
    }
    return *this;
  }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  PGresult* get() const { return res_; }
  int Rows() const { return PQntuples(res_); }
  bool IsNull(int row, int col) const { return PQgetisnull(res_, row, col) != 0; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(res_, row, col), static_cast<size_t>(PQgetlength(res_, row, col)));
  }
  int64_t Int(int row, int col) const { return IsNull(row, col) ? 0 : std::stoll(PQgetvalue(res_, row, col)); }
  bool Bool(int row, int col) const { return PQgetvalue(res_, row, col)[0] == 't'; }
  // A bytea column in text format: "\x" then hex digits.
  std::string Bytes(int row, int col) const {
    const char* v = PQgetvalue(res_, row, col);
    size_t n = static_cast<size_t>(PQgetlength(res_, row, col));
    std::string out;
    if (n < 2 || v[0] != '\\' || v[1] != 'x') return std::string(v, n);
    out.reserve((n - 2) / 2);
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return c - 'A' + 10;
    };
    for (size_t i = 2; i + 1 < n; i += 2) out.push_back(static_cast<char>(nibble(v[i]) * 16 + nibble(v[i + 1])));
    return out;
  }
  // Rows changed by an INSERT, UPDATE or DELETE.
  int64_t Changed() const {
    const char* n = PQcmdTuples(res_);
    return n[0] == '\0' ? 0 : std::stoll(n);
  }

 private:
  PGresult* res_ = nullptr;
};

// Parameters of one statement. Strings and numbers go as text; bytea values
// as binary, so that any bytes (a NUL in an error message) round-trip.
class Params {
 public:
  Params& Text(std::string_view v) { return Add(std::string(v), 0); }
  Params& Int(int64_t v) { return Add(std::to_string(v), 0); }
  Params& Bool(bool v) { return Add(v ? "t" : "f", 0); }
  Params& Bytes(std::string_view v) { return Add(std::string(v), 1); }
  Params& OptInt(std::optional<int> v) {
    if (v) return Int(*v);
    values_.emplace_back();
    formats_.push_back(0);
    nulls_.push_back(true);
    return *this;
  }
  // A text[] literal: {"a","b"} with " and \ escaped.
  Params& TextArray(const std::vector<std::string>& items) {
    std::string lit = "{";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) lit += ',';
      lit += '"';
      for (char c : items[i]) {
        if (c == '"' || c == '\\') lit += '\\';
        lit += c;
      }
      lit += '"';
    }
    lit += '}';
    return Add(std::move(lit), 0);
  }
  Params& IntArray(const std::vector<int64_t>& items) {
    std::string lit = "{";
    for (size_t i = 0; i < items.size(); ++i) lit += (i > 0 ? "," : "") + std::to_string(items[i]);
    lit += '}';
    return Add(std::move(lit), 0);
  }

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers stay valid while this object lives and is not changed.
  void Arrays(std::vector<const char*>* values, std::vector<int>* lengths) const {
    values->clear();
    lengths->clear();
    for (size_t i = 0; i < values_.size(); ++i) {
      values->push_back(nulls_[i] ? nullptr : values_[i].data());
      lengths->push_back(static_cast<int>(values_[i].size()));
    }
  }
  const int* formats() const { return formats_.data(); }

 private:
  Params& Add(std::string v, int format) {
    values_.push_back(std::move(v));
    formats_.push_back(format);
    nulls_.push_back(false);
    return *this;
  }
  std::vector<std::string> values_;
  std::vector<int> formats_;
  std::vector<bool> nulls_;
};

StatusCode CodeOfState(const std::string& state) {
  if (state == "23505") return StatusCode::kAlreadyExists;  // unique_violation
  if (state == "23503") return StatusCode::kNotFound;       // foreign_key_violation
  if (state == "53100") return StatusCode::kNoSpace;        // disk_full
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57014") return StatusCode::kTimeout;
  if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
    return StatusCode::kNetwork;
  }
  if (state.rfind("28", 0) == 0 || state == "42501") return StatusCode::kPermissionDenied;
  if (state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0) return StatusCode::kInvalidArgument;
  if (state.rfind("53", 0) == 0 || state.rfind("58", 0) == 0) return StatusCode::kIo;
  return StatusCode::kInternal;  // 42xxx (bad SQL) and the like: our bugs
}

// libpq's messages end with a newline and may span lines.
std::string OneLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

Status Error(const std::string& name, std::string_view what, std::string_view detail, StatusCode code) {
  std::string message = "postgresql '" + name + "': ";
  message.append(what).append(": ").append(detail);
  return Status(code, std::move(message));
}

// A connection with the name messages give it.
struct Conn {
  PGconn* conn;
  const std::string* name;
};

// The one place where a libpq failure becomes a Status.
Status PgError(const Conn& c, std::string_view what, const PGresult* res) {
  if (res == nullptr || PQstatus(c.conn) != CONNECTION_OK) {
    std::string detail = OneLine(PQerrorMessage(c.conn));
    if (detail.empty()) detail = "the connection was lost";
    return Error(*c.name, what, detail + " (is the server running and reachable?)", StatusCode::kNetwork);
  }
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  std::string detail = primary != nullptr ? primary : OneLine(PQresultErrorMessage(res));
  return Error(*c.name, what, detail, CodeOfState(state != nullptr ? state : ""));
}

Result<PgResult> Exec(const Conn& c, std::string_view sql, const Params& params, std::string_view what) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  params.Arrays(&values, &lengths);
  std::string text(sql);
  PgResult res(PQexecParams(c.conn, text.c_str(), params.size(), nullptr, values.data(), lengths.data(),
                            params.formats(), /*resultFormat=*/0));
  ExecStatusType st = res.get() != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return PgError(c, what, res.get());
  return res;
}

// Without parameters: the simple protocol, which allows several statements
// (the migrations).
Result<PgResult> Exec(const Conn& c, std::string_view sql, std::string_view what) {
  std::string text(sql);
  PgResult res(PQexec(c.conn, text.c_str()));
  ExecStatusType st = res.get() != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return PgError(c, what, res.get());
  return res;
}

// Runs body in a transaction: COMMIT when it returns OK, ROLLBACK otherwise.
Status InTransaction(const Conn& c, std::string_view what, const std::function<Status()>& body) {
  SLIPWAY_RETURN_IF_ERROR(Exec(c, "BEGIN", std::string(what) + ": begin transaction").status());
  Status status = body();
  if (status.ok()) {
    status = Exec(c, "COMMIT", std::string(what) + ": commit").status();
    if (status.ok()) return status;
  }
  if (PQstatus(c.conn) == CONNECTION_OK && PQtransactionStatus(c.conn) != PQTRANS_IDLE) {
    Status rollback = Exec(c, "ROLLBACK", std::string(what) + ": roll back").status();
    if (!rollback.ok()) return Status(status.code(), status.message() + "; " + rollback.message());
  }
  return status;
}

// The schema, as an append-only list: migration N (1-based) takes a database
// from version N-1 to N. Version 1 holds everything SQLite's versions 1-4
// hold, plus what only a fleet needs (doc/store.md).
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE runs (
  id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,  -- never reused
  environment     TEXT    NOT NULL,
  kind            TEXT    NOT NULL,
  "trigger"       TEXT    NOT NULL,
  actor           TEXT    NOT NULL,
  status          TEXT    NOT NULL,  -- RunStatusName()
  settings_commit TEXT    NOT NULL,
  code_url        TEXT    NOT NULL,
  code_ref        TEXT    NOT NULL,
  code_commit     TEXT    NOT NULL,
  branch_pin      BOOLEAN NOT NULL,
  requested_ref   TEXT    NOT NULL,
  created_ms      BIGINT  NOT NULL,
  started_ms      BIGINT  NOT NULL,
  finished_ms     BIGINT  NOT NULL,
  error           BYTEA   NOT NULL,  -- any bytes (a step's output may hold a NUL)
  log_path        TEXT    NOT NULL,
  workspace       TEXT    NOT NULL,
  exported_json   BYTEA   NOT NULL,
  signer          TEXT    NOT NULL,
  context_json    BYTEA   NOT NULL,
  node            TEXT    NOT NULL DEFAULT ''  -- the node running it (fleet), '' otherwise
);
CREATE INDEX runs_by_environment ON runs (environment, id DESC);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_running_by_node ON runs (node) WHERE status = 'running';
CREATE UNIQUE INDEX runs_one_floating_queued ON runs (environment, kind, requested_ref)
  WHERE status = 'queued' AND settings_commit = '' AND code_commit = '';
-- The fleet's guarantee: one environment never deploys on two nodes at once,
-- whatever the timing of their claims.
CREATE UNIQUE INDEX runs_one_running_deploy ON runs (environment) WHERE status = 'running' AND kind = 'deploy';

CREATE TABLE steps (
  run_id      BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  idx         INTEGER NOT NULL CHECK (idx >= 0),
  name        TEXT    NOT NULL,
  status      TEXT    NOT NULL,
  exit_code   INTEGER,
  started_ms  BIGINT  NOT NULL,
  duration_ms BIGINT  NOT NULL,
  PRIMARY KEY (run_id, idx)
);

CREATE TABLE deployments (
  environment     TEXT   PRIMARY KEY,
  run_id          BIGINT NOT NULL REFERENCES runs (id),
  settings_commit TEXT   NOT NULL,
  code_url        TEXT   NOT NULL,
  code_ref        TEXT   NOT NULL,
  code_commit     TEXT   NOT NULL,
  deployed_ms     BIGINT NOT NULL
);

CREATE TABLE build_numbers (
  environment TEXT   PRIMARY KEY,
  last        BIGINT NOT NULL CHECK (last >= 1)
);

CREATE TABLE environment_state (
  environment      TEXT    PRIMARY KEY,
  paused           BOOLEAN NOT NULL,
  held_run_id      BIGINT  NOT NULL,
  paused_by        TEXT    NOT NULL,
  paused_ms        BIGINT  NOT NULL,
  evaluated_commit TEXT    NOT NULL,
  schedule_ms      BIGINT  NOT NULL,
  drift            TEXT    NOT NULL,
  drift_reason     TEXT    NOT NULL,
  drift_checked_ms BIGINT  NOT NULL,
  drift_run_id     BIGINT  NOT NULL
);

CREATE TABLE tokens (
  id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name       TEXT   NOT NULL,
  role       TEXT   NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  hash       TEXT   NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL
);

CREATE TABLE deliveries (
  id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  source       TEXT   NOT NULL,
  delivery_id  TEXT   NOT NULL,
  payload      BYTEA  NOT NULL,
  received_ms  BIGINT NOT NULL,
  processed_ms BIGINT NOT NULL,
  UNIQUE (source, delivery_id)
);
CREATE INDEX deliveries_by_processed ON deliveries (processed_ms, id);

CREATE TABLE nodes (
  id           TEXT   PRIMARY KEY,
  address      TEXT   NOT NULL,
  version      TEXT   NOT NULL,
  started_ms   BIGINT NOT NULL,
  heartbeat_ms BIGINT NOT NULL
);

CREATE TABLE leases (
  name       TEXT   PRIMARY KEY,
  holder     TEXT   NOT NULL,
  expires_ms BIGINT NOT NULL
);

CREATE TABLE schedule_fires (
  environment TEXT   NOT NULL,
  slot_ms     BIGINT NOT NULL,
  PRIMARY KEY (environment, slot_ms)
);

CREATE TABLE run_logs (
  run_id       BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  offset_bytes BIGINT NOT NULL CHECK (offset_bytes >= 0),
  data         BYTEA  NOT NULL,
  PRIMARY KEY (run_id, offset_bytes)
);
)sql",
    // 2: a cancel asked for through another node than the one running the
    // run; log retention (log_retention_days) records which runs' logs were
    // deleted. Additive: nodes of version 1 keep working during an upgrade.
    R"sql(
ALTER TABLE runs ADD COLUMN cancel_requested_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cancel_requested_by TEXT   NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN log_pruned_ms       BIGINT NOT NULL DEFAULT 0;
)sql",
};

constexpr int kLatestVersion = static_cast<int>(std::size(kMigrations));

// Any 64-bit number unlikely to collide with another application's lock.
constexpr const char* kMigrationLockKey = "7301846015528317440";

constexpr const char* kRunColumns =
    R"sql(id, environment, kind, "trigger", actor, status, settings_commit, code_url, code_ref, code_commit,
branch_pin, requested_ref, created_ms, started_ms, finished_ms, error, log_path, workspace, exported_json, signer,
context_json, cancel_requested_ms, cancel_requested_by, log_pruned_ms, node)sql";

// The final statuses (IsFinal), for SQL.
constexpr const char* kFinalStatuses = "('succeeded', 'failed', 'cancelled', 'timed_out', 'interrupted')";

constexpr const char* kRunInsert = R"sql(
INSERT INTO runs (environment, kind, "trigger", actor, status, settings_commit, code_url, code_ref, code_commit,
                  branch_pin, requested_ref, created_ms, started_ms, finished_ms, error, log_path, workspace,
                  exported_json, signer, context_json)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20))sql";

// The run's fields in kRunColumns order without the id, as $1..$20.
Params RunParams(const RunRecord& run) {
  Params p;
  p.Text(run.environment)
      .Text(run.kind)
      .Text(run.trigger)
      .Text(run.actor)
      .Text(RunStatusName(run.status))
      .Text(run.settings_commit)
      .Text(run.code_url)
      .Text(run.code_ref)
      .Text(run.code_commit)
      .Bool(run.branch_pin)
      .Text(run.requested_ref)
      .Int(run.created_ms)
      .Int(run.started_ms)
      .Int(run.finished_ms)
      .Bytes(run.error)
      .Text(run.log_path)
      .Text(run.workspace)
      .Bytes(run.exported_json)
      .Text(run.signer)
      .Bytes(run.context_json);
  return p;
}

Result<RunRecord> ReadRun(const Conn& c, const PgResult& r, int row, std::string_view what) {
  RunRecord run;
  run.id = r.Int(row, 0);
  run.environment = r.Text(row, 1);
  run.kind = r.Text(row, 2);
  run.trigger = r.Text(row, 3);
  run.actor = r.Text(row, 4);
  std::string status = r.Text(row, 5);
  run.settings_commit = r.Text(row, 6);
  run.code_url = r.Text(row, 7);
  run.code_ref = r.Text(row, 8);
  run.code_commit = r.Text(row, 9);
  run.branch_pin = r.Bool(row, 10);
  run.requested_ref = r.Text(row, 11);
  run.created_ms = r.Int(row, 12);
  run.started_ms = r.Int(row, 13);
  run.finished_ms = r.Int(row, 14);
  run.error = r.Bytes(row, 15);
  run.log_path = r.Text(row, 16);
  run.workspace = r.Text(row, 17);
  run.exported_json = r.Bytes(row, 18);
  run.signer = r.Text(row, 19);
  run.context_json = r.Bytes(row, 20);
  run.cancel_requested_ms = r.Int(row, 21);
  run.cancel_requested_by = r.Text(row, 22);
  run.log_pruned_ms = r.Int(row, 23);
  run.node = r.Text(row, 24);
  if (!ParseRunStatus(status, &run.status)) {
    return Error(*c.name, what, "run " + std::to_string(run.id) + " has an unknown status '" + status + "'",
                 StatusCode::kInternal);
  }
  return run;
}

Result<std::vector<RunRecord>> ReadRuns(const Conn& c, const PgResult& r, std::string_view what) {
  std::vector<RunRecord> runs;
  for (int i = 0; i < r.Rows(); ++i) {
    SLIPWAY_ASSIGN_OR_RETURN(RunRecord run, ReadRun(c, r, i, what));
    runs.push_back(std::move(run));
  }
  return runs;
}

Status PutStepIn(const Conn& c, int64_t run_id, const StepRecord& step, std::string_view what) {
  Params p;
  p.Int(run_id)
      .Int(step.index)
      .Text(step.name)
      .Text(StepStatusName(step.status))
      .OptInt(step.exit_code)
      .Int(step.started_ms)
      .Int(step.duration_ms);
  Result<PgResult> r = Exec(c, R"sql(
INSERT INTO steps (run_id, idx, name, status, exit_code, started_ms, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (run_id, idx) DO UPDATE SET
  name = excluded.name, status = excluded.status, exit_code = excluded.exit_code,
  started_ms = excluded.started_ms, duration_ms = excluded.duration_ms)sql",
                            p, what);
  if (r.status().code() == StatusCode::kNotFound) {
    return Error(*c.name, what, "no run " + std::to_string(run_id), StatusCode::kNotFound);
  }
  return r.status();
}

// Overwrites a run's fields when the stored run matches `condition` (SQL on
// runs; $5 is run.status). NotFound when there is no such run; kFailed
// (nothing written) when the condition refused it, with `refused` saying why
// from the stored status. *written (when given) tells whether a row changed.
Status UpdateRunIn(const Conn& c, const RunRecord& run, std::string_view what, const std::string& condition,
                   std::string (*refused)(const RunRecord&, const std::string& stored), bool* written = nullptr) {
  Params p = RunParams(run);
  p.Int(run.id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c, R"sql(
UPDATE runs SET environment = $1, kind = $2, "trigger" = $3, actor = $4, status = $5, settings_commit = $6,
  code_url = $7, code_ref = $8, code_commit = $9, branch_pin = $10, requested_ref = $11, created_ms = $12,
  started_ms = $13, finished_ms = $14, error = $15, log_path = $16, workspace = $17, exported_json = $18,
  signer = $19, context_json = $20
WHERE id = $21 AND )sql" + condition,
                                            p, what));
  if (written != nullptr) *written = r.Changed() > 0;
  if (r.Changed() > 0) return Status::Ok();
  Params q;
  q.Int(run.id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult stored, Exec(c, "SELECT status, finished_ms FROM runs WHERE id = $1", q, what));
  if (stored.Rows() == 0) return Error(*c.name, what, "no such run", StatusCode::kNotFound);
  // A repeated FinishRun whose first attempt was applied: nothing to do.
  if (stored.Text(0, 0) == RunStatusName(run.status) && stored.Int(0, 1) == run.finished_ms) return Status::Ok();
  return Error(*c.name, what, refused(run, stored.Text(0, 0)), StatusCode::kFailed);
}

Status UpdateRunIn(const Conn& c, const RunRecord& run, std::string_view what) {
  return UpdateRunIn(c, run, what, std::string("(status NOT IN ") + kFinalStatuses + " OR status = $5)",
                     FinalStatusKeptMessage);
}

Result<int> ReadSchemaVersion(const Conn& c) {
  constexpr std::string_view kWhat = "read schema version";
  SLIPWAY_ASSIGN_OR_RETURN(PgResult exists, Exec(c, "SELECT to_regclass('schema_version') IS NOT NULL", kWhat));
  if (exists.Rows() == 0 || !exists.Bool(0, 0)) return 0;
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c, "SELECT coalesce(max(version), 0) FROM schema_version", kWhat));
  return static_cast<int>(r.Int(0, 0));
}

Status Migrate(const Conn& c) {
  // A session lock: held across the migrations' own transactions, so that
  // nodes starting together wait for one another instead of racing.
  SLIPWAY_RETURN_IF_ERROR(
      Exec(c, std::string("SELECT pg_advisory_lock(") + kMigrationLockKey + ")", "take the migration lock").status());
  Status status = [&]() -> Status {
    SLIPWAY_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(c));
    if (version > kLatestVersion) {
      return Error(*c.name, "open",
                   "database schema version " + std::to_string(version) + " is newer than this slipway understands (" +
                       std::to_string(kLatestVersion) + "); upgrade slipway, or point it at another database",
                   StatusCode::kInvalidArgument);
    }
    while (version < kLatestVersion) {
      std::string what = "migrate schema to version " + std::to_string(version + 1);
      SLIPWAY_RETURN_IF_ERROR(InTransaction(c, what, [&]() -> Status {
        SLIPWAY_RETURN_IF_ERROR(Exec(c,
                                     "CREATE TABLE IF NOT EXISTS schema_version ("
                                     "version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)",
                                     what)
                                    .status());
        SLIPWAY_RETURN_IF_ERROR(Exec(c, kMigrations[version], what).status());
        Params p;
        p.Int(version + 1).Int(NowMs());
        return Exec(c, "INSERT INTO schema_version (version, applied_ms) VALUES ($1, $2)", p, what).status();
      }));
      ++version;
    }
    return Status::Ok();
  }();
  Status unlock =
      Exec(c, std::string("SELECT pg_advisory_unlock(") + kMigrationLockKey + ")", "release the migration lock")
          .status();
  return status.ok() ? unlock : status;
}

// Connects; kNetwork, kPermissionDenied or kInvalidArgument on failure.
Result<PgConn> Connect(const std::string& url, const std::string& name, const PostgresStoreOptions& options) {
  std::string timeout = std::to_string(options.connect_timeout_s);
  std::string pg_options = "-c statement_timeout=" + std::to_string(options.statement_timeout_ms);
  // Earlier keywords are defaults that the URL (expanded from dbname) overrides.
  const char* keywords[] = {"connect_timeout", "options", "application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), pg_options.c_str(), "slipway", url.c_str(), nullptr};
  PgConn conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (conn.get() == nullptr) return Error(name, "connect", "out of memory", StatusCode::kInternal);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string detail = OneLine(PQerrorMessage(conn.get()));
    StatusCode code = StatusCode::kNetwork;
    if (detail.find("password") != std::string::npos || detail.find("authentication") != std::string::npos) {
      code = StatusCode::kPermissionDenied;
    } else if (detail.find("invalid") != std::string::npos || detail.find("missing") != std::string::npos) {
      code = StatusCode::kInvalidArgument;
    }
    return Error(name, "connect", detail, code);
  }
  return conn;
}

}  // namespace

PostgresStore::PostgresStore(std::string url, std::string name, PostgresStoreOptions options, PgConn conn)
    : url_(std::move(url)), name_(std::move(name)), options_(options), conn_(std::move(conn)) {}

PostgresStore::~PostgresStore() = default;

int PostgresStore::LatestSchemaVersion() { return kLatestVersion; }

Result<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url,
                                                           const PostgresStoreOptions& options) {
  SLIPWAY_RETURN_IF_ERROR(LoadLibpq());
  std::string name = RedactPostgresUrl(url);
  SLIPWAY_ASSIGN_OR_RETURN(PgConn conn, Connect(url, name, options));
  Conn c{conn.get(), &name};
  SLIPWAY_RETURN_IF_ERROR(Migrate(c));
  return std::unique_ptr<PostgresStore>(new PostgresStore(url, name, options, std::move(conn)));
}

// Every method: take mu_, make sure the connection is up, run.
#define SLIPWAY_PG_CONN()                                                                                       \
  std::lock_guard lock(mu_);                                                                                    \
  if (PQstatus(conn_.get()) != CONNECTION_OK) PQreset(conn_.get());                                             \
  Conn c{conn_.get(), &name_};                                                                                  \
  if (PQstatus(c.conn) != CONNECTION_OK) {                                                                      \
    return Error(name_, "connect", OneLine(PQerrorMessage(c.conn)) + " (is the server running and reachable?)", \
                 StatusCode::kNetwork);                                                                         \
  }

Result<int64_t> PostgresStore::CreateRun(const RunRecord& run) {
  SLIPWAY_PG_CONN();
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r,
                           Exec(c, std::string(kRunInsert) + " RETURNING id", RunParams(run), "insert run"));
  return r.Int(0, 0);
}

Status PostgresStore::UpdateRun(const RunRecord& run) {
  SLIPWAY_PG_CONN();
  return UpdateRunIn(c, run, "update run " + std::to_string(run.id));
}

Status PostgresStore::PutStep(int64_t run_id, const StepRecord& step) {
  SLIPWAY_PG_CONN();
  return PutStepIn(c, run_id, step, "put step " + std::to_string(step.index) + " of run " + std::to_string(run_id));
}

Status PostgresStore::UpdateRunAndSteps(const RunRecord& run) {
  SLIPWAY_PG_CONN();
  std::string what = "update run " + std::to_string(run.id) + " and its steps";
  return InTransaction(c, what, [&]() -> Status {
    SLIPWAY_RETURN_IF_ERROR(UpdateRunIn(c, run, what));
    for (const StepRecord& step : run.steps) SLIPWAY_RETURN_IF_ERROR(PutStepIn(c, run.id, step, what));
    return Status::Ok();
  });
}

Status PostgresStore::FinishRun(const RunRecord& run, bool deployed) {
  SLIPWAY_PG_CONN();
  std::string what = "finish run " + std::to_string(run.id);
  if (!IsFinal(run.status)) {
    return Error(name_, what, std::string("internal error: status '") + RunStatusName(run.status) + "' is not final",
                 StatusCode::kInternal);
  }
  return InTransaction(c, what, [&]() -> Status {
    // Only a run still `running` (store.h): a node declared lost must not
    // overwrite the `interrupted` another node wrote.
    bool written = false;
    SLIPWAY_RETURN_IF_ERROR(UpdateRunIn(c, run, what, "status = 'running'", NoLongerRunningMessage, &written));
    if (!written) return Status::Ok();  // a repeated FinishRun, applied before
    for (const StepRecord& step : run.steps) SLIPWAY_RETURN_IF_ERROR(PutStepIn(c, run.id, step, what));
    if (!deployed || run.status != RunStatus::kSucceeded) return Status::Ok();
    Params p;
    p.Text(run.environment)
        .Int(run.id)
        .Text(run.settings_commit)
        .Text(run.code_url)
        .Text(run.code_ref)
        .Text(run.code_commit)
        .Int(run.finished_ms);
    return Exec(c, R"sql(
INSERT INTO deployments (environment, run_id, settings_commit, code_url, code_ref, code_commit, deployed_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (environment) DO UPDATE SET
  run_id = excluded.run_id, settings_commit = excluded.settings_commit, code_url = excluded.code_url,
  code_ref = excluded.code_ref, code_commit = excluded.code_commit, deployed_ms = excluded.deployed_ms)sql",
                p, what)
        .status();
  });
}

Result<RunRecord> PostgresStore::GetRun(int64_t id) {
  SLIPWAY_PG_CONN();
  std::string what = "get run " + std::to_string(id);
  RunRecord run;
  // REPEATABLE READ: the run and its steps from one snapshot.
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, what, [&]() -> Status {
    SLIPWAY_RETURN_IF_ERROR(Exec(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", what).status());
    Params p;
    p.Int(id);
    SLIPWAY_ASSIGN_OR_RETURN(PgResult r,
                             Exec(c, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = $1", p, what));
    if (r.Rows() == 0) return Error(name_, what, "no such run", StatusCode::kNotFound);
    SLIPWAY_ASSIGN_OR_RETURN(run, ReadRun(c, r, 0, what));
    SLIPWAY_ASSIGN_OR_RETURN(PgResult s, Exec(c,
                                              "SELECT idx, name, status, exit_code, started_ms, duration_ms FROM steps "
                                              "WHERE run_id = $1 ORDER BY idx",
                                              p, what));
    for (int i = 0; i < s.Rows(); ++i) {
      StepRecord step;
      step.index = static_cast<int>(s.Int(i, 0));
      step.name = s.Text(i, 1);
      std::string status = s.Text(i, 2);
      if (!s.IsNull(i, 3)) step.exit_code = static_cast<int>(s.Int(i, 3));
      step.started_ms = s.Int(i, 4);
      step.duration_ms = s.Int(i, 5);
      if (!ParseStepStatus(status, &step.status)) {
        return Error(name_, what, "step " + std::to_string(step.index) + " has an unknown status '" + status + "'",
                     StatusCode::kInternal);
      }
      run.steps.push_back(std::move(step));
    }
    return Status::Ok();
  }));
  return run;
}

Result<std::vector<RunRecord>> PostgresStore::ListRuns(const RunFilter& filter) {
  SLIPWAY_PG_CONN();
  constexpr std::string_view kWhat = "list runs";
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE true";
  Params p;
  int n = 0;
  if (!filter.environment.empty()) {
    sql += " AND environment = $" + std::to_string(++n);
    p.Text(filter.environment);
  }
  if (filter.status) {
    sql += " AND status = $" + std::to_string(++n);
    p.Text(RunStatusName(*filter.status));
  }
  if (filter.before_id > 0) {
    sql += " AND id < $" + std::to_string(++n);
    p.Int(filter.before_id);
  }
  sql += " ORDER BY id DESC";
  if (filter.limit > 0) sql += " LIMIT " + std::to_string(filter.limit);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c, sql, p, kWhat));
  return ReadRuns(c, r, kWhat);
}

Result<std::optional<RunRecord>> PostgresStore::LastRun(const std::string& environment) {
  SLIPWAY_PG_CONN();
  std::string what = "last run of '" + environment + "'";
  Params p;
  p.Text(environment);
  SLIPWAY_ASSIGN_OR_RETURN(
      PgResult r,
      Exec(c, std::string("SELECT ") + kRunColumns + " FROM runs WHERE environment = $1 ORDER BY id DESC LIMIT 1", p,
           what));
  if (r.Rows() == 0) return std::optional<RunRecord>();
  SLIPWAY_ASSIGN_OR_RETURN(RunRecord run, ReadRun(c, r, 0, what));
  return std::optional<RunRecord>(std::move(run));
}

Result<std::optional<Deployment>> PostgresStore::CurrentDeployment(const std::string& environment) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(environment);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            "SELECT run_id, settings_commit, code_url, code_ref, code_commit, "
                                            "deployed_ms FROM deployments WHERE environment = $1",
                                            p, "current deployment of '" + environment + "'"));
  if (r.Rows() == 0) return std::optional<Deployment>();
  Deployment d;
  d.environment = environment;
  d.run_id = r.Int(0, 0);
  d.settings_commit = r.Text(0, 1);
  d.code_url = r.Text(0, 2);
  d.code_ref = r.Text(0, 3);
  d.code_commit = r.Text(0, 4);
  d.deployed_ms = r.Int(0, 5);
  return std::optional<Deployment>(std::move(d));
}

Result<int64_t> PostgresStore::NextBuildNumber(const std::string& environment) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(environment);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            "INSERT INTO build_numbers (environment, last) VALUES ($1, 1) "
                                            "ON CONFLICT (environment) DO UPDATE SET last = build_numbers.last + 1 "
                                            "RETURNING last",
                                            p, "next build number of '" + environment + "'"));
  return r.Int(0, 0);
}

namespace {

// Marks running runs matching `where` (SQL on runs, parameters from $3)
// interrupted; returns their ids.
Result<std::vector<int64_t>> InterruptWhere(const Conn& c, const std::string& where, Params p, std::string_view what) {
  SLIPWAY_ASSIGN_OR_RETURN(PgResult runs, Exec(c,
                                               "UPDATE runs SET status = 'interrupted', error = $1, "
                                               "finished_ms = CASE WHEN finished_ms = 0 THEN $2 ELSE finished_ms END "
                                               "WHERE status = 'running' AND " +
                                                   where + " RETURNING id",
                                               p, what));
  std::vector<int64_t> ids;
  for (int i = 0; i < runs.Rows(); ++i) ids.push_back(runs.Int(i, 0));
  std::sort(ids.begin(), ids.end());
  if (!ids.empty()) {
    Params s;
    s.IntArray(ids);
    SLIPWAY_RETURN_IF_ERROR(
        Exec(c, "UPDATE steps SET status = 'cancelled' WHERE status = 'running' AND run_id = ANY($1::bigint[])", s,
             what)
            .status());
  }
  return ids;
}

}  // namespace

Result<int> PostgresStore::InterruptRunning(const std::string& reason) {
  SLIPWAY_PG_CONN();
  constexpr std::string_view kWhat = "interrupt running runs";
  int count = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, kWhat, [&]() -> Status {
    Params p;
    p.Bytes(reason).Int(NowMs());
    SLIPWAY_ASSIGN_OR_RETURN(std::vector<int64_t> ids, InterruptWhere(c, "true", std::move(p), kWhat));
    count = static_cast<int>(ids.size());
    return Status::Ok();
  }));
  return count;
}

Result<EnqueueResult> PostgresStore::EnqueueRun(const RunRecord& run) {
  SLIPWAY_PG_CONN();
  constexpr std::string_view kWhat = "enqueue run";
  if (run.status != RunStatus::kQueued) {
    return Error(name_, kWhat, std::string("internal error: status '") + RunStatusName(run.status) + "' is not queued",
                 StatusCode::kInternal);
  }
  bool floating = run.settings_commit.empty() && run.code_commit.empty();
  // The unique index on floating queued runs decides between concurrent
  // callers: the loser finds the winner's run (unless it started meanwhile,
  // then it tries again).
  for (int attempt = 0; attempt < 10; ++attempt) {
    std::string sql = kRunInsert;
    if (floating) {
      sql +=
          " ON CONFLICT (environment, kind, requested_ref) WHERE status = 'queued' AND settings_commit = '' "
          "AND code_commit = '' DO NOTHING";
    }
    SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c, sql + " RETURNING id", RunParams(run), kWhat));
    if (r.Rows() == 1) return EnqueueResult{r.Int(0, 0), false};
    Params p;
    p.Text(run.environment).Text(run.kind).Text(run.requested_ref);
    SLIPWAY_ASSIGN_OR_RETURN(PgResult q, Exec(c,
                                              "SELECT id FROM runs WHERE status = 'queued' AND environment = $1 "
                                              "AND kind = $2 AND requested_ref = $3 AND settings_commit = '' "
                                              "AND code_commit = '' ORDER BY id LIMIT 1",
                                              p, kWhat));
    if (q.Rows() == 1) return EnqueueResult{q.Int(0, 0), true};
  }
  return Error(name_, kWhat, "the queue kept changing under us; try again", StatusCode::kTimeout);
}

Result<std::vector<RunRecord>> PostgresStore::QueuedRuns() {
  SLIPWAY_PG_CONN();
  constexpr std::string_view kWhat = "list queued runs";
  SLIPWAY_ASSIGN_OR_RETURN(
      PgResult r,
      Exec(c, std::string("SELECT ") + kRunColumns + " FROM runs WHERE status = 'queued' ORDER BY id", kWhat));
  return ReadRuns(c, r, kWhat);
}

namespace {

Result<bool> LeaveQueue(const Conn& c, int64_t id, RunStatus to, const std::string& error, const char* time_column,
                        int64_t ms, const std::string& what) {
  Params p;
  p.Text(RunStatusName(to)).Bytes(error).Int(ms).Int(id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            std::string("UPDATE runs SET status = $1, error = $2, ") + time_column +
                                                " = $3 WHERE id = $4 AND status = 'queued'",
                                            p, what));
  if (r.Changed() > 0) return true;
  Params q;
  q.Int(id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult exists, Exec(c, "SELECT 1 FROM runs WHERE id = $1", q, what));
  if (exists.Rows() == 0) return Error(*c.name, what, "no such run", StatusCode::kNotFound);
  return false;
}

}  // namespace

Result<bool> PostgresStore::ClaimRun(int64_t id, int64_t started_ms) {
  SLIPWAY_PG_CONN();
  return LeaveQueue(c, id, RunStatus::kRunning, "", "started_ms", started_ms, "claim run " + std::to_string(id));
}

Result<bool> PostgresStore::FinishQueuedRun(int64_t id, RunStatus status, const std::string& error,
                                            int64_t finished_ms) {
  SLIPWAY_PG_CONN();
  std::string what = "finish queued run " + std::to_string(id);
  if (!IsFinal(status)) {
    return Error(name_, what, std::string("internal error: status '") + RunStatusName(status) + "' is not final",
                 StatusCode::kInternal);
  }
  return LeaveQueue(c, id, status, error, "finished_ms", finished_ms, what);
}

Result<std::vector<RunCount>> PostgresStore::CountRuns() {
  SLIPWAY_PG_CONN();
  constexpr std::string_view kWhat = "count runs";
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            "SELECT environment, status, count(*), max(finished_ms) FROM runs "
                                            "GROUP BY environment, status ORDER BY environment, status",
                                            kWhat));
  std::vector<RunCount> counts;
  for (int i = 0; i < r.Rows(); ++i) {
    RunCount count;
    count.environment = r.Text(i, 0);
    std::string status = r.Text(i, 1);
    count.count = r.Int(i, 2);
    count.last_finished_ms = r.Int(i, 3);
    if (!ParseRunStatus(status, &count.status)) {
      return Error(name_, kWhat, "unknown run status '" + status + "'", StatusCode::kInternal);
    }
    counts.push_back(std::move(count));
  }
  return counts;
}

namespace {

constexpr const char* kStateColumns =
    "environment, paused, held_run_id, paused_by, paused_ms, evaluated_commit, schedule_ms, drift, drift_reason, "
    "drift_checked_ms, drift_run_id";

EnvironmentState ReadState(const PgResult& r, int row) {
  EnvironmentState state;
  state.environment = r.Text(row, 0);
  state.paused = r.Bool(row, 1);
  state.held_run_id = r.Int(row, 2);
  state.paused_by = r.Text(row, 3);
  state.paused_ms = r.Int(row, 4);
  state.evaluated_commit = r.Text(row, 5);
  state.schedule_ms = r.Int(row, 6);
  state.drift = r.Text(row, 7);
  state.drift_reason = r.Text(row, 8);
  state.drift_checked_ms = r.Int(row, 9);
  state.drift_run_id = r.Int(row, 10);
  return state;
}

}  // namespace

Result<EnvironmentState> PostgresStore::GetEnvironmentState(const std::string& environment) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(environment);
  SLIPWAY_ASSIGN_OR_RETURN(
      PgResult r, Exec(c, std::string("SELECT ") + kStateColumns + " FROM environment_state WHERE environment = $1", p,
                       "get state of '" + environment + "'"));
  if (r.Rows() == 0) {
    EnvironmentState state;
    state.environment = environment;
    return state;
  }
  return ReadState(r, 0);
}

Status PostgresStore::PutEnvironmentState(const EnvironmentState& state) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(state.environment)
      .Bool(state.paused)
      .Int(state.held_run_id)
      .Text(state.paused_by)
      .Int(state.paused_ms)
      .Text(state.evaluated_commit)
      .Int(state.schedule_ms)
      .Text(state.drift)
      .Text(state.drift_reason)
      .Int(state.drift_checked_ms)
      .Int(state.drift_run_id);
  return Exec(c, R"sql(
INSERT INTO environment_state (environment, paused, held_run_id, paused_by, paused_ms, evaluated_commit, schedule_ms,
                               drift, drift_reason, drift_checked_ms, drift_run_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (environment) DO UPDATE SET
  paused = excluded.paused, held_run_id = excluded.held_run_id, paused_by = excluded.paused_by,
  paused_ms = excluded.paused_ms, evaluated_commit = excluded.evaluated_commit,
  schedule_ms = excluded.schedule_ms, drift = excluded.drift, drift_reason = excluded.drift_reason,
  drift_checked_ms = excluded.drift_checked_ms, drift_run_id = excluded.drift_run_id)sql",
              p, "put state of '" + state.environment + "'")
      .status();
}

Result<std::vector<EnvironmentState>> PostgresStore::ListEnvironmentStates() {
  SLIPWAY_PG_CONN();
  SLIPWAY_ASSIGN_OR_RETURN(
      PgResult r, Exec(c, std::string("SELECT ") + kStateColumns + " FROM environment_state ORDER BY environment",
                       "list environment states"));
  std::vector<EnvironmentState> states;
  for (int i = 0; i < r.Rows(); ++i) states.push_back(ReadState(r, i));
  return states;
}

namespace {

Result<TokenRecord> ReadToken(const std::string& name, const PgResult& r, int row) {
  TokenRecord token;
  token.id = r.Int(row, 0);
  token.name = r.Text(row, 1);
  std::string role = r.Text(row, 2);
  token.hash = r.Text(row, 3);
  token.created_ms = r.Int(row, 4);
  if (!ParseTokenRole(role, &token.role)) {
    return Error(name, "read token", "token " + std::to_string(token.id) + " has an unknown role '" + role + "'",
                 StatusCode::kInternal);
  }
  return token;
}

}  // namespace

Result<int64_t> PostgresStore::CreateToken(const TokenRecord& token) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(token.name).Text(TokenRoleName(token.role)).Text(token.hash).Int(token.created_ms);
  SLIPWAY_ASSIGN_OR_RETURN(
      PgResult r, Exec(c, "INSERT INTO tokens (name, role, hash, created_ms) VALUES ($1, $2, $3, $4) RETURNING id", p,
                       "create token"));
  return r.Int(0, 0);
}

Result<std::optional<TokenRecord>> PostgresStore::FindToken(const std::string& hash) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(hash);
  SLIPWAY_ASSIGN_OR_RETURN(
      PgResult r, Exec(c, "SELECT id, name, role, hash, created_ms FROM tokens WHERE hash = $1", p, "find token"));
  if (r.Rows() == 0) return std::optional<TokenRecord>();
  SLIPWAY_ASSIGN_OR_RETURN(TokenRecord token, ReadToken(name_, r, 0));
  return std::optional<TokenRecord>(std::move(token));
}

Result<std::vector<TokenRecord>> PostgresStore::ListTokens() {
  SLIPWAY_PG_CONN();
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r,
                           Exec(c, "SELECT id, name, role, hash, created_ms FROM tokens ORDER BY id", "list tokens"));
  std::vector<TokenRecord> tokens;
  for (int i = 0; i < r.Rows(); ++i) {
    SLIPWAY_ASSIGN_OR_RETURN(TokenRecord token, ReadToken(name_, r, i));
    tokens.push_back(std::move(token));
  }
  return tokens;
}

Status PostgresStore::DeleteToken(int64_t id) {
  SLIPWAY_PG_CONN();
  std::string what = "delete token " + std::to_string(id);
  Params p;
  p.Int(id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c, "DELETE FROM tokens WHERE id = $1", p, what));
  if (r.Changed() == 0) return Error(name_, what, "no such token", StatusCode::kNotFound);
  return Status::Ok();
}

Result<bool> PostgresStore::RecordDelivery(const Delivery& delivery, int64_t keep_ms) {
  SLIPWAY_PG_CONN();
  std::string what = "record " + delivery.source + " delivery";
  bool recorded = false;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, what, [&]() -> Status {
    Params prune;
    prune.Int(delivery.received_ms - keep_ms);
    SLIPWAY_RETURN_IF_ERROR(
        Exec(c, "DELETE FROM deliveries WHERE processed_ms != 0 AND received_ms < $1", prune, what).status());
    Params p;
    p.Text(delivery.source)
        .Text(delivery.delivery_id)
        .Bytes(delivery.payload)
        .Int(delivery.received_ms)
        .Int(delivery.processed_ms);
    SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                              "INSERT INTO deliveries (source, delivery_id, payload, received_ms, "
                                              "processed_ms) VALUES ($1, $2, $3, $4, $5) "
                                              "ON CONFLICT (source, delivery_id) DO NOTHING",
                                              p, what));
    recorded = r.Changed() > 0;
    return Status::Ok();
  }));
  return recorded;
}

Result<std::vector<Delivery>> PostgresStore::PendingDeliveries() {
  SLIPWAY_PG_CONN();
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            "SELECT id, source, delivery_id, payload, received_ms, processed_ms "
                                            "FROM deliveries WHERE processed_ms = 0 ORDER BY id",
                                            "list pending deliveries"));
  std::vector<Delivery> deliveries;
  for (int i = 0; i < r.Rows(); ++i) {
    Delivery d;
    d.id = r.Int(i, 0);
    d.source = r.Text(i, 1);
    d.delivery_id = r.Text(i, 2);
    d.payload = r.Bytes(i, 3);
    d.received_ms = r.Int(i, 4);
    d.processed_ms = r.Int(i, 5);
    deliveries.push_back(std::move(d));
  }
  return deliveries;
}

Status PostgresStore::MarkDeliveryProcessed(int64_t id, int64_t processed_ms) {
  SLIPWAY_PG_CONN();
  std::string what = "mark delivery " + std::to_string(id) + " processed";
  Params p;
  p.Int(processed_ms).Int(id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c, "UPDATE deliveries SET processed_ms = $1 WHERE id = $2", p, what));
  if (r.Changed() == 0) return Error(name_, what, "no such delivery", StatusCode::kNotFound);
  return Status::Ok();
}

// --- Fleet ---

Status PostgresStore::RegisterNode(const NodeRecord& node) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(node.id).Text(node.address).Text(node.version).Int(node.started_ms).Int(node.heartbeat_ms);
  return Exec(c,
              "INSERT INTO nodes (id, address, version, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $4, $5) "
              "ON CONFLICT (id) DO UPDATE SET address = excluded.address, version = excluded.version, "
              "started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms",
              p, "register node '" + node.id + "'")
      .status();
}

Result<bool> PostgresStore::Heartbeat(const std::string& node_id, int64_t now_ms) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Int(now_ms).Text(node_id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c, "UPDATE nodes SET heartbeat_ms = $1 WHERE id = $2", p,
                                            "heartbeat of node '" + node_id + "'"));
  return r.Changed() > 0;
}

Result<std::vector<NodeRecord>> PostgresStore::ListNodes() {
  SLIPWAY_PG_CONN();
  SLIPWAY_ASSIGN_OR_RETURN(
      PgResult r, Exec(c,
                       "SELECT n.id, n.address, n.version, n.started_ms, n.heartbeat_ms, "
                       "coalesce((SELECT string_agg(r.id::text, ',' ORDER BY r.id) FROM runs r "
                       "WHERE r.status = 'running' AND r.node = n.id), '') FROM nodes n ORDER BY n.started_ms, n.id",
                       "list nodes"));
  std::vector<NodeRecord> nodes;
  for (int i = 0; i < r.Rows(); ++i) {
    NodeRecord n;
    n.id = r.Text(i, 0);
    n.address = r.Text(i, 1);
    n.version = r.Text(i, 2);
    n.started_ms = r.Int(i, 3);
    n.heartbeat_ms = r.Int(i, 4);
    std::string ids = r.Text(i, 5);
    size_t start = 0;
    while (start < ids.size()) {
      size_t comma = ids.find(',', start);
      if (comma == std::string::npos) comma = ids.size();
      n.running_run_ids.push_back(std::stoll(ids.substr(start, comma - start)));
      start = comma + 1;
    }
    nodes.push_back(std::move(n));
  }
  return nodes;
}

Status PostgresStore::RemoveNode(const std::string& node_id) {
  SLIPWAY_PG_CONN();
  std::string what = "remove node '" + node_id + "'";
  return InTransaction(c, what, [&]() -> Status {
    Params p;
    p.Text(node_id);
    SLIPWAY_RETURN_IF_ERROR(Exec(c, "DELETE FROM leases WHERE holder = $1", p, what).status());
    return Exec(c, "DELETE FROM nodes WHERE id = $1", p, what).status();
  });
}

Result<std::optional<RunRecord>> PostgresStore::ClaimNextRun(const std::string& node_id, int64_t started_ms,
                                                             const std::vector<std::string>& busy) {
  SLIPWAY_PG_CONN();
  constexpr std::string_view kWhat = "claim a queued run";
  std::vector<std::string> skip = busy;
  // SKIP LOCKED: nodes claiming at once each take a different row instead of
  // queueing behind one another. Only the oldest queued run of an environment
  // is claimable: a node that skips a row another node has locked must not
  // take a younger run of that environment (it would run out of order). Two
  // nodes may still take runs of one environment in the same instant; the
  // unique index on running deploy runs lets only one of them commit, and the
  // other tries the next run.
  for (int attempt = 0; attempt < 5; ++attempt) {
    Params p;
    p.Int(started_ms).Text(node_id).TextArray(skip);
    Result<PgResult> r = Exec(c, std::string(R"sql(
WITH next AS (
  SELECT q.id AS next_id FROM runs q
  WHERE q.status = 'queued' AND NOT (q.environment = ANY($3::text[]))
    AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.environment = q.environment AND x.status = 'running')
    AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.environment = q.environment AND o.status = 'queued'
                    AND o.id < q.id)
  ORDER BY q.id LIMIT 1
  FOR UPDATE SKIP LOCKED)
UPDATE runs SET status = 'running', started_ms = $1, node = $2, error = ''::bytea
FROM next WHERE runs.id = next.next_id AND runs.status = 'queued'
RETURNING )sql") + kRunColumns,
                              p, kWhat);
    if (r.ok()) {
      if (r->Rows() == 0) return std::optional<RunRecord>();
      SLIPWAY_ASSIGN_OR_RETURN(RunRecord run, ReadRun(c, *r, 0, kWhat));
      return std::optional<RunRecord>(std::move(run));
    }
    if (r.status().code() != StatusCode::kAlreadyExists) return r.status();
    // Lost the race for an environment: find which, and skip it.
    Params q;
    q.TextArray(skip);
    SLIPWAY_ASSIGN_OR_RETURN(PgResult running, Exec(c,
                                                    "SELECT DISTINCT environment FROM runs WHERE status = 'running' "
                                                    "AND NOT (environment = ANY($1::text[]))",
                                                    q, kWhat));
    for (int i = 0; i < running.Rows(); ++i) skip.push_back(running.Text(i, 0));
  }
  return std::optional<RunRecord>();
}

Result<std::vector<int64_t>> PostgresStore::OwnedRuns(const std::string& node_id, const std::vector<int64_t>& run_ids) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(node_id).IntArray(run_ids);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            "SELECT id FROM runs WHERE node = $1 AND status = 'running' "
                                            "AND id = ANY($2::bigint[]) ORDER BY id",
                                            p, "runs of node '" + node_id + "'"));
  std::vector<int64_t> ids;
  for (int i = 0; i < r.Rows(); ++i) ids.push_back(r.Int(i, 0));
  return ids;
}

Result<ReapResult> PostgresStore::ReapLostNodes(int64_t now_ms, int64_t ttl_ms) {
  SLIPWAY_PG_CONN();
  constexpr std::string_view kWhat = "reap lost nodes";
  Params p;
  p.Int(now_ms - ttl_ms);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult lost,
                           Exec(c, "SELECT id, heartbeat_ms FROM nodes WHERE heartbeat_ms < $1 ORDER BY id", p, kWhat));
  ReapResult result;
  for (int i = 0; i < lost.Rows(); ++i) {
    std::string node = lost.Text(i, 0);
    int64_t heartbeat = lost.Int(i, 1);
    std::string what = "declare node '" + node + "' lost";
    std::vector<int64_t> ids;
    bool reaped = false;
    SLIPWAY_RETURN_IF_ERROR(InTransaction(c, what, [&]() -> Status {
      // Re-checked under the row lock: the node may have come back, or
      // another node may be reaping it right now.
      Params n;
      n.Text(node).Int(now_ms - ttl_ms);
      SLIPWAY_ASSIGN_OR_RETURN(
          PgResult still,
          Exec(c, "SELECT 1 FROM nodes WHERE id = $1 AND heartbeat_ms < $2 FOR UPDATE SKIP LOCKED", n, what));
      if (still.Rows() == 0) return Status::Ok();
      Params r;
      r.Bytes("node lost: " + node + " stopped heartbeating (last heartbeat " +
              std::to_string((now_ms - heartbeat) / 1000) + " s before it was declared lost)")
          .Int(now_ms)
          .Text(node);
      SLIPWAY_ASSIGN_OR_RETURN(ids, InterruptWhere(c, "node = $3", std::move(r), what));
      Params d;
      d.Text(node);
      SLIPWAY_RETURN_IF_ERROR(Exec(c, "DELETE FROM leases WHERE holder = $1", d, what).status());
      SLIPWAY_RETURN_IF_ERROR(Exec(c, "DELETE FROM nodes WHERE id = $1", d, what).status());
      reaped = true;
      return Status::Ok();
    }));
    if (!reaped) continue;
    result.lost_nodes.push_back(node);
    result.interrupted_run_ids.insert(result.interrupted_run_ids.end(), ids.begin(), ids.end());
  }
  return result;
}

Result<bool> PostgresStore::AcquireLease(const std::string& name, const std::string& holder, int64_t now_ms,
                                         int64_t ttl_ms) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(name).Text(holder).Int(now_ms + ttl_ms).Int(now_ms);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3) "
                                            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                                            "expires_ms = excluded.expires_ms "
                                            "WHERE leases.holder = excluded.holder OR leases.expires_ms < $4 "
                                            "RETURNING holder",
                                            p, "acquire lease '" + name + "'"));
  return r.Rows() == 1;
}

Status PostgresStore::ReleaseLease(const std::string& name, const std::string& holder) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Text(name).Text(holder);
  return Exec(c, "DELETE FROM leases WHERE name = $1 AND holder = $2", p, "release lease '" + name + "'").status();
}

Result<std::vector<LeaseRecord>> PostgresStore::ListLeases() {
  SLIPWAY_PG_CONN();
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r,
                           Exec(c, "SELECT name, holder, expires_ms FROM leases ORDER BY name", "list leases"));
  std::vector<LeaseRecord> leases;
  for (int i = 0; i < r.Rows(); ++i) leases.push_back(LeaseRecord{r.Text(i, 0), r.Text(i, 1), r.Int(i, 2)});
  return leases;
}

Result<bool> PostgresStore::ClaimScheduleSlot(const std::string& environment, int64_t slot_ms, int64_t keep_ms) {
  SLIPWAY_PG_CONN();
  std::string what = "claim schedule of '" + environment + "'";
  bool claimed = false;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, what, [&]() -> Status {
    Params prune;
    prune.Text(environment).Int(slot_ms - keep_ms);
    SLIPWAY_RETURN_IF_ERROR(
        Exec(c, "DELETE FROM schedule_fires WHERE environment = $1 AND slot_ms < $2", prune, what).status());
    Params p;
    p.Text(environment).Int(slot_ms);
    SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                              "INSERT INTO schedule_fires (environment, slot_ms) VALUES ($1, $2) "
                                              "ON CONFLICT DO NOTHING",
                                              p, what));
    claimed = r.Changed() > 0;
    return Status::Ok();
  }));
  return claimed;
}

Status PostgresStore::AppendLog(int64_t run_id, int64_t offset, const std::string& data) {
  SLIPWAY_PG_CONN();
  std::string what = "append to the log of run " + std::to_string(run_id);
  Params p;
  p.Int(run_id).Int(offset).Bytes(data);
  Result<PgResult> r = Exec(c,
                            "INSERT INTO run_logs (run_id, offset_bytes, data) VALUES ($1, $2, $3) "
                            "ON CONFLICT DO NOTHING",
                            p, what);
  if (r.status().code() == StatusCode::kNotFound) return Error(name_, what, "no such run", StatusCode::kNotFound);
  return r.status();
}

Result<std::string> PostgresStore::ReadLog(int64_t run_id, int64_t offset, int64_t max_bytes) {
  SLIPWAY_PG_CONN();
  Params p;
  p.Int(run_id).Int(offset);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            "SELECT offset_bytes, data FROM run_logs WHERE run_id = $1 "
                                            "AND offset_bytes + length(data) > $2 ORDER BY offset_bytes LIMIT 64",
                                            p, "read the log of run " + std::to_string(run_id)));
  std::string out;
  int64_t at = offset;
  for (int i = 0; i < r.Rows() && static_cast<int64_t>(out.size()) < max_bytes; ++i) {
    int64_t start = r.Int(i, 0);
    if (start > at) break;  // a gap: only contiguous bytes
    std::string data = r.Bytes(i, 1);
    size_t skip = static_cast<size_t>(at - start);
    size_t take = std::min<size_t>(data.size() - skip, static_cast<size_t>(max_bytes) - out.size());
    out.append(data, skip, take);
    at += static_cast<int64_t>(take);
  }
  return out;
}

Result<int> PostgresStore::PruneLogs(int64_t before_ms, int64_t now_ms) {
  SLIPWAY_PG_CONN();
  constexpr std::string_view kWhat = "prune logs";
  int count = 0;
  SLIPWAY_RETURN_IF_ERROR(InTransaction(c, kWhat, [&]() -> Status {
    Params p;
    p.Int(before_ms);
    SLIPWAY_RETURN_IF_ERROR(
        Exec(c,
             std::string("DELETE FROM run_logs l USING runs r WHERE l.run_id = r.id AND r.status IN ") +
                 kFinalStatuses + " AND r.finished_ms < $1",
             p, kWhat)
            .status());
    Params m;
    m.Int(before_ms).Int(now_ms);
    SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                              std::string("UPDATE runs SET log_pruned_ms = $2 WHERE log_pruned_ms = 0 "
                                                          "AND status IN ") +
                                                  kFinalStatuses + " AND finished_ms < $1",
                                              m, kWhat));
    count = static_cast<int>(r.Changed());
    return Status::Ok();
  }));
  return count;
}

Result<bool> PostgresStore::RequestCancel(int64_t id, const std::string& actor, int64_t now_ms) {
  SLIPWAY_PG_CONN();
  std::string what = "request cancel of run " + std::to_string(id);
  Params p;
  p.Int(id).Text(actor).Int(now_ms);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            "UPDATE runs SET cancel_requested_by = CASE WHEN cancel_requested_ms = 0 "
                                            "THEN $2 ELSE cancel_requested_by END, cancel_requested_ms = CASE WHEN "
                                            "cancel_requested_ms = 0 THEN $3 ELSE cancel_requested_ms END "
                                            "WHERE id = $1 AND status = 'running'",
                                            p, what));
  if (r.Changed() > 0) return true;
  Params q;
  q.Int(id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult exists, Exec(c, "SELECT 1 FROM runs WHERE id = $1", q, what));
  if (exists.Rows() == 0) return Error(name_, what, "no such run", StatusCode::kNotFound);
  return false;
}

Result<std::vector<RunRecord>> PostgresStore::CancelRequests(const std::string& node_id) {
  SLIPWAY_PG_CONN();
  std::string what = "cancel requests of node '" + node_id + "'";
  Params p;
  p.Text(node_id);
  SLIPWAY_ASSIGN_OR_RETURN(PgResult r, Exec(c,
                                            std::string("SELECT ") + kRunColumns +
                                                " FROM runs WHERE status = 'running' AND node = $1 "
                                                "AND cancel_requested_ms <> 0 ORDER BY id",
                                            p, what));
  return ReadRuns(c, r, what);
}

Result<int> PostgresStore::SchemaVersion() {
  SLIPWAY_PG_CONN();
  return ReadSchemaVersion(c);
}

Status PostgresStore::TEST_Exec(const std::string& sql) {
  SLIPWAY_PG_CONN();
  return Exec(c, sql, "exec").status();
}

#undef SLIPWAY_PG_CONN

}  // namespace slipway
