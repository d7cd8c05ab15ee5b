// End-to-end: the real `slipway` binary against real repositories served by
// `git daemon` on 127.0.0.1 (issue 2's checks).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "testing/testing.h"

namespace slipway {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::FileExists;
using testing::GitDaemon;
using testing::GitRepo;
using testing::ReadTextFile;
using testing::Slipway;
using testing::TempDir;
using testing::WriteTextFile;

// The code base's Makefile records each step in $TRACE and deploys by writing
// the version to $TARGET/<env>.txt.
constexpr const char* kMakefile =
    "VERSION := $(shell cat VERSION)\n"
    ".PHONY: setup lint all-tests deploy\n"
    "setup:\n\t@echo setup >> $(TRACE); echo setting up $(VERSION)\n"
    "lint:\n\t@echo lint >> $(TRACE); test ! -f FAIL_LINT\n"
    "all-tests:\n\t@echo all-tests >> $(TRACE); echo tests passed\n"
    "deploy:\n\t@echo deploy >> $(TRACE); mkdir -p $(TARGET); echo $(VERSION) > $(TARGET)/$(SLIPWAY_ENV).txt\n";

class PipelineE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    code_ = std::make_unique<GitRepo>(tmp_.Sub("work/code"));
    code_->Write("Makefile", kMakefile);
    code_->Write("VERSION", "1.0.0\n");
    v1_ = code_->Commit("v1");
    code_->Tag("v1.0.0");
    code_->Write("VERSION", "1.1.0\n");
    v11_ = code_->Commit("v1.1");
    code_->Tag("v1.1.0", /*annotated=*/true);
    code_->PushTo(tmp_.Sub("code-remotes/code.git"));

    settings_ = std::make_unique<GitRepo>(tmp_.Sub("work/settings"));
    Pin("staging", "v1.0.0");
    settings_->Write("environments/staging/settings.yaml", "account: 1111\n");
    settings_->Commit("staging on v1.0.0");
    settings_->PushTo(tmp_.Sub("settings-remotes/settings.git"));

    code_daemon_ = std::make_unique<GitDaemon>(tmp_.Sub("code-remotes"));
    settings_daemon_ = std::make_unique<GitDaemon>(tmp_.Sub("settings-remotes"));
    WriteConfig("");
  }

  void Pin(const std::string& env, const std::string& ref) {
    settings_->Write("environments/" + env + "/deploy.yaml",
                     "code:\n  ref: \"" + ref + "\"\nvariables:\n  GREETING: hello\n");
  }
  void PushSettings(const std::string& message) {
    settings_->Commit(message);
    settings_->PushTo(tmp_.Sub("settings-remotes/settings.git"));
  }

  // extra_steps replaces the default steps when non-empty.
  void WriteConfig(const std::string& steps, const std::string& extra_env = "") {
    std::string cfg =
        "state_dir: state\n"
        "environments:\n"
        "  staging:\n"
        "    settings:\n"
        "      url: " +
        settings_daemon_->Url("settings.git") +
        "\n"
        "      path: environments/staging\n"
        "    code:\n"
        "      url: " +
        code_daemon_->Url("code.git") +
        "\n"
        "    env:\n"
        "      TRACE: " +
        tmp_.Sub("trace") +
        "\n"
        "      TARGET: " +
        tmp_.Sub("target") + "\n" + extra_env + steps;
    WriteTextFile(tmp_.Sub("slipway.yaml"), cfg);
  }

  CommandResult Run(std::vector<std::string> args) { return Slipway(args, tmp_.path()); }

  json RunJson(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"run", "staging", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    last_ = Run(args);
    json j = json::parse(last_.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "stdout was not JSON: " << last_.out << "\nstderr: " << last_.err;
    return j;
  }

  std::string Trace() { return FileExists(tmp_.Sub("trace")) ? ReadTextFile(tmp_.Sub("trace")) : ""; }
  std::string Deployed() { return ReadTextFile(tmp_.Sub("target/staging.txt")); }

  TempDir tmp_;
  std::unique_ptr<GitRepo> code_, settings_;
  std::unique_ptr<GitDaemon> code_daemon_, settings_daemon_;
  std::string v1_, v11_;
  CommandResult last_;
};

