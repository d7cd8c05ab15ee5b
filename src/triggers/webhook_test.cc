#include "triggers/webhook.h"

#include <gtest/gtest.h>

#include <string>

namespace slipway {
namespace {

const char kSecret[] = "It's a Secret to Everybody";

// GitHub's documented test vector for X-Hub-Signature-256.
TEST(HmacTest, MatchesGithubDocumentation) {
  EXPECT_EQ(HmacSha256Hex(kSecret, "Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  // RFC 4231 test case 2.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// ------------------------------------------------------------------ fixtures

const char kGithubPush[] = R"json({
  "ref": "refs/heads/main",
  "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
  "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
  "repository": {
    "id": 186853002,
    "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
    "name": "spa-settings",
    "full_name": "reply-fr/spa-settings",
    "private": true,
    "owner": {"name": "reply-fr", "login": "reply-fr", "id": 21031067, "type": "Organization", "site_admin": false},
    "html_url": "https://github.com/reply-fr/spa-settings",
    "description": null,
    "fork": false,
    "url": "https://github.com/reply-fr/spa-settings",
    "created_at": 1557933565,
    "pushed_at": 1711620000,
    "git_url": "git://github.com/reply-fr/spa-settings.git",
    "ssh_url": "git@github.com:reply-fr/spa-settings.git",
    "clone_url": "https://github.com/reply-fr/spa-settings.git",
    "svn_url": "https://github.com/reply-fr/spa-settings",
    "mirror_url": null,
    "size": 18446744073709551615000,
    "stargazers_count": 0,
    "default_branch": "main",
    "topics": []
  },
  "pusher": {"name": "octocat", "email": "octocat@github.com"},
  "sender": {"login": "octocat", "id": 583231, "type": "User"},
  "created": false,
  "deleted": false,
  "forced": false,
  "base_ref": null,
  "compare": "https://github.com/reply-fr/spa-settings/compare/6113728f27ae...59b20b8d5c6f",
  "commits": [
    {
      "id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
      "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
      "distinct": true,
      "message": "prod: deploy v23.9.22",
      "timestamp": "2024-03-28T10:00:00+01:00",
      "author": {"name": "Octo Cat", "email": "octocat@github.com", "username": "octocat"},
      "added": [],
      "removed": [],
      "modified": ["environments/prod/deploy.yaml"]
    },
    {
      "id": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
      "tree_id": "7c27d2a07e9488b91af2641b26b9407fe22a4514",
      "distinct": true,
      "message": "sandbox: new accounts",
      "timestamp": "2024-03-28T10:05:00+01:00",
      "author": {"name": "Octo Cat", "email": "octocat@github.com", "username": "octocat"},
      "added": ["environments/sandbox/accounts.csv"],
      "removed": ["environments/sandbox/old.csv"],
      "modified": ["environments/prod/deploy.yaml"]
    }
  ],
  "head_commit": {
    "id": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
    "message": "sandbox: new accounts",
    "added": ["environments/sandbox/accounts.csv"],
    "removed": ["environments/sandbox/old.csv"],
    "modified": ["environments/prod/deploy.yaml"]
  }
})json";

const char kGithubPing[] = R"json({
  "zen": "Design for failure.",
  "hook_id": 109948940,
  "hook": {"type": "Repository", "id": 109948940, "name": "web", "active": true, "events": ["push"],
           "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://slipway.example.com/hooks/github"}},
  "repository": {
    "id": 186853002,
    "full_name": "reply-fr/spa-settings",
    "html_url": "https://github.com/reply-fr/spa-settings",
    "git_url": "git://github.com/reply-fr/spa-settings.git",
    "ssh_url": "git@github.com:reply-fr/spa-settings.git",
    "clone_url": "https://github.com/reply-fr/spa-settings.git"
  },
  "sender": {"login": "octocat", "id": 583231}
})json";

const char kGithubTagPush[] = R"json({
  "ref": "refs/tags/v23.9.22",
  "before": "0000000000000000000000000000000000000000",
  "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
  "repository": {"full_name": "reply-fr/spa-settings", "clone_url": "https://github.com/reply-fr/spa-settings.git"},
  "created": true, "deleted": false, "forced": false, "base_ref": "refs/heads/main",
  "commits": [], "head_commit": null
})json";

const char kGithubBranchDeleted[] = R"json({
  "ref": "refs/heads/feature",
  "before": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
  "after": "0000000000000000000000000000000000000000",
  "repository": {"full_name": "reply-fr/spa-settings", "clone_url": "https://github.com/reply-fr/spa-settings.git"},
  "created": false, "deleted": true, "forced": false, "commits": [], "head_commit": null
})json";

