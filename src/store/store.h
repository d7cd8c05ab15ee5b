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
  std::string kind = "deploy";  // "deploy", "preview" (a pull request), "drift" (a drift check)
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
  // Schema version 3 (issue 8):
  std::string signer;        // who signed what was verified (doc/verify.md), "" when not verified
  std::string context_json;  // a preview's pull request as a JSON object (doc/previews.md), "" otherwise
  // Schema version 5 (SQLite) / 2 (PostgreSQL), issue 7. Read from the
  // store; CreateRun, UpdateRun and FinishRun never write them (RequestCancel,
  // PruneLogs and ClaimNextRun do).
  int64_t cancel_requested_ms = 0;  // a cancel was asked for on another node (fleet); 0: none
  std::string cancel_requested_by;  // who asked
  int64_t log_pruned_ms = 0;        // when log_retention_days deleted the run's log; 0: kept
  std::string node;                 // fleet: the node that claimed it (ClaimNextRun); "" otherwise
  std::vector<StepRecord> steps;
};

// The one sentence `slipway logs RUN` and GET /api/v1/runs/RUN/log answer
// for a run whose log was deleted by the log retention (log_pruned_ms != 0):
// "the log of run 12 was deleted after 90 days (log_retention_days); the
// run's record is kept". retention_days is the config's current value (0:
// the sentence names the deletion date instead).
std::string PrunedLogMessage(const RunRecord& run, int retention_days);

struct Deployment {
  std::string environment;
  int64_t run_id = 0;
  std::string settings_commit;
  std::string code_url;
  std::string code_ref;
  std::string code_commit;
  int64_t deployed_ms = 0;
};

// --- The daemon's state (issue 5; schema version 2 in doc/store.md) ---

// EnqueueRun's answer.
struct EnqueueResult {
  int64_t id = 0;
  bool coalesced = false;  // an equivalent queued run existed; id is that run's
};

// What the daemon remembers about an environment across restarts. An
// environment without a row has the defaults below.
struct EnvironmentState {
  std::string environment;
  bool paused = false;      // automatic triggers (push, schedule) start nothing
  int64_t held_run_id = 0;  // held at the deployment of this run (a rollback); 0: not held
  std::string paused_by;    // who paused or rolled back
  int64_t paused_ms = 0;
  std::string evaluated_commit;  // settings commit the push path filter last looked at
  int64_t schedule_ms = 0;       // when a schedule last fired (for catch_up)
  // Schema version 3 (issue 8; doc/drift.md):
  std::string drift;             // "" (not checked or clean) or "Drifted"
  std::string drift_reason;      // one sentence when Drifted, "" otherwise
  int64_t drift_checked_ms = 0;  // when the last drift check finished, 0: never
  int64_t drift_run_id = 0;      // the run of the last drift check, 0: none
};

enum class TokenRole { kViewer, kOperator, kAdmin };  // ordered: each includes the ones before
const char* TokenRoleName(TokenRole role);            // "viewer", "operator", "admin"
bool ParseTokenRole(const std::string& name, TokenRole* out);

// An API token. The token itself is never stored, only its hash.
struct TokenRecord {
  int64_t id = 0;
  std::string name;
  TokenRole role = TokenRole::kViewer;
  std::string hash;  // lower-case hex SHA-256 of the token
  int64_t created_ms = 0;
};

// A webhook delivery, kept to ignore duplicates and, until processed, as the
// durable inbox of push events (written before the hook is answered).
struct Delivery {
  int64_t id = 0;           // assigned by the store
  std::string source;       // "github", "gitlab", "gitea", "generic"
  std::string delivery_id;  // the sender's id (unique per source)
  std::string payload;      // the parsed event, in a form of the caller's choosing
  int64_t received_ms = 0;
  int64_t processed_ms = 0;  // 0: pending
};

// Runs of one environment in one status (for metrics).
struct RunCount {
  std::string environment;
  RunStatus status = RunStatus::kQueued;
  int64_t count = 0;
  int64_t last_finished_ms = 0;  // the newest finished_ms among them
};

// --- Fleet mode (issue 7; doc/fleet.md) ---

// A `slipway serve` process sharing the database with others.
struct NodeRecord {
  std::string id;       // unique per process: "HOST:PID:START_MS"
  std::string address;  // where its API listens (for people), "" when unknown
  std::string version;  // slipway version of the node
  int64_t started_ms = 0;
  int64_t heartbeat_ms = 0;              // the node's clock at its last heartbeat
  std::vector<int64_t> running_run_ids;  // ListNodes: runs it runs now, ascending
};

// A time-limited ownership (e.g. of an environment's poll and schedule
// triggers) held by one node.
struct LeaseRecord {
  std::string name;
  std::string holder;  // node id
  int64_t expires_ms = 0;
};