TEST_F(PipelineE2E, LightweightTagDeploysThatVersion) {
  json run = RunJson();
  EXPECT_EQ(last_.exit_code, 0) << last_.err;
  EXPECT_EQ(run["status"], "succeeded");
  EXPECT_EQ(run["code_ref"], "v1.0.0");
  EXPECT_EQ(run["code_commit"], v1_);
  EXPECT_EQ(run["branch_pin"], false);
  EXPECT_EQ(run["settings_commit"], settings_->Head());
  ASSERT_EQ(run["steps"].size(), 4u);
  for (const auto& s : run["steps"]) {
    EXPECT_EQ(s["status"], "succeeded");
    EXPECT_EQ(s["exit_code"], 0);
  }
  EXPECT_EQ(Trace(), "setup\nlint\nall-tests\ndeploy\n");
  EXPECT_EQ(Deployed(), "1.0.0\n");
  // The log holds the steps' output, and `logs` prints it.
  CommandResult logs = Run({"logs", std::to_string(run["id"].get<int>())});
  EXPECT_NE(logs.out.find("setting up 1.0.0"), std::string::npos) << logs.out;
}

TEST_F(PipelineE2E, AnnotatedTagIsPeeledToItsCommit) {
  Pin("staging", "v1.1.0");
  PushSettings("staging to v1.1.0");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(run["code_commit"], v11_);
  EXPECT_EQ(Deployed(), "1.1.0\n");
}

TEST_F(PipelineE2E, FullCommitPin) {
  Pin("staging", v1_);
  PushSettings("pin a commit");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(run["code_commit"], v1_);
}

TEST_F(PipelineE2E, BranchPinIsWarnedAndFlagged) {
  Pin("staging", "main");
  PushSettings("pin a branch");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(run["branch_pin"], true);
  EXPECT_EQ(run["code_commit"], v11_);
  EXPECT_NE(last_.err.find("is a branch"), std::string::npos) << last_.err;
}

TEST_F(PipelineE2E, AbbreviatedHashIsRefusedWithAHint) {
  Pin("staging", v1_.substr(0, 7));
  PushSettings("short hash");
  json run = RunJson();
  EXPECT_EQ(run["status"], "failed");
  EXPECT_NE(run["error"].get<std::string>().find("full"), std::string::npos) << run["error"];
  EXPECT_EQ(Trace(), "");
}

TEST_F(PipelineE2E, MissingTagFailsBeforeAnyStep) {
  Pin("staging", "v9.9.9");
  PushSettings("no such tag");
  json run = RunJson();
  EXPECT_EQ(last_.exit_code, 1);
  EXPECT_EQ(run["status"], "failed");
  EXPECT_NE(run["error"].get<std::string>().find("v9.9.9"), std::string::npos) << run["error"];
  EXPECT_EQ(Trace(), "");  // no step ran
  for (const auto& s : run["steps"]) EXPECT_EQ(s["status"], "skipped");
}

TEST_F(PipelineE2E, FailingLintNeverDeploysAndKeepsThePreviousDeployment) {
  json first = RunJson();
  ASSERT_EQ(first["status"], "succeeded") << last_.err;
  settings_->Write("environments/staging/FAIL_LINT", "x\n");
  Pin("staging", "v1.1.0");
  PushSettings("break lint");
  json second = RunJson();
  EXPECT_EQ(last_.exit_code, 1);
  EXPECT_EQ(second["status"], "failed");
  EXPECT_EQ(second["steps"][1]["status"], "failed");
  EXPECT_EQ(second["steps"][3]["status"], "skipped");
  EXPECT_EQ(Deployed(), "1.0.0\n");  // deploy never ran
  CommandResult status = Run({"status", "--json"});
  json st = json::parse(status.out);
  EXPECT_EQ(st[0]["deployed"]["run_id"], first["id"]);
  EXPECT_EQ(st[0]["deployed"]["code_commit"], v1_);
  EXPECT_EQ(st[0]["last_run"]["status"], "failed");
  EXPECT_EQ(st[0]["sync"], "OutOfSync");
}

TEST_F(PipelineE2E, StepTimeoutKillsAGrandchildThatIgnoresSigterm) {
  WriteConfig(
      "    steps:\n"
      "      - name: hang\n"
      "        timeout: 1s\n"
      "        run: sh -c 'trap \"\" TERM; echo $$ > " +
      tmp_.Sub("grandchild.pid") +
      "; sleep 300' & wait\n"
      "      - name: cleanup\n"
      "        when: always\n"
      "        run: echo cleanup >> $TRACE\n");
  auto start = std::chrono::steady_clock::now();
  json run = RunJson();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(last_.exit_code, 1);
  EXPECT_EQ(run["status"], "timed_out");
  EXPECT_EQ(run["steps"][0]["status"], "timed_out");
  EXPECT_EQ(run["steps"][1]["status"], "succeeded");  // when: always
  EXPECT_LT(elapsed, std::chrono::seconds(60));
  pid_t grandchild = std::stoi(ReadTextFile(tmp_.Sub("grandchild.pid")));
  EXPECT_NE(kill(grandchild, 0), 0) << "the grandchild survived the timeout";
  EXPECT_EQ(Trace(), "cleanup\n");
}