const char kGitlabPush[] = R"json({
  "object_kind": "push",
  "event_name": "push",
  "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
  "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "ref": "refs/heads/main",
  "ref_protected": true,
  "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
  "user_id": 4,
  "user_name": "John Smith",
  "user_username": "jsmith",
  "project_id": 15,
  "project": {
    "id": 15,
    "name": "Settings",
    "web_url": "https://gitlab.example.com/cloudops/settings",
    "git_ssh_url": "git@gitlab.example.com:cloudops/settings.git",
    "git_http_url": "https://gitlab.example.com/cloudops/settings.git",
    "namespace": "CloudOps",
    "visibility_level": 0,
    "path_with_namespace": "cloudops/settings",
    "default_branch": "main",
    "homepage": "https://gitlab.example.com/cloudops/settings",
    "url": "git@gitlab.example.com:cloudops/settings.git",
    "ssh_url": "git@gitlab.example.com:cloudops/settings.git",
    "http_url": "https://gitlab.example.com/cloudops/settings.git"
  },
  "commits": [
    {
      "id": "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
      "message": "Update prod pin",
      "title": "Update prod pin",
      "timestamp": "2024-03-28T10:00:00+01:00",
      "url": "https://gitlab.example.com/cloudops/settings/-/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
      "author": {"name": "Jordi Mallach", "email": "jordi@softcatala.org"},
      "added": ["environments/prod/new.yaml"],
      "modified": ["environments/prod/deploy.yaml"],
      "removed": []
    },
    {
      "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      "message": "fixed readme",
      "title": "fixed readme",
      "timestamp": "2024-03-28T10:05:00+01:00",
      "url": "https://gitlab.example.com/cloudops/settings/-/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      "author": {"name": "GitLab dev user", "email": "gitlabdev@dv6700.(none)"},
      "added": [],
      "modified": ["README.md"],
      "removed": []
    }
  ],
  "total_commits_count": 2,
  "repository": {
    "name": "Settings",
    "url": "git@gitlab.example.com:cloudops/settings.git",
    "description": "",
    "homepage": "https://gitlab.example.com/cloudops/settings",
    "git_http_url": "https://gitlab.example.com/cloudops/settings.git",
    "git_ssh_url": "git@gitlab.example.com:cloudops/settings.git",
    "visibility_level": 0
  }
})json";

const char kGitlabTagPush[] = R"json({
  "object_kind": "tag_push",
  "event_name": "tag_push",
  "before": "0000000000000000000000000000000000000000",
  "after": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "ref": "refs/tags/v1.0.0",
  "checkout_sha": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
  "project": {"git_http_url": "https://gitlab.example.com/cloudops/settings.git"},
  "commits": [], "total_commits_count": 0
})json";

const char kGiteaPush[] = R"json({
  "ref": "refs/heads/main",
  "before": "28e1879d029cb852e4844d9c718537df08844e03",
  "after": "bffeb74224043ba2feb48d137756c8a9331c449a",
  "compare_url": "https://gitea.example.com/cloudops/settings/compare/28e1879d029c...bffeb7422404",
  "commits": [
    {
      "id": "bffeb74224043ba2feb48d137756c8a9331c449a",
      "message": "Update environments/staging/deploy.yaml\n",
      "url": "https://gitea.example.com/cloudops/settings/commit/bffeb74224043ba2feb48d137756c8a9331c449a",
      "author": {"name": "ops", "email": "ops@example.com", "username": "ops"},
      "committer": {"name": "ops", "email": "ops@example.com", "username": "ops"},
      "verification": null,
      "timestamp": "2024-03-28T10:00:00Z",
      "added": [],
      "removed": [],
      "modified": ["environments/staging/deploy.yaml"]
    }
  ],
  "total_commits": 1,
  "head_commit": {"id": "bffeb74224043ba2feb48d137756c8a9331c449a", "modified": ["environments/staging/deploy.yaml"]},
  "repository": {
    "id": 1,
    "owner": {"id": 1, "login": "cloudops", "full_name": "", "email": "", "username": "cloudops"},
    "name": "settings",
    "full_name": "cloudops/settings",
    "private": true,
    "html_url": "https://gitea.example.com/cloudops/settings",
    "url": "https://gitea.example.com/api/v1/repos/cloudops/settings",
    "ssh_url": "ssh://git@gitea.example.com:2222/cloudops/settings.git",
    "clone_url": "https://gitea.example.com/cloudops/settings.git",
    "default_branch": "main"
  },
  "pusher": {"id": 1, "login": "ops", "username": "ops"},
  "sender": {"id": 1, "login": "ops", "username": "ops"}
})json";

const char kGenericPush[] =
    R"json({"repository": "https://git.example.com/ops/settings.git", "branch": "main",
             "commit": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"})json";

using Headers = std::map<std::string, std::string>;

