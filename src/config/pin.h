// The pin: what the settings folder says to deploy (DESIGN.md §4).
//
// `deploy.yaml` in the environment's folder, or, when it is absent, the plain
// assignments CODE_GIT_URL=... / CODE_GIT_BRANCH=... of the article's
// `variables.sh`, which is parsed and never executed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace slipway {

struct Pin {
  std::string code_ref;                          // "" when the folder names none
  std::string code_url;                          // "" when the folder names none
  std::map<std::string, std::string> variables;  // exported to every step
  std::string source;                            // "deploy.yaml", "variables.sh" or "" (none)
  std::vector<std::string> warnings;             // things a user should hear about
};

// Parses deploy.yaml text; `where` names the file in messages
// ("settings@abc1234:environments/prod/deploy.yaml"). Errors carry line:column.
Result<Pin> ParseDeployYaml(const std::string& text, const std::string& where);

// Parses variables.sh text: lines `NAME=value`, `export NAME=value`, with
// optional single or double quotes; comments and blank lines are skipped.
// CODE_GIT_URL and CODE_GIT_BRANCH fill code_url / code_ref; every other
// assignment becomes a variable. Lines that are not plain assignments
// (commands, `if`, values with $(...), backticks or $VAR expansions) are
// never executed: they are skipped with a warning naming the line.
Result<Pin> ParseVariablesSh(const std::string& text, const std::string& where);

}  // namespace slipway
