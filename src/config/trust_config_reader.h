// Readers of the issue-8 sections of slipway.yaml, used by config.cc.
// Internal to src/config. Each reports its problems to `diag` with the
// position of the offending value and fills `out` with what was valid.
#pragma once

#include <string>
#include <vector>

#include "config/trust_config.h"
#include "config/yaml_tree.h"

namespace slipway {

// verify: {mode: none|settings|code|both, gpg_keys: [FILE...], ssh_allowed_signers: FILE}
void ReadVerifyConfig(const YamlField& f, const std::string& config_dir, const std::string& context, Diagnostics* diag,
                      VerifyConfig* out);
// notify: [ {type: webhook|slack|teams|email, events: [...], ...}, ... ]
void ReadNotifyConfig(const YamlField& f, const std::string& config_dir, const std::string& context, Diagnostics* diag,
                      std::vector<NotifyTarget>* out);
// forges: {github: {api_url, token_file|token_env, comment}, gitlab: ..., gitea: ...}
void ReadForgesConfig(const YamlField& f, const std::string& config_dir, Diagnostics* diag,
                      std::map<std::string, ForgeConfig>* out);

}  // namespace slipway
