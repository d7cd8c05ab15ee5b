// JSON forms of the records the CLI prints (and, later, the API serves).
// nlohmann::json stays inside json.cc; callers get text.
#pragma once

#include <string>
#include <vector>

#include "pipeline/pipeline.h"
#include "store/store.h"

namespace slipway {

std::string RunToJson(const RunRecord& run, int indent = 2);
std::string RunsToJson(const std::vector<RunRecord>& runs, int indent = 2);
std::string PlanToJson(const Plan& plan, int indent = 2);

struct EnvironmentStatus {
  std::string environment;
  SyncStatus sync = SyncStatus::kUnknown;
  std::string reason;
  std::optional<Deployment> deployed;
  std::optional<RunRecord> last_run;
};
std::string StatusToJson(const std::vector<EnvironmentStatus>& status, int indent = 2);

}  // namespace slipway
