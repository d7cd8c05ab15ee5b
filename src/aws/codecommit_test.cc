#include "aws/codecommit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testing/testing.h"

namespace slipway::aws {
namespace {

using nlohmann::json;

int64_t ParseCaseTime(const std::string& text) {  // "2024-06-11 12:34:56", UTC
  struct tm tm {};
  strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::string OurAnswer(const json& c) {
  Credentials creds{c["access_key"], c["secret_key"], c["token"], 0};
  std::string input =
      "protocol=https\nhost=" + c["host"].get<std::string>() + "\npath=" + c["path"].get<std::string>() + "\n\n";
  Result<std::string> answer = AnswerGitCredentialRequest(input, creds, "", ParseCaseTime(c["time"]));
  return answer.ok() ? answer.value() : "ERROR: " + answer.status().message();
}

json LoadCases() {
  std::ifstream in(std::string(SLIPWAY_SOURCE_DIR) + "/tests/aws/codecommit_awscli.json");
  return json::parse(in);
}

// Against answers recorded from Debian's awscli under faketime
// (tests/aws/record_codecommit_awscli.py).
TEST(AwsCodeCommit, PasswordEqualsRecordedAwsCliAnswers) {
  json fixture = LoadCases();
  ASSERT_GE(fixture["cases"].size(), 6u);
  for (const json& c : fixture["cases"]) {
    EXPECT_EQ(OurAnswer(c), c["expected"].get<std::string>()) << c["name"];
  }
}

// Against the AWS CLI itself, when it is installed (Debian's awscli, or one on PATH).
TEST(AwsCodeCommit, PasswordEqualsLiveAwsCli) {
  std::string aws = access("/usr/bin/aws", X_OK) == 0 ? "/usr/bin/aws" : "";
  if (aws.empty() && slipway::testing::Run({"sh", "-c", "command -v aws"}).exit_code == 0) aws = "aws";
  if (aws.empty() || slipway::testing::Run({"sh", "-c", "command -v faketime"}).exit_code != 0) {
    GTEST_SKIP() << "awscli or faketime not installed";
  }
  json fixture = LoadCases();
  // Two cases (one with a session token): the CLI takes seconds to start.
  for (size_t i : {0u, 1u}) {
    const json& c = fixture["cases"][i];
    std::map<std::string, std::string> env = {{"TZ", "UTC"},
                                              {"AWS_ACCESS_KEY_ID", c["access_key"]},
                                              {"AWS_SECRET_ACCESS_KEY", c["secret_key"]},
                                              {"AWS_CONFIG_FILE", "/dev/null"},
                                              {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"}};
    if (!c["token"].get<std::string>().empty()) env["AWS_SESSION_TOKEN"] = c["token"];
    std::string input =
        "protocol=https\nhost=" + c["host"].get<std::string>() + "\npath=" + c["path"].get<std::string>() + "\n\n";
    slipway::testing::CommandResult cli = slipway::testing::Run(
        {"faketime", "-f", c["time"], aws, "codecommit", "credential-helper", "get"}, "", env, input);
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_EQ(OurAnswer(c), cli.out) << c["name"];
  }
}

TEST(AwsCodeCommit, OtherHostsGetNoAnswer) {
  Credentials creds{"AKIA", "s", "", 0};
  EXPECT_EQ(AnswerGitCredentialRequest("protocol=https\nhost=github.com\npath=x\n", creds, "eu-west-1", 0).value(), "");
  EXPECT_EQ(AnswerGitCredentialRequest("protocol=http\nhost=git-codecommit.eu-west-1.amazonaws.com\npath=v1/repos/x\n",
                                       creds, "", 0)
                .value(),
            "");
  EXPECT_FALSE(AnswerGitCredentialRequest("protocol=https\n", creds, "", 0).ok());
  Result<std::string> no_path =
      AnswerGitCredentialRequest("protocol=https\nhost=git-codecommit.eu-west-1.amazonaws.com\n", creds, "", 0);
  ASSERT_FALSE(no_path.ok());
  EXPECT_EQ(no_path.status().message(),
            "git credential request for 'git-codecommit.eu-west-1.amazonaws.com' without path: run git with -c "
            "credential.useHttpPath=true");
}

TEST(AwsCodeCommit, UrlForms) {
  Result<CodeCommitUrl> u = ParseCodeCommitUrl("codecommit::eu-west-1://settings-repo");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->region, "eu-west-1");
  EXPECT_EQ(u->profile, "");
  EXPECT_EQ(u->HttpsUrl(), "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/settings-repo");
  u = ParseCodeCommitUrl("codecommit::us-east-2://ops-profile@My.Repo_1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->profile, "ops-profile");
  EXPECT_EQ(u->repository, "My.Repo_1");
  EXPECT_EQ(u->HttpsUrl(), "https://git-codecommit.us-east-2.amazonaws.com/v1/repos/My.Repo_1");
  u = ParseCodeCommitUrl("codecommit://dev@repo");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->region, "");
  EXPECT_EQ(u->profile, "dev");
  EXPECT_EQ(ParseCodeCommitUrl("codecommit::cn-north-1://r")->HttpsUrl(),
            "https://git-codecommit.cn-north-1.amazonaws.com.cn/v1/repos/r");
  EXPECT_TRUE(IsCodeCommitUrl("codecommit::eu-west-1://x"));
  EXPECT_FALSE(IsCodeCommitUrl("https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/x"));
  for (const char* bad : {"codecommit::eu-west-1://", "codecommit::EU://x", "codecommit::eu-west-1://a/b",
                          "codecommit:eu-west-1://x", "codecommit::eu-west-1://@x", "https://x"}) {
    Result<CodeCommitUrl> r = ParseCodeCommitUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().message().find("invalid CodeCommit URL '"), 0u);
    }
  }
}

TEST(AwsCodeCommit, RegionComesFromTheHostOrTheDefault) {
  Credentials creds{"AKIA", "s", "", 0};
  EXPECT_FALSE(CodeCommitGitCredential(creds, "codecommit.example.com", "v1/repos/x", "", 0).ok());
  EXPECT_TRUE(CodeCommitGitCredential(creds, "codecommit.example.com", "v1/repos/x", "eu-west-1", 0).ok());
}

}  // namespace
}  // namespace slipway::aws
