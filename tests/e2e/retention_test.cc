// Log retention (log_retention_days) as a user meets it: `slipway serve`
// deletes an old run's log at start-up; `slipway logs RUN` and the API then
// answer one sentence instead of a file error, and the run's record stays.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "e2e/daemon_fixture.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/fs.h"

namespace slipway {
namespace {

using daemon_testing::Api;
using daemon_testing::json;
using daemon_testing::Serve;
using daemon_testing::WaitFor;
using daemon_testing::World;

TEST(RetentionE2E, AnOldRunsLogIsDeletedAndReadingItSaysWhy) {
  World world;
  std::string config = world.WriteConfig("  staging:\n    code:\n      url: " + world.CodeUrl() +
                                             "\n      ref: v1.0.0\n    steps:\n      - name: deploy\n"
                                             "        run: echo deployed\n",
                                         "", "log_retention_days: 30\n");
  std::string token = world.Token("viewer", "reader");
  // A run that finished 40 days ago, with its log, as an earlier engine left it.
  int64_t id = 0;
  std::string log_path;
  {
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(world.tmp_.Sub("state/slipway.db"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    int64_t finished = NowMs() - 40 * 24 * 3600'000LL;
    RunRecord run;
    run.environment = "staging";
    run.trigger = "manual";
    run.status = RunStatus::kRunning;
    run.started_ms = finished - 1'000;
    Result<int64_t> created = (*store)->CreateRun(run);
    ASSERT_TRUE(created.ok());
    run.id = id = *created;
    ASSERT_TRUE(MakeDirs(world.tmp_.Sub("state/logs/staging")).ok());
    run.log_path = log_path = world.tmp_.Sub("state/logs/staging/" + std::to_string(id) + ".log");
    ASSERT_TRUE(WriteFile(log_path, "deployed\n").ok());
    struct timespec times[2] = {{finished / 1000, 0}, {finished / 1000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, log_path.c_str(), times, 0), 0);
    run.status = RunStatus::kSucceeded;
    run.finished_ms = finished;
    ASSERT_TRUE((*store)->FinishRun(run, false).ok());
  }
  auto before = testing::Slipway({"logs", std::to_string(id), "-c", config}, world.tmp_.path());
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.out, "deployed\n");

  Serve serve(world.tmp_.path(), config);
  Api api(world.port_, token);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 30'000)) << serve.Log();
  ASSERT_TRUE(WaitFor([&] { return !PathExists(log_path); }, 20'000)) << serve.Log();
  EXPECT_NE(serve.Log().find("log retention: deleted the logs of 1 run(s)"), std::string::npos) << serve.Log();

  std::string sentence = "the log of run " + std::to_string(id) +
                         " was deleted after 30 days (log_retention_days); the run's record is kept";
  for (const char* query : {"", "?follow=1"}) {
    auto r = api.Get("/api/v1/runs/" + std::to_string(id) + "/log" + query);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 410) << query << ": " << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_EQ(j["error"], "gone");
    EXPECT_EQ(j["message"], sentence);
  }
  json run = api.Run(id);
  ASSERT_TRUE(run.is_object());
  EXPECT_EQ(run["status"], "succeeded");
  EXPECT_TRUE(run.contains("log_deleted_ms")) << run.dump();

  auto after = testing::Slipway({"logs", std::to_string(id), "-c", config}, world.tmp_.path());
  EXPECT_NE(after.exit_code, 0);
  EXPECT_NE(after.err.find(sentence), std::string::npos) << after.err;
  EXPECT_EQ(after.out, "");
  serve.Signal(SIGTERM);
  serve.Wait(30'000);
}

}  // namespace
}  // namespace slipway
