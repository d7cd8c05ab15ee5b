// End-to-end: the real `slipway` binary assumes step roles and reads secrets
// from tests/aws/fake_sts.py on 127.0.0.1 (STS, SSM and Secrets Manager;
// every signature checked with botocore), with the engine's base credentials
// coming from each source of the chain in turn (doc/aws.md "Wiring").
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>

#include "aws/local_server.h"
#include "testing/leak_scan.h"
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

constexpr const char* kEngineKey = "AKIAENGINEBASE000001";
constexpr const char* kEngineSecret = "engine-base-secret-do-not-leak-0001";
constexpr const char* kDeployRole = "arn:aws:iam::333333333333:role/Spa-DeployEnvironmentRole";
constexpr const char* kDeniedRole = "arn:aws:iam::333333333333:role/NotForSlipway";
constexpr const char* kToken = "ssm-token-value-0123456789";
constexpr const char* kDbPassword = "db-password-abcdef-42";

// Each make target writes its whole environment to $OUT/<target>.env.
constexpr const char* kMakefile =
    ".PHONY: setup lint all-tests deploy\n"
    "setup:\n\t@env > $(OUT)/setup.env; echo setting up\n"
    "lint:\n\t@env > $(OUT)/lint.env; echo linting\n"
    "all-tests:\n\t@env > $(OUT)/all-tests.env; echo tests passed\n"
    "deploy:\n\t@env > $(OUT)/deploy.env; echo \"deploying with secret $$AWS_SECRET_ACCESS_KEY\"\n";

class AwsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    code_ = std::make_unique<GitRepo>(tmp_.Sub("work/code"));
    code_->Write("Makefile", kMakefile);
    code_->Commit("v1");
    code_->Tag("v1.0.0");
    code_->PushTo(tmp_.Sub("remotes/code.git"));
    settings_ = std::make_unique<GitRepo>(tmp_.Sub("work/settings"));
    settings_->Write("environments/prod/deploy.yaml", "code:\n  ref: v1.0.0\n");
    settings_->Commit("prod on v1.0.0");
    settings_->PushTo(tmp_.Sub("remotes/settings.git"));
    daemon_ = std::make_unique<GitDaemon>(tmp_.Sub("remotes"));
    testing::Sh("mkdir -p '" + tmp_.Sub("out") + "'");
    // What no log, database or API answer may ever show (tests/e2e/leak_scan_test.cc).
    for (const char* secret :
         {kEngineSecret, kToken, kDbPassword, "file-secret-value-777", "secret-imds-1", "token-imds-1", "secret-ecs-1",
          "token-ecs-1", "container-auth-token-1", "fake-sts-secret-", "FakeStsSessionToken"}) {
      testing::RecordSecret(secret);
    }
  }

  // The fake AWS: the engine's user, plus the credentials the local metadata
  // endpoints hand out first (ASIAIMDS0001, ASIAECS0001).
  void StartAws(const std::string& role_trust = "") {
    json users = json::array({
        {{"access_key_id", kEngineKey},
         {"secret_access_key", kEngineSecret},
         {"arn", "arn:aws:iam::222222222222:user/engine"}},
        {{"access_key_id", "ASIAIMDS0001"},
         {"secret_access_key", "secret-imds-1"},
         {"session_token", "token-imds-1"},
         {"arn", "arn:aws:sts::222222222222:assumed-role/SlipwayEngine/i-0abc"}},
        {{"access_key_id", "ASIAECS0001"},
         {"secret_access_key", "secret-ecs-1"},
         {"session_token", "token-ecs-1"},
         {"arn", "arn:aws:sts::222222222222:assumed-role/SlipwayEngine/ecs-task"}},
    });
    json deploy = {{"arn", kDeployRole}};
    if (!role_trust.empty()) deploy["trusted"] = json::array({role_trust});
    json config = {{"users", users},
                   {"roles", json::array({deploy, {{"arn", kDeniedRole}, {"deny", true}}})},
                   {"parameters", {{"/prod/token", kToken}}},
                   {"secrets", {{"prod/db", json({{"user", "app"}, {"pw", kDbPassword}}).dump()}}}};
    aws_ = std::make_unique<aws::testing::FakeSts>(config);
    ASSERT_TRUE(aws_->ok());
  }

  void WriteConfig(const std::string& steps) {
    std::string cfg =
        "state_dir: state\n"
        "environments:\n"
        "  prod:\n"
        "    settings:\n"
        "      url: " +
        daemon_->Url("settings.git") +
        "\n"
        "      path: environments/prod\n"
        "    code:\n"
        "      url: " +
        daemon_->Url("code.git") +
        "\n"
        "    env:\n"
        "      OUT: " +
        tmp_.Sub("out") +
        "\n"
        "    steps:\n" +
        steps;
    WriteTextFile(tmp_.Sub("slipway.yaml"), cfg);
  }

  static std::string MakeSteps(const std::string& deploy_role) {
    return "      - { name: setup, run: make setup }\n"
           "      - { name: lint, run: make lint }\n"
           "      - { name: test, run: make all-tests }\n"
           "      - { name: deploy, run: make deploy, role: \"" +
           deploy_role + "\" }\n";
  }

  // The engine's environment: the fake AWS endpoint, a region, no instance
  // metadata unless a test wants it, plus `extra`.
  std::map<std::string, std::string> EngineEnv(std::map<std::string, std::string> extra) {
    std::map<std::string, std::string> env = {{"AWS_ENDPOINT_URL", aws_->Origin()},
                                              {"AWS_REGION", "eu-west-1"},
                                              {"AWS_EC2_METADATA_DISABLED", "true"},
                                              {"AWS_CONFIG_FILE", tmp_.Sub("no-aws-config")},
                                              {"AWS_SHARED_CREDENTIALS_FILE", tmp_.Sub("no-aws-credentials")}};
    for (auto& [k, v] : extra) env[k] = v;
    return env;
  }

  json RunJson(const std::map<std::string, std::string>& env) {
    last_ = Slipway({"run", "prod", "--json"}, tmp_.path(), env);
    json j = json::parse(last_.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "stdout: " << last_.out << "\nstderr: " << last_.err;
    return j;
  }

  std::string StepEnv(const std::string& target) {
    std::string path = tmp_.Sub("out/" + target + ".env");
    return FileExists(path) ? ReadTextFile(path) : "";
  }

  // No step saw anything of the engine's own credentials or their sources.
  void ExpectNoBaseCredentialsInSteps(const std::vector<std::string>& secrets) {
    for (const char* target : {"setup", "lint", "all-tests", "deploy"}) {
      std::string env = StepEnv(target);
      EXPECT_FALSE(env.empty()) << target << " did not run";
      for (const auto& s : secrets) EXPECT_EQ(env.find(s), std::string::npos) << target << " saw " << s;
      for (const char* name :
           {"AWS_PROFILE=", "AWS_CONFIG_FILE=", "AWS_SHARED_CREDENTIALS_FILE=", "AWS_WEB_IDENTITY_TOKEN_FILE=",
            "AWS_CONTAINER_", "AWS_ENDPOINT_URL", "AWS_EC2_METADATA"}) {
        EXPECT_EQ(env.find(name), std::string::npos) << target << " saw " << name;
      }
    }
  }

  // `make deploy` saw the deploy role's fresh STS credentials; the others saw
  // no AWS_* variable at all.
  void ExpectOnlyDeployHasRoleCredentials() {
    std::string deploy = StepEnv("deploy");
    EXPECT_NE(deploy.find("AWS_ACCESS_KEY_ID=ASIAFAKESTS"), std::string::npos) << deploy;
    EXPECT_NE(deploy.find("AWS_SECRET_ACCESS_KEY=fake-sts-secret-"), std::string::npos);
    EXPECT_NE(deploy.find("AWS_SESSION_TOKEN=FakeStsSessionToken"), std::string::npos);
    EXPECT_NE(deploy.find("AWS_REGION=eu-west-1"), std::string::npos);
    EXPECT_NE(deploy.find("AWS_DEFAULT_REGION=eu-west-1"), std::string::npos);
    for (const char* target : {"setup", "lint", "all-tests"}) {
      std::string env = StepEnv(target);
      EXPECT_FALSE(env.empty()) << target << " did not run";
      EXPECT_FALSE(std::regex_search(env, std::regex("(^|\n)AWS_"))) << target << " saw AWS variables:\n" << env;
    }
  }

  // The role was assumed once, signed by `caller`, with session slipway-prod-RUN.
  void ExpectAssumedBy(const std::string& caller_arn) {
    json log = aws_->Log();
    int assumed = 0;
    for (const auto& e : log) {
      if (e.value("action", "") != "AssumeRole") continue;
      ++assumed;
      EXPECT_EQ(e.value("outcome", ""), "ok") << e.dump();
      EXPECT_EQ(e.value("caller", ""), caller_arn);
      EXPECT_EQ(e["params"].value("RoleArn", ""), kDeployRole);
      EXPECT_EQ(e["params"].value("RoleSessionName", ""), "slipway-prod-1");
    }
    EXPECT_EQ(assumed, 1) << log.dump();
  }

  std::string Log() { return Slipway({"logs", "1"}, tmp_.path(), {}).out; }

  TempDir tmp_;
  std::unique_ptr<GitRepo> code_, settings_;
  std::unique_ptr<GitDaemon> daemon_;
  std::unique_ptr<aws::testing::FakeSts> aws_;
  CommandResult last_;
};