Headers GithubHeaders(const std::string& body, const std::string& event = "push", const std::string& secret = kSecret) {
  return {{"x-github-event", event},
          {"x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
          {"x-github-hook-id", "109948940"},
          {"user-agent", "GitHub-Hookshot/044aadd"},
          {"content-type", "application/json"},
          {"x-hub-signature", "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6"},
          {"x-hub-signature-256", "sha256=" + HmacSha256Hex(secret, body)}};
}

Headers GitlabHeaders(const std::string& event = "Push Hook", const std::string& token = kSecret) {
  return {{"x-gitlab-event", event},
          {"x-gitlab-token", token},
          {"x-gitlab-event-uuid", "13792a34-cac6-4fda-95a8-c58e00a3954e"},
          {"x-gitlab-instance", "https://gitlab.example.com"},
          {"content-type", "application/json"}};
}

Headers GiteaHeaders(const std::string& body, const std::string& event = "push") {
  return {{"x-gitea-event", event},
          {"x-gitea-event-type", event},
          {"x-gitea-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
          {"x-gitea-signature", HmacSha256Hex(kSecret, body)},
          {"x-gogs-event", event},
          {"content-type", "application/json"}};
}

Headers GenericHeaders(const std::string& body, const std::string& secret = kSecret) {
  return {{"x-slipway-signature", "sha256=" + HmacSha256Hex(secret, body)}, {"x-slipway-delivery", "d-1"}};
}

void ExpectError(const Result<WebhookEvent>& r, StatusCode code, const std::string& message) {
  ASSERT_FALSE(r.ok()) << "expected: " << message;
  EXPECT_EQ(r.status().code(), code) << r.status().message();
  EXPECT_EQ(r.status().message(), message);
}

// ------------------------------------------------------------------ GitHub

TEST(GithubWebhookTest, SignedPushIsParsed) {
  auto r = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(kGithubPush), kGithubPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPush);
  EXPECT_EQ(r->event, "push");
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5");
  EXPECT_EQ(r->before, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
  EXPECT_EQ(r->delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(r->repository_urls,
            (std::vector<std::string>{
                "https://github.com/reply-fr/spa-settings.git", "git@github.com:reply-fr/spa-settings.git",
                "git://github.com/reply-fr/spa-settings.git", "https://github.com/reply-fr/spa-settings"}));
  EXPECT_EQ(r->changed_paths,
            (std::vector<std::string>{"environments/prod/deploy.yaml", "environments/sandbox/accounts.csv",
                                      "environments/sandbox/old.csv"}));
  EXPECT_TRUE(r->changed_paths_complete);
  EXPECT_EQ(WebhookHttpStatus(r.status()), 200);
}

TEST(GithubWebhookTest, MissingSignatureIsUnauthenticated) {
  Headers h = GithubHeaders(kGithubPush);
  h.erase("x-hub-signature-256");
  auto r = ParseWebhook(WebhookProvider::kGithub, h, kGithubPush, kSecret);
  ExpectError(r, StatusCode::kPermissionDenied, "missing signature header 'x-hub-signature-256'");
  EXPECT_EQ(WebhookHttpStatus(r.status()), 401);
}

TEST(GithubWebhookTest, WrongSecretTamperedBodyOrMalformedHeaderIsUnauthenticated) {
  const std::string body = kGithubPush;
  ExpectError(ParseWebhook(WebhookProvider::kGithub, GithubHeaders(body, "push", "other secret"), body, kSecret),
              StatusCode::kPermissionDenied,
              "signature in 'x-hub-signature-256' does not match the body (check the webhook secret)");
  std::string tampered = body;
  tampered.replace(tampered.find("refs/heads/main"), 15, "refs/heads/prod");
  ExpectError(ParseWebhook(WebhookProvider::kGithub, GithubHeaders(body), tampered, kSecret),
              StatusCode::kPermissionDenied,
              "signature in 'x-hub-signature-256' does not match the body (check the webhook secret)");
  Headers h = GithubHeaders(body);
  h["x-hub-signature-256"] = HmacSha256Hex(kSecret, body);  // no "sha256=" prefix
  ExpectError(ParseWebhook(WebhookProvider::kGithub, h, body, kSecret), StatusCode::kPermissionDenied,
              "malformed signature header 'x-hub-signature-256' (expected sha256=HEX)");
  h["x-hub-signature-256"] = "sha256=abc";
  ExpectError(ParseWebhook(WebhookProvider::kGithub, h, body, kSecret), StatusCode::kPermissionDenied,
              "malformed signature header 'x-hub-signature-256' (expected sha256=HEX with 64 hex digits)");
  h["x-hub-signature-256"] = "sha256=" + std::string(64, 'z');
  ExpectError(ParseWebhook(WebhookProvider::kGithub, h, body, kSecret), StatusCode::kPermissionDenied,
              "malformed signature header 'x-hub-signature-256' (not hexadecimal)");
  // The old SHA-1 header alone is not enough.
  h.erase("x-hub-signature-256");
  EXPECT_FALSE(ParseWebhook(WebhookProvider::kGithub, h, body, kSecret).ok());
  // Upper-case hex is the same signature.
  std::string upper = HmacSha256Hex(kSecret, body);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  h["x-hub-signature-256"] = "sha256=" + upper;
  EXPECT_TRUE(ParseWebhook(WebhookProvider::kGithub, h, body, kSecret).ok());
}

TEST(GithubWebhookTest, EmptySecretAuthenticatesNothing) {
  const std::string body = kGithubPush;
  ExpectError(ParseWebhook(WebhookProvider::kGithub, GithubHeaders(body, "push", ""), body, ""),
              StatusCode::kPermissionDenied, "the github webhook has no secret configured");
}

TEST(GithubWebhookTest, SignatureIsCheckedBeforeTheBodyIsRead) {
  // A garbage body without a signature is a 401, not a 400.
  Headers h = GithubHeaders("x");
  h.erase("x-hub-signature-256");
  EXPECT_EQ(ParseWebhook(WebhookProvider::kGithub, h, "{not json", kSecret).status().code(),
            StatusCode::kPermissionDenied);
}

TEST(GithubWebhookTest, Ping) {
  auto r = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(kGithubPing, "ping"), kGithubPing, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPing);
  EXPECT_EQ(r->repository_urls.size(), 4u);
  EXPECT_TRUE(r->branch.empty());
  // A ping with a bad signature is still refused.
  EXPECT_FALSE(ParseWebhook(WebhookProvider::kGithub, GithubHeaders("{}", "ping"), kGithubPing, kSecret).ok());
}

TEST(GithubWebhookTest, TagPushAndBranchDeletionAreIgnored) {
  auto tag = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(kGithubTagPush), kGithubTagPush, kSecret);
  ASSERT_TRUE(tag.ok()) << tag.status().message();
  EXPECT_EQ(tag->kind, WebhookKind::kIgnored);
  EXPECT_EQ(tag->ignored_reason, "tag push 'refs/tags/v23.9.22'");
  EXPECT_TRUE(tag->branch.empty());
  auto del = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(kGithubBranchDeleted), kGithubBranchDeleted, kSecret);
  ASSERT_TRUE(del.ok()) << del.status().message();
  EXPECT_EQ(del->kind, WebhookKind::kIgnored);
  EXPECT_EQ(del->ignored_reason, "branch 'feature' deleted");
}

