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
//   implementation serialises access internally.
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
const char* RunStatusName(RunStatus status);  // "queued", "running", "succeeded", ...
bool ParseRunStatus(const std::string& name, RunStatus* out);
bool IsFinal(RunStatus status);

enum class StepStatus { kPending, kRunning, kSucceeded, kFailed, kSkipped, kCancelled, kTimedOut };
const char* StepStatusName(StepStatus status);
bool ParseStepStatus(const std::string& name, StepStatus* out);

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
  std::string kind = "deploy";   // "deploy" (later: "preview", "drift")
  std::string trigger;           // "manual", "push", "schedule", "rollback", "webhook"
  std::string actor;             // who: a user name, token name, "poller"
  RunStatus status = RunStatus::kQueued;
  std::string settings_commit;
  std::string code_url;
  std::string code_ref;
  std::string code_commit;
  bool branch_pin = false;       // the code ref was a branch (warned)
  std::string requested_ref;     // --ref override, when given
  int64_t created_ms = 0;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::string error;             // one sentence, "" on success
  std::string log_path;          // absolute path of the run's log file
  std::string workspace;         // absolute path, "" once removed
  std::string exported_json;     // buildspec exported variables as a JSON object, "" when none
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
  std::string environment;             // "" for all
  std::optional<RunStatus> status;
  int limit = 50;                      // newest first
  int64_t before_id = 0;               // paging: only ids below this (0: no bound)
};

class Store {
 public:
  virtual ~Store() = default;

  // Inserts a run (id is assigned and returned; steps are not inserted).
  virtual Result<int64_t> CreateRun(const RunRecord& run) = 0;
  // Overwrites the run's fields (not its steps) by id.
  virtual Status UpdateRun(const RunRecord& run) = 0;
  // Inserts or replaces one step of a run, keyed by (run_id, index).
  virtual Status PutStep(int64_t run_id, const StepRecord& step) = 0;
  // Writes the final run (fields and all steps) and, when `deployed` is true
  // and run.status is kSucceeded, makes it the environment's current
  // deployment — all in one transaction.
  virtual Status FinishRun(const RunRecord& run, bool deployed) = 0;

  // The run with its steps; NotFound when there is none.
  virtual Result<RunRecord> GetRun(int64_t id) = 0;
  virtual Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;  // without steps
  virtual Result<std::optional<RunRecord>> LastRun(const std::string& environment) = 0;
  virtual Result<std::optional<Deployment>> CurrentDeployment(const std::string& environment) = 0;
  // Next build number of an environment (1, 2, ...), for CODEBUILD_BUILD_NUMBER.
  virtual Result<int64_t> NextBuildNumber(const std::string& environment) = 0;

  // Marks every run left `running` as `interrupted` with `reason`; returns how many.
  virtual Result<int> InterruptRunning(const std::string& reason) = 0;
};

// Opens (creating when missing) the SQLite database at path, in WAL mode,
// and applies pending schema migrations (version table `schema_version`).
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace slipway
