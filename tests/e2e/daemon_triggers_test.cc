// End-to-end: `slipway serve` started by pushes — polling and each webhook
// flavour — with the path filter and coalescing (issue 5).
#include <gtest/gtest.h>

#include "e2e/daemon_fixture.h"
#include "triggers/webhook.h"
#include "util/fs.h"

namespace slipway {
namespace {

using namespace daemon_testing;

std::string EvaluatedCommit(const Api& api, const std::string& env) {
  json j = api.GetJson("/api/v1/environments/" + env);
  if (!j.is_object()) return "";
  return j["triggers"]["evaluated_commit"].get<std::string>();
}

TEST(DaemonTriggersE2E, PushByPollingRunsOnlyWhenTheEnvironmentsFolderChanges) {
  World w;
  w.Pin("staging", "v1.0.0");
  std::string s1 = w.PushSettings("staging on v1.0.0");
  std::string cfg = w.WriteConfig(w.Env("staging", "      push: { poll: 1s }\n", {{"deploy", kRecordVersion}}));
  Api api(w.port_, w.Token("viewer", "watcher"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  // Never evaluated, never deployed: the first poll deploys.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = api.Runs("staging");
        return r.size() == 1 && r[0]["status"] == "succeeded";
      },
      40000))
      << serve.Log();
  json first = api.Runs("staging")[0];
  EXPECT_EQ(first["trigger"], "push");
  EXPECT_EQ(first["actor"], "poller");
  EXPECT_EQ(first["settings_commit"], s1);
  EXPECT_EQ(first["code_commit"], w.v1_);

  // A commit outside environments/staging triggers nothing.
  w.settings_->Write("README.md", "changed outside the folder\n");
  std::string s2 = w.PushSettings("readme");
  ASSERT_TRUE(WaitFor([&] { return EvaluatedCommit(api, "staging") == s2; }, 20000)) << serve.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(api.Runs("staging").size(), 1u);

  // A commit inside it does, at that commit.
  w.Pin("staging", "v1.1.0");
  std::string s3 = w.PushSettings("staging on v1.1.0");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = api.Runs("staging");
        return r.size() == 2 && r[0]["status"] == "succeeded";
      },
      40000))
      << serve.Log();
  json second = api.Runs("staging")[0];
  EXPECT_EQ(second["settings_commit"], s3);
  EXPECT_EQ(second["code_ref"], "v1.1.0");
  EXPECT_EQ(second["code_commit"], w.v11_);

  auto metrics = httplib::Client("127.0.0.1", w.port_).Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("slipway_polls_total{url="), std::string::npos);
  EXPECT_NE(metrics->body.find("slipway_runs{environment=\"staging\",status=\"succeeded\"} 2"), std::string::npos)
      << metrics->body;
}