TEST(GithubWebhookTest, OtherEventsAreIgnoredWithoutParsing) {
  const std::string body = R"({"action": "opened", "issue": {"number": 1}})";
  auto r = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(body, "issues"), body, kSecret);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, WebhookKind::kIgnored);
  EXPECT_EQ(r->ignored_reason, "event 'issues'");
  Headers h = GithubHeaders(body);
  h.erase("x-github-event");
  ExpectError(ParseWebhook(WebhookProvider::kGithub, h, body, kSecret), StatusCode::kInvalidArgument,
              "missing header 'x-github-event'");
}

TEST(GithubWebhookTest, ForcedOrNewBranchPushesHaveIncompletePaths) {
  std::string body = kGithubPush;
  body.replace(body.find("\"forced\": false"), 15, "\"forced\": true ");
  auto r = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(body), body, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPush);
  EXPECT_FALSE(r->changed_paths_complete);
  std::string created = kGithubPush;
  created.replace(created.find("\"created\": false"), 16, "\"created\": true ");
  r = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(created), created, kSecret);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->changed_paths_complete);
}

// Every malformed-but-signed body is a 400 with a message naming the problem.
TEST(GithubWebhookTest, BadBodiesAreBadRequests) {
  struct Case {
    std::string body;
    std::string message;
  };
  const std::string push = kGithubPush;
  const std::vector<Case> cases = {
      {"", "the body is empty (expected a JSON object)"},
      {"<html>", "the body is not valid JSON (error at byte 1)"},
      {"not json", "the body is not valid JSON (error at byte 2)"},
      {push.substr(0, push.size() / 2),
       "the body is not valid JSON (error at byte " + std::to_string(push.size() / 2 + 1) + ")"},
      {"[1, 2]", "the body is not a JSON object"},
      {"\"push\"", "the body is not a JSON object"},
      {R"({"after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5", "repository": {}})", "missing field 'ref'"},
      {R"({"ref": 5, "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"})", "field 'ref' must be a string"},
      {R"({"ref": "refs/heads/main"})", "missing field 'after'"},
      {R"({"ref": "refs/heads/main", "after": "HEAD"})", "field 'after' is not a commit hash"},
      {R"({"ref": "refs/heads/main", "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5"})",
       "missing field 'repository'"},
      {R"({"ref": "refs/heads/main", "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5", "repository": "x"})",
       "field 'repository' must be an object"},
      {R"({"ref": "refs/heads/main", "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5", "repository": {}})",
       "the payload names no repository URL"},
      {R"({"ref": "refs/heads/main", "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
           "repository": {"clone_url": ["https://x"]}})",
       "field 'repository.clone_url' must be a string"},
      {R"({"ref": "refs/heads/main", "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
           "repository": {"clone_url": "https://github.com/o/r.git"}, "commits": {}})",
       "field 'commits' must be an array"},
      {R"({"ref": "refs/heads/main", "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
           "repository": {"clone_url": "https://github.com/o/r.git"}, "commits": [{"added": [1]}]})",
       "field 'commits[0].added' must be an array of strings"},
      {R"({"ref": "refs/heads/main", "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
           "repository": {"clone_url": "https://github.com/o/r.git"}, "forced": "yes"})",
       "field 'forced' must be true or false"},
      {R"({"ref": "refs/heads/main", "after": 1e999})", "the body is not valid JSON"},
      {std::string(100, '[') + std::string(100, ']'), "the body is nested deeper than 64 levels"},
      {R"({"a": )" + std::string(100000, '[') + std::string(100000, ']') + "}",
       "the body is nested deeper than 64 levels"},
  };
  for (const Case& c : cases) {
    auto r = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(c.body), c.body, kSecret);
    ExpectError(r, StatusCode::kInvalidArgument, c.message);
    EXPECT_EQ(WebhookHttpStatus(r.status()), 400) << c.body.substr(0, 80);
  }
}

