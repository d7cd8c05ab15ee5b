#include "config/pin.h"

#include <gtest/gtest.h>

namespace slipway {
namespace {

const char kWhere[] = "settings@abc1234:environments/prod/deploy.yaml";

std::string ErrorOf(const Result<Pin>& result) {
  EXPECT_FALSE(result.ok());
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  return result.status().message();
}

TEST(DeployYamlTest, ReadsRefUrlAndVariables) {
  auto pin = ParseDeployYaml(
      "code:\n"
      "  ref: v23.9.22\n"
      "  url: https://github.com/example/fork.git\n"
      "variables:\n"
      "  VERBOSITY: INFO\n"
      "  DRY_RUN: NO\n"
      "  RETRIES: 3\n"
      "  EMPTY: ''\n",
      kWhere);
  ASSERT_TRUE(pin.ok()) << pin.status().message();
  EXPECT_EQ(pin->source, "deploy.yaml");
  EXPECT_EQ(pin->code_ref, "v23.9.22");
  EXPECT_EQ(pin->code_url, "https://github.com/example/fork.git");
  EXPECT_EQ(pin->variables, (std::map<std::string, std::string>{
                                {"VERBOSITY", "INFO"}, {"DRY_RUN", "NO"}, {"RETRIES", "3"}, {"EMPTY", ""}}));
  EXPECT_TRUE(pin->warnings.empty());
}

TEST(DeployYamlTest, EmptyFilePinsNothing) {
  auto pin = ParseDeployYaml("# nothing yet\n", kWhere);
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin->code_ref, "");
  EXPECT_EQ(pin->source, "deploy.yaml");
  ASSERT_EQ(pin->warnings.size(), 1u);
}

TEST(DeployYamlTest, UnknownKeysWithDidYouMean) {
  std::string err =
      ErrorOf(ParseDeployYaml("code:\n"
                              "  rev: v1\n"
                              "varaibles:\n"
                              "  A: b\n",
                              "deploy.yaml"));
  EXPECT_EQ(err,
            "deploy.yaml:2:3: unknown key 'rev' in 'code', did you mean 'ref'?\n"
            "deploy.yaml:3:1: unknown key 'varaibles' at the top level, did you mean 'variables'?");
}

TEST(DeployYamlTest, BadValuesAreReportedWithPositions) {
  std::string err =
      ErrorOf(ParseDeployYaml("code:\n"
                              "  ref: --upload-pack=evil\n"
                              "  url: [ a ]\n"
                              "variables:\n"
                              "  1X: a\n"
                              "  GOOD: { nested: map }\n"
                              "  SLIPWAY_RUN_ID: 7\n"
                              "  A-B: c\n",
                              "deploy.yaml"));
  EXPECT_EQ(
      err,
      "deploy.yaml:2:8: 'code.ref' must not begin with '-' (git would read it as an option), got "
      "'--upload-pack=evil'\n"
      "deploy.yaml:3:8: expected a string for 'url', got a list\n"
      "deploy.yaml:5:3: variable name '1X' in 'variables' is not valid: use letters, digits and '_', not starting "
      "with a digit\n"
      "deploy.yaml:6:9: expected a string for 'GOOD', got a mapping\n"
      "deploy.yaml:7:3: variable 'SLIPWAY_RUN_ID' is reserved: names beginning with SLIPWAY_ are set by the "
      "engine\n"
      "deploy.yaml:8:3: variable name 'A-B' in 'variables' is not valid: use letters, digits and '_', not "
      "starting with a digit");
}

TEST(DeployYamlTest, RefWithSpacesOrDotsIsRefused) {
  EXPECT_NE(ErrorOf(ParseDeployYaml("code: { ref: 'v1 v2' }\n", "d")).find("must be a git branch, tag or commit"),
            std::string::npos);
  EXPECT_NE(ErrorOf(ParseDeployYaml("code: { ref: 'main..evil' }\n", "d")).find("must be a git branch, tag or commit"),
            std::string::npos);
}

TEST(DeployYamlTest, AbbreviatedCommitIsWarned) {
  auto pin = ParseDeployYaml("code: { ref: abc1234 }\n", "d.yaml");
  ASSERT_TRUE(pin.ok());
  ASSERT_EQ(pin->warnings.size(), 1u);
  EXPECT_EQ(pin->warnings[0],
            "d.yaml:1:14: code ref 'abc1234' looks like an abbreviated commit; give the full 40-hex commit or a tag");
  EXPECT_TRUE(ParseDeployYaml("code: { ref: 1234567 }\n", "d.yaml")->warnings.empty());  // a number-like tag
  EXPECT_TRUE(ParseDeployYaml("code: { ref: " + std::string(40, 'a') + " }\n", "d.yaml")->warnings.empty());
}

TEST(DeployYamlTest, SyntaxErrorsAndBombs) {
  std::string err = ErrorOf(ParseDeployYaml("code: { ref: [ }\n", "d.yaml"));
  EXPECT_EQ(err.rfind("d.yaml:1:", 0), 0u) << err;
  std::string bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ",*" : "*") + prev;
    bomb += "]\n";
  }
  bomb += "variables: *j\n";
  err = ErrorOf(ParseDeployYaml(bomb, "d.yaml"));
  EXPECT_NE(err.find("YAML bomb"), std::string::npos) << err;
  err = ErrorOf(ParseDeployYaml(std::string((1 << 20) + 1, '#'), "d.yaml"));
  EXPECT_EQ(err.rfind("d.yaml:1:1: the file is larger than 1024 KiB", 0), 0u) << err;
}