TEST(DaemonTriggersE2E, PollErrorsShowInStatusAndMetrics) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("staging on v1.0.0");
  std::string env = w.Env("staging", "      push: { poll: 1s }\n", {{"deploy", "true"}});
  // A repository that does not exist on the git daemon.
  std::string missing = w.SettingsUrl();
  missing.replace(missing.find("settings.git"), 12, "nope.git");
  env.replace(env.find(w.SettingsUrl()), w.SettingsUrl().size(), missing);
  std::string cfg = w.WriteConfig(env);
  Api api(w.port_, w.Token("viewer", "watcher"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  ASSERT_TRUE(WaitFor(
      [&] {
        json j = api.GetJson("/api/v1/environments/staging");
        return j.is_object() && !j["triggers"]["error"].get<std::string>().empty();
      },
      20000))
      << serve.Log();
  json j = api.GetJson("/api/v1/environments/staging");
  EXPECT_NE(j["triggers"]["error"].get<std::string>().find("nope.git"), std::string::npos) << j.dump(2);
  auto metrics = httplib::Client("127.0.0.1", w.port_).Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("slipway_trigger_error{environment=\"staging\"} 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("slipway_poll_errors_total{url="), std::string::npos);
  EXPECT_TRUE(api.Runs("staging").empty());
}

// One webhook delivery, signed (or not) like its provider signs it.
struct Delivery {
  std::string path;
  httplib::Headers headers;
  std::string body;
};

enum class Signature { kGood, kBad, kMissing };

Delivery MakeDelivery(const std::string& provider, const std::string& url, const std::string& commit,
                      const std::string& secret, const std::string& id, Signature signature) {
  Delivery d;
  d.path = "/hooks/" + provider;
  std::string wrong = secret + "-not";
  const std::string& key = signature == Signature::kBad ? wrong : secret;
  json body;
  if (provider == "generic") {
    body = {{"repository", url}, {"branch", "main"}, {"commit", commit}};
  } else if (provider == "gitlab") {
    body = {{"object_kind", "push"},
            {"ref", "refs/heads/main"},
            {"before", std::string(40, '0')},
            {"after", commit},
            {"project", {{"git_http_url", url}}}};
  } else {
    body = {{"ref", "refs/heads/main"},
            {"before", std::string(40, '0')},
            {"after", commit},
            {"repository", {{"clone_url", url}}}};
  }
  d.body = body.dump();
  std::string hmac = HmacSha256Hex(key, d.body);
  if (provider == "github") {
    d.headers = {{"X-GitHub-Event", "push"}, {"X-GitHub-Delivery", id}};
    if (signature != Signature::kMissing) d.headers.insert({"X-Hub-Signature-256", "sha256=" + hmac});
  } else if (provider == "gitlab") {
    d.headers = {{"X-Gitlab-Event", "Push Hook"}, {"X-Gitlab-Event-UUID", id}};
    if (signature != Signature::kMissing) d.headers.insert({"X-Gitlab-Token", key});
  } else if (provider == "gitea") {
    d.headers = {{"X-Gitea-Event", "push"}, {"X-Gitea-Delivery", id}};
    if (signature != Signature::kMissing) d.headers.insert({"X-Gitea-Signature", hmac});
  } else {
    d.headers = {{"X-Slipway-Delivery", id}};
    if (signature != Signature::kMissing) d.headers.insert({"X-Slipway-Signature", "sha256=" + hmac});
  }
  return d;
}

httplib::Result Send(int port, const Delivery& d) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  return c.Post(d.path, d.headers, d.body, "application/json");
}

TEST(DaemonTriggersE2E, EveryWebhookFlavourRunsOnAGoodSignatureOnly) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("staging on v1.0.0");
  slipway::testing::WriteTextFile(w.tmp_.Sub("secrets/github"), "github-secret\n", 0600);
  slipway::testing::WriteTextFile(w.tmp_.Sub("secrets/gitlab"), "gitlab-secret", 0600);
  slipway::testing::WriteTextFile(w.tmp_.Sub("secrets/generic"), "generic-secret\n", 0600);
  for (const char* secret : {"github-secret", "gitlab-secret", "generic-secret"})
    slipway::testing::RecordSecret(secret);
  std::string server =
      "  webhooks:\n"
      "    github: { secret_file: secrets/github }\n"
      "    gitlab: { secret_file: secrets/gitlab }\n"
      "    gitea: { secret_env: SLIPWAY_TEST_GITEA_SECRET }\n"
      "    generic: { secret_file: secrets/generic }\n";
  std::string cfg = w.WriteConfig(w.Env("staging", "      push: { poll: 0 }\n", {{"deploy", kRecordVersion}}), server);
  Api api(w.port_, w.Token("viewer", "watcher"));
  Serve serve(w.tmp_.path(), cfg, {}, {"SLIPWAY_TEST_GITEA_SECRET=gitea-secret"});
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  size_t runs = 0;
  int version = 0;
  for (const std::string provider : {"github", "gitlab", "gitea", "generic"}) {
    SCOPED_TRACE(provider);
    std::string secret = provider + "-secret";
    w.settings_->Write("environments/staging/marker", provider + "\n");
    std::string head = w.PushSettings("for " + provider);
    std::string id = provider + "-delivery-" + std::to_string(++version);

    for (Signature bad : {Signature::kMissing, Signature::kBad}) {
      auto r = Send(w.port_, MakeDelivery(provider, w.SettingsUrl(), head, secret, id + "-bad", bad));
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401) << r->body;
      json e = json::parse(r->body, nullptr, false);
      EXPECT_EQ(e["error"], "unauthorized") << r->body;
      EXPECT_FALSE(e["message"].get<std::string>().empty());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(api.Runs("staging").size(), runs) << "a refused delivery started something";

    int64_t sent = SteadyMs();
    auto r = Send(w.port_, MakeDelivery(provider, w.SettingsUrl(), head, secret, id, Signature::kGood));
    ASSERT_TRUE(r);
    EXPECT_LT(SteadyMs() - sent, 2000) << "the hook must answer at once; the work is queued";
    EXPECT_EQ(r->status, 202) << r->body;
    EXPECT_EQ(json::parse(r->body)["result"], "queued");
    ++runs;
    ASSERT_TRUE(WaitFor(
        [&] {
          auto all = api.Runs("staging");
          return all.size() == runs && all[0]["status"] == "succeeded";
        },
        40000))
        << serve.Log();
    json run = api.Runs("staging")[0];
    EXPECT_EQ(run["trigger"], "webhook");
    EXPECT_EQ(run["settings_commit"], head);
    EXPECT_NE(run["actor"].get<std::string>().find(provider), std::string::npos) << run.dump();

    // The same delivery again is recognised and ignored.
    auto again = Send(w.port_, MakeDelivery(provider, w.SettingsUrl(), head, secret, id, Signature::kGood));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200) << again->body;
    EXPECT_EQ(json::parse(again->body)["result"], "duplicate");
  }

  // Above the size limit: 413 before the body is read.
  Delivery big =
      MakeDelivery("generic", w.SettingsUrl(), std::string(40, 'a'), "generic-secret", "big", Signature::kGood);
  big.body = std::string(2 << 20, ' ') + big.body;
  auto r = Send(w.port_, big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body, nullptr, false)["error"], "payload_too_large") << r->body;

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(api.Runs("staging").size(), runs);
  auto metrics = httplib::Client("127.0.0.1", w.port_).Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("slipway_webhook_deliveries_total{source=\"github\",result=\"unauthorized\"} 2"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("slipway_webhook_deliveries_total{source=\"gitea\",result=\"duplicate\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("slipway_webhook_deliveries_total{source=\"generic\",result=\"too_large\"} 1"),
            std::string::npos);
}

