// The issue-8 sections of slipway.yaml: verify, preview, notify,
// triggers.verify, server.public_url and server.forges.
#include <gtest/gtest.h>

#include "config/config.h"

namespace slipway {
namespace {

const char kEnvHead[] =
    "environments:\n"
    "  prod:\n"
    "    settings: { url: https://example.com/s.git, path: environments/prod }\n"
    "    code: { url: https://example.com/c.git }\n";

TEST(TrustConfigTest, EverySectionIsRead) {
  auto c = ParseConfig(std::string("server:\n"
                                   "  public_url: https://slipway.example.com/\n"
                                   "  forges:\n"
                                   "    github: { token_file: gh-token, comment: true }\n"
                                   "    gitlab: { api_url: https://gl.example.com/api/v4, token_env: GL }\n"
                                   "notify:\n"
                                   "  - { type: slack, url_env: SLACK_URL }\n") +
                           kEnvHead +
                           "    verify: { mode: both, gpg_keys: [keys/a.asc], ssh_allowed_signers: keys/allowed }\n"
                           "    preview:\n"
                           "      - { name: plan, run: make plan }\n"
                           "    triggers: { verify: '0 6 * * *' }\n"
                           "    notify:\n"
                           "      - type: email\n"
                           "        smtp: smtp://mail.example.com:587\n"
                           "        from: s@example.com\n"
                           "        to: ops@example.com\n"
                           "        password_file: smtp-pass\n",
                       "/etc/slipway/slipway.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.public_url, "https://slipway.example.com");
  EXPECT_EQ(c->server.forges.at("github").api_url, "https://api.github.com");
  EXPECT_EQ(c->server.forges.at("github").token.file, "/etc/slipway/gh-token");
  EXPECT_TRUE(c->server.forges.at("github").comment);
  EXPECT_EQ(c->server.forges.at("gitlab").token.env, "GL");
  ASSERT_EQ(c->notify.size(), 1u);
  EXPECT_EQ(c->notify[0].kind, NotifyTarget::Kind::kSlack);
  EXPECT_EQ(c->notify[0].events, (std::vector<std::string>{"failure", "recovery", "drift"}));
  const EnvironmentConfig& env = c->environments[0];
  EXPECT_EQ(env.verify.mode, VerifyConfig::Mode::kBoth);
  EXPECT_EQ(env.verify.gpg_keys, (std::vector<std::string>{"/etc/slipway/keys/a.asc"}));
  EXPECT_EQ(env.verify.ssh_allowed_signers, "/etc/slipway/keys/allowed");
  ASSERT_EQ(env.preview_steps.size(), 1u);
  EXPECT_EQ(env.preview_steps[0].run, "make plan");
  EXPECT_EQ(env.triggers.verify, "0 6 * * *");
  ASSERT_EQ(env.notify.size(), 1u);
  EXPECT_EQ(env.notify[0].to, (std::vector<std::string>{"ops@example.com"}));
  EXPECT_EQ(env.notify[0].password.file, "/etc/slipway/smtp-pass");
}

TEST(TrustConfigTest, SecretsAreNeverInline) {
  auto c = ParseConfig(std::string(kEnvHead) +
                           "    notify:\n"
                           "      - { type: webhook, url: 'https://h.example.com/x', secret: hunter2 }\n"
                           "      - { type: email, smtp: 'smtp://m:25', from: a@b, to: [c@d], password: hunter2 }\n",
                       "/x/slipway.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("inline secrets are not allowed in 'notify' in environment 'prod': put the "
                                      "value in a file and use 'secret_file: PATH'"),
            std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find("use 'password_file: PATH'"), std::string::npos);
  EXPECT_EQ(c.status().message().find("hunter2"), std::string::npos);
}

TEST(TrustConfigTest, MistakesAreReportedWithPositions) {
  auto c = ParseConfig(std::string(kEnvHead) +
                           "    verify: { mode: sometimes, gpg_keys: [a.asc] }\n"
                           "    preview:\n"
                           "      - { name: p, run: make plan, role: 'arn:aws:iam::111111111111:role/R' }\n"
                           "    notify:\n"
                           "      - { type: pager, url: 'https://x' }\n"
                           "      - { type: email, smtp: 'smtps://m:465', from: a@b, to: [c@d], starttls: false }\n",
                       "/x/slipway.yaml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("/x/slipway.yaml:5:21: expected none, settings, code or both for 'mode' in 'verify' in "
                   "environment 'prod', got 'sometimes'"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("has a 'role': previews run without roles"), std::string::npos) << m;
  EXPECT_NE(m.find("expected webhook, slack, teams or email for 'type'"), std::string::npos) << m;
  EXPECT_EQ(m.find("missing 'type'"), std::string::npos) << "one problem, one message: " << m;
  EXPECT_NE(m.find("expected smtp://HOST:PORT for 'smtp'"), std::string::npos) << m;
  EXPECT_NE(m.find("'starttls' cannot be turned off"), std::string::npos) << m;
}

}  // namespace
}  // namespace slipway
