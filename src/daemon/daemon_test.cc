// Unit tests of the daemon's bookkeeping that need no git and no running
// threads: config checks, the queue (triggers, coalescing, cancel), pause and
// hold rules, rollback targets. The running engine is tested end to end in
// tests/e2e/daemon_*_test.cc.
#include "daemon/daemon.h"

#include <gtest/gtest.h>

#include "store/store_test.h"
#include "testing/testing.h"
#include "util/fs.h"

namespace slipway {
namespace {

using slipway::testing::TempDir;

Config MakeConfig(const TempDir& dir, const std::string& triggers = "") {
  std::string text =
      "state_dir: state\n"
      "environments:\n"
      "  staging:\n"
      "    code: { url: /nonexistent/code.git, ref: v1 }\n" +
      triggers +
      "  prod:\n"
      "    code: { url: /nonexistent/code.git, ref: v1 }\n";
  Result<Config> config = ParseConfig(text, dir.Sub("slipway.yaml"));
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return config.ok() ? *config : Config{};
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(MakeDirs(dir_.Sub("state")));
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(dir_.Sub("state/slipway.db"));
    ASSERT_OK(store.status());
    store_ = store->get();
    daemon_ = std::make_unique<Daemon>(MakeConfig(dir_), std::move(store).value());
  }

  // A finished deploy run of env with the given commits.
  int64_t Deployed(const std::string& env, const std::string& code_commit, RunStatus status = RunStatus::kSucceeded) {
    RunRecord run;
    run.environment = env;
    run.trigger = "manual";
    run.status = RunStatus::kRunning;
    run.code_url = "/nonexistent/code.git";
    run.code_ref = "v1";
    run.code_commit = code_commit;
    Result<int64_t> id = store_->CreateRun(run);
    EXPECT_TRUE(id.ok());
    run.id = *id;
    run.status = status;
    run.finished_ms = 1;
    EXPECT_OK(store_->FinishRun(run, true));
    return run.id;
  }

  TempDir dir_;
  Store* store_ = nullptr;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonTest, TriggersWhileOneIsQueuedJoinIt) {
  TriggerRequest request;
  request.environment = "staging";
  request.actor = "ops";
  ASSERT_OK_AND_ASSIGN(TriggerResult first, daemon_->Trigger(request));
  EXPECT_FALSE(first.coalesced);
  request.trigger = "push";
  ASSERT_OK_AND_ASSIGN(TriggerResult second, daemon_->Trigger(request));
  EXPECT_TRUE(second.coalesced);
  EXPECT_EQ(second.run_id, first.run_id);
  // A requested ref is another run.
  request.ref = "v2";
  ASSERT_OK_AND_ASSIGN(TriggerResult with_ref, daemon_->Trigger(request));
  EXPECT_FALSE(with_ref.coalesced);
  // Another environment too.
  request.environment = "prod";
  request.ref = "";
  ASSERT_OK_AND_ASSIGN(TriggerResult prod, daemon_->Trigger(request));
  EXPECT_FALSE(prod.coalesced);
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> queued, store_->QueuedRuns());
  EXPECT_EQ(queued.size(), 3u);
}