// After a run, the daemon makes the next run's code checkout ahead: a settings
// change that deploys the same code commit starts without one, and gets the
// same workspace a fresh checkout gives (tags for `git describe` included).
TEST(DaemonTriggersE2E, ASettingsChangeStartsWithTheCodeCheckoutMadeAfterThePreviousRun) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("staging on v1.0.0");
  std::string cfg = w.WriteConfig(
      w.Env("staging", "      push: { poll: 0 }\n",
            {{"deploy", kRecordVersion}, {"describe", "git describe --tags > \"$OUT/describe-$SLIPWAY_RUN_ID\""}}));
  std::string token = w.Token("operator", "operator");
  Api api(w.port_, token);
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  const std::string ahead = "code checked out ahead of the run";
  auto deploy = [&](int64_t id) -> std::string {
    auto r = api.Post("/api/v1/environments/staging/trigger");
    EXPECT_TRUE(r && r->status == 202) << (r ? r->body : "no answer");
    EXPECT_EQ(api.WaitFinal(id, 40000), "succeeded") << serve.Log();
    auto log = api.GetAs(token, "/api/v1/runs/" + std::to_string(id) + "/log");
    return log ? log->body : "";
  };

  EXPECT_EQ(deploy(1).find(ahead), std::string::npos);
  w.settings_->Write("environments/staging/settings.yaml", "account: 2222\n");
  w.PushSettings("settings change only");
  std::string second = deploy(2);
  EXPECT_NE(second.find(ahead), std::string::npos) << second;
  EXPECT_EQ(slipway::testing::ReadTextFile(w.tmp_.Sub("out/describe-2")), "v1.0.0\n");
  json run = api.Run(2);
  EXPECT_EQ(run["code_commit"], w.v1_);
  EXPECT_EQ(slipway::testing::ReadTextFile(w.tmp_.Sub("state/workspaces/staging/2/settings.yaml")), "account: 2222\n");
  // Made once the run is final, for the next one: one per environment.
  auto spares = [&] {
    int n = 0;
    Result<std::vector<std::string>> names = ListDir(w.tmp_.Sub("state/workspaces/staging"));
    for (const std::string& name : names.ok() ? *names : std::vector<std::string>{}) n += name.rfind(".spare-", 0) == 0;
    return n;
  };
  EXPECT_TRUE(WaitFor([&] { return spares() == 1; }, 20000));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(spares(), 1) << "one checkout made ahead per environment";

  // A new tag moves the code mirror's refs: the checkout made ahead lacks it,
  // so the run checks out afresh.
  w.code_->Tag("v1.2.0-rc");
  w.code_->PushTo(w.tmp_.Sub("remotes/code.git"));
  w.settings_->Write("environments/staging/settings.yaml", "account: 3333\n");
  w.PushSettings("another settings change");
  std::string third = deploy(3);
  EXPECT_EQ(third.find(ahead), std::string::npos) << third;
  EXPECT_EQ(slipway::testing::ReadTextFile(w.tmp_.Sub("state/workspaces/staging/3/settings.yaml")), "account: 3333\n");
}