TEST_F(PipelineE2E, CtrlCCancelsTheRun) {
  WriteConfig(
      "    steps:\n"
      "      - name: slow\n"
      "        run: touch " +
      tmp_.Sub("started") +
      "; sleep 300\n"
      "      - name: deploy\n"
      "        run: echo deploy >> $TRACE\n");
  pid_t pid = fork();
  if (pid == 0) {
    chdir(tmp_.path().c_str());
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(SLIPWAY_BINARY, SLIPWAY_BINARY, "run", "staging", nullptr);
    _exit(127);
  }
  for (int i = 0; i < 600 && !FileExists(tmp_.Sub("started")); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(FileExists(tmp_.Sub("started")));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_EQ(Trace(), "");
  json history = json::parse(Run({"history", "--json"}).out);
  EXPECT_EQ(history[0]["status"], "cancelled");
}

TEST_F(PipelineE2E, OverlayCopiesDotfilesToo) {
  settings_->Write("environments/staging/.env", "SECRET_LEVEL=low\n");
  settings_->Write("environments/staging/conf/app.yaml", "x: 1\n");
  PushSettings("dotfile");
  WriteConfig(
      "    steps:\n"
      "      - name: look\n"
      "        run: cat .env conf/app.yaml settings.yaml VERSION > " +
      tmp_.Sub("seen") + "\n");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(ReadTextFile(tmp_.Sub("seen")), "SECRET_LEVEL=low\nx: 1\naccount: 1111\n1.0.0\n");
}

TEST_F(PipelineE2E, OverlayLinkEscapingTheWorkspaceIsRefused) {
  testing::Sh("ln -s ../../../../etc/passwd environments/staging/evil", settings_->dir());
  PushSettings("evil link");
  json run = RunJson();
  EXPECT_EQ(run["status"], "failed");
  EXPECT_NE(run["error"].get<std::string>().find("evil"), std::string::npos) << run["error"];
  EXPECT_EQ(Trace(), "");
}

TEST_F(PipelineE2E, HostileRefsAreRefusedAndNothingRuns) {
  std::string pwned = tmp_.Sub("pwned");
  for (std::string ref : {"--upload-pack=touch " + pwned, "-oProxyCommand=touch " + pwned}) {
    Pin("staging", ref);
    PushSettings("hostile");
    json run = RunJson();
    EXPECT_EQ(run["status"], "failed") << ref;
    EXPECT_NE(run["error"].get<std::string>().find("-"), std::string::npos);
    EXPECT_FALSE(FileExists(pwned)) << ref;
    // The same through --ref.
    CommandResult r = Run({"run", "staging", "--ref=" + ref});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_FALSE(FileExists(pwned)) << ref;
  }
  EXPECT_EQ(Trace(), "");
}

TEST_F(PipelineE2E, ExtTransportIsRefused) {
  std::string pwned = tmp_.Sub("pwned");
  std::string cfg = ReadTextFile(tmp_.Sub("slipway.yaml"));
  std::string code_url = code_daemon_->Url("code.git");
  cfg.replace(cfg.find(code_url), code_url.size(), "\"ext::sh -c touch% " + pwned + "\"");
  WriteTextFile(tmp_.Sub("slipway.yaml"), cfg);
  CommandResult r = Run({"run", "staging"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("ext"), std::string::npos) << r.err;
  EXPECT_FALSE(FileExists(pwned));
  EXPECT_EQ(Trace(), "");
}

TEST_F(PipelineE2E, ConfigErrorsNameLineAndColumn) {
  WriteTextFile(tmp_.Sub("slipway.yaml"),
                "state_dir: state\nenvironments:\n  staging:\n    stpes: []\n    code:\n      url: 42x\n");
  CommandResult r = Run({"validate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("slipway.yaml:4:5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'steps'"), std::string::npos) << r.err;
  CommandResult run = Run({"run", "staging"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(Trace(), "");
}

TEST_F(PipelineE2E, UnknownEnvironmentAndCommandGetHints) {
  CommandResult r = Run({"run", "stagign"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'staging'"), std::string::npos) << r.err;
  CommandResult c = Run({"histroy"});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find("did you mean 'history'"), std::string::npos) << c.err;
}

TEST_F(PipelineE2E, WarmMirrorNeedsNoNetworkForACachedCommit) {
  Pin("staging", v1_);
  PushSettings("pin a commit");
  ASSERT_EQ(RunJson()["status"], "succeeded") << last_.err;
  code_daemon_->Stop();  // the code remote is gone; the settings remote stays
  settings_->Write("environments/staging/settings.yaml", "account: 2222\n");
  PushSettings("settings change only");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(run["code_commit"], v1_);
}

// keep_workspaces: 1. `slipway run` moves the workspaces before its run's to
// the trash and leaves their deletion to a detached `rm`: it does not wait.
TEST_F(PipelineE2E, OnlyTheLastWorkspaceStaysAndTheOldOnesAreDeleted) {
  std::string cfg = ReadTextFile(tmp_.Sub("slipway.yaml"));
  WriteTextFile(tmp_.Sub("slipway.yaml"), "keep_workspaces: 1\n" + cfg);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(RunJson()["status"], "succeeded") << last_.err;
  auto entries = [&](const std::string& dir) { return testing::Sh("ls -A '" + tmp_.Sub(dir) + "'", "", true).out; };
  EXPECT_EQ(entries("state/workspaces/staging"), "3\n");
  for (int i = 0; i < 200 && !entries("state/trash").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(entries("state/trash"), "") << "the detached rm empties the trash";
}

// The code is fetched while the settings are (Pipeline::Prepare): what that
// fetch brings is what the run resolves, and its failure is handled as a
// failed fetch of the code is.
TEST_F(PipelineE2E, ATagMovedOnTheRemoteDeploysItsNewCommitWithAWarning) {
  ASSERT_EQ(RunJson()["status"], "succeeded") << last_.err;
  code_->Write("VERSION", "1.0.1\n");
  std::string moved = code_->Commit("v1.0.0, again");
  code_->Tag("v1.0.0");
  code_->PushTo(tmp_.Sub("code-remotes/code.git"));
  settings_->Write("environments/staging/settings.yaml", "account: 2222\n");
  PushSettings("settings change only");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(run["code_commit"], moved);
  EXPECT_EQ(Deployed(), "1.0.1\n");
  EXPECT_NE(last_.err.find("tag 'v1.0.0' now points to " + moved.substr(0, 12)), std::string::npos) << last_.err;
}

TEST_F(PipelineE2E, AnUnreachableCodeRemoteDeploysTheCachedTagWithAWarning) {
  ASSERT_EQ(RunJson()["status"], "succeeded") << last_.err;
  code_daemon_->Stop();
  settings_->Write("environments/staging/settings.yaml", "account: 2222\n");
  PushSettings("settings change only");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(run["code_commit"], v1_);
  EXPECT_NE(last_.err.find("using the cached tag v1.0.0"), std::string::npos) << last_.err;
}

TEST_F(PipelineE2E, ASettingsPinOfAnAllowedCodeUrlDeploysFromThatRepository) {
  GitRepo fork(tmp_.Sub("work/fork"));  // has a tag the configured repository lacks
  fork.Write("Makefile", kMakefile);
  fork.Write("VERSION", "2.0.0\n");
  fork.Commit("fork");
  fork.Tag("v2.0.0");
  fork.PushTo(tmp_.Sub("code-remotes/fork.git"));
  const std::string fork_url = code_daemon_->Url("fork.git");
  std::string cfg = ReadTextFile(tmp_.Sub("slipway.yaml"));
  cfg.replace(cfg.find("    env:\n"), 0, "      allow_urls: [\"" + fork_url + "\"]\n");
  WriteTextFile(tmp_.Sub("slipway.yaml"), cfg);
  settings_->Write("environments/staging/deploy.yaml", "code:\n  url: \"" + fork_url + "\"\n  ref: v2.0.0\n");
  PushSettings("deploy the fork");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(run["code_url"], fork_url);
  EXPECT_EQ(Deployed(), "2.0.0\n");
}

TEST_F(PipelineE2E, VariablesShIsReadWhenThereIsNoDeployYaml) {
  settings_->Remove("environments/staging/deploy.yaml");
  settings_->Write("environments/staging/variables.sh", "# the article's format\nCODE_GIT_URL=\"" +
                                                            code_daemon_->Url("code.git") +
                                                            "\"\nexport CODE_GIT_BRANCH=v1.1.0\nrm -rf /tmp/never\n");
  PushSettings("variables.sh");
  json run = RunJson();
  EXPECT_EQ(run["status"], "succeeded") << last_.err;
  EXPECT_EQ(run["code_ref"], "v1.1.0");
  EXPECT_EQ(Deployed(), "1.1.0\n");
}

TEST_F(PipelineE2E, StepsSeeRunFactsAndPinVariablesButNotTheEnginesEnvironment) {
  WriteConfig(
      "    steps:\n"
      "      - name: env\n"
      "        env: { STEP_ONLY: yes }\n"
      "        run: env | sort > " +
      tmp_.Sub("env") + "\n");
  CommandResult r = testing::Slipway({"run", "staging"}, tmp_.path(),
                                     {{"AWS_SECRET_ACCESS_KEY", "engine-secret"}, {"SOME_ENGINE_VAR", "x"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string env = ReadTextFile(tmp_.Sub("env"));
  EXPECT_NE(env.find("SLIPWAY_ENV=staging\n"), std::string::npos) << env;
  EXPECT_NE(env.find("SLIPWAY_CODE_COMMIT=" + v1_), std::string::npos);
  EXPECT_NE(env.find("SLIPWAY_CODE_REF=v1.0.0\n"), std::string::npos);
  EXPECT_NE(env.find("GREETING=hello\n"), std::string::npos);
  EXPECT_NE(env.find("STEP_ONLY=yes\n"), std::string::npos);
  EXPECT_EQ(env.find("engine-secret"), std::string::npos);
  EXPECT_EQ(env.find("SOME_ENGINE_VAR"), std::string::npos);
}

TEST_F(PipelineE2E, PlanShowsDesiredVersusDeployedAndRunsNothing) {
  ASSERT_EQ(RunJson()["status"], "succeeded");
  Pin("staging", "v1.1.0");
  PushSettings("to v1.1.0");
  CommandResult r = Run({"plan", "staging", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json plan = json::parse(r.out);
  EXPECT_EQ(plan["sync"], "OutOfSync");
  EXPECT_EQ(plan["desired"]["code_commit"], v11_);
  EXPECT_EQ(plan["deployed"]["code_commit"], v1_);
  EXPECT_EQ(Trace(), "setup\nlint\nall-tests\ndeploy\n");  // only the first run's steps
  ASSERT_EQ(RunJson()["status"], "succeeded");
  json synced = json::parse(Run({"plan", "staging", "--json"}).out);
  EXPECT_EQ(synced["sync"], "Synced");
}

TEST_F(PipelineE2E, BuildspecEnvironmentRecordsPhasesAsSteps) {
  WriteTextFile(
      tmp_.Sub("buildspec.yml"),
      "version: 0.2\nphases:\n  build:\n    commands:\n"
      "      - cat VERSION settings.yaml > " +
          tmp_.Sub("seen") +
          "\n"
          "      - echo \"$CODEBUILD_SRC_DIR $CODEBUILD_BUILD_NUMBER $CODEBUILD_RESOLVED_SOURCE_VERSION\" >> " +
          tmp_.Sub("seen") + "\n");
  WriteConfig("    buildspec: buildspec.yml\n");
  json run = RunJson();
  ASSERT_EQ(run["status"], "succeeded") << last_.err;
  std::vector<std::string> names;
  for (const auto& s : run["steps"]) names.push_back(s["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD",
                                             "UPLOAD_ARTIFACTS"}));
  EXPECT_EQ(run["steps"][3]["status"], "succeeded");
  std::string seen = ReadTextFile(tmp_.Sub("seen"));
  EXPECT_EQ(seen.substr(0, 20), "1.0.0\naccount: 1111\n");
  EXPECT_NE(seen.find(run["workspace"].get<std::string>() + " 1 " + v1_), std::string::npos) << seen;
  CommandResult logs = Run({"logs", std::to_string(run["id"].get<int>())});
  EXPECT_NE(logs.out.find("Entering phase BUILD"), std::string::npos) << logs.out;
}

TEST_F(PipelineE2E, BuildspecFromSettingsWithoutCodeStartsInAnEmptyWorkspace) {
  settings_->Write(
      "environments/staging/buildspec.yml",
      "version: 0.2\nphases:\n  build:\n    commands:\n      - ls -A > " + tmp_.Sub("listing") + "\n      - exit 3\n");
  PushSettings("buildspec in settings");
  WriteTextFile(tmp_.Sub("slipway.yaml"),
                "state_dir: state\nenvironments:\n  staging:\n    settings:\n      url: " +
                    settings_daemon_->Url("settings.git") +
                    "\n      path: environments/staging\n    buildspec: settings:buildspec.yml\n");
  json run = RunJson();
  EXPECT_EQ(last_.exit_code, 1);
  EXPECT_EQ(run["status"], "failed");
  EXPECT_EQ(run["steps"][3]["status"], "failed");
  EXPECT_EQ(ReadTextFile(tmp_.Sub("listing")), "");  // "No source": nothing laid out
}

}  // namespace
}  // namespace slipway
