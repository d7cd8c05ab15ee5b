// Pull-request webhooks (issue 8; doc/previews.md): GitHub and Gitea
// `pull_request`, GitLab `Merge Request Hook`.
#include <gtest/gtest.h>

#include <string>

#include "triggers/webhook.h"

namespace slipway {
namespace {

const std::string kHead = "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5";

std::string GithubBody(const std::string& action) {
  return R"({"action":")" + action +
         R"(","number":12,"pull_request":{"number":12,"title":"prod buckets",)"
         R"("head":{"sha":")" +
         kHead +
         R"(","ref":"feature"},"base":{"sha":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","ref":"main"}},)"
         R"("repository":{"full_name":"acme/settings","clone_url":"https://github.com/acme/settings.git"}})";
}

Result<WebhookEvent> Github(const std::string& body, const std::string& secret = "s") {
  return ParseWebhook(WebhookProvider::kGithub,
                      {{"x-github-event", "pull_request"},
                       {"x-github-delivery", "d-1"},
                       {"x-hub-signature-256", "sha256=" + HmacSha256Hex(secret, body)}},
                      body, "s");
}

TEST(PullRequestWebhookTest, GithubOpenedIsAPullRequestEvent) {
  auto e = Github(GithubBody("opened"));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->kind, WebhookKind::kPullRequest);
  EXPECT_STREQ(WebhookKindName(e->kind), "pull_request");
  EXPECT_EQ(e->pull_request.number, 12);
  EXPECT_EQ(e->pull_request.head_commit, kHead);
  EXPECT_EQ(e->pull_request.head_branch, "feature");
  EXPECT_EQ(e->pull_request.base_branch, "main");
  EXPECT_EQ(e->pull_request.repo, "acme/settings");
  EXPECT_EQ(e->pull_request.title, "prod buckets");
  EXPECT_EQ(e->delivery_id, "d-1");
  ASSERT_EQ(e->repository_urls.size(), 1u);
  EXPECT_EQ(e->repository_urls[0], "https://github.com/acme/settings.git");
}

TEST(PullRequestWebhookTest, OnlyActionsWithNewCodeArePreviewed) {
  for (const char* action : {"synchronize", "reopened"}) {
    auto e = Github(GithubBody(action));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->kind, WebhookKind::kPullRequest) << action;
  }
  for (const char* action : {"closed", "labeled", "edited"}) {
    auto e = Github(GithubBody(action));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->kind, WebhookKind::kIgnored) << action;
    EXPECT_EQ(e->ignored_reason, std::string("pull request action '") + action + "'");
  }
}

TEST(PullRequestWebhookTest, BadSignatureAndBadPayloadAreRefused) {
  auto bad = Github(GithubBody("opened"), "wrong");
  EXPECT_EQ(bad.status().code(), StatusCode::kPermissionDenied);
  std::string body = GithubBody("opened");
  body.replace(body.find(kHead), kHead.size(), "not-a-hash");
  auto e = Github(body);
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message(), "field 'pull_request.head.sha' is not a commit hash");
}

TEST(PullRequestWebhookTest, GiteaSynchronizedIsAPullRequestEvent) {
  std::string body = GithubBody("synchronized");
  auto e =
      ParseWebhook(WebhookProvider::kGitea,
                   {{"x-gitea-event", "pull_request"}, {"x-gitea-signature", HmacSha256Hex("s", body)}}, body, "s");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->kind, WebhookKind::kPullRequest);
  EXPECT_EQ(e->pull_request.number, 12);
}

TEST(PullRequestWebhookTest, GitlabMergeRequestOpenAndUpdateWithNewCommits) {
  auto body = [](const std::string& action, const std::string& oldrev) {
    return R"({"object_kind":"merge_request","object_attributes":{"iid":7,"action":")" + action + R"(",)" +
           (oldrev.empty() ? "" : R"("oldrev":")" + oldrev + R"(",)") +
           R"("source_branch":"mr","target_branch":"main","title":"t","last_commit":{"id":")" + kHead +
           R"("}},"project":{"id":42,"git_http_url":"https://gitlab.example.com/acme/settings.git"}})";
  };
  auto parse = [](const std::string& b) {
    return ParseWebhook(WebhookProvider::kGitlab, {{"x-gitlab-event", "Merge Request Hook"}, {"x-gitlab-token", "s"}},
                        b, "s");
  };
  auto open = parse(body("open", ""));
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  EXPECT_EQ(open->kind, WebhookKind::kPullRequest);
  EXPECT_EQ(open->pull_request.number, 7);
  EXPECT_EQ(open->pull_request.repo, "42");
  EXPECT_EQ(open->pull_request.base_branch, "main");
  EXPECT_EQ(open->pull_request.head_commit, kHead);
  auto pushed = parse(body("update", std::string(40, 'a')));
  ASSERT_TRUE(pushed.ok());
  EXPECT_EQ(pushed->kind, WebhookKind::kPullRequest);
  auto retitled = parse(body("update", ""));
  ASSERT_TRUE(retitled.ok());
  EXPECT_EQ(retitled->kind, WebhookKind::kIgnored);
  EXPECT_EQ(parse(body("merge", ""))->kind, WebhookKind::kIgnored);
}

TEST(PullRequestWebhookTest, ARequestFromAForkIsMarked) {
  // GitHub and Gitea: head.repo is not base.repo.
  std::string same = GithubBody("opened");
  EXPECT_FALSE(Github(same)->pull_request.from_fork) << "a payload that does not say is not a fork's";
  auto with_repos = [&](const std::string& head_repo) {
    std::string b = GithubBody("opened");
    auto swap = [&](const std::string& from, const std::string& to) { b.replace(b.find(from), from.size(), to); };
    swap(R"("ref":"feature"})", R"("ref":"feature","repo":)" + head_repo + "}");
    swap(R"("ref":"main"})", R"("ref":"main","repo":{"full_name":"acme/settings"}})");
    return Github(b);
  };
  auto own = with_repos(R"({"full_name":"acme/settings"})");
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_FALSE(own->pull_request.from_fork);
  auto fork = with_repos(R"({"full_name":"mallory/settings"})");
  ASSERT_TRUE(fork.ok()) << fork.status().ToString();
  EXPECT_TRUE(fork->pull_request.from_fork);
  auto deleted = with_repos("null");  // GitHub: the fork is gone
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_TRUE(deleted->pull_request.from_fork);

  // GitLab: source_project_id is not target_project_id.
  auto gitlab = [](int source) {
    std::string b = R"({"object_kind":"merge_request","object_attributes":{"iid":7,"action":"open",)"
                    R"("source_project_id":)" +
                    std::to_string(source) +
                    R"(,"target_project_id":42,"source_branch":"mr","target_branch":"main","last_commit":{"id":")" +
                    kHead + R"("}},"project":{"id":42,"git_http_url":"https://gitlab.example.com/acme/settings.git"}})";
    return ParseWebhook(WebhookProvider::kGitlab, {{"x-gitlab-event", "Merge Request Hook"}, {"x-gitlab-token", "s"}},
                        b, "s");
  };
  ASSERT_TRUE(gitlab(42).ok());
  EXPECT_FALSE(gitlab(42)->pull_request.from_fork);
  EXPECT_TRUE(gitlab(99)->pull_request.from_fork);
}

}  // namespace
}  // namespace slipway
