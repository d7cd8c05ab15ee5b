// The store: runs, their steps and the current deployment of each
// environment. One interface, two implementations (SQLite now, PostgreSQL in
// fleet mode). Schema and migrations: doc/store.md.
//
// Contracts:
// * FinishRun is atomic: the run's final state, and — only when the run
//   succeeded and deployed — the environment's current deployment, are
//   written in one transaction. A failed, cancelled, timed-out or
//   interrupted run never changes the current deployment.
// * No secret value is ever passed to the store; callers mask first.
// * Thread-safety: a Store may be used from several threads; each
//   implementation serialises access internally. Several Store objects (in
//   one process or several, e.g. `slipway history` beside a running daemon)
//   may share one database; a writer waits for another's transaction (up to a
//   busy timeout, then StatusCode::kTimeout) instead of failing at once.
// * Errors: every method returns a Status naming the database and the
//   operation, e.g. "sqlite 'state/slipway.db': insert run: database or disk
//   is full". A full disk is StatusCode::kNoSpace; a write that failed
//   changed nothing, and the store stays usable.
// * Ids are never reused, even after runs are deleted: logs and links name
//   runs by id.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace slipway {

// queued → running → succeeded / failed / cancelled / timed_out / interrupted
enum class RunStatus { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kTimedOut, kInterrupted };
// The names are stored in the database and shown to users; they never change.
const char* RunStatusName(RunStatus status);  // "queued", "running", "succeeded", "timed_out", ...
// Sets *out and returns true when name is one of the names above; false (and
// *out untouched) otherwise.
bool ParseRunStatus(const std::string& name, RunStatus* out);
// Every run status name, in state-machine order (for "did you mean" hints).
std::vector<std::string> RunStatusNames();
// succeeded, failed, cancelled, timed_out, interrupted.
bool IsFinal(RunStatus status);

enum class StepStatus { kPending, kRunning, kSucceeded, kFailed, kSkipped, kCancelled, kTimedOut };
const char* StepStatusName(StepStatus status);                   // "pending", "running", ..., "timed_out"
bool ParseStepStatus(const std::string& name, StepStatus* out);  // as ParseRunStatus

struct StepRecord {
  int index = 0;  // 0-based order within the run
  std::string name;
  StepStatus status = StepStatus::kPending;
  std::optional<int> exit_code;
  int64_t started_ms = 0;  // epoch ms, 0 when not started
  int64_t duration_ms = 0;
};

struct RunRecord {
  int64_t id = 0;
  std::string environment;
  std::string kind = "deploy";  // "deploy" (later: "preview", "drift")
  std::string trigger;          // "manual", "push", "schedule", "rollback", "webhook"
  std::string actor;            // who: a user name, token name, "poller"
  RunStatus status = RunStatus::kQueued;
  std::string settings_commit;
  std::string code_url;
  std::string code_ref;
  std::string code_commit;
  bool branch_pin = false;    // the code ref was a branch (warned)
  std::string requested_ref;  // --ref override, when given
  int64_t created_ms = 0;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::string error;          // one sentence, "" on success
  std::string log_path;       // absolute path of the run's log file
  std::string workspace;      // absolute path, "" once removed
  std::string exported_json;  // buildspec exported variables as a JSON object, "" when none
  std::vector<StepRecord> steps;
};

struct Deployment {
  std::string environment;
  int64_t run_id = 0;
  std::string settings_commit;
  std::string code_url;
  std::string code_ref;
  std::string code_commit;
  int64_t deployed_ms = 0;
};

struct RunFilter {
  std::string environment;  // "" for all
  std::optional<RunStatus> status;
  int limit = 50;         // newest first; <= 0: no limit
  int64_t before_id = 0;  // paging: only ids below this (0: no bound)
};

class Store {
 public:
  virtual ~Store() = default;

  // Inserts a run and returns its new id (run.id and run.steps are ignored).
  // Every field is stored as given: the store fills in no timestamps.
  virtual Result<int64_t> CreateRun(const RunRecord& run) = 0;
  // Overwrites the run's fields (not its steps) by id; NotFound when there is
  // no run with that id.
  virtual Status UpdateRun(const RunRecord& run) = 0;
  // Inserts or replaces one step of a run, keyed by (run_id, index);
  // NotFound when there is no such run.
  virtual Status PutStep(int64_t run_id, const StepRecord& step) = 0;
  // Writes the final run — its fields and every step in run.steps (inserted
  // or replaced by index; steps stored earlier and absent from run.steps are
  // kept) — and, when `deployed` is true and run.status is kSucceeded, makes
  // it the environment's current deployment (deployed_ms = run.finished_ms).
  // All in one transaction: on any error nothing at all was written.
  // NotFound when there is no such run; an internal error when run.status is
  // not final (IsFinal).
  virtual Status FinishRun(const RunRecord& run, bool deployed) = 0;

  // The run with its steps ordered by index; NotFound when there is none.
  virtual Result<RunRecord> GetRun(int64_t id) = 0;
  // Runs matching the filter, newest (highest id) first, without steps.
  virtual Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;
  // The newest run of the environment, without steps; nullopt when it has none.
  virtual Result<std::optional<RunRecord>> LastRun(const std::string& environment) = 0;
  // nullopt when the environment was never deployed.
  virtual Result<std::optional<Deployment>> CurrentDeployment(const std::string& environment) = 0;
  // Next build number of an environment (1, 2, ...), for CODEBUILD_BUILD_NUMBER.
  // Atomic: concurrent callers (threads or processes) never get the same number.
  virtual Result<int64_t> NextBuildNumber(const std::string& environment) = 0;

  // At start-up, before any run starts: marks every run left `running` as
  // `interrupted` with error = `reason` and finished_ms = now (when it was
  // 0), and its `running` steps as `cancelled`; returns how many runs. Queued
  // runs are left queued (they survive a restart, DESIGN.md §6).
  virtual Result<int> InterruptRunning(const std::string& reason) = 0;
};

// Opens (creating when missing) the SQLite database at path, in WAL mode,
// and applies pending schema migrations (version table `schema_version`).
// The folder must exist. A database written by a newer Slipway (a schema
// version this build does not know) is refused with kInvalidArgument.
// Options and SQLite-only extras: store/sqlite_store.h.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace slipway