// With `paths: any` no path filter fetches the head before the run starts, and
// a push run reuses its trigger's fetch: the second of two quick webhooks once
// deployed the first one's head.
TEST(DaemonTriggersE2E, EachWebhookRunDeploysTheHeadItsWebhookAnnounced) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("staging on v1.0.0");
  slipway::testing::WriteTextFile(w.tmp_.Sub("secrets/generic"), "generic-secret\n", 0600);
  std::string cfg =
      w.WriteConfig(w.Env("staging", "      push: { poll: 0, paths: any }\n", {{"deploy", kRecordVersion}}),
                    "  webhooks:\n    generic: { secret_file: secrets/generic }\n");
  Api api(w.port_, w.Token("viewer", "watcher"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  for (size_t i = 1; i <= 3; ++i) {
    SCOPED_TRACE(i);
    w.settings_->Write("environments/staging/n", std::to_string(i) + "\n");
    std::string head = w.PushSettings("change " + std::to_string(i));
    auto r = Send(w.port_, MakeDelivery("generic", w.SettingsUrl(), head, "generic-secret", "n" + std::to_string(i),
                                        Signature::kGood));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 202) << r->body;
    ASSERT_TRUE(WaitFor(
        [&] {
          auto all = api.Runs("staging");
          return all.size() == i && all[0]["status"] == "succeeded";
        },
        30000))
        << serve.Log();
    EXPECT_EQ(api.Runs("staging")[0]["settings_commit"], head);
  }
}

