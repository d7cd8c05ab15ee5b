#include "notify/notify.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

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

TEST(NotifyTest, HttpAnswersRetryOnlyWhatMayPass) {
  EXPECT_TRUE(HttpAnswer(201, "x").ok());
  EXPECT_TRUE(IsRetryable(HttpAnswer(503, "x")));
  EXPECT_TRUE(IsRetryable(HttpAnswer(500, "x")));
  EXPECT_TRUE(IsRetryable(HttpAnswer(429, "x")));
  EXPECT_FALSE(IsRetryable(HttpAnswer(401, "x")));
  EXPECT_FALSE(IsRetryable(HttpAnswer(404, "x")));
  EXPECT_EQ(HttpAnswer(422, "https://api.github.com/repos/a/b/statuses/c").message(),
            "HTTP 422 from https://api.github.com/repos/a/b/statuses/c");
  EXPECT_TRUE(IsRetryable(NetworkError("connection refused")));
  EXPECT_TRUE(IsRetryable(Timeout("timed out")));
  EXPECT_FALSE(IsRetryable(NotFound("the github token: variable X is not set")));
}

// A delivery whose attempts answer from a script, recorded.
struct Script {
  std::mutex mu;
  std::vector<Status> answers;  // then OK
  std::vector<std::string> calls;
  Notifier::Delivery Make(const std::string& name, const std::string& key = "") {
    Notifier::Delivery d;
    d.family = "commit_status";
    d.target = "github";
    d.what = name;
    d.where = "github";
    d.key = key;
    d.attempt = [this, name](int64_t) {
      std::lock_guard lock(mu);
      calls.push_back(name);
      if (answers.empty()) return Status::Ok();
      Status s = answers.front();
      answers.erase(answers.begin());
      return s;
    };
    return d;
  }
  std::vector<std::string> Calls() {
    std::lock_guard lock(mu);
    return calls;
  }
};

bool WaitUntil(const std::function<bool()>& ready) {
  for (int i = 0; i < 2000; ++i) {  // up to 20 s on a loaded machine
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ready();
}

Notifier::Options Fast() {
  Notifier::Options o;
  o.first_backoff_ms = 1;
  return o;
}

TEST(NotifierTest, RetriesA503UntilItPassesAndCountsItDelivered) {
  Script script;
  script.answers = {HttpAnswer(503, "u"), HttpAnswer(503, "u")};
  std::vector<std::string> log;
  Notifier notifier(Fast(), [&](const std::string& line) { log.push_back(line); });
  notifier.Enqueue(script.Make("status"));
  ASSERT_TRUE(WaitUntil([&] { return notifier.Counts("commit_status").size() == 1; }));
  EXPECT_EQ(script.Calls().size(), 3u);
  EXPECT_EQ((notifier.Counts("commit_status").at({"github", "delivered"})), 1);
  notifier.Stop(0);
  EXPECT_TRUE(log.empty());
  std::string metrics;
  notifier.RenderMetrics(&metrics);
  EXPECT_NE(metrics.find("slipway_commit_statuses_total{forge=\"github\",result=\"delivered\"} 1\n"), std::string::npos)
      << metrics;
}

TEST(NotifierTest, GivesUpAfterFourAttemptsAndAtOnceOnA401) {
  Script script;
  script.answers = {NetworkError("refused"), NetworkError("refused"), NetworkError("refused"), NetworkError("refused"),
                    HttpAnswer(401, "u")};
  std::vector<std::string> log;
  std::mutex log_mu;
  Notifier notifier(Fast(), [&](const std::string& line) {
    std::lock_guard lock(log_mu);
    log.push_back(line);
  });
  notifier.Enqueue(script.Make("unreachable"));
  ASSERT_TRUE(WaitUntil([&] { return script.Calls().size() == 4 && !notifier.Counts("commit_status").empty(); }));
  notifier.Enqueue(script.Make("refused"));
  ASSERT_TRUE(WaitUntil([&] {
    auto c = notifier.Counts("commit_status");
    return c.count({"github", "failed"}) && c.at({"github", "failed"}) == 2;
  }));
  notifier.Stop(0);
  EXPECT_EQ(script.Calls().size(), 5u) << "a 401 is not retried";
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], "unreachable not delivered after 4 attempts (github): refused");
  EXPECT_EQ(log[1], "refused not delivered after 1 attempt (github): HTTP 401 from u");
}

TEST(NotifierTest, ANewerDeliveryWithTheSameKeyReplacesAWaitingOne) {
  Script script;
  script.answers = {HttpAnswer(503, "u")};  // `pending` fails once, then waits for its retry
  Notifier::Options o;
  o.first_backoff_ms = 60'000;  // the retry would come far too late
  Notifier notifier(o, nullptr);
  notifier.Enqueue(script.Make("pending", "org/settings@abc slipway/prod"));
  ASSERT_TRUE(WaitUntil([&] { return script.Calls().size() == 1; }));
  notifier.Enqueue(script.Make("success", "org/settings@abc slipway/prod"));
  ASSERT_TRUE(WaitUntil([&] { return !notifier.Counts("commit_status").empty(); }));
  notifier.Stop(0);
  EXPECT_EQ(script.Calls(), (std::vector<std::string>{"pending", "success"}));
  EXPECT_EQ(notifier.Counts("commit_status"),
            (std::map<std::pair<std::string, std::string>, int64_t>{{{"github", "delivered"}, 1}}))
      << "the replaced one is neither retried nor dropped at shutdown";
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
  EXPECT_EQ(back->fetch_ref, "");
  c.fetch_ref = "refs/merge-requests/7/head";  // a fork's request
  EXPECT_EQ(ParsePreviewContext(EncodePreviewContext(c))->fetch_ref, "refs/merge-requests/7/head");
  EXPECT_FALSE(ParsePreviewContext("{}").ok());
}

}  // namespace
}  // namespace slipway