TEST_F(AwsE2E, DeployStepGetsTheRoleFromEnvironmentVariableBaseCredentials) {
  StartAws();
  WriteConfig(MakeSteps(kDeployRole));
  json run = RunJson(EngineEnv({{"AWS_ACCESS_KEY_ID", kEngineKey}, {"AWS_SECRET_ACCESS_KEY", kEngineSecret}}));
  ASSERT_EQ(run.value("status", ""), "succeeded") << last_.out << last_.err;
  ExpectOnlyDeployHasRoleCredentials();
  ExpectNoBaseCredentialsInSteps({kEngineKey, kEngineSecret});
  ExpectAssumedBy("arn:aws:iam::222222222222:user/engine");
  std::string log = Log();
  EXPECT_NE(log.find("aws: base credentials from environment variables"), std::string::npos) << log;
  EXPECT_NE(log.find("assumed role '" + std::string(kDeployRole) + "' for step 'deploy'"), std::string::npos);
  // The role's secret key, printed by `make deploy`, is masked.
  EXPECT_NE(log.find("deploying with secret ***"), std::string::npos) << log;
  EXPECT_EQ(log.find("fake-sts-secret-"), std::string::npos) << log;
  EXPECT_EQ(log.find(kEngineSecret), std::string::npos);
}

TEST_F(AwsE2E, BaseCredentialsFromAProfileFileReachNoStep) {
  StartAws();
  WriteConfig(MakeSteps(kDeployRole));
  WriteTextFile(tmp_.Sub("aws/credentials"), std::string("[ops]\naws_access_key_id = ") + kEngineKey +
                                                 "\naws_secret_access_key = " + kEngineSecret + "\n");
  json run = RunJson(EngineEnv({{"AWS_PROFILE", "ops"}, {"AWS_SHARED_CREDENTIALS_FILE", tmp_.Sub("aws/credentials")}}));
  ASSERT_EQ(run.value("status", ""), "succeeded") << last_.out << last_.err;
  ExpectOnlyDeployHasRoleCredentials();
  ExpectNoBaseCredentialsInSteps({kEngineKey, kEngineSecret, tmp_.Sub("aws/credentials")});
  ExpectAssumedBy("arn:aws:iam::222222222222:user/engine");
  EXPECT_NE(Log().find("aws: base credentials from profile 'ops'"), std::string::npos) << Log();
}

