// The JSON forms of the store's records: one definition for the CLI's
// `--json` output and the HTTP API (doc/api.md, doc/cli.md). Include it in
// .cc files only: it brings in nlohmann/json.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

#include "store/store.h"

namespace slipway {

struct RunJsonOptions {
  bool steps = true;         // "steps" and "exported_variables"
  bool local_paths = false;  // "log_path" and "workspace": for the CLI, on the engine's machine
  bool log_url = false;      // "log": the API path of the run's log
};

nlohmann::json StepToJson(const StepRecord& step);
nlohmann::json RunRecordToJson(const RunRecord& run, const RunJsonOptions& options);
// null when nothing is deployed.
nlohmann::json DeploymentToJson(const std::optional<Deployment>& deployment);

}  // namespace slipway
