#include "cli/json.h"

#include <nlohmann/json.hpp>

namespace slipway {

namespace {

using nlohmann::json;

json StepJson(const StepRecord& s) {
  json j;
  j["name"] = s.name;
  j["status"] = StepStatusName(s.status);
  j["exit_code"] = s.exit_code ? json(*s.exit_code) : json(nullptr);
  j["started_ms"] = s.started_ms;
  j["duration_ms"] = s.duration_ms;
  return j;
}

json RunJson(const RunRecord& r) {
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
  j["duration_ms"] = r.finished_ms > 0 ? r.finished_ms - r.started_ms : 0;
  j["error"] = r.error;
  j["log_path"] = r.log_path;
  j["workspace"] = r.workspace;
  if (!r.exported_json.empty()) {
    j["exported_variables"] = json::parse(r.exported_json, nullptr, false);
  }
  json steps = json::array();
  for (const auto& s : r.steps) steps.push_back(StepJson(s));
  j["steps"] = steps;
  return j;
}

json DeploymentJson(const std::optional<Deployment>& d) {
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

}  // namespace

std::string RunToJson(const RunRecord& run, int indent) { return RunJson(run).dump(indent); }

std::string RunsToJson(const std::vector<RunRecord>& runs, int indent) {
  json arr = json::array();
  for (const auto& r : runs) {
    json j = RunJson(r);
    j.erase("steps");
    arr.push_back(j);
  }
  return arr.dump(indent);
}

std::string PlanToJson(const Plan& plan, int indent) {
  json j;
  j["environment"] = plan.environment;
  j["sync"] = SyncStatusName(plan.sync);
  j["reason"] = plan.reason;
  j["deployed"] = DeploymentJson(plan.deployed);
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
    j["deployed"] = DeploymentJson(s.deployed);
    if (s.last_run) {
      json last = RunJson(*s.last_run);
      last.erase("steps");
      j["last_run"] = last;
    } else {
      j["last_run"] = nullptr;
    }
    arr.push_back(j);
  }
  return arr.dump(indent);
}

}  // namespace slipway
