#include "buildspec/buildspec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "testing/testing.h"

namespace slipway {
namespace {

std::string ErrorOf(const std::string& yaml) {
  Result<Buildspec> r = ParseBuildspec(yaml);
  if (r.ok()) return "<ok>";
  return r.status().message();
}

TEST(BuildspecParse, ReadsTheSpaBuildspec) {
  Result<Buildspec> r =
      LoadBuildspecFile(std::string(SLIPWAY_SOURCE_DIR) + "/tests/e2e/data/spa-deploy-buildspec.yaml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->version, "0.2");
  EXPECT_EQ(r->shell, BuildspecShell::kSh);
  ASSERT_EQ(r->variables.size(), 7u);
  EXPECT_EQ(r->variables[0].first, "CODE_GIT_URL");
  EXPECT_EQ(r->variables[3].second, "codecommit::eu-west-1://SpaSettings");
  EXPECT_EQ(r->phase(BuildPhase::kInstall).commands.size(), 8u);
  EXPECT_EQ(r->phase(BuildPhase::kPreBuild).commands.size(), 1u);
  EXPECT_EQ(r->phase(BuildPhase::kBuild).commands.size(), 2u);
  EXPECT_FALSE(r->phase(BuildPhase::kPostBuild).present);
  // A `- |` block is one command holding every line.
  EXPECT_EQ(r->phase(BuildPhase::kPreBuild).commands[0].text,
            "echo \"Testing the overall code base...\"\nmake lint\nmake all-tests\n");
}

TEST(BuildspecParse, ScalarsAreTakenLiterally) {
  Result<Buildspec> r = ParseBuildspec(
      "version: 0.2\nenv:\n  variables:\n    A: NO\n    B: 1.10\n    C: $PATH:/x\n    D:\n    E: 'yes'\n"
      "phases:\n  build:\n    commands:\n      - echo 1\n      - 42\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->variables.size(), 5u);
  EXPECT_EQ(r->variables[0].second, "NO");
  EXPECT_EQ(r->variables[1].second, "1.10");
  EXPECT_EQ(r->variables[2].second, "$PATH:/x");
  EXPECT_EQ(r->variables[3].second, "");
  EXPECT_EQ(r->variables[4].second, "yes");
  EXPECT_EQ(r->phase(BuildPhase::kBuild).commands[1].text, "42");
  EXPECT_EQ(r->phase(BuildPhase::kBuild).commands[1].line, 13);
}

TEST(BuildspecParse, InvalidPhaseNameIsCodeBuildsMessage) {
  EXPECT_EQ(ErrorOf("version: 0.2\nphases:\n  postbuild:\n    commands:\n      - echo hi\n"),
            "Invalid buildspec phase name: POSTBUILD. Expecting: BUILD,INSTALL,POST_BUILD,PRE_BUILD");
}

TEST(BuildspecParse, PhaseNamesAreCaseInsensitive) {
  Result<Buildspec> r = ParseBuildspec("version: 0.2\nphases:\n  BUILD:\n    commands:\n      - echo hi\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->phase(BuildPhase::kBuild).present);
}

TEST(BuildspecParse, CommandWithUnquotedColonIsCodeBuildsMessage) {
  // Line 5 is "- echo foo: bar", which YAML reads as a map.
  EXPECT_EQ(ErrorOf("version: 0.2\nphases:\n  build:\n    commands:\n      - echo foo: bar\n"),
            "Expected Commands[0] to be of string type: found subkeys instead at line 5, value of the key tag on "
            "line 4 might be empty");
  EXPECT_EQ(ErrorOf("version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n      - echo a: b\n"),
            "Expected Commands[1] to be of string type: found subkeys instead at line 6, value of the key tag on "
            "line 5 might be empty");
}

TEST(BuildspecParse, FinallyEntriesAreCheckedTheSameWay) {
  EXPECT_EQ(ErrorOf("version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n    finally:\n      - x: y\n"),
            "Expected Commands[0] to be of string type: found subkeys instead at line 7, value of the key tag on "
            "line 6 might be empty");
}

TEST(BuildspecParse, MissingFileIsCodeBuildsMessage) {
  Result<Buildspec> r = LoadBuildspecFile("/nonexistent/buildspec.yml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "YAML file does not exist");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(BuildspecParse, InvalidYamlNamesTheLine) {
  std::string e = ErrorOf("version: 0.2\nphases:\n  build:\n    commands: [echo a,\n");
  EXPECT_NE(e.find("at line"), std::string::npos) << e;
}

TEST(BuildspecParse, Version01IsRefused) {
  std::string e = ErrorOf("version: 0.1\nphases:\n  build:\n    commands:\n      - echo hi\n");
  EXPECT_NE(e.find("version 0.1 is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("version: 0.2"), std::string::npos) << e;
}

TEST(BuildspecParse, OtherVersionsAndMissingVersionAreRefused) {
  EXPECT_NE(ErrorOf("version: 0.3\nphases:\n  build:\n    commands: [x]\n").find("Invalid buildspec version: 0.3"),
            std::string::npos);
  EXPECT_NE(ErrorOf("phases:\n  build:\n    commands: [x]\n").find("version is missing"), std::string::npos);
}

TEST(BuildspecParse, BatchIsRefused) {
  std::string e = ErrorOf("version: 0.2\nbatch:\n  fast-fail: true\nphases:\n  build:\n    commands: [x]\n");
  EXPECT_NE(e.find("batch builds are not supported"), std::string::npos) << e;
}

TEST(BuildspecParse, RetryIsRefused) {
  for (const char* v : {"RETRY", "RETRY-3", "RETRY-.*error.*", "RETRY-2-timeout"}) {
    std::string e =
        ErrorOf(std::string("version: 0.2\nphases:\n  build:\n    on-failure: ") + v + "\n    commands: [x]\n");
    EXPECT_NE(e.find("is not supported"), std::string::npos) << v << ": " << e;
    EXPECT_NE(e.find("ABORT or CONTINUE"), std::string::npos) << e;
  }
}

TEST(BuildspecParse, UnknownOnFailureValueIsRefused) {
  std::string e = ErrorOf("version: 0.2\nphases:\n  build:\n    on-failure: STOP\n    commands: [x]\n");
  EXPECT_NE(e.find("Invalid on-failure value 'STOP'"), std::string::npos) << e;
}

TEST(BuildspecParse, OnFailureValuesAreRead) {
  Result<Buildspec> r = ParseBuildspec(
      "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands: [x]\n  build:\n    on-failure: "
      "ABORT\n    commands: [x]\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->phase(BuildPhase::kInstall).on_failure, OnFailure::kContinue);
  EXPECT_EQ(r->phase(BuildPhase::kBuild).on_failure, OnFailure::kAbort);
  EXPECT_EQ(r->phase(BuildPhase::kPreBuild).on_failure, OnFailure::kDefault);
}

TEST(BuildspecParse, UnknownShellsAreRefused) {
  for (const char* shell : {"powershell.exe", "cmd.exe", "zsh", "/bin/bash", "sh"}) {
    std::string e =
        ErrorOf(std::string("version: 0.2\nenv:\n  shell: ") + shell + "\nphases:\n  build:\n    commands: [x]\n");
    EXPECT_NE(e.find("is not supported"), std::string::npos) << shell << ": " << e;
  }
  Result<Buildspec> bash = ParseBuildspec("version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands: [x]\n");
  ASSERT_TRUE(bash.ok());
  EXPECT_EQ(bash->shell, BuildspecShell::kBash);
}

TEST(BuildspecParse, RunAsIsRecordedForTheRunnerToCheck) {
  Result<Buildspec> r =
      ParseBuildspec("version: 0.2\nrun-as: builder\nphases:\n  build:\n    run-as: deployer\n    commands: [x]\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->run_as, "builder");
  EXPECT_EQ(r->phase(BuildPhase::kBuild).run_as, "deployer");
}

TEST(BuildspecParse, SecretsAreParsedForTheAwsLayer) {
  Result<Buildspec> r = ParseBuildspec(
      "version: 0.2\nenv:\n  variables:\n    TOKEN: plain\n  parameter-store:\n    TOKEN: /ci/token\n"
      "  secrets-manager:\n    DB: \"prod/db:password::\"\nphases:\n  build:\n    commands: [x]\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->secrets.size(), 2u);
  EXPECT_EQ(r->secrets[0].kind, SecretReference::Kind::kParameterStore);
  EXPECT_EQ(r->secrets[0].variable, "TOKEN");
  EXPECT_EQ(r->secrets[0].reference, "/ci/token");
  EXPECT_EQ(r->secrets[1].kind, SecretReference::Kind::kSecretsManager);
  EXPECT_EQ(r->secrets[1].reference, "prod/db:password::");
  EXPECT_TRUE(r->variables.empty()) << "parameter-store wins over variables for the same name";
}

TEST(BuildspecParse, UnknownKeysAreRefusedWithAHint) {
  std::string e = ErrorOf("version: 0.2\nphases:\n  build:\n    comands:\n      - echo hi\n");
  EXPECT_NE(e.find("Unknown key 'comands'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'commands'"), std::string::npos) << e;
  e = ErrorOf("version: 0.2\nphases:\n  build:\n    commands: [x]\nartefacts:\n  files: [x]\n");
  EXPECT_NE(e.find("did you mean 'artifacts'"), std::string::npos) << e;
}

TEST(BuildspecParse, PhasesAreRequired) {
  EXPECT_NE(ErrorOf("version: 0.2\n").find("phases is missing"), std::string::npos);
}

TEST(BuildspecParse, PhaseWithoutCommandsIsAccepted) {
  Result<Buildspec> r =
      ParseBuildspec("version: 0.2\nphases:\n  install:\n    runtime-versions:\n      python: 3.11\n  build:\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->phase(BuildPhase::kBuild).present);
  ASSERT_EQ(r->phase(BuildPhase::kInstall).runtime_versions.size(), 1u);
  EXPECT_EQ(r->phase(BuildPhase::kInstall).runtime_versions[0].second, "3.11");
}

TEST(BuildspecParse, RuntimeVersionsOutsideInstallAreRefused) {
  std::string e = ErrorOf("version: 0.2\nphases:\n  build:\n    runtime-versions:\n      python: 3.11\n");
  EXPECT_NE(e.find("only allowed in the install phase"), std::string::npos) << e;
}

TEST(BuildspecParse, ArtifactsAndReports) {
  Result<Buildspec> r = ParseBuildspec(
      "version: 0.2\nphases:\n  build:\n    commands: [x]\nartifacts:\n  files:\n    - '**/*'\n  base-directory: "
      "dist\n  discard-paths: yes\n  secondary-artifacts:\n    extra:\n      files: [a.txt]\nreports:\n  unit:\n    "
      "files: ['*.xml']\n    file-format: JUNITXML\ncache:\n  paths: [/root/.m2/**/*]\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->artifacts);
  EXPECT_EQ(r->artifacts->base_directory, "dist");
  EXPECT_TRUE(r->artifacts->discard_paths);
  ASSERT_EQ(r->secondary_artifacts.size(), 1u);
  EXPECT_EQ(r->secondary_artifacts[0].identifier, "extra");
  ASSERT_EQ(r->reports.size(), 1u);
  EXPECT_EQ(r->reports[0].file_format, "JUNITXML");
  EXPECT_TRUE(r->has_cache);
  EXPECT_EQ(r->cache_paths.size(), 1u);
}

TEST(BuildspecParse, ArtifactsNeedFiles) {
  EXPECT_NE(ErrorOf("version: 0.2\nphases:\n  build:\n    commands: [x]\nartifacts:\n  base-directory: d\n")
                .find("artifacts.files is required"),
            std::string::npos);
}

TEST(BuildspecParse, NonScalarVariableIsRefused) {
  std::string e =
      ErrorOf("version: 0.2\nenv:\n  variables:\n    A:\n      - x\nphases:\n  build:\n    commands: [x]\n");
  EXPECT_NE(e.find("env.variables.A"), std::string::npos) << e;
}

TEST(BuildspecParse, CommandsMustBeAList) {
  std::string e = ErrorOf("version: 0.2\nphases:\n  build:\n    commands: echo hi\n");
  EXPECT_NE(e.find("must be a list of commands"), std::string::npos) << e;
}

TEST(BuildspecParse, DuplicatePhaseIsRefused) {
  std::string e = ErrorOf("version: 0.2\nphases:\n  build:\n    commands: [x]\n  BUILD:\n    commands: [y]\n");
  EXPECT_NE(e.find("duplicate phase"), std::string::npos) << e;
}

TEST(BuildspecParse, AliasesWork) {
  Result<Buildspec> r = ParseBuildspec(
      "version: 0.2\nphases:\n  pre_build:\n    commands: &common\n      - echo a\n      - echo b\n  build:\n    "
      "commands: *common\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->phase(BuildPhase::kBuild).commands.size(), 2u);
}

TEST(BuildspecParse, AliasBombFailsFast) {
  // Nine levels of ten-fold aliases: 10^9 commands if expanded.
  std::string yaml = "version: 0.2\nx0: &a0 [\"echo lol\"]\n";
  std::string lines;
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    yaml += "x" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int k = 0; k < 9; ++k) yaml += ", " + prev;
    yaml += "]\n";
  }
  yaml += "phases:\n  build:\n    commands: *a9\n";
  auto start = std::chrono::steady_clock::now();
  std::string e = ErrorOf(yaml);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_NE(e, "<ok>");
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 1000);
}

TEST(BuildspecParse, WideAliasBombHitsTheNodeBudget) {
  // Strings only, so every element is a valid command: only the budget stops it.
  std::string yaml = "version: 0.2\nphases:\n  pre_build:\n    commands: &a [";
  for (int i = 0; i < 1000; ++i) yaml += std::string(i ? ", " : "") + "x";
  yaml += "]\n  build:\n    commands: *a\n  post_build:\n    commands: *a\n";
  EXPECT_EQ(ErrorOf(yaml), "<ok>");  // 3000 nodes: fine
  std::string big = "version: 0.2\nenv:\n  exported-variables: &a [";
  for (int i = 0; i < 60000; ++i) big += std::string(i ? "," : "") + "x";
  big += "]\nphases:\n  build:\n    commands: *a\n";
  auto start = std::chrono::steady_clock::now();
  std::string e = ErrorOf(big);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_NE(e.find("too complex"), std::string::npos) << e;
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 2000);
}

TEST(BuildspecParse, DeepNestingFailsCleanly) {
  std::string yaml = "version: 0.2\nphases: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  EXPECT_NE(ErrorOf(yaml), "<ok>");
}

TEST(BuildspecParse, OversizedFileIsRefused) {
  std::string yaml = "version: 0.2\n# " + std::string(kMaxBuildspecBytes, 'x') + "\n";
  EXPECT_NE(ErrorOf(yaml).find("larger than the limit"), std::string::npos);
}

TEST(BuildspecParse, EmptyFileIsRefused) { EXPECT_NE(ErrorOf("").find("empty"), std::string::npos); }

}  // namespace
}  // namespace slipway