// ReapLostNodes's answer.
struct ReapResult {
  std::vector<std::string> lost_nodes;
  std::vector<int64_t> interrupted_run_ids;
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
  // no run with that id. A final status is never changed: when the stored
  // run is final (IsFinal) and run.status differs, nothing is written and
  // the answer is kFailed (a node declared lost must not turn its
  // `interrupted` run back into `running`; doc/fleet.md).
  virtual Status UpdateRun(const RunRecord& run) = 0;
  // Inserts or replaces one step of a run, keyed by (run_id, index);
  // NotFound when there is no such run.
  virtual Status PutStep(int64_t run_id, const StepRecord& step) = 0;
  // UpdateRun and a PutStep of every step in run.steps, in one transaction:
  // on any error nothing at all was written. A run starting writes itself
  // once this way instead of committing once per step.
  virtual Status UpdateRunAndSteps(const RunRecord& run) = 0;
  // Writes the final run — its fields and every step in run.steps (inserted
  // or replaced by index; steps stored earlier and absent from run.steps are
  // kept) — and, when `deployed` is true and run.status is kSucceeded, makes
  // it the environment's current deployment (deployed_ms = run.finished_ms).
  // All in one transaction: on any error nothing at all was written.
  // NotFound when there is no such run; an internal error when run.status is
  // not final (IsFinal).
  // Conditional: only a run stored as `running` is finished. A run is
  // `running` once in its life, owned by the one node that claimed it, so
  // this also means "still owned by the caller": a node declared lost finds
  // its run `interrupted` by another node, and its late FinishRun writes
  // nothing and answers kFailed ("run 12 is no longer running (it is
  // interrupted); its end was not recorded"). A FinishRun repeated after its
  // reply was lost (the stored run already has run.status and
  // run.finished_ms) is OK and writes nothing.
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

  // --- The queue (the daemon, issue 5) ---

  // Writes a queued run (run.status must be kQueued; else an internal
  // error). When the run is floating — settings_commit and code_commit empty:
  // it resolves the newest head when it starts — and a floating queued run of
  // the same environment, kind and requested_ref exists, nothing is written
  // and that run's id is returned with coalesced = true. Atomic: concurrent
  // callers never create two such runs.
  virtual Result<EnqueueResult> EnqueueRun(const RunRecord& run) = 0;
  // Queued runs, oldest first, without steps.
  virtual Result<std::vector<RunRecord>> QueuedRuns() = 0;
  // queued -> running with started_ms, atomically. false (nothing written)
  // when the run is no longer queued (it was cancelled meanwhile); NotFound
  // when there is no such run.
  virtual Result<bool> ClaimRun(int64_t id, int64_t started_ms) = 0;
  // queued -> a final status (cancelled, or failed when its environment is
  // gone) with error and finished_ms, atomically; false when the run is no
  // longer queued; NotFound when there is none; internal error when status
  // is not final.
  virtual Result<bool> FinishQueuedRun(int64_t id, RunStatus status, const std::string& error, int64_t finished_ms) = 0;
  // The number of runs per (environment, status).
  virtual Result<std::vector<RunCount>> CountRuns() = 0;

  // --- Environment state ---

  // The stored state, or the defaults (with `environment` set) when none.
  virtual Result<EnvironmentState> GetEnvironmentState(const std::string& environment) = 0;
  // Inserts or replaces the state of state.environment.
  virtual Status PutEnvironmentState(const EnvironmentState& state) = 0;
  virtual Result<std::vector<EnvironmentState>> ListEnvironmentStates() = 0;

  // --- API tokens ---

  // Stores a token and returns its id; AlreadyExists when the hash is taken.
  virtual Result<int64_t> CreateToken(const TokenRecord& token) = 0;
  // The token with this hash; nullopt when there is none.
  virtual Result<std::optional<TokenRecord>> FindToken(const std::string& hash) = 0;
  // Every token, oldest first.
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;
  // NotFound when there is no such token.
  virtual Status DeleteToken(int64_t id) = 0;

  // --- Webhook deliveries ---

  // Stores a delivery as pending and returns true; returns false and writes
  // nothing when (source, delivery_id) was recorded before. Processed
  // deliveries received more than `keep_ms` before this one are deleted.
  virtual Result<bool> RecordDelivery(const Delivery& delivery, int64_t keep_ms) = 0;
  // Deliveries not yet processed, oldest first.
  virtual Result<std::vector<Delivery>> PendingDeliveries() = 0;
  // NotFound when there is no such delivery.
  virtual Status MarkDeliveryProcessed(int64_t id, int64_t processed_ms) = 0;

  // --- Fleet mode (issue 7; doc/fleet.md). Times are the calling node's
  // clock: nodes must keep their clocks in sync (NTP) to well within the TTL.
  // SQLite serves one node; it implements these for that single node. ---

