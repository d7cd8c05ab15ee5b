// End-to-end: the HTTP API of `slipway serve` — roles, errors, paging, live
// logs — and the CLI commands that talk to it (issue 5).
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "e2e/daemon_fixture.h"

namespace slipway {
namespace {

using namespace daemon_testing;

class DaemonApiE2E : public ::testing::Test {
 protected:
  void Start(const std::vector<std::pair<std::string, std::string>>& steps) {
    w_.Pin("staging", "v1.0.0");
    w_.PushSettings("staging on v1.0.0");
    cfg_ = w_.WriteConfig(w_.Env("staging", "", steps));
    viewer_ = w_.Token("viewer", "viewer-bot");
    operator_ = w_.Token("operator", "ops");
    admin_ = w_.Token("admin", "root");
    serve_ = std::make_unique<Serve>(w_.tmp_.path(), cfg_);
    api_ = std::make_unique<Api>(w_.port_, operator_);
    ASSERT_TRUE(WaitFor([&] { return api_->Healthy(); }, 15000)) << serve_->Log();
  }

  World w_;
  std::string cfg_, viewer_, operator_, admin_;
  std::unique_ptr<Serve> serve_;
  std::unique_ptr<Api> api_;
};

TEST_F(DaemonApiE2E, RolesAllowWhatTheyShouldAndNothingMore) {
  Start({{"deploy", kRecordVersion}});
  struct Case {
    std::string method, path;
    int none, bad, viewer, op, admin;  // expected status per credential
  };
  const std::string env = "/api/v1/environments/staging";
  std::vector<Case> cases = {
      {"GET", "/healthz", 200, 200, 200, 200, 200},
      {"GET", "/metrics", 200, 200, 200, 200, 200},
      {"GET", "/api/v1/environments", 401, 401, 200, 200, 200},
      {"GET", env, 401, 401, 200, 200, 200},
      {"GET", "/api/v1/runs", 401, 401, 200, 200, 200},
      {"POST", env + "/pause", 401, 401, 403, 200, 200},
      {"POST", env + "/resume", 401, 401, 403, 200, 200},
      {"POST", env + "/trigger", 401, 401, 403, 202, 202},
      {"GET", "/api/v1/tokens", 401, 401, 403, 403, 200},
      {"POST", "/api/v1/reload", 401, 401, 403, 403, 200},
  };
  for (const Case& c : cases) {
    std::vector<std::pair<std::string, int>> who = {
        {"", c.none}, {"slw_not-a-real-token", c.bad}, {viewer_, c.viewer}, {operator_, c.op}, {admin_, c.admin}};
    for (const auto& [token, want] : who) {
      SCOPED_TRACE(c.method + " " + c.path + " as " + (token.empty() ? "nobody" : token.substr(0, 8)));
      auto r = c.method == "GET" ? api_->GetAs(token, c.path) : api_->PostAs(token, c.path);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, want) << r->body;
      if (r->status >= 400) {
        json e = json::parse(r->body, nullptr, false);
        ASSERT_TRUE(e.is_object()) << r->body;
        EXPECT_TRUE(e["error"].is_string());
        EXPECT_TRUE(e["message"].is_string());
      }
    }
  }
  // The runs record who acted. The admin's trigger makes a second run only
  // when the operator's run has already started; while it is still queued
  // the trigger rightly joins it, leaving one run.
  auto runs = api_->Runs("staging");
  ASSERT_FALSE(runs.empty());
  std::set<std::string> actors;
  for (const auto& r : runs) actors.insert(r["actor"]);
  EXPECT_TRUE(actors.count("ops")) << "an admin's trigger may have joined the operator's queued run";
  for (const auto& a : actors) EXPECT_TRUE(a == "ops" || a == "root") << a;