TEST(GithubWebhookTest, HugeNumbersAndBracketsInStringsAreFine) {
  // Numbers beyond 64 bits in fields we do not read, and brackets inside
  // strings that must not count as nesting.
  std::string body = R"({"ref": "refs/heads/main", "after": "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5",
    "repository": {"clone_url": "https://github.com/o/r.git", "size": 123456789012345678901234567890,
                   "description": ")" +
                     std::string(200, '[') + R"(\"{{{"},
    "commits": []})";
  auto r = ParseWebhook(WebhookProvider::kGithub, GithubHeaders(body), body, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPush);
  EXPECT_TRUE(r->changed_paths.empty());
}

// ------------------------------------------------------------------ GitLab

TEST(GitlabWebhookTest, TokenPushIsParsed) {
  auto r = ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders(), kGitlabPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPush);
  EXPECT_EQ(r->event, "Push Hook");
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
  EXPECT_EQ(r->delivery_id, "13792a34-cac6-4fda-95a8-c58e00a3954e");
  EXPECT_EQ(r->repository_urls, (std::vector<std::string>{"https://gitlab.example.com/cloudops/settings.git",
                                                          "git@gitlab.example.com:cloudops/settings.git",
                                                          "https://gitlab.example.com/cloudops/settings"}));
  EXPECT_EQ(r->changed_paths,
            (std::vector<std::string>{"README.md", "environments/prod/deploy.yaml", "environments/prod/new.yaml"}));
  EXPECT_TRUE(r->changed_paths_complete);
}

TEST(GitlabWebhookTest, MissingOrWrongTokenIsUnauthenticated) {
  Headers h = GitlabHeaders();
  h.erase("x-gitlab-token");
  ExpectError(ParseWebhook(WebhookProvider::kGitlab, h, kGitlabPush, kSecret), StatusCode::kPermissionDenied,
              "missing token header 'x-gitlab-token'");
  for (const char* token : {"", "It's a Secret to Everybod", "It's a Secret to Everybody!", "wrong"}) {
    ExpectError(ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders("Push Hook", token), kGitlabPush, kSecret),
                StatusCode::kPermissionDenied, "token in 'x-gitlab-token' does not match (check the webhook secret)");
  }
}

TEST(GitlabWebhookTest, TagPushAndOtherHooksAreIgnored) {
  auto tag = ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders("Tag Push Hook"), kGitlabTagPush, kSecret);
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(tag->kind, WebhookKind::kIgnored);
  EXPECT_EQ(tag->ignored_reason, "event 'Tag Push Hook'");
  // A tag push delivered as "Push Hook" (it is not, but be safe).
  auto odd = ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders(), kGitlabTagPush, kSecret);
  ASSERT_TRUE(odd.ok()) << odd.status().message();
  EXPECT_EQ(odd->kind, WebhookKind::kIgnored);
  EXPECT_EQ(odd->ignored_reason, "tag push 'refs/tags/v1.0.0'");
  auto mr = ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders("Merge Request Hook"), "{}", kSecret);
  ASSERT_TRUE(mr.ok());
  EXPECT_EQ(mr->kind, WebhookKind::kIgnored);
}