TEST(DeployYamlTest, TopLevelMustBeAMapping) {
  EXPECT_NE(ErrorOf(ParseDeployYaml("v1.2.3\n", "d.yaml")).find("d.yaml:1:1: expected a mapping at the top level"),
            std::string::npos);
}

// The article's style of variables.sh.
constexpr char kArticleVariables[] = R"(#!/usr/bin/env bash
# settings of the automation environment

CODE_GIT_URL="https://github.com/reply-fr/sustainable-personal-accounts.git"
export CODE_GIT_BRANCH=v23.9.22
export VERBOSITY=INFO   # or DEBUG
QUOTED='it''s "single"'
ESCAPED="a \"b\" \$c \\ d"
MULTI="line one
line two"
CONTINUED=abc\
def
EMPTY=
A=1 B=2
export EMPTY A
)";

TEST(VariablesShTest, ReadsTheArticlesFile) {
  auto pin = ParseVariablesSh(kArticleVariables, "variables.sh");
  ASSERT_TRUE(pin.ok()) << pin.status().message();
  EXPECT_EQ(pin->source, "variables.sh");
  EXPECT_EQ(pin->code_url, "https://github.com/reply-fr/sustainable-personal-accounts.git");
  EXPECT_EQ(pin->code_ref, "v23.9.22");
  EXPECT_EQ(pin->variables, (std::map<std::string, std::string>{
                                {"VERBOSITY", "INFO"},
                                {"QUOTED", "its \"single\""},
                                {"ESCAPED", "a \"b\" $c \\ d"},
                                {"MULTI", "line one\nline two"},
                                {"CONTINUED", "abcdef"},
                                {"EMPTY", ""},
                                {"A", "1"},
                                {"B", "2"},
                            }));
  EXPECT_TRUE(pin->warnings.empty()) << pin->warnings[0];
}

