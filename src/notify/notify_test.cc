#include "notify/notify.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "notify/forge.h"

namespace slipway {
namespace {

Notification FailedRun() {
  Notification n;
  n.event = "failure";
  n.environment = "prod";
  n.run_id = 12;
  n.kind = "deploy";
  n.status = "failed";
  n.trigger = "push";
  n.code_ref = "v1.4.0";
  n.code_commit = std::string(40, 'c');
  n.error = "step 'test' failed with exit status 2";
  n.url = "https://slipway.example.com/#/run/12";
  return n;
}

TEST(NotifyTest, SummaryNamesEnvironmentRunAndError) {
  EXPECT_EQ(NotificationSummary(FailedRun()), "prod: deploy run 12 failed: step 'test' failed with exit status 2");
  Notification n = FailedRun();
  n.event = "recovery";
  EXPECT_EQ(NotificationSummary(n), "prod: deploy run 12 recovered");
  n.event = "drift";
  n.detail = "make diff printed 3 lines";
  EXPECT_EQ(NotificationSummary(n), "prod has drifted: make diff printed 3 lines");
}

TEST(NotifyTest, BodiesAreTheDocumentedJson) {
  auto web = nlohmann::json::parse(WebhookBody(FailedRun()));
  EXPECT_EQ(web["event"], "failure");
  EXPECT_EQ(web["run_id"], 12);
  EXPECT_EQ(web["url"], "https://slipway.example.com/#/run/12");
  auto slack = nlohmann::json::parse(SlackBody(FailedRun()));
  EXPECT_NE(slack["text"].get<std::string>().find("<https://slipway.example.com/#/run/12|Open run 12>"),
            std::string::npos);
  auto teams = nlohmann::json::parse(TeamsBody(FailedRun()));
  EXPECT_EQ(teams["@type"], "MessageCard");
  EXPECT_EQ(teams["potentialAction"][0]["targets"][0]["uri"], "https://slipway.example.com/#/run/12");
}

TEST(NotifyTest, HmacSignatureIsHexSha256) {
  // RFC 4231 test case 2.
  EXPECT_EQ(HmacSignature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(NotifyTest, EmailHeadersCannotBeInjectedAndDotsAreStuffed) {
  NotifyTarget t;
  t.kind = NotifyTarget::Kind::kEmail;
  t.from = "slipway@example.com";
  t.to = {"ops@example.com"};
  Notification n = FailedRun();
  n.error = "boom\r\nBcc: victim@example.com\n.\nend";
  std::string m = EmailMessage(n, t, 1'795'700'000'000);
  EXPECT_NE(m.find("Subject: [slipway] prod: deploy run 12 failed\r\n"), std::string::npos) << m;
  std::string headers = m.substr(0, m.find("\r\n\r\n"));
  EXPECT_EQ(headers.find("Bcc:"), std::string::npos) << "the error reached the headers: " << m;
  EXPECT_EQ(m.find("\r\n.\r\n"), std::string::npos) << "a lone dot would end the DATA";
}

TEST(NotifyTest, TargetsWantTheirEventsOnly) {
  NotifyTarget t;
  t.events = {"failure", "drift"};
  EXPECT_TRUE(t.Wants("failure"));
  EXPECT_FALSE(t.Wants("success"));
}

TEST(ForgeTest, PreviewContextRoundTrips) {
  PreviewContext c;
  c.forge = "gitlab";
  c.repo = "42";
  c.number = 7;
  c.head = std::string(40, 'a');
  c.base_branch = "main";
  auto back = ParsePreviewContext(EncodePreviewContext(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->forge, "gitlab");
  EXPECT_EQ(back->number, 7);
  EXPECT_EQ(back->head, c.head);
  EXPECT_FALSE(ParsePreviewContext("{}").ok());
}

}  // namespace
}  // namespace slipway
