#include "cli/json.h"

#include <nlohmann/json.hpp>

#include "store/record_json.h"

namespace slipway {

namespace {

using nlohmann::json;

// The CLI's form: the API's, plus the engine machine's paths; lists of runs
// without their steps.
json RunJson(const RunRecord& r, bool steps) {
  return RunRecordToJson(r, RunJsonOptions{.steps = steps, .local_paths = true});
}

}  // namespace

std::string RunToJson(const RunRecord& run, int indent) { return RunJson(run, true).dump(indent); }

std::string RunsToJson(const std::vector<RunRecord>& runs, int indent) {
  json arr = json::array();
  for (const auto& r : runs) arr.push_back(RunJson(r, false));
  return arr.dump(indent);
}

std::string PlanToJson(const Plan& plan, int indent) {
  json j;
  j["environment"] = plan.environment;
  j["sync"] = SyncStatusName(plan.sync);
  j["reason"] = plan.reason;
  j["deployed"] = DeploymentToJson(plan.deployed);
  if (plan.desired) {
    const Desired& d = *plan.desired;
    json desired;
    desired["settings_commit"] = d.settings_commit;
    desired["pin_source"] = d.pin.source;
    desired["code_url"] = d.code_url;
    desired["code_ref"] = d.code_ref;
    desired["code_ref_kind"] = d.code.commit.empty() ? "" : RefKindName(d.code.kind);
    desired["code_commit"] = d.code.commit;
    desired["variables"] = d.pin.variables;
    desired["warnings"] = d.warnings;
    j["desired"] = desired;
  } else {
    j["desired"] = nullptr;
  }
  j["error"] = plan.error;
  j["changed_paths"] = plan.changed_paths;
  return j.dump(indent);
}

std::string StatusToJson(const std::vector<EnvironmentStatus>& status, int indent) {
  json arr = json::array();
  for (const auto& s : status) {
    json j;
    j["environment"] = s.environment;
    j["sync"] = SyncStatusName(s.sync);
    j["reason"] = s.reason;
    j["deployed"] = DeploymentToJson(s.deployed);
    j["last_run"] = s.last_run ? RunJson(*s.last_run, false) : json(nullptr);
    arr.push_back(j);
  }
  return arr.dump(indent);
}

}  // namespace slipway