  // Admins create tokens over the API too; the secret is shown once.
  auto created = api_->PostAs(admin_, "/api/v1/tokens", R"({"role":"viewer","name":"dash"})");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  std::string dash = json::parse(created->body)["token"];
  EXPECT_EQ(api_->GetAs(dash, "/api/v1/environments")->status, 200);
  auto list = api_->GetAs(admin_, "/api/v1/tokens");
  EXPECT_EQ(list->body.find(dash), std::string::npos) << "token secrets are never listed";
}

TEST_F(DaemonApiE2E, ErrorsAreJsonWithTheRightStatus) {
  Start({{"deploy", kRecordVersion}});
  struct Case {
    std::string method, path, body;
    int status;
    std::string error;
  };
  std::vector<Case> cases = {
      {"GET", "/api/v1/environments/nope", "", 404, "not_found"},
      {"POST", "/api/v1/environments/stagin/trigger", "{}", 404, "not_found"},
      {"GET", "/api/v1/runs/424242", "", 404, "not_found"},
      {"GET", "/api/v1/runs?status=done", "", 400, "bad_request"},
      {"GET", "/api/v1/runs?limit=x", "", 400, "bad_request"},
      {"POST", "/api/v1/environments/staging/trigger", "[1,2]", 400, "bad_request"},
      {"POST", "/api/v1/environments/staging/trigger", R"({"ref":"-x"})", 400, "bad_request"},
      {"POST", "/api/v1/environments/staging/rollback", "{}", 409, "conflict"},
      {"GET", "/api/v2/whatever", "", 404, "not_found"},
      {"POST", "/hooks/bitbucket", "{}", 404, "not_found"},
      {"POST", "/hooks/github", "{}", 404, "not_found"},  // not configured
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path);
    auto r = c.method == "GET" ? api_->Get(c.path) : api_->Post(c.path, c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << r->body;
    json e = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << r->body;
    EXPECT_EQ(e["error"], c.error) << r->body;
    EXPECT_FALSE(e["message"].get<std::string>().empty());
  }
  auto hint = api_->Post("/api/v1/environments/stagin/trigger");
  EXPECT_NE(hint->body.find("did you mean 'staging'"), std::string::npos) << hint->body;
}

TEST_F(DaemonApiE2E, RunsPageNewestFirstAndQueuedRunsCancel) {
  Start({{"wait", kWaitForGate}, {"deploy", kRecordVersion}});
  auto trigger = [&] {
    auto r = api_->Post("/api/v1/environments/staging/trigger");
    EXPECT_EQ(r->status, 202) << r->body;
    return json::parse(r->body);
  };
  int64_t first = trigger()["run_id"];
  ASSERT_TRUE(WaitFor([&] { return api_->Run(first)["steps"][0]["status"] == "running"; }, 30000)) << serve_->Log();
  json second = trigger();
  json third = trigger();
  EXPECT_FALSE(second["coalesced"].get<bool>());
  EXPECT_TRUE(third["coalesced"].get<bool>()) << "a trigger while one is queued joins it";
  EXPECT_EQ(third["run_id"], second["run_id"]);
  int64_t queued = second["run_id"];

  auto cancel = api_->Post("/api/v1/runs/" + std::to_string(queued) + "/cancel");
  ASSERT_EQ(cancel->status, 202) << cancel->body;
  EXPECT_EQ(api_->Run(queued)["status"], "cancelled");
  auto twice = api_->Post("/api/v1/runs/" + std::to_string(queued) + "/cancel");
  EXPECT_EQ(twice->status, 409) << twice->body;

  auto stop = api_->Post("/api/v1/runs/" + std::to_string(first) + "/cancel");
  ASSERT_EQ(stop->status, 202) << stop->body;
  EXPECT_EQ(api_->WaitFinal(first, 30000), "cancelled");
  json run = api_->Run(first);
  EXPECT_EQ(run["steps"][0]["status"], "cancelled");
  EXPECT_EQ(run["steps"][1]["status"], "skipped");

  w_.OpenGate("staging");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(api_->WaitFinal(trigger()["run_id"], 30000), "succeeded");
  // 5 runs: page by 2.
  json page = api_->GetJson("/api/v1/runs?limit=2");
  ASSERT_EQ(page["runs"].size(), 2u);
  int64_t a = page["runs"][0]["id"], b = page["runs"][1]["id"];
  EXPECT_GT(a, b);
  json next = api_->GetJson(page["next"].get<std::string>());
  ASSERT_EQ(next["runs"].size(), 2u);
  EXPECT_LT(next["runs"][0]["id"].get<int64_t>(), b);
  json last = api_->GetJson(next["next"].get<std::string>());
  ASSERT_EQ(last["runs"].size(), 1u);
  EXPECT_TRUE(last["next"].is_null());
  json cancelled = api_->GetJson("/api/v1/runs?status=cancelled");
  EXPECT_EQ(cancelled["runs"].size(), 2u);
}

TEST_F(DaemonApiE2E, FollowingALogStreamsLinesWhileTheStepPrintsThem) {
  Start({{"talk", "for i in 1 2 3 4 5; do echo line-$i; sleep 0.2; done; " + std::string(kWaitForGate) +
                      "; echo after-the-gate"}});
  auto r = api_->Post("/api/v1/environments/staging/trigger");
  ASSERT_EQ(r->status, 202);
  int64_t id = json::parse(r->body)["run_id"];

  std::atomic<bool> saw_line5{false}, saw_end{false};
  std::string received, run_when_line5;
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", w_.port_);
    c.set_read_timeout(60, 0);
    httplib::Headers h = {{"Authorization", "Bearer " + viewer_}, {"Accept", "text/event-stream"}};
    c.Get("/api/v1/runs/" + std::to_string(id) + "/log", h, [&](const char* data, size_t n) {
      received.append(data, n);
      if (!saw_line5 && received.find("data: ") != std::string::npos && received.find("line-5") != std::string::npos) {
        run_when_line5 = api_->Run(id).dump();
        // Last: the test goes on as soon as it sees this.
        saw_line5 = true;
      }
      if (received.find("event: end") != std::string::npos) saw_end = true;
      return true;
    });
  });
  ASSERT_TRUE(WaitFor([&] { return saw_line5.load(); }, 30000)) << received << serve_->Log();
  EXPECT_EQ(json::parse(run_when_line5)["status"], "running")
      << "lines arrive while the step still runs: " << run_when_line5;
  EXPECT_FALSE(saw_end);
  w_.OpenGate("staging");
  ASSERT_TRUE(WaitFor([&] { return saw_end.load(); }, 30000)) << received;
  reader.join();
  EXPECT_NE(received.find("after-the-gate"), std::string::npos);
  EXPECT_NE(received.find("event: end\ndata: succeeded"), std::string::npos) << received;

  // The whole log, and the log from a byte offset (an event id).
  auto whole = api_->Get("/api/v1/runs/" + std::to_string(id) + "/log");
  ASSERT_EQ(whole->status, 200);
  EXPECT_NE(whole->body.find("line-1"), std::string::npos);
  size_t at = whole->body.find("line-3");
  ASSERT_NE(at, std::string::npos);
  size_t line_start = whole->body.rfind('\n', at) + 1;
  auto tail = api_->Get("/api/v1/runs/" + std::to_string(id) + "/log?offset=" + std::to_string(line_start));
  ASSERT_EQ(tail->status, 200);
  EXPECT_EQ(tail->body, whole->body.substr(line_start));
  // Following from an offset replays from there and ends at once (the run is over).
  httplib::Client c("127.0.0.1", w_.port_);
  auto replay = c.Get("/api/v1/runs/" + std::to_string(id) + "/log?follow=1&offset=" + std::to_string(line_start),
                      {{"Authorization", "Bearer " + viewer_}});
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_EQ(replay->body.find("line-2"), std::string::npos);
  EXPECT_NE(replay->body.find("line-3"), std::string::npos);
}

