// End-to-end: the daemon across crashes, reloads and shutdowns, and a
// rollback that holds (issue 5).
#include <gtest/gtest.h>

#include <algorithm>

#include "e2e/daemon_fixture.h"
#include "util/fs.h"

namespace slipway {
namespace {

using namespace daemon_testing;

int64_t Trigger(const Api& api, const std::string& env, bool* coalesced = nullptr) {
  auto r = api.Post("/api/v1/environments/" + env + "/trigger");
  if (!r || r->status != 202) {
    ADD_FAILURE() << "trigger " << env << ": " << (r ? r->body : "no answer");
    return 0;
  }
  json j = json::parse(r->body);
  if (coalesced != nullptr) *coalesced = j["coalesced"].get<bool>();
  return j["run_id"].get<int64_t>();
}

TEST(DaemonLifecycleE2E, KillDashNineDuringARunThenRestartInterruptsItAndRunsTheQueue) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.Pin("prod", "v1.0.0");
  w.PushSettings("pins");
  std::string cfg = w.WriteConfig(w.Env("staging", "", {{"wait", kWaitForGate}, {"deploy", kRecordVersion}}) +
                                      w.Env("prod", "", {{"deploy", kRecordVersion}}),
                                  "", "max_parallel: 1\n");
  Api api(w.port_, w.Token("operator", "ops"));
  int64_t running = 0, queued_same = 0, queued_other = 0;
  {
    Serve serve(w.tmp_.path(), cfg);
    ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
    running = Trigger(api, "staging");
    ASSERT_TRUE(WaitFor([&] { return api.Run(running)["status"] == "running"; }, 30000)) << serve.Log();
    bool coalesced = true;
    queued_same = Trigger(api, "staging", &coalesced);
    EXPECT_FALSE(coalesced);
    EXPECT_NE(queued_same, running);
    queued_other = Trigger(api, "prod");  // max_parallel 1: waits too
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(api.Run(queued_other)["status"], "queued");
    serve.Signal(SIGKILL);
    EXPECT_EQ(serve.Wait(10000), 128 + SIGKILL);
  }
  // The orphaned step of the killed engine ends once the gate opens; the
  // restarted engine must not wait for it.
  w.OpenGate("staging");
  Serve again(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << again.Log();
  json interrupted = api.Run(running);
  EXPECT_EQ(interrupted["status"], "interrupted") << interrupted.dump(2);
  EXPECT_NE(interrupted["error"].get<std::string>().find("engine stopped"), std::string::npos) << interrupted.dump(2);
  EXPECT_EQ(api.WaitFinal(queued_same, 40000), "succeeded") << again.Log();
  EXPECT_EQ(api.WaitFinal(queued_other, 40000), "succeeded") << again.Log();
  EXPECT_NE(again.Log().find("interrupted"), std::string::npos);
}

TEST(DaemonLifecycleE2E, RollbackHoldsAgainstALaterPushUntilResume) {
  World w;
  w.Pin("staging", "v1.0.0");
  std::string s1 = w.PushSettings("staging on v1.0.0");
  std::string cfg = w.WriteConfig(w.Env("staging", "      push: { poll: 1s }\n", {{"deploy", kRecordVersion}}));
  Api api(w.port_, w.Token("operator", "ops"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = api.Runs("staging");
        return r.size() == 1 && r[0]["status"] == "succeeded";
      },
      40000))
      << serve.Log();
  int64_t first = api.Runs("staging")[0]["id"];

