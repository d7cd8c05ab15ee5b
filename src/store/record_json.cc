#include "store/record_json.h"

#include <string>

namespace slipway {

using nlohmann::json;

json StepToJson(const StepRecord& s) {
  json j;
  j["index"] = s.index;
  j["name"] = s.name;
  j["status"] = StepStatusName(s.status);
  j["exit_code"] = s.exit_code ? json(*s.exit_code) : json(nullptr);
  j["started_ms"] = s.started_ms;
  j["duration_ms"] = s.duration_ms;
  return j;
}

json RunRecordToJson(const RunRecord& r, const RunJsonOptions& options) {
  json j;
  j["id"] = r.id;
  j["environment"] = r.environment;
  j["kind"] = r.kind;
  j["status"] = RunStatusName(r.status);
  j["trigger"] = r.trigger;
  j["actor"] = r.actor;
  j["settings_commit"] = r.settings_commit;
  j["code_url"] = r.code_url;
  j["code_ref"] = r.code_ref;
  j["code_commit"] = r.code_commit;
  j["branch_pin"] = r.branch_pin;
  j["requested_ref"] = r.requested_ref;
  j["created_ms"] = r.created_ms;
  j["started_ms"] = r.started_ms;
  j["finished_ms"] = r.finished_ms;
  j["duration_ms"] = r.finished_ms > 0 && r.started_ms > 0 ? r.finished_ms - r.started_ms : 0;
  j["error"] = r.error;
  if (!r.node.empty()) j["node"] = r.node;  // fleet: the node that ran it (doc/fleet.md)
  if (r.cancel_requested_ms != 0) j["cancel_requested_by"] = r.cancel_requested_by;              // doc/fleet.md
  if (r.log_pruned_ms != 0) j["log_deleted_ms"] = r.log_pruned_ms;                               // log_retention_days
  j["signer"] = r.signer;                                                                        // doc/verify.md
  if (!r.context_json.empty()) j["pull_request"] = json::parse(r.context_json, nullptr, false);  // doc/previews.md
  if (options.log_url) j["log"] = "/api/v1/runs/" + std::to_string(r.id) + "/log";
  if (options.local_paths) {
    j["log_path"] = r.log_path;
    j["workspace"] = r.workspace;
  }
  if (options.steps) {
    if (!r.exported_json.empty()) j["exported_variables"] = json::parse(r.exported_json, nullptr, false);
    json steps = json::array();
    for (const auto& s : r.steps) steps.push_back(StepToJson(s));
    j["steps"] = steps;
  }
  return j;
}

json DeploymentToJson(const std::optional<Deployment>& d) {
  if (!d) return nullptr;
  json j;
  j["run_id"] = d->run_id;
  j["settings_commit"] = d->settings_commit;
  j["code_url"] = d->code_url;
  j["code_ref"] = d->code_ref;
  j["code_commit"] = d->code_commit;
  j["deployed_ms"] = d->deployed_ms;
  return j;
}

}  // namespace slipway