TEST_F(AwsE2E, BaseCredentialsFromCredentialProcessReachNoStep) {
  StartAws();
  WriteConfig(MakeSteps(kDeployRole));
  WriteTextFile(tmp_.Sub("aws/creds.sh"),
                std::string("#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"") + kEngineKey +
                    "\", \"SecretAccessKey\": \"" + kEngineSecret + "\"}'\n",
                0755);
  WriteTextFile(tmp_.Sub("aws/config"), "[profile proc]\ncredential_process = " + tmp_.Sub("aws/creds.sh") + "\n");
  json run = RunJson(EngineEnv({{"AWS_PROFILE", "proc"}, {"AWS_CONFIG_FILE", tmp_.Sub("aws/config")}}));
  ASSERT_EQ(run.value("status", ""), "succeeded") << last_.out << last_.err;
  ExpectOnlyDeployHasRoleCredentials();
  ExpectNoBaseCredentialsInSteps({kEngineKey, kEngineSecret});
  ExpectAssumedBy("arn:aws:iam::222222222222:user/engine");
  EXPECT_NE(Log().find("aws: base credentials from credential_process of profile 'proc'"), std::string::npos) << Log();
}

TEST_F(AwsE2E, BaseCredentialsFromAContainerEndpointReachNoStep) {
  StartAws();
  aws::testing::LocalServer metadata("fake_metadata.py", {"--auth-token", "container-auth-token-1"});
  ASSERT_TRUE(metadata.ok());
  WriteConfig(MakeSteps(kDeployRole));
  json run = RunJson(EngineEnv({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", metadata.Origin() + "/creds"},
                                {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token-1"}}));
  ASSERT_EQ(run.value("status", ""), "succeeded") << last_.out << last_.err;
  ExpectOnlyDeployHasRoleCredentials();
  ExpectNoBaseCredentialsInSteps({"ASIAECS0001", "secret-ecs-1", "token-ecs-1", "container-auth-token-1"});
  ExpectAssumedBy("arn:aws:sts::222222222222:assumed-role/SlipwayEngine/ecs-task");
  EXPECT_NE(Log().find("aws: base credentials from container credentials endpoint"), std::string::npos) << Log();
}

TEST_F(AwsE2E, BaseCredentialsFromImdsV2ReachNoStep) {
  StartAws();
  aws::testing::LocalServer metadata("fake_metadata.py", {"--role", "SlipwayEngine"});
  ASSERT_TRUE(metadata.ok());
  WriteConfig(MakeSteps(kDeployRole));
  json run = RunJson(
      EngineEnv({{"AWS_EC2_METADATA_DISABLED", "false"}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata.Origin()}}));
  ASSERT_EQ(run.value("status", ""), "succeeded") << last_.out << last_.err;
  ExpectOnlyDeployHasRoleCredentials();
  ExpectNoBaseCredentialsInSteps({"ASIAIMDS0001", "secret-imds-1", "token-imds-1"});
  ExpectAssumedBy("arn:aws:sts::222222222222:assumed-role/SlipwayEngine/i-0abc");
  EXPECT_NE(Log().find("aws: base credentials from EC2 instance metadata"), std::string::npos) << Log();
}

TEST_F(AwsE2E, RefusedRoleFailsTheRunInOneSentenceAndRunsNoStep) {
  StartAws();
  WriteConfig(MakeSteps(kDeniedRole));
  json run = RunJson(EngineEnv({{"AWS_ACCESS_KEY_ID", kEngineKey}, {"AWS_SECRET_ACCESS_KEY", kEngineSecret}}));
  EXPECT_EQ(run.value("status", ""), "failed");
  std::string error = run.value("error", "");
  EXPECT_EQ(error.rfind("assume role '" + std::string(kDeniedRole) + "': AccessDenied: ", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  for (const char* target : {"setup", "lint", "all-tests", "deploy"}) EXPECT_EQ(StepEnv(target), "") << target;
  for (const auto& step : run["steps"]) EXPECT_EQ(step.value("status", ""), "skipped") << step.dump();
  EXPECT_NE(last_.err.find("AccessDenied"), std::string::npos) << last_.err;
}

TEST_F(AwsE2E, StepSecretsAreMaskedInTheLogAndTheApiEvenSplitAcrossChunks) {
  StartAws();
  WriteTextFile(tmp_.Sub("file-secret.txt"), "file-secret-value-777\n");
  // The token is printed in two writes with a pause between them, so the log
  // receives it as two chunks.
  WriteConfig(
      "      - name: use-secrets\n"
      "        run: |\n"
      "          echo \"db=$DB file=$FROM_FILE\"\n"
      "          printf 'token=%s' \"$(printf %s \"$TOKEN\" | cut -c1-8)\"; sleep 0.5\n"
      "          printf '%s end\\n' \"$(printf %s \"$TOKEN\" | cut -c9-)\"\n"
      "          env > $OUT/secrets.env\n"
      "        secrets:\n"
      "          TOKEN: { ssm: /prod/token }\n"
      "          DB: { secretsmanager: \"prod/db:pw\" }\n"
      "          FROM_FILE: { file: ./file-secret.txt }\n"
      "      - { name: other, run: env > $OUT/other.env }\n");
  json run = RunJson(EngineEnv({{"AWS_ACCESS_KEY_ID", kEngineKey}, {"AWS_SECRET_ACCESS_KEY", kEngineSecret}}));
  ASSERT_EQ(run.value("status", ""), "succeeded") << last_.out << last_.err;
  std::string seen = StepEnv("secrets");
  EXPECT_NE(seen.find(std::string("TOKEN=") + kToken), std::string::npos) << seen;
  EXPECT_NE(seen.find(std::string("DB=") + kDbPassword), std::string::npos);
  EXPECT_NE(seen.find("FROM_FILE=file-secret-value-777"), std::string::npos);
  std::string other = StepEnv("other");
  EXPECT_EQ(other.find(kToken), std::string::npos) << "secrets are for their step only";
  std::string log = Log();
  EXPECT_NE(log.find("db=*** file=***"), std::string::npos) << log;
  EXPECT_NE(log.find("token=*** end"), std::string::npos) << log;
  for (const std::string& s : {std::string(kToken), std::string(kDbPassword), std::string("file-secret-value-777"),
                               std::string(kToken).substr(0, 8)}) {
    EXPECT_EQ(log.find(s), std::string::npos) << "log shows " << s << ":\n" << log;
    EXPECT_EQ(last_.out.find(s), std::string::npos);
    std::string shown = Slipway({"show", "1", "--json"}, tmp_.path(), {}).out;
    EXPECT_EQ(shown.find(s), std::string::npos);
    EXPECT_EQ(ReadTextFile(tmp_.Sub("state/slipway.db")).find(s), std::string::npos) << "the database holds " << s;
  }
  // Both secrets were read with the engine's credentials, signatures checked by botocore.
  int reads = 0;
  for (const auto& e : aws_->Log()) {
    if (e.value("service", "") == "") continue;
    ++reads;
    EXPECT_EQ(e.value("outcome", ""), "ok") << e.dump();
  }
  EXPECT_EQ(reads, 2);
}

TEST_F(AwsE2E, MissingSecretFailsBeforeAnyStep) {
  StartAws();
  WriteConfig(
      "      - { name: first, run: env > $OUT/first.env }\n"
      "      - { name: second, run: \"true\", secrets: { X: { ssm: /prod/missing } } }\n");
  json run = RunJson(EngineEnv({{"AWS_ACCESS_KEY_ID", kEngineKey}, {"AWS_SECRET_ACCESS_KEY", kEngineSecret}}));
  EXPECT_EQ(run.value("status", ""), "failed");
  EXPECT_NE(run.value("error", "").find("ssm parameter '/prod/missing': not found"), std::string::npos) << run.dump();
  EXPECT_EQ(StepEnv("first"), "");
}

TEST_F(AwsE2E, BuildspecParameterStoreValueIsMasked) {
  StartAws();
  WriteTextFile(tmp_.Sub("buildspec.yml"),
                "version: 0.2\n"
                "env:\n"
                "  parameter-store:\n"
                "    TOKEN: /prod/token\n"
                "  secrets-manager:\n"
                "    DB: prod/db:pw\n"
                "phases:\n"
                "  build:\n"
                "    commands:\n"
                "      - echo \"token=$TOKEN db=$DB\"\n"
                "      - printf 'split=%s' \"$(printf %s \"$TOKEN\" | cut -c1-8)\"; sleep 0.5; printf '%s.\\n' "
                "\"$(printf %s \"$TOKEN\" | cut -c9-)\"\n"
                "      - test \"$TOKEN\" = " +
                    std::string(kToken) + "\n");
  std::string cfg =
      "state_dir: state\n"
      "environments:\n"
      "  prod:\n"
      "    code:\n"
      "      url: " +
      daemon_->Url("code.git") +
      "\n"
      "      ref: v1.0.0\n"
      "    buildspec: buildspec.yml\n"
      "    role: \"" +
      std::string(kDeployRole) + "\"\n";
  WriteTextFile(tmp_.Sub("slipway.yaml"), cfg);
  json run = RunJson(EngineEnv({{"AWS_ACCESS_KEY_ID", kEngineKey}, {"AWS_SECRET_ACCESS_KEY", kEngineSecret}}));
  ASSERT_EQ(run.value("status", ""), "succeeded") << last_.out << last_.err;
  std::string log = Log();
  EXPECT_NE(log.find("token=*** db=***"), std::string::npos) << log;
  EXPECT_NE(log.find("split=***."), std::string::npos) << log;
  EXPECT_EQ(log.find(kToken), std::string::npos) << log;
  EXPECT_EQ(log.find(std::string(kToken).substr(0, 8)), std::string::npos) << log;
  EXPECT_EQ(log.find(kDbPassword), std::string::npos) << log;
  // The build's role read them.
  for (const auto& e : aws_->Log()) {
    if (e.value("service", "") == "") continue;
    EXPECT_EQ(e.value("caller", "").rfind("arn:aws:sts::333333333333:assumed-role/Spa-DeployEnvironmentRole/", 0), 0u)
        << e.dump();
  }
}

// The secrets: key and an environment's role are checked like the rest of
// the file: every problem with its line and column.
TEST(AwsConfigE2E, SecretsAndRolesAreValidatedWithLineAndColumn) {
  TempDir tmp;
  WriteTextFile(tmp.Sub("slipway.yaml"),
                "environments:\n"                                       // 1
                "  prod:\n"                                             // 2
                "    role: arn:aws:iam::1:role/build\n"                 // 3
                "    steps:\n"                                          // 4
                "      - name: deploy\n"                                // 5
                "        run: make deploy\n"                            // 6
                "        secrets:\n"                                    // 7
                "          TOKEN: { sms: /prod/token }\n"               // 8
                "          1BAD: { ssm: /x }\n"                         // 9
                "          DB: { ssm: /a, file: /b }\n"                 // 10
                "          OK: { secretsmanager: \"prod/db:pw\" }\n");  // 11
  CommandResult r = Slipway({"validate"}, tmp.path(), {});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("slipway.yaml:3:5: 'role', 'external_id' and 'duration' of an environment are for a "
                       "'buildspec'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("slipway.yaml:8:20: unknown key 'sms'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'ssm'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("slipway.yaml:9:11: expected a variable name"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("slipway.yaml:10:15: expected one of {ssm: PARAMETER}"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("slipway.yaml:11:"), std::string::npos) << r.err;
}

// `slipway git-credential get` answers exactly what Debian's awscli
// `aws codecommit credential-helper get` printed for the same credentials,
// repository and (faketime-pinned) clock: tests/aws/codecommit_awscli.json.
TEST(AwsGitCredentialE2E, AnswersWhatTheAwsCliAnswers) {
  if (testing::Run({"sh", "-c", "command -v faketime"}).exit_code != 0) GTEST_SKIP() << "faketime not installed";
  json cases = json::parse(ReadTextFile(std::string(SLIPWAY_SOURCE_DIR) + "/tests/aws/codecommit_awscli.json"));
  ASSERT_FALSE(cases["cases"].empty());
  for (const auto& c : cases["cases"]) {
    std::map<std::string, std::string> env = {{"SLIPWAY_CC_ACCESS_KEY_ID", c["access_key"]},
                                              {"SLIPWAY_CC_SECRET_ACCESS_KEY", c["secret_key"]},
                                              {"SLIPWAY_CC_SESSION_TOKEN", c["token"]},
                                              {"SLIPWAY_CC_REGION", "us-east-1"}};
    // faketime preloads libfaketime ahead of a sanitized build's ASan runtime.
    if (const char* asan = std::getenv("ASAN_OPTIONS")) {
      env["ASAN_OPTIONS"] = std::string(asan) + ":verify_asan_link_order=0";
    }
    std::string input =
        "protocol=https\nhost=" + c["host"].get<std::string>() + "\npath=" + c["path"].get<std::string>() + "\n\n";
    CommandResult r =
        testing::Run({"faketime", "-f", c["time"], SLIPWAY_BINARY, "git-credential", "get"}, "", env, input);
    EXPECT_EQ(r.exit_code, 0) << c["name"] << ": " << r.err;
    EXPECT_EQ(r.out, c["expected"].get<std::string>()) << c["name"];
  }
  // Without the path (git not run with credential.useHttpPath=true) it refuses.
  CommandResult r = testing::Run({SLIPWAY_BINARY, "git-credential", "get"}, "",
                                 {{"SLIPWAY_CC_ACCESS_KEY_ID", "AKIAX"}, {"SLIPWAY_CC_SECRET_ACCESS_KEY", "s"}},
                                 "protocol=https\nhost=git-codecommit.eu-west-1.amazonaws.com\n\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("useHttpPath"), std::string::npos) << r.err;
}

// A codecommit:: settings URL is fetched over git's smart HTTP from a local
// stand-in for CodeCommit that admits only the password the AWS CLI's
// algorithm (botocore) computes for the settings role's credentials.
TEST_F(AwsE2E, CodeCommitSettingsAreFetchedWithTheSettingsRoleThroughTheBuiltInHelper) {
  constexpr const char* kSettingsRole = "arn:aws:iam::111111111111:role/Spa-ReadSettingsRole";
  StartAws();
  // The fake STS knows the settings role too (any known principal may assume it).
  json config = {{"users", json::array({{{"access_key_id", kEngineKey},
                                         {"secret_access_key", kEngineSecret},
                                         {"arn", "arn:aws:iam::222222222222:user/engine"}}})},
                 {"roles", json::array({{{"arn", kSettingsRole}}, {{"arn", kDeployRole}}})}};
  aws_ = std::make_unique<aws::testing::FakeSts>(config);
  ASSERT_TRUE(aws_->ok());
  testing::Sh("git clone -q --bare '" + tmp_.Sub("remotes/settings.git") + "' '" + tmp_.Sub("cc/SpaSettings") + "'");
  aws::testing::LocalServer codecommit(
      "fake_codecommit_git.py", {"--root", tmp_.Sub("cc"), "--sts", aws_->Origin(), "--region", "eu-west-1",
                                 "--allow-arn-prefix", "arn:aws:sts::111111111111:assumed-role/Spa-ReadSettingsRole/"});
  ASSERT_TRUE(codecommit.ok());
  std::string cfg =
      "state_dir: state\n"
      "environments:\n"
      "  prod:\n"
      "    settings:\n"
      "      url: codecommit::eu-west-1://SpaSettings\n"
      "      path: environments/prod\n"
      "      role: \"" +
      std::string(kSettingsRole) +
      "\"\n"
      "    code:\n"
      "      url: " +
      daemon_->Url("code.git") +
      "\n"
      "    env:\n"
      "      OUT: " +
      tmp_.Sub("out") +
      "\n"
      "    steps:\n"
      "      - { name: show, run: env > $OUT/show.env }\n";
  WriteTextFile(tmp_.Sub("slipway.yaml"), cfg);
  json run = RunJson(EngineEnv({{"AWS_ACCESS_KEY_ID", kEngineKey},
                                {"AWS_SECRET_ACCESS_KEY", kEngineSecret},
                                {"SLIPWAY_TEST_CODECOMMIT_ORIGIN", codecommit.Origin()}}));
  ASSERT_EQ(run.value("status", ""), "succeeded") << last_.out << last_.err;
  EXPECT_EQ(run.value("settings_commit", ""), settings_->Head());
  // git was challenged, then let in with the helper's password.
  auto http = aws::NewCurlHttpClient(aws::HttpSettings{});
  Result<aws::HttpResponse> seen = http->Send(aws::HttpRequest{"GET", codecommit.Origin() + "/_log", {}, ""});
  ASSERT_TRUE(seen.ok());
  json requests = json::parse(seen->body);
  bool challenged = false, admitted = false;
  for (const auto& r : requests) {
    challenged |= r.value("outcome", "") == "challenge";
    admitted |= r.value("outcome", "") == "ok";
    EXPECT_EQ(r.value("outcome", "").rfind("denied", 0), std::string::npos) << r.dump();
  }
  EXPECT_TRUE(challenged && admitted) << requests.dump();
  // The settings role was assumed for this run and reached no step.
  bool assumed = false;
  for (const auto& e : aws_->Log()) {
    if (e.value("action", "") == "AssumeRole" && e["params"].value("RoleArn", "") == kSettingsRole) {
      assumed = true;
      EXPECT_EQ(e["params"].value("RoleSessionName", ""), "slipway-prod-1");
    }
  }
  EXPECT_TRUE(assumed);
  std::string env = StepEnv("show");
  EXPECT_FALSE(std::regex_search(env, std::regex("(^|\n)AWS_"))) << env;
  EXPECT_EQ(env.find("SLIPWAY_CC_"), std::string::npos) << env;
  // The mirror is named after the codecommit:: URL, not the local origin.
  CommandResult mirrors = testing::Run({"ls", tmp_.Sub("state/mirrors")});
  EXPECT_NE(mirrors.out.find("SpaSettings"), std::string::npos) << mirrors.out;
}

}  // namespace
}  // namespace slipway