  w.Pin("staging", "v1.1.0");
  std::string s2 = w.PushSettings("staging on v1.1.0");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = api.Runs("staging");
        return r.size() == 2 && r[0]["status"] == "succeeded";
      },
      40000))
      << serve.Log();
  EXPECT_EQ(api.Runs("staging")[0]["code_commit"], w.v11_);

  // Roll back (default: the deployment before the current one).
  auto rb = api.Post("/api/v1/environments/staging/rollback");
  ASSERT_TRUE(rb);
  ASSERT_EQ(rb->status, 202) << rb->body;
  json answer = json::parse(rb->body);
  EXPECT_EQ(answer["held_run_id"], first);
  int64_t rollback = answer["run_id"];
  ASSERT_EQ(api.WaitFinal(rollback, 40000), "succeeded") << serve.Log();
  json run = api.Run(rollback);
  EXPECT_EQ(run["trigger"], "rollback");
  EXPECT_EQ(run["settings_commit"], s1);
  EXPECT_EQ(run["code_commit"], w.v1_);
  json env = api.GetJson("/api/v1/environments/staging");
  EXPECT_EQ(env["state"], "held at run " + std::to_string(first)) << env.dump(2);
  EXPECT_EQ(env["deployed"]["run_id"], rollback);

  // A later push inside the folder starts nothing while held...
  w.settings_->Write("environments/staging/extra.yaml", "x: 1\n");
  std::string s3 = w.PushSettings("more settings");
  std::this_thread::sleep_for(std::chrono::milliseconds(4000));
  EXPECT_EQ(api.Runs("staging").size(), 3u) << serve.Log();
  // ...and neither does a manual trigger.
  auto manual = api.Post("/api/v1/environments/staging/trigger");
  ASSERT_TRUE(manual);
  EXPECT_EQ(manual->status, 409) << manual->body;
  EXPECT_NE(json::parse(manual->body)["message"].get<std::string>().find("resume"), std::string::npos);

  // Resume: the environment converges to the head again.
  auto resumed = api.Post("/api/v1/environments/staging/resume");
  ASSERT_TRUE(resumed);
  ASSERT_EQ(resumed->status, 200) << resumed->body;
  EXPECT_EQ(json::parse(resumed->body)["state"], "idle");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = api.Runs("staging");
        return r.size() == 4 && r[0]["status"] == "succeeded";
      },
      40000))
      << serve.Log();
  json last = api.Runs("staging")[0];
  EXPECT_EQ(last["settings_commit"], s3);
  EXPECT_EQ(last["code_commit"], w.v11_);
}

TEST(DaemonLifecycleE2E, SighupWithABrokenConfigKeepsTheOldOne) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.Pin("prod", "v1.0.0");
  w.PushSettings("pins");
  std::string good = w.Env("staging", "", {{"deploy", kRecordVersion}});
  std::string cfg = w.WriteConfig(good);
  Api api(w.port_, w.Token("admin", "root"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  slipway::testing::WriteTextFile(cfg, slipway::testing::ReadTextFile(cfg) + "  broken: [\n");
  serve.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return serve.Log().find("reload refused") != std::string::npos; }, 10000)) << serve.Log();
  // Still serving on the old config.
  EXPECT_TRUE(api.Healthy());
  EXPECT_EQ(api.WaitFinal(Trigger(api, "staging"), 40000), "succeeded") << serve.Log();
  // The API says the same.
  auto reload = api.Post("/api/v1/reload");
  ASSERT_TRUE(reload);
  EXPECT_EQ(reload->status, 400) << reload->body;
  EXPECT_NE(json::parse(reload->body)["message"].get<std::string>().find("slipway.yaml:"), std::string::npos)
      << reload->body;

  // A good file adds an environment.
  w.WriteConfig(good + w.Env("prod", "", {{"deploy", kRecordVersion}}));
  serve.Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return api.GetJson("/api/v1/environments/prod").is_object(); }, 10000)) << serve.Log();
  EXPECT_EQ(api.WaitFinal(Trigger(api, "prod"), 40000), "succeeded") << serve.Log();
}