// A follower of a running run is paced (server/follow_pacer.h); one behind a
// step that prints faster must still get every line once, in order, and the
// end of the run.
TEST_F(DaemonApiE2E, AFollowerBehindAStepPrintingFastGetsEveryLineOnceAndTheEnd) {
  constexpr int kLines = 300000;  // ~30 MB of log: several seconds at the live pace
  Start({{"flood", "seq -f 'line-%07g-padding-padding-padding-padding-padding' 1 " + std::to_string(kLines) + "; " +
                       std::string(kWaitForGate) + "; echo after-the-gate"}});
  auto r = api_->Post("/api/v1/environments/staging/trigger");
  ASSERT_EQ(r->status, 202);
  int64_t id = json::parse(r->body)["run_id"];

  std::atomic<bool> live{false}, saw_end{false};
  std::string received;
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", w_.port_);
    c.set_read_timeout(120, 0);
    httplib::Headers h = {{"Authorization", "Bearer " + viewer_}};
    c.Get("/api/v1/runs/" + std::to_string(id) + "/log?follow=1", h, [&](const char* data, size_t n) {
      received.append(data, n);
      if (received.find("| line-") != std::string::npos) live = true;
      if (received.find("event: end") != std::string::npos) saw_end = true;
      return true;
    });
  });
  ASSERT_TRUE(WaitFor([&] { return live.load(); }, 30000)) << serve_->Log();
  w_.OpenGate("staging");
  ASSERT_TRUE(WaitFor([&] { return saw_end.load(); }, 120000)) << received.size() << " bytes received";
  reader.join();

  int next = 1;
  size_t pos = 0;
  while ((pos = received.find("| line-", pos)) != std::string::npos) {
    int n = std::stoi(received.substr(pos + 7, 7));
    ASSERT_EQ(n, next) << "line " << next << " missing or repeated";
    ++next;
    pos += 7;
  }
  EXPECT_EQ(next, kLines + 1);
  EXPECT_NE(received.find("after-the-gate"), std::string::npos);
  EXPECT_NE(received.find("event: end\ndata: succeeded"), std::string::npos);
}