TEST(DaemonTriggersE2E, FivePushesDuringARunGiveExactlyOneFollowUpAtTheNewestHead) {
  World w;
  w.Pin("staging", "v1.0.0");
  std::string s0 = w.PushSettings("staging on v1.0.0");
  slipway::testing::WriteTextFile(w.tmp_.Sub("secrets/generic"), "generic-secret\n", 0600);
  std::string cfg =
      w.WriteConfig(w.Env("staging", "      push: { poll: 0 }\n", {{"wait", kWaitForGate}, {"deploy", kRecordVersion}}),
                    "  webhooks:\n    generic: { secret_file: secrets/generic }\n");
  Api api(w.port_, w.Token("viewer", "watcher"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  auto r = Send(w.port_, MakeDelivery("generic", w.SettingsUrl(), s0, "generic-secret", "d0", Signature::kGood));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  // Wait for the gate step: the run has resolved its settings head by then.
  ASSERT_TRUE(WaitFor(
      [&] {
        json run = api.Run(1);
        return run.is_object() && run["steps"].size() == 2 && run["steps"][0]["status"] == "running";
      },
      30000))
      << serve.Log();

  std::string newest;
  for (int i = 1; i <= 5; ++i) {
    w.settings_->Write("environments/staging/change-" + std::to_string(i), "x\n");
    newest = w.PushSettings("change " + std::to_string(i));
    auto sent = Send(w.port_, MakeDelivery("generic", w.SettingsUrl(), newest, "generic-secret",
                                           "d" + std::to_string(i), Signature::kGood));
    ASSERT_TRUE(sent);
    EXPECT_EQ(sent->status, 202) << sent->body;
  }
  ASSERT_TRUE(WaitFor([&] { return EvaluatedCommit(api, "staging") == newest; }, 30000)) << serve.Log();
  auto all = api.Runs("staging");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]["status"], "queued");
  EXPECT_EQ(all[1]["status"], "running");  // never two runs of one environment at once

  w.OpenGate("staging");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto a = api.Runs("staging");
        return a.size() == 2 && a[0]["status"] == "succeeded";
      },
      40000))
      << serve.Log();
  all = api.Runs("staging");
  ASSERT_EQ(all.size(), 2u) << "five pushes during a run give exactly one follow-up run";
  EXPECT_EQ(all[1]["settings_commit"], s0);
  EXPECT_EQ(all[0]["settings_commit"], newest) << "the follow-up resolves the newest head when it starts";
  EXPECT_EQ(all[1]["status"], "succeeded");
  auto metrics = httplib::Client("127.0.0.1", w.port_).Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(
      metrics->body.find("slipway_triggers_total{environment=\"staging\",trigger=\"webhook\",outcome=\"coalesced\"} 4"),
      std::string::npos)
      << metrics->body;
}

}  // namespace
}  // namespace slipway

namespace slipway {
namespace {

using namespace daemon_testing;

TEST(DaemonTriggersE2E, AScheduleMissedWhileDownFiresOnceAtStartWithCatchUp) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.Pin("prod", "v1.0.0");
  w.PushSettings("pins");
  std::string cfg = w.WriteConfig(
      w.Env("staging", "      schedule: [ \"0 3 * * *\" ]\n      tz: Europe/Paris\n      catch_up: true\n",
            {{"deploy", kRecordVersion}}) +
      w.Env("prod", "      schedule: [ \"0 3 * * *\" ]\n", {{"deploy", kRecordVersion}}));
  Api api(w.port_, w.Token("viewer", "watcher"));
  {
    // The first start only records when schedules were last looked at.
    Serve serve(w.tmp_.path(), cfg);
    ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
    json env = api.GetJson("/api/v1/environments/staging");
    EXPECT_GT(env["triggers"]["next_schedule_ms"].get<int64_t>(), 0) << env.dump(2);
    serve.Signal(SIGTERM);
    ASSERT_EQ(serve.Wait(20000), 0) << serve.Log();
  }
  EXPECT_TRUE(api.Runs("staging").empty());
  // Pretend the engine was down for two days: 03:00 passed at least once.
  auto r = slipway::testing::Run({"sqlite3", w.tmp_.Sub("state/slipway.db"),
                                  "UPDATE environment_state SET schedule_ms = schedule_ms - 172800000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Serve again(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << again.Log();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto runs = api.Runs("staging");
        return runs.size() == 1 && runs[0]["status"] == "succeeded";
      },
      40000))
      << again.Log();
  json run = api.Runs("staging")[0];
  EXPECT_EQ(run["trigger"], "schedule");
  EXPECT_EQ(run["actor"], "schedule (catch-up)");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(api.Runs("staging").size(), 1u) << "caught up once";
  EXPECT_TRUE(api.Runs("prod").empty()) << "without catch_up, a missed schedule is skipped";
}

}  // namespace
}  // namespace slipway