// cpp-httplib binds with SO_REUSEPORT by default: a second daemon on the
// port of a running one started without a word and took half its requests.
TEST(DaemonLifecycleE2E, ASecondDaemonOnTheSamePortRefusesToStart) {
  World first;
  first.Pin("staging", "v1.0.0");
  first.PushSettings("pins");
  Serve serve(first.tmp_.path(), first.WriteConfig(first.Env("staging", "", {{"deploy", kRecordVersion}})));
  Api api(first.port_, first.Token("viewer", "v"));
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  World second;  // its own state directory, the first one's port
  second.port_ = first.port_;
  second.Pin("staging", "v1.0.0");
  second.PushSettings("pins");
  Serve other(second.tmp_.path(), second.WriteConfig(second.Env("staging", "", {{"deploy", kRecordVersion}})));
  EXPECT_EQ(other.Wait(15000), 1) << other.Log();
  EXPECT_NE(other.Log().find("cannot bind (is another 'slipway serve' or program using that port?)"), std::string::npos)
      << other.Log();
  EXPECT_TRUE(api.Healthy());
}

// keep_workspaces: 1. A run's end moves the workspaces before it to the
// trash, which the daemon empties in the background.
TEST(DaemonLifecycleE2E, OnlyTheLastWorkspaceStaysAndTheOldOnesAreDeleted) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("pins");
  std::string cfg = w.WriteConfig(w.Env("staging", "", {{"deploy", kRecordVersion}}), "", "keep_workspaces: 1\n");
  Api api(w.port_, w.Token("operator", "ops"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  int64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    last = Trigger(api, "staging");
    ASSERT_EQ(api.WaitFinal(last, 30000), "succeeded") << serve.Log();
  }
  auto entries = [&](const std::string& dir) {
    std::vector<std::string> kept;
    Result<std::vector<std::string>> names = ListDir(w.tmp_.Sub(dir));
    for (const std::string& n : names.ok() ? *names : std::vector<std::string>{}) {
      if (n.rfind(".spare-", 0) != 0) kept.push_back(n);  // the checkout made ahead (doc/git.md)
    }
    std::sort(kept.begin(), kept.end());
    return kept;
  };
  EXPECT_EQ(entries("state/workspaces/staging"), std::vector<std::string>{std::to_string(last)});
  EXPECT_TRUE(WaitFor([&] { return entries("state/trash").empty(); }, 20000)) << "the trash is emptied";
}

TEST(DaemonLifecycleE2E, SigtermLetsAStepFinishWithinTheGraceThenCancels) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("pins");
  std::string cfg = w.WriteConfig(w.Env("staging", "", {{"wait", kWaitForGate}, {"deploy", kRecordVersion}}));
  Api api(w.port_, w.Token("operator", "ops"));
  {
    // Within the grace: the run finishes and records success.
    Serve serve(w.tmp_.path(), cfg, {"--grace", "20s"});
    ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
    int64_t id = Trigger(api, "staging");
    ASSERT_TRUE(WaitFor([&] { return api.Run(id)["status"] == "running"; }, 30000));
    serve.Signal(SIGTERM);
    ASSERT_TRUE(WaitFor([&] { return !api.Healthy(); }, 5000)) << "SIGTERM stops accepting requests";
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(serve.Wait(0), -1) << "the engine waits for the running step";
    w.OpenGate("staging");
    EXPECT_EQ(serve.Wait(20000), 0) << serve.Log();
  }
  w.CloseGate("staging");
  {
    // Past the grace: the step is cancelled and the run says so.
    Serve serve(w.tmp_.path(), cfg, {"--grace", "1s"});
    ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
    json runs = api.GetJson("/api/v1/runs?environment=staging");
    ASSERT_EQ(runs["runs"][0]["status"], "succeeded");
    int64_t id = Trigger(api, "staging");
    ASSERT_TRUE(WaitFor([&] { return api.Run(id)["steps"][0]["status"] == "running"; }, 30000));
    int64_t start = SteadyMs();
    serve.Signal(SIGTERM);
    EXPECT_EQ(serve.Wait(30000), 0) << serve.Log();
    EXPECT_LT(SteadyMs() - start, 15000);
  }
  // The store is consistent: the run is cancelled, nothing is left running.
  Serve after(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << after.Log();
  auto runs = api.Runs("staging");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["status"], "cancelled") << runs[0].dump(2);
  EXPECT_EQ(after.Log().find("left running"), std::string::npos) << after.Log();
}

}  // namespace
}  // namespace slipway
