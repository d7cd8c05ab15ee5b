// End-to-end: `slipway buildspec run` exit codes, --json, --artifacts,
// --timeout and Ctrl-C, through the real binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "testing/testing.h"

namespace slipway {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::FileExists;
using testing::ReadTextFile;
using testing::Slipway;
using testing::TempDir;
using testing::WriteTextFile;

class BuildspecCli : public ::testing::Test {
 protected:
  void SetUp() override {
    CommandResult help = Slipway({"buildspec", "run", "--help"}, tmp_.path());
    if (help.exit_code != 0) GTEST_SKIP() << "slipway buildspec run is not registered in this binary";
    testing::Sh("mkdir -p '" + tmp_.Sub("src") + "'");
  }
  std::string Spec(const std::string& yaml) {
    std::string path = tmp_.Sub("buildspec.yml");
    WriteTextFile(path, yaml);
    return path;
  }
  TempDir tmp_;
};

TEST_F(BuildspecCli, SucceededIsExit0AndTheLogGoesToStdout) {
  CommandResult r =
      Slipway({"buildspec", "run", Spec("version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n"), "--src",
               tmp_.Sub("src")},
              tmp_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Running command echo hi\nhi\n\n"), std::string::npos) << r.out;
}

TEST_F(BuildspecCli, SrcDefaultsToTheCurrentDirectory) {
  CommandResult r = Slipway({"buildspec", "run", Spec("version: 0.2\nphases:\n  build:\n    commands:\n      - pwd\n")},
                            tmp_.Sub("src"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("CODEBUILD_SRC_DIR=" + tmp_.Sub("src") + "\n"), std::string::npos) << r.out;
}

TEST_F(BuildspecCli, FailedIsExit1WithJson) {
  CommandResult r = Slipway({"buildspec", "run",
                             Spec("version: 0.2\nenv:\n  exported-variables: [TAG]\nphases:\n  build:\n    commands:\n"
                                  "      - TAG=v2\n      - exit 4\n"),
                             "--src", tmp_.Sub("src"), "--json"},
                            tmp_.path());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["status"], "FAILED");
  EXPECT_EQ(j["phases"][3]["name"], "BUILD");
  EXPECT_EQ(j["phases"][3]["status"], "FAILED");
  EXPECT_EQ(j["phases"][3]["context_code"], "COMMAND_EXECUTION_ERROR");
  EXPECT_EQ(j["phases"][3]["context_message"], "Error while executing command: exit 4. Reason: exit status 4");
  EXPECT_EQ(j["exported_variables"]["TAG"], "v2");
  EXPECT_NE(r.err.find("Command did not exit successfully exit 4 exit status 4"), std::string::npos);
}

TEST_F(BuildspecCli, YamlFileErrorIsExit2AndRunsNothing) {
  CommandResult r =
      Slipway({"buildspec", "run",
               Spec("version: 0.2\nphases:\n  build:\n    commands:\n      - touch ran\n      - echo a: b\n"), "--src",
               tmp_.Sub("src")},
              tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(FileExists(tmp_.Sub("src/ran")));
  EXPECT_NE(r.out.find("Phase context status code: YAML_FILE_ERROR Message: Expected Commands[1] to be of string "
                       "type: found subkeys instead at line 6, value of the key tag on line 5 might be empty\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("YAML_FILE_ERROR"), std::string::npos) << r.err;
}

TEST_F(BuildspecCli, MissingFileIsExit2) {
  CommandResult r = Slipway({"buildspec", "run", tmp_.Sub("nope.yml"), "--src", tmp_.Sub("src")}, tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("YAML file does not exist"), std::string::npos) << r.err;
}

TEST_F(BuildspecCli, RefusalsAreExit2) {
  for (const char* yaml :
       {"version: 0.1\nphases:\n  build:\n    commands: [x]\n",
        "version: 0.2\nbatch:\n  fast-fail: true\nphases:\n  build:\n    commands: [x]\n",
        "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2\n    commands: [x]\n",
        "version: 0.2\nenv:\n  shell: powershell.exe\nphases:\n  build:\n    commands: [x]\n",
        "version: 0.2\nenv:\n  parameter-store:\n    A: /a\nphases:\n  build:\n    commands: [x]\n"}) {
    CommandResult r = Slipway({"buildspec", "run", Spec(yaml), "--src", tmp_.Sub("src")}, tmp_.path());
    EXPECT_EQ(r.exit_code, 2) << yaml << r.err;
  }
}

TEST_F(BuildspecCli, EnvOverridesBuildspecVariables) {
  CommandResult r = Slipway({"buildspec", "run",
                             Spec("version: 0.2\nenv:\n  variables:\n    A: buildspec\n    B: buildspec\nphases:\n  "
                                  "build:\n    commands:\n      - echo \"A=$A B=$B\"\n"),
                             "--src", tmp_.Sub("src"), "--env", "B=override"},
                            tmp_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("A=buildspec B=override\n"), std::string::npos) << r.out;
}

TEST_F(BuildspecCli, EngineEnvironmentDoesNotLeak) {
  CommandResult r = Slipway(
      {"buildspec", "run",
       Spec("version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"key=[${AWS_SECRET_ACCESS_KEY-}]\"\n"),
       "--src", tmp_.Sub("src")},
      tmp_.path(), {{"AWS_SECRET_ACCESS_KEY", "engine-secret"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("key=[]\n"), std::string::npos) << r.out;
}

TEST_F(BuildspecCli, ArtifactsAreCopied) {
  CommandResult r = Slipway({"buildspec", "run",
                             Spec("version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p dist && echo x > "
                                  "dist/app.txt\nartifacts:\n  base-directory: dist\n  files: ['**/*']\n"),
                             "--src", tmp_.Sub("src"), "--artifacts", tmp_.Sub("out")},
                            tmp_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadTextFile(tmp_.Sub("out/app.txt")), "x\n");
}

TEST_F(BuildspecCli, TimeoutIsExit1AndTimedOut) {
  CommandResult r =
      Slipway({"buildspec", "run", Spec("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n"), "--src",
               tmp_.Sub("src"), "--timeout", "0.02", "--json"},
              tmp_.path());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["status"], "TIMED_OUT");
  EXPECT_EQ(j["phases"][3]["status"], "TIMED_OUT");
}

TEST_F(BuildspecCli, CtrlCStopsTheBuildWithExit130) {
  // timeout(1) sends SIGINT after a second and, with --preserve-status,
  // exits with slipway's own status.
  CommandResult r = testing::Run({"timeout", "--preserve-status", "-s", "INT", "1", SLIPWAY_BINARY, "buildspec", "run",
                                  Spec("version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 30\n  "
                                       "post_build:\n    commands:\n      - touch post-ran\n"),
                                  "--src", tmp_.Sub("src"), "--json"},
                                 tmp_.path());
  EXPECT_EQ(r.exit_code, 130) << r.err;
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["status"], "STOPPED");
  EXPECT_FALSE(FileExists(tmp_.Sub("src/post-ran")));
}

TEST_F(BuildspecCli, UsageErrorsAreExit2) {
  EXPECT_EQ(Slipway({"buildspec"}, tmp_.path()).exit_code, 2);
  CommandResult typo = Slipway({"buildspec", "rnu", "x.yml"}, tmp_.path());
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("did you mean 'run'"), std::string::npos) << typo.err;
  EXPECT_EQ(Slipway({"buildspec", "run"}, tmp_.path()).exit_code, 2);
  EXPECT_EQ(Slipway({"buildspec", "run", "x.yml", "--env", "NOEQUALS"}, tmp_.path()).exit_code, 2);
  EXPECT_EQ(Slipway({"buildspec", "run", "x.yml", "--timeout", "-1"}, tmp_.path()).exit_code, 2);
}

}  // namespace
}  // namespace slipway