TEST(GitlabWebhookTest, TruncatedCommitListIsIncomplete) {
  std::string body = kGitlabPush;
  body.replace(body.find("\"total_commits_count\": 2"), 24, "\"total_commits_count\": 25");
  auto r = ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders(), body, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->changed_paths_complete);
  EXPECT_EQ(r->changed_paths.size(), 3u);
  body.replace(body.find("\"total_commits_count\": 25"), 25, "\"total_commits_count\": -1");
  ExpectError(ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders(), body, kSecret), StatusCode::kInvalidArgument,
              "field 'total_commits_count' must be a non-negative integer");
}

TEST(GitlabWebhookTest, BadBodies) {
  ExpectError(ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders(), "<html>", kSecret), StatusCode::kInvalidArgument,
              "the body is not valid JSON (error at byte 1)");
  ExpectError(
      ParseWebhook(WebhookProvider::kGitlab, GitlabHeaders(),
                   R"({"ref": "refs/heads/main", "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"})", kSecret),
      StatusCode::kInvalidArgument, "missing field 'project'");
  Headers h = GitlabHeaders();
  h.erase("x-gitlab-event");
  ExpectError(ParseWebhook(WebhookProvider::kGitlab, h, kGitlabPush, kSecret), StatusCode::kInvalidArgument,
              "missing header 'x-gitlab-event'");
}

// ------------------------------------------------------------------ Gitea

TEST(GiteaWebhookTest, SignedPushIsParsed) {
  auto r = ParseWebhook(WebhookProvider::kGitea, GiteaHeaders(kGiteaPush), kGiteaPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPush);
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "bffeb74224043ba2feb48d137756c8a9331c449a");
  EXPECT_EQ(r->delivery_id, "f6266f16-1bf3-46a5-9ea4-602e06ead473");
  // Not the API address in "url".
  EXPECT_EQ(r->repository_urls, (std::vector<std::string>{"https://gitea.example.com/cloudops/settings.git",
                                                          "ssh://git@gitea.example.com:2222/cloudops/settings.git",
                                                          "https://gitea.example.com/cloudops/settings"}));
  EXPECT_EQ(r->changed_paths, (std::vector<std::string>{"environments/staging/deploy.yaml"}));
  EXPECT_TRUE(r->changed_paths_complete);
}

TEST(GiteaWebhookTest, BadOrMissingSignature) {
  Headers h = GiteaHeaders(kGiteaPush);
  h.erase("x-gitea-signature");
  ExpectError(ParseWebhook(WebhookProvider::kGitea, h, kGiteaPush, kSecret), StatusCode::kPermissionDenied,
              "missing signature header 'x-gitea-signature'");
  h["x-gitea-signature"] = HmacSha256Hex("nope", kGiteaPush);
  ExpectError(ParseWebhook(WebhookProvider::kGitea, h, kGiteaPush, kSecret), StatusCode::kPermissionDenied,
              "signature in 'x-gitea-signature' does not match the body (check the webhook secret)");
  h["x-gitea-signature"] = "sha256=" + HmacSha256Hex(kSecret, kGiteaPush);  // Gitea sends bare hex
  EXPECT_EQ(ParseWebhook(WebhookProvider::kGitea, h, kGiteaPush, kSecret).status().code(),
            StatusCode::kPermissionDenied);
}

TEST(GiteaWebhookTest, ForgejoHeadersAreAccepted) {
  Headers h = {{"x-forgejo-signature", HmacSha256Hex(kSecret, kGiteaPush)},
               {"x-forgejo-event", "push"},
               {"x-forgejo-delivery", "fj-1"}};
  auto r = ParseWebhook(WebhookProvider::kGitea, h, kGiteaPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPush);
  EXPECT_EQ(r->delivery_id, "fj-1");
}

TEST(GiteaWebhookTest, IncompleteCommitListAndOtherEvents) {
  std::string body = kGiteaPush;
  body.replace(body.find("\"total_commits\": 1"), 18, "\"total_commits\": 9");
  auto r = ParseWebhook(WebhookProvider::kGitea, GiteaHeaders(body), body, kSecret);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->changed_paths_complete);
  auto create = ParseWebhook(WebhookProvider::kGitea, GiteaHeaders("{}", "create"), "{}", kSecret);
  ASSERT_TRUE(create.ok());
  EXPECT_EQ(create->kind, WebhookKind::kIgnored);
}

// ------------------------------------------------------------------ generic

