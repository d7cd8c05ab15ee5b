#include "store/store.h"

#include <array>
#include <utility>

#include "store/refused_write.h"
#include "util/clock.h"

namespace slipway {

namespace {

// The names are stored in the database (doc/store.md): never rename one.
constexpr std::array<std::pair<RunStatus, const char*>, 7> kRunStatusNames = {{
    {RunStatus::kQueued, "queued"},
    {RunStatus::kRunning, "running"},
    {RunStatus::kSucceeded, "succeeded"},
    {RunStatus::kFailed, "failed"},
    {RunStatus::kCancelled, "cancelled"},
    {RunStatus::kTimedOut, "timed_out"},
    {RunStatus::kInterrupted, "interrupted"},
}};

constexpr std::array<std::pair<StepStatus, const char*>, 7> kStepStatusNames = {{
    {StepStatus::kPending, "pending"},
    {StepStatus::kRunning, "running"},
    {StepStatus::kSucceeded, "succeeded"},
    {StepStatus::kFailed, "failed"},
    {StepStatus::kSkipped, "skipped"},
    {StepStatus::kCancelled, "cancelled"},
    {StepStatus::kTimedOut, "timed_out"},
}};

template <typename Enum, size_t N>
const char* NameOf(const std::array<std::pair<Enum, const char*>, N>& names, Enum value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "unknown";  // only reachable through a cast of an out-of-range integer
}

template <typename Enum, size_t N>
bool Parse(const std::array<std::pair<Enum, const char*>, N>& names, const std::string& name, Enum* out) {
  for (const auto& [v, n] : names) {
    if (name == n) {
      *out = v;
      return true;
    }
  }
  return false;
}

}  // namespace

const char* RunStatusName(RunStatus status) { return NameOf(kRunStatusNames, status); }
bool ParseRunStatus(const std::string& name, RunStatus* out) { return Parse(kRunStatusNames, name, out); }

bool IsFinal(RunStatus status) {
  switch (status) {
    case RunStatus::kQueued:
    case RunStatus::kRunning:
      return false;
    case RunStatus::kSucceeded:
    case RunStatus::kFailed:
    case RunStatus::kCancelled:
    case RunStatus::kTimedOut:
    case RunStatus::kInterrupted:
      return true;
  }
  return false;
}

const char* StepStatusName(StepStatus status) { return NameOf(kStepStatusNames, status); }
bool ParseStepStatus(const std::string& name, StepStatus* out) { return Parse(kStepStatusNames, name, out); }

const char* TokenRoleName(TokenRole role) {
  switch (role) {
    case TokenRole::kViewer:
      return "viewer";
    case TokenRole::kOperator:
      return "operator";
    case TokenRole::kAdmin:
      return "admin";
  }
  return "unknown";
}

bool ParseTokenRole(const std::string& name, TokenRole* out) {
  for (TokenRole role : {TokenRole::kViewer, TokenRole::kOperator, TokenRole::kAdmin}) {
    if (name == TokenRoleName(role)) {
      *out = role;
      return true;
    }
  }
  return false;
}

std::vector<std::string> RunStatusNames() {
  std::vector<std::string> names;
  for (const auto& [v, name] : kRunStatusNames) names.emplace_back(name);
  return names;
}

std::string PrunedLogMessage(const RunRecord& run, int retention_days) {
  std::string when = retention_days > 0
                         ? "after " + std::to_string(retention_days) + " day" + (retention_days == 1 ? "" : "s")
                         : "on " + FormatTimestamp(run.log_pruned_ms).substr(0, 10);
  return "the log of run " + std::to_string(run.id) + " was deleted " + when +
         " (log_retention_days); the run's record is kept";
}

std::string FinalStatusKeptMessage(const RunRecord& run, const std::string& stored_status) {
  return "run " + std::to_string(run.id) + " is " + stored_status +
         " already; a final status is never changed (nothing written)";
}

std::string NoLongerRunningMessage(const RunRecord& run, const std::string& stored_status) {
  return "run " + std::to_string(run.id) + " is no longer running (it is " + stored_status + "); its end (" +
         RunStatusName(run.status) + ") was not recorded";
}

}  // namespace slipway