TEST(VariablesShTest, NeverExecutesAndWarnsAboutWhatItSkips) {
  auto pin = ParseVariablesSh(
      "A=ok\n"                    // 1
      "B=$(rm -rf /)\n"           // 2
      "C=`id`\n"                  // 3
      "D=\"$HOME/x\"\n"           // 4
      "echo hello\n"              // 5
      "if [ -n \"$X\" ]; then\n"  // 6
      "  E=1\n"                   // 7
      "fi\n"                      // 8
      "F=1; G=2\n"                // 9
      "H=1 make deploy\n"         // 10
      "I=~/bin\n"                 // 11
      "export\n"                  // 12
      "SLIPWAY_RUN=1\n"           // 13
      "source ./other.sh\n",      // 14
      "v.sh");
  ASSERT_TRUE(pin.ok()) << pin.status().message();
  // E=1 is a plain assignment even inside `if`: the file is read line by
  // line, with a warning about the `if` around it.
  EXPECT_EQ(pin->variables, (std::map<std::string, std::string>{{"A", "ok"}, {"E", "1"}}));
  std::vector<std::string> expected = {
      "v.sh:2: skipped 'B=$(rm -rf /)': a command substitution $(...) (variables.sh is read, never executed)",
      "v.sh:3: skipped 'C=`id`': a command substitution `...` (variables.sh is read, never executed)",
      "v.sh:4: skipped 'D=\"$HOME/x\"': a variable expansion ($...) (variables.sh is read, never executed)",
      "v.sh:5: skipped 'echo hello': a command, not an assignment (variables.sh is read, never executed)",
      "v.sh:6: skipped 'if [ -n \"$X\" ]; then': a variable expansion ($...) (variables.sh is read, never executed)",
      "v.sh:8: skipped 'fi': a command, not an assignment (variables.sh is read, never executed)",
      "v.sh:9: skipped 'F=1; G=2': a command list, pipe or redirection (';') (variables.sh is read, never executed)",
      "v.sh:10: skipped 'H=1 make deploy': assignments followed by a command (variables.sh is read, never executed)",
      "v.sh:11: skipped 'I=~/bin': a '~' home directory expansion (variables.sh is read, never executed)",
      "v.sh:12: skipped 'export': 'export' without an assignment (variables.sh is read, never executed)",
      "v.sh:13: skipped 'SLIPWAY_RUN=1': 'SLIPWAY_RUN' is reserved: names beginning with SLIPWAY_ are set by the "
      "engine",
      "v.sh:14: skipped 'source ./other.sh': a command, not an assignment (variables.sh is read, never executed)",
  };
  EXPECT_EQ(pin->warnings, expected);
}

TEST(VariablesShTest, OptionLikeRefIsAnError) {
  auto pin = ParseVariablesSh("CODE_GIT_URL=https://x/y.git\nCODE_GIT_BRANCH=--upload-pack=evil\n", "v.sh");
  EXPECT_EQ(ErrorOf(pin),
            "v.sh:2:1: CODE_GIT_BRANCH must not begin with '-' (git would read it as an option), got "
            "'--upload-pack=evil'");
}

TEST(VariablesShTest, UnterminatedQuoteIsAnError) {
  EXPECT_EQ(ErrorOf(ParseVariablesSh("A=1\nB=\"open\nC=2\n", "v.sh")), "v.sh:2:3: unterminated double quote");
  EXPECT_EQ(ErrorOf(ParseVariablesSh("A='open\n", "v.sh")), "v.sh:1:3: unterminated single quote");
}

TEST(VariablesShTest, LastAssignmentWinsAndCrLfIsRead) {
  auto pin = ParseVariablesSh("export CODE_GIT_BRANCH=v1\r\nCODE_GIT_BRANCH=v2\r\nX=y\r\n", "v.sh");
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin->code_ref, "v2");
  EXPECT_EQ(pin->variables.at("X"), "y");
}

TEST(VariablesShTest, EmptyFile) {
  auto pin = ParseVariablesSh("", "v.sh");
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin->code_ref, "");
  EXPECT_TRUE(pin->variables.empty());
}

TEST(VariablesShTest, HugeFileIsRefused) {
  EXPECT_EQ(ErrorOf(ParseVariablesSh(std::string((1 << 20) + 1, '#'), "v.sh"))
                .rfind("v.sh:1:1: the file is larger than 1024 KiB", 0),
            0u);
}

}  // namespace
}  // namespace slipway