TEST(GenericWebhookTest, SignedPushIsParsed) {
  auto r = ParseWebhook(WebhookProvider::kGeneric, GenericHeaders(kGenericPush), kGenericPush, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPush);
  EXPECT_EQ(r->repository_urls, (std::vector<std::string>{"https://git.example.com/ops/settings.git"}));
  EXPECT_EQ(r->branch, "main");
  EXPECT_EQ(r->commit, "59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5");
  EXPECT_EQ(r->delivery_id, "d-1");
  EXPECT_FALSE(r->changed_paths_complete);
}

TEST(GenericWebhookTest, OptionalFields) {
  const std::string no_commit =
      R"({"repository": "git@git.example.com:ops/settings.git", "branch": "refs/heads/prod"})";
  Headers h = GenericHeaders(no_commit);
  h.erase("x-slipway-delivery");
  auto r = ParseWebhook(WebhookProvider::kGeneric, h, no_commit, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->branch, "prod");
  EXPECT_EQ(r->commit, "");
  EXPECT_EQ(r->delivery_id, "");
  const std::string ping = R"({"event": "ping"})";
  r = ParseWebhook(WebhookProvider::kGeneric, GenericHeaders(ping), ping, kSecret);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, WebhookKind::kPing);
  const std::string tag = R"({"repository": "https://git.example.com/ops/settings", "branch": "refs/tags/v1"})";
  r = ParseWebhook(WebhookProvider::kGeneric, GenericHeaders(tag), tag, kSecret);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, WebhookKind::kIgnored);
}

TEST(GenericWebhookTest, SignatureAndBodyErrors) {
  const std::string body = kGenericPush;
  ExpectError(ParseWebhook(WebhookProvider::kGeneric, {}, body, kSecret), StatusCode::kPermissionDenied,
              "missing signature header 'x-slipway-signature'");
  ExpectError(ParseWebhook(WebhookProvider::kGeneric, GenericHeaders(body, "x"), body, kSecret),
              StatusCode::kPermissionDenied,
              "signature in 'x-slipway-signature' does not match the body (check the webhook secret)");
  // A body cut short after signing (or a signature of the full body on a
  // truncated read) does not match.
  EXPECT_EQ(ParseWebhook(WebhookProvider::kGeneric, GenericHeaders(body), body.substr(0, 40), kSecret).status().code(),
            StatusCode::kPermissionDenied);
  struct Case {
    std::string body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"branch": "main"})", "missing field 'repository'"},
      {R"({"repository": "https://x/o/r"})", "missing field 'branch'"},
      {R"({"repository": null, "branch": "main"})", "missing field 'repository'"},
      {R"({"repository": 42, "branch": "main"})", "field 'repository' must be a string"},
      {R"({"repository": "  ", "branch": "main"})", "field 'repository' is empty"},
      {R"({"repository": "https://x/o/r", "branch": ["main"]})", "field 'branch' must be a string"},
      {R"({"repository": "https://x/o/r", "branch": ""})",
       "field 'branch' must name a branch ('main' or 'refs/heads/main')"},
      {R"({"repository": "https://x/o/r", "branch": "refs/pull/1/head"})",
       "field 'branch' must name a branch ('main' or 'refs/heads/main')"},
      {R"({"repository": "https://x/o/r", "branch": "main", "commit": "abc123"})",
       "field 'commit' is not a full commit hash (40 or 64 hex digits)"},
      {R"({"repository": "https://x/o/r", "branch": "main", "commit": 12345678901234567890123})",
       "field 'commit' must be a string"},
      {R"({"repository": "https://x/o/r", "branch": "main", "event": "deploy"})",
       "field 'event' must be \"push\" or \"ping\", not 'deploy'"},
      {R"(repository=https://x/o/r&branch=main)", "the body is not valid JSON (error at byte 1)"},
  };
  for (const Case& c : cases) {
    ExpectError(ParseWebhook(WebhookProvider::kGeneric, GenericHeaders(c.body), c.body, kSecret),
                StatusCode::kInvalidArgument, c.message);
  }
}

// The curl example of doc/triggers.md, signed by `openssl dgst -sha256 -hmac`.
TEST(GenericWebhookTest, DocumentedCurlExampleIsAccepted) {
  const std::string body = R"({"repository":"https://git.example.com/ops/settings.git","branch":"main"})";
  Headers h = {{"x-slipway-signature", "sha256=ac2e4f5b298739ace94df9b036a03f6750a54bcffd8451989c0d1c58953a447d"},
               {"content-type", "application/json"}};
  auto r = ParseWebhook(WebhookProvider::kGeneric, h, body, kSecret);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->kind, WebhookKind::kPush);
  EXPECT_EQ(r->branch, "main");
}

// ------------------------------------------------------------------ providers