TEST_F(DaemonApiE2E, CliCommandsTalkToTheDaemon) {
  Start({{"wait", kWaitForGate}, {"deploy", kRecordVersion}});
  std::map<std::string, std::string> env = {{"SLIPWAY_TOKEN", operator_}};
  const std::string dir = w_.tmp_.path();
  using slipway::testing::Slipway;

  // The address comes from server.listen of ./slipway.yaml.
  auto t = Slipway({"trigger", "staging"}, dir, env);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("queued run 1 of 'staging'"), std::string::npos) << t.out;
  ASSERT_TRUE(WaitFor([&] { return api_->Run(1)["status"] == "running"; }, 30000));
  auto joined = Slipway({"trigger", "staging", "--server", "http://127.0.0.1:" + std::to_string(w_.port_)}, "/", env);
  ASSERT_EQ(joined.exit_code, 0) << joined.err;
  auto again = Slipway({"trigger", "staging"}, dir, env);
  EXPECT_NE(again.out.find("was already queued"), std::string::npos) << again.out;

  auto cancel = Slipway({"cancel", "2"}, dir, env);
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(api_->Run(2)["status"], "cancelled");

  auto pause = Slipway({"pause", "staging"}, dir, env);
  EXPECT_EQ(pause.exit_code, 0) << pause.err;
  EXPECT_NE(pause.out.find("paused"), std::string::npos) << pause.out;
  auto resume = Slipway({"resume", "staging"}, dir, env);
  EXPECT_EQ(resume.exit_code, 0) << resume.err;

  w_.OpenGate("staging");
  auto wait = Slipway({"trigger", "staging", "--wait"}, dir, env);
  EXPECT_EQ(wait.exit_code, 0) << wait.err;
  auto rollback = Slipway({"rollback", "staging"}, dir, env);
  EXPECT_EQ(rollback.exit_code, 1) << "runs 1 and 3 deployed the same commits: nothing to roll back to";
  EXPECT_NE(rollback.err.find("--to"), std::string::npos) << rollback.err;
  auto to = Slipway({"rollback", "staging", "--to", "1", "--wait"}, dir, env);
  EXPECT_EQ(to.exit_code, 0) << to.err;
  EXPECT_NE(to.out.find("held there"), std::string::npos) << to.out;

  // Errors: a viewer cannot act; no token; no daemon.
  auto viewer = Slipway({"trigger", "staging"}, dir, {{"SLIPWAY_TOKEN", viewer_}});
  EXPECT_EQ(viewer.exit_code, 1);
  EXPECT_NE(viewer.err.find("operator"), std::string::npos) << viewer.err;
  auto nobody = Slipway({"trigger", "staging"}, dir, {{"SLIPWAY_TOKEN", ""}});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_NE(nobody.err.find("SLIPWAY_TOKEN"), std::string::npos) << nobody.err;
  auto down = Slipway({"trigger", "staging", "--server", "http://127.0.0.1:1"}, dir, env);
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("cannot reach the slipway daemon"), std::string::npos) << down.err;
}

}  // namespace
}  // namespace slipway