TEST_F(DaemonTest, UnknownEnvironmentAndBadRefAreRefused) {
  TriggerRequest request;
  request.environment = "stagin";
  Result<TriggerResult> r = daemon_->Trigger(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("did you mean 'staging'"), std::string::npos) << r.status().ToString();
  request.environment = "staging";
  request.ref = "--upload-pack=x";
  EXPECT_EQ(daemon_->Trigger(request).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(DaemonTest, QueuedRunsCancelAtOnceAndOnlyOnce) {
  TriggerRequest request;
  request.environment = "staging";
  ASSERT_OK_AND_ASSIGN(TriggerResult r, daemon_->Trigger(request));
  ASSERT_OK(daemon_->Cancel(r.run_id, "ops"));
  ASSERT_OK_AND_ASSIGN(RunRecord run, store_->GetRun(r.run_id));
  EXPECT_EQ(run.status, RunStatus::kCancelled);
  EXPECT_EQ(run.error, "cancelled while queued by ops");
  Status again = daemon_->Cancel(r.run_id, "ops");
  EXPECT_EQ(again.code(), StatusCode::kFailed);
  EXPECT_NE(again.message().find("already finished"), std::string::npos);
  EXPECT_EQ(daemon_->Cancel(9999, "ops").code(), StatusCode::kNotFound);
  // After a cancel, a trigger queues a new run.
  ASSERT_OK_AND_ASSIGN(TriggerResult next, daemon_->Trigger(request));
  EXPECT_FALSE(next.coalesced);
  EXPECT_NE(next.run_id, r.run_id);
}

TEST_F(DaemonTest, PauseStopsAutomaticTriggersOnly) {
  ASSERT_OK(daemon_->Pause("staging", "ops"));
  for (const char* automatic : {"push", "webhook", "schedule"}) {
    TriggerRequest request;
    request.environment = "staging";
    request.trigger = automatic;
    Result<TriggerResult> r = daemon_->Trigger(request);
    ASSERT_FALSE(r.ok()) << automatic;
    EXPECT_EQ(r.status().code(), StatusCode::kFailed);
    EXPECT_NE(r.status().message().find("paused"), std::string::npos);
  }
  TriggerRequest manual;
  manual.environment = "staging";
  EXPECT_OK(daemon_->Trigger(manual).status());
  ASSERT_OK_AND_ASSIGN(EnvironmentView view, daemon_->Environment("staging"));
  EXPECT_TRUE(view.paused);
  EXPECT_EQ(view.state, "paused");
  EXPECT_EQ(view.paused_by, "ops");
  ASSERT_OK(daemon_->Resume("staging", "ops"));
  TriggerRequest push;
  push.environment = "staging";
  push.trigger = "push";
  EXPECT_OK(daemon_->Trigger(push).status());
}

TEST_F(DaemonTest, RollbackNeedsAnEarlierDifferentDeployment) {
  Result<TriggerResult> none = daemon_->Rollback("staging", 0, "ops");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kFailed);
  EXPECT_NE(none.status().message().find("never deployed"), std::string::npos);

  int64_t a = Deployed("staging", std::string(40, 'a'));
  int64_t a_again = Deployed("staging", std::string(40, 'a'));
  (void)a_again;
  Result<TriggerResult> same = daemon_->Rollback("staging", 0, "ops");
  ASSERT_FALSE(same.ok());
  EXPECT_NE(same.status().message().find("--to RUN"), std::string::npos) << same.status().ToString();

  int64_t failed = Deployed("staging", std::string(40, 'f'), RunStatus::kFailed);
  int64_t b = Deployed("staging", std::string(40, 'b'));
  int64_t prod = Deployed("prod", std::string(40, 'p'));
  EXPECT_EQ(daemon_->Rollback("staging", failed, "ops").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(daemon_->Rollback("staging", prod, "ops").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(daemon_->Rollback("staging", 4242, "ops").status().code(), StatusCode::kNotFound);
  (void)b;

  // A queued floating run is superseded by the rollback.
  TriggerRequest request;
  request.environment = "staging";
  ASSERT_OK_AND_ASSIGN(TriggerResult queued, daemon_->Trigger(request));
  ASSERT_OK_AND_ASSIGN(TriggerResult rb, daemon_->Rollback("staging", 0, "ops"));
  ASSERT_OK_AND_ASSIGN(RunRecord superseded, store_->GetRun(queued.run_id));
  EXPECT_EQ(superseded.status, RunStatus::kCancelled);
  ASSERT_OK_AND_ASSIGN(RunRecord run, store_->GetRun(rb.run_id));
  EXPECT_EQ(run.trigger, "rollback");
  EXPECT_EQ(run.code_commit, std::string(40, 'a'));  // the newest different one before b
  EXPECT_EQ(run.status, RunStatus::kQueued);
  ASSERT_OK_AND_ASSIGN(EnvironmentView view, daemon_->Environment("staging"));
  EXPECT_EQ(view.held_run_id, a_again);
  EXPECT_EQ(view.state, "held at run " + std::to_string(a_again));
  (void)a;

  // While held: manual triggers are refused (resume first), automatic ones too.
  Result<TriggerResult> manual = daemon_->Trigger(request);
  ASSERT_FALSE(manual.ok());
  EXPECT_NE(manual.status().message().find("slipway resume staging"), std::string::npos);
  request.trigger = "push";
  EXPECT_FALSE(daemon_->Trigger(request).ok());
  ASSERT_OK(daemon_->Resume("staging", "ops"));
  EXPECT_OK(daemon_->Trigger(request).status());
}

TEST(CheckDaemonConfigTest, BadCronAndTimeZoneAreReportedWithTheirPosition) {
  TempDir dir;
  std::string text =
      "environments:\n"
      "  staging:\n"
      "    code: { url: /nonexistent/code.git, ref: v1 }\n"
      "    triggers:\n"
      "      schedule: [ \"61 * * * *\" ]\n"
      "      tz: Europe/Pariss\n";
  Result<Config> config = ParseConfig(text, dir.Sub("slipway.yaml"));
  ASSERT_OK(config.status());
  Status s = CheckDaemonConfig(*config);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("slipway.yaml:5:"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("minute '61'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("slipway.yaml:6:"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Europe/Pariss"), std::string::npos) << s.message();

  Result<Config> good = ParseConfig(
      "environments:\n  staging:\n    code: { url: /x/c.git, ref: v1 }\n    triggers:\n"
      "      schedule: [ \"@daily\", \"0 3 * * 1-5\" ]\n      tz: Europe/Paris\n",
      dir.Sub("slipway.yaml"));
  ASSERT_OK(good.status());
  EXPECT_OK(CheckDaemonConfig(*good));
}

}  // namespace
}  // namespace slipway