TEST(WebhookProviderTest, NamesRoundTrip) {
  for (const char* name : {"github", "gitlab", "gitea", "generic"}) {
    auto p = ParseWebhookProvider(name);
    ASSERT_TRUE(p.ok());
    EXPECT_STREQ(WebhookProviderName(*p), name);
  }
  auto bad = ParseWebhookProvider("githb");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(bad.status().message(), "unknown webhook provider 'githb', did you mean 'github'?");
  EXPECT_EQ(WebhookHttpStatus(Internal("x")), 500);
  EXPECT_STREQ(WebhookKindName(WebhookKind::kIgnored), "ignored");
}

// ------------------------------------------------------------------ repository URLs

TEST(RepositoryUrlTest, FormsOfOneRepositoryMatch) {
  const std::vector<std::string> same = {
      "https://github.com/reply-fr/spa-settings",
      "https://github.com/reply-fr/spa-settings.git",
      "https://github.com/reply-fr/spa-settings/",
      "https://github.com/reply-fr/spa-settings.git/",
      "https://GitHub.com/Reply-FR/SPA-settings",
      "http://github.com/reply-fr/spa-settings",
      "https://user:token@github.com/reply-fr/spa-settings.git",
      "https://github.com:443/reply-fr/spa-settings.git",
      "git@github.com:reply-fr/spa-settings.git",
      "github.com:reply-fr/spa-settings",
      "ssh://git@github.com/reply-fr/spa-settings",
      "ssh://git@github.com:22/reply-fr/spa-settings.git",
      "git+ssh://git@github.com/reply-fr/spa-settings.git",
      "git://github.com/reply-fr/spa-settings.git",
      "  https://github.com//reply-fr/spa-settings  ",
  };
  for (const auto& a : same) {
    for (const auto& b : same) EXPECT_TRUE(SameRepository(a, b)) << a << " vs " << b;
  }
  EXPECT_EQ(RepositoryKey("git@github.com:reply-fr/spa-settings.git"), "github.com/reply-fr/spa-settings");
}

TEST(RepositoryUrlTest, DifferentRepositoriesDoNotMatch) {
  EXPECT_FALSE(SameRepository("https://github.com/reply-fr/spa-settings", "https://github.com/reply-fr/spa"));
  EXPECT_FALSE(SameRepository("https://github.com/reply-fr/spa-settings", "https://gitlab.com/reply-fr/spa-settings"));
  EXPECT_FALSE(SameRepository("https://github.com/a/settings", "https://github.com/b/settings"));
  EXPECT_FALSE(SameRepository("https://github.com/org/repo", "https://github.com/org/repo-old"));
  EXPECT_FALSE(SameRepository("https://github.com/org/group/repo", "https://github.com/org/repo"));
  EXPECT_FALSE(SameRepository("", ""));
  EXPECT_FALSE(SameRepository("https://github.com/org/repo", ""));
}

TEST(RepositoryUrlTest, GitlabSubgroupsGiteaPortsAndCodecommit) {
  EXPECT_TRUE(SameRepository("https://gitlab.example.com/cloudops/infra/settings.git",
                             "git@gitlab.example.com:cloudops/infra/settings.git"));
  EXPECT_TRUE(SameRepository("ssh://git@gitea.example.com:2222/cloudops/settings.git",
                             "https://gitea.example.com/cloudops/settings"));
  EXPECT_TRUE(SameRepository("codecommit::eu-west-1://SpaSettings",
                             "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/SpaSettings"));
  EXPECT_TRUE(SameRepository("codecommit::eu-west-1://profile@SpaSettings",
                             "ssh://git-codecommit.eu-west-1.amazonaws.com/v1/repos/SpaSettings"));
  EXPECT_FALSE(SameRepository("codecommit::eu-west-1://SpaSettings", "codecommit::us-east-1://SpaSettings"));
  EXPECT_TRUE(SameRepository("http://[::1]:8080/org/repo.git", "git://[::1]/org/repo"));
}

TEST(RepositoryUrlTest, LocalPathsKeepTheirCase) {
  EXPECT_TRUE(SameRepository("/srv/git/Settings.git", "file:///srv/git/Settings"));
  EXPECT_TRUE(SameRepository("/srv/git/settings/", "/srv/git/settings.git"));
  EXPECT_FALSE(SameRepository("/srv/git/Settings", "/srv/git/settings"));
  EXPECT_FALSE(SameRepository("/srv/git/settings", "https://srv/git/settings"));
  EXPECT_EQ(RepositoryKey("file:///srv/git/x.git"), "file:/srv/git/x");
  // Unknown forms compare as written.
  EXPECT_EQ(RepositoryKey("svn://x/y"), "svn://x/y");
  EXPECT_TRUE(SameRepository("relative/dir", "relative/dir"));
}

}  // namespace
}  // namespace slipway