  // Inserts or replaces the node (by id) with heartbeat_ms = node.heartbeat_ms.
  virtual Status RegisterNode(const NodeRecord& node) = 0;
  // Records a heartbeat; false (nothing written) when the node is not
  // registered — another node declared it lost: its runs were interrupted,
  // and it must stop them and register again.
  virtual Result<bool> Heartbeat(const std::string& node_id, int64_t now_ms) = 0;
  // Every registered node, oldest first, with the runs it runs now.
  virtual Result<std::vector<NodeRecord>> ListNodes() = 0;
  // Forgets a node that stopped cleanly (its leases too). Runs it still
  // runs are left alone. Not an error when it is unknown.
  virtual Status RemoveNode(const std::string& node_id) = 0;
  // Atomically takes the oldest queued run whose environment runs nothing
  // (on any node) and whose environment is not in `busy`: queued -> running,
  // started_ms, owned by node_id. nullopt when there is none. Several nodes
  // may call this at once: each run is taken once (FOR UPDATE SKIP LOCKED),
  // and the database refuses a second running deploy run of one environment.
  virtual Result<std::optional<RunRecord>> ClaimNextRun(const std::string& node_id, int64_t started_ms,
                                                        const std::vector<std::string>& busy) = 0;
  // Of `run_ids`, the ones still running and owned by node_id (a node that
  // was declared lost finds its runs taken away here).
  virtual Result<std::vector<int64_t>> OwnedRuns(const std::string& node_id, const std::vector<int64_t>& run_ids) = 0;
  // Declares lost every node whose last heartbeat is older than now_ms -
  // ttl_ms: unregisters it, drops its leases, and marks its running runs
  // `interrupted` (error "node lost: ...", finished_ms = now_ms, running
  // steps cancelled). One transaction per node.
  virtual Result<ReapResult> ReapLostNodes(int64_t now_ms, int64_t ttl_ms) = 0;
  // Takes or renews the lease `name` for holder until now_ms + ttl_ms; true
  // when holder has it now (it was free, expired, or already holder's).
  virtual Result<bool> AcquireLease(const std::string& name, const std::string& holder, int64_t now_ms,
                                    int64_t ttl_ms) = 0;
  // Gives the lease up when holder has it. Not an error otherwise.
  virtual Status ReleaseLease(const std::string& name, const std::string& holder) = 0;
  virtual Result<std::vector<LeaseRecord>> ListLeases() = 0;
  // Records that a schedule's occurrence `slot_ms` of environment fired;
  // true for the first caller only (a cron fires once across the fleet).
  // Records older than keep_ms before slot_ms are pruned.
  virtual Result<bool> ClaimScheduleSlot(const std::string& environment, int64_t slot_ms, int64_t keep_ms) = 0;

  // --- Run logs in the database (fleet mode: readable from any node) ---

  // Appends data to the run's stored log at byte `offset`; a chunk whose
  // offset is already stored is ignored (a retry). NotFound for no such run.
  virtual Status AppendLog(int64_t run_id, int64_t offset, const std::string& data) = 0;
  // Up to max_bytes of the stored log from byte `offset` ("" at the end).
  virtual Result<std::string> ReadLog(int64_t run_id, int64_t offset, int64_t max_bytes) = 0;
  // Log retention (log_retention_days, both backends): every final run that
  // finished before before_ms and whose log was not pruned yet gets
  // log_pruned_ms = now_ms and loses its stored log chunks; returns how many
  // runs. The run records stay. Idempotent: every node of a fleet may call
  // it. Deleting the log files (on each node's disk) is the caller's part.
  virtual Result<int> PruneLogs(int64_t before_ms, int64_t now_ms) = 0;

  // --- Cancelling a run through another node (fleet mode) ---

  // Records that `actor` asked to cancel the running run `id` (the first
  // request's time and actor are kept); the node running it sees it in
  // CancelRequests and cancels. false (nothing written) when the run is not
  // `running`; NotFound when there is none.
  virtual Result<bool> RequestCancel(int64_t id, const std::string& actor, int64_t now_ms) = 0;
  // Runs `running` on node_id with a cancel request, oldest first, without
  // steps.
  virtual Result<std::vector<RunRecord>> CancelRequests(const std::string& node_id) = 0;
};

// Opens (creating when missing) the SQLite database at path, in WAL mode,
// and applies pending schema migrations (version table `schema_version`).
// The folder must exist. A database written by a newer Slipway (a schema
// version this build does not know) is refused with kInvalidArgument.
// Options and SQLite-only extras: store/sqlite_store.h.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

// Opens the store named by the config's `database`: "sqlite" opens
// SQLite at sqlite_path; a postgresql:// (or postgres://) URL opens
// PostgreSQL (fleet mode; store/postgres_store.h). Anything else is
// kInvalidArgument.
Result<std::unique_ptr<Store>> OpenStore(const std::string& database, const std::string& sqlite_path);
// True when `database` names PostgreSQL (fleet mode).
bool IsPostgresUrl(const std::string& database);

}  // namespace slipway
