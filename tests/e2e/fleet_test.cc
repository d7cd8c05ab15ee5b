// Fleet mode end to end (issue 7; doc/fleet.md): three `slipway serve`
// processes on one real PostgreSQL (tests/testing/postgres.h).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "e2e/daemon_fixture.h"
#include "store/store.h"
#include "testing/postgres.h"

namespace slipway {
namespace {

using daemon_testing::Api;
using daemon_testing::json;
using daemon_testing::Serve;
using daemon_testing::SteadyMs;
using daemon_testing::WaitFor;
using daemon_testing::World;

constexpr int kNodes = 3;
constexpr int kEnvironments = 10;

// Each step takes an O_EXCL lock file per environment (`set -C`: the shell
// opens with O_CREAT|O_EXCL) in a directory shared by the nodes, and fails
// when it exists: two runs of one environment at once would fail a run.
constexpr const char* kExclusiveStep =
    "set -e; L=\"$LOCKS/$SLIPWAY_ENV\"; if ! (set -C; : > \"$L\") 2>/dev/null; then "
    "echo \"$SLIPWAY_ENV is already running elsewhere\"; exit 1; fi; "
    "echo \"$SLIPWAY_RUN_ID\" >> \"$LOCKS/$SLIPWAY_ENV.runs\"; sleep 0.05; rm -f \"$L\"";

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = testing::SharedPostgres(&why);
    if (server_ == nullptr) {
      if (testing::PostgresRequired()) FAIL() << why;
      GTEST_SKIP() << "no PostgreSQL server for the fleet tests: " << why;
    }
    url_ = testing::NewPostgresDatabaseUrl(&why);
    ASSERT_FALSE(url_.empty()) << why;
    locks_ = world_.tmp_.Sub("locks");
    ASSERT_EQ(::mkdir(locks_.c_str(), 0755), 0);
  }

  std::string Env(const std::string& name, const std::string& step, const std::string& triggers = "") const {
    std::string y = "  " + name + ":\n    code:\n      url: " + world_.CodeUrl() + "\n      ref: v1.0.0\n";
    y += "    env:\n      LOCKS: " + locks_ + "\n      GATE: " + world_.tmp_.Sub("gate-" + name) + "\n";
    if (!triggers.empty()) y += "    triggers:\n" + triggers;
    y += "    steps:\n      - name: deploy\n        run: " + json(step).dump() + "\n";
    return y;
  }

  // Writes one config per node (own state_dir and port, shared database and
  // environments) and creates the token, which works on every node.
  void WriteFleet(const std::string& environments, int nodes = kNodes) {
    for (int i = 0; i < nodes; ++i) {
      std::string dir = world_.tmp_.Sub("node-" + std::to_string(i));
      ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
      ports_.push_back(testing::FreePort());
      std::string cfg = "state_dir: state\ndatabase: " + url_ +
                        "\nmax_parallel: 4\nserver:\n  listen: 127.0.0.1:" + std::to_string(ports_.back()) +
                        "\nenvironments:\n" + environments;
      configs_.push_back(dir + "/slipway.yaml");
      testing::WriteTextFile(configs_.back(), cfg);
    }
    // The database is created by the first store that opens it.
    auto r = testing::Slipway({"token", "create", "--role", "operator", "--name", "fleet-test", "-c", configs_[0]},
                              world_.tmp_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    token_ = r.out.substr(0, r.out.find_first_of(" \n"));
  }

  // Starts the nodes WriteFleet configured, with a short heartbeat and TTL.
  void StartNodes() {
    int nodes = static_cast<int>(configs_.size());
    for (int i = 0; i < nodes; ++i) {
      nodes_.push_back(std::make_unique<Serve>(world_.tmp_.Sub("node-" + std::to_string(i)), configs_[i],
                                               std::vector<std::string>{"--heartbeat", "300ms", "--node-ttl", "3s"}));
      apis_.push_back(std::make_unique<Api>(ports_[i], token_));
    }
    for (int i = 0; i < nodes; ++i) {
      ASSERT_TRUE(WaitFor([&] { return apis_[i]->Healthy(); }, 30'000)) << nodes_[i]->Log();
    }
    ASSERT_TRUE(WaitFor(
        [&] {
          json j = apis_[0]->GetJson("/api/v1/nodes");
          return j.is_object() && static_cast<int>(j["nodes"].size()) == nodes;
        },
        10'000));
  }

  void StartFleet(const std::string& environments, int nodes = kNodes) {
    ASSERT_NO_FATAL_FAILURE(WriteFleet(environments, nodes));
    ASSERT_NO_FATAL_FAILURE(StartNodes());
  }

  // The index of the node running run id (as /api/v1/nodes says), -1 when
  // none does within timeout_ms.
  int NodeRunning(int64_t id, int64_t timeout_ms = 20'000) const {
    int owner = -1;
    WaitFor(
        [&] {
          json j = apis_[0]->GetJson("/api/v1/nodes");
          if (!j.is_object()) return false;
          for (const json& n : j["nodes"]) {
            for (const json& run : n["running_run_ids"]) {
              if (run.get<int64_t>() != id) continue;
              std::string address = n["address"];
              for (size_t i = 0; i < ports_.size(); ++i) {
                if (address == "127.0.0.1:" + std::to_string(ports_[i])) owner = static_cast<int>(i);
              }
            }
          }
          return owner >= 0;
        },
        timeout_ms);
    return owner;
  }

  // Runs of env as the API lists them (any node), id -> run.
  std::map<int64_t, json> Runs(const std::string& env, int node = 0) const {
    std::map<int64_t, json> runs;
    for (const json& r : apis_[node]->Runs(env)) runs[r["id"].get<int64_t>()] = r;
    return runs;
  }

  // On a fleet of two started here, env "slow" runs a step that records its
  // pid and waits for a gate that never opens: the run, which node runs it,
  // the other node, and the step's pid once it is running.
  struct GatedRun {
    int64_t id = 0;
    int owner = -1;
    int other = -1;
    pid_t step_pid = 0;
  };
  void StartGatedRunOnTwoNodes(GatedRun* out) {
    std::string step = "echo $$ > \"$LOCKS/$SLIPWAY_ENV.pid\"; " + std::string(daemon_testing::kWaitForGate);
    ASSERT_NO_FATAL_FAILURE(StartFleet(Env("slow", step), 2));
    auto r = apis_[0]->Post("/api/v1/environments/slow/trigger");
    ASSERT_TRUE(r && r->status == 202);
    out->id = json::parse(r->body)["run_id"].get<int64_t>();
    out->owner = NodeRunning(out->id);
    ASSERT_GE(out->owner, 0) << FleetLogs();
    out->other = 1 - out->owner;
    std::string pid_file = locks_ + "/slow.pid";
    ASSERT_TRUE(WaitFor([&] { return testing::ReadTextFile(pid_file).find('\n') != std::string::npos; }, 20'000))
        << FleetLogs();
    out->step_pid = static_cast<pid_t>(std::stol(testing::ReadTextFile(pid_file)));
  }

  std::string FleetLogs() const {
    std::string all;
    for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
      all += "--- node " + std::to_string(i) + " ---\n" + nodes_[i]->Log();
    }
    return all;
  }

  testing::PostgresServer* server_ = nullptr;
  std::string url_;
  World world_;
  std::string locks_;
  std::vector<int> ports_;
  std::vector<std::string> configs_;
  std::string token_;
  std::vector<std::unique_ptr<Serve>> nodes_;
  std::vector<std::unique_ptr<Api>> apis_;
};

TEST_F(FleetTest, ThreeHundredTriggersRunOnceEachNeverTwiceAtOnceAndACronFiresOnce) {
  std::string envs;
  for (int e = 0; e < kEnvironments; ++e) envs += Env("env-" + std::to_string(e), kExclusiveStep);
  envs += Env("cron", kExclusiveStep, "      schedule: [\"* * * * *\"]\n");
  ASSERT_NO_FATAL_FAILURE(StartFleet(envs));
  int64_t fleet_up_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();

  // 300 triggers, spread over the nodes' APIs (any node accepts them).
  std::map<int64_t, int> triggers_per_run;
  int coalesced = 0;
  for (int i = 0; i < 300; ++i) {
    std::string env = "env-" + std::to_string(i % kEnvironments);
    auto r = apis_[i % kNodes]->Post("/api/v1/environments/" + env + "/trigger");
    ASSERT_TRUE(r) << "trigger " << i;
    ASSERT_EQ(r->status, 202) << r->body;
    json j = json::parse(r->body);
    ++triggers_per_run[j["run_id"].get<int64_t>()];
    if (j["coalesced"].get<bool>()) ++coalesced;
    if (i % 30 == 29) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let some start in between
  }
  EXPECT_EQ(static_cast<int>(triggers_per_run.size()) + coalesced, 300);

  // Every run a trigger got ends succeeded: none failed on another's lock.
  for (const auto& [id, count] : triggers_per_run) {
    std::string status = apis_[id % kNodes]->WaitFinal(id, 120'000);
    ASSERT_EQ(status, "succeeded") << "run " << id << " (" << count << " trigger(s))\n"
                                   << apis_[0]->Run(id).dump() << "\n"
                                   << FleetLogs();
  }
  // ...exactly once: its step ran once, and no other run was made.
  std::map<int64_t, int> executions;
  for (int e = 0; e < kEnvironments; ++e) {
    std::string env = "env-" + std::to_string(e);
    std::string lines = testing::ReadTextFile(locks_ + "/" + env + ".runs");
    size_t start = 0;
    while (start < lines.size()) {
      size_t nl = lines.find('\n', start);
      ++executions[std::stoll(lines.substr(start, nl - start))];
      start = nl + 1;
    }
    for (const auto& [id, run] : Runs(env)) {
      EXPECT_EQ(triggers_per_run.count(id), 1u) << "run " << id << " of " << env << " was not asked for";
      EXPECT_EQ(run["status"], "succeeded") << run.dump();
    }
  }
  for (const auto& [id, count] : triggers_per_run) EXPECT_EQ(executions[id], 1) << "run " << id;
  EXPECT_EQ(executions.size(), triggers_per_run.size());

  // The work was shared: more than one node started runs.
  int busy_nodes = 0;
  for (const auto& node : nodes_) {
    if (node->Log().find("started on this node") != std::string::npos) ++busy_nodes;
  }
  EXPECT_GE(busy_nodes, 2) << FleetLogs();

  // The nodes list shows three live nodes with recent heartbeats.
  json nodes = apis_[1]->GetJson("/api/v1/nodes");
  ASSERT_TRUE(nodes.is_object());
  EXPECT_EQ(nodes["fleet"], true);
  ASSERT_EQ(nodes["nodes"].size(), 3u);
  int selves = 0;
  for (const json& n : nodes["nodes"]) selves += n["self"].get<bool>() ? 1 : 0;
  EXPECT_EQ(selves, 1);

  // The cron: once per minute across the fleet. Wait for a minute boundary
  // after the fleet was up, plus time for a node to act on it.
  int64_t boundary = (fleet_up_ms / 60'000 + 1) * 60'000;
  int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  if (now < boundary + 5'000) std::this_thread::sleep_for(std::chrono::milliseconds(boundary + 5'000 - now));
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& [id, run] : Runs("cron")) {
          if (run["status"] != "succeeded") return false;
        }
        return !Runs("cron").empty();
      },
      30'000))
      << FleetLogs();
  std::map<int64_t, json> cron_runs = Runs("cron");
  int in_first_minute = 0;
  for (const auto& [id, run] : cron_runs) {
    EXPECT_EQ(run["trigger"], "schedule");
    int64_t created = run["created_ms"].get<int64_t>();
    if (created >= boundary && created < boundary + 60'000) ++in_first_minute;
  }
  EXPECT_EQ(in_first_minute, 1) << "the schedule fired " << in_first_minute << " times at one occurrence\n"
                                << FleetLogs();
}

TEST_F(FleetTest, AKilledNodesRunIsInterruptedWithinTheTtlAndTheOthersCarryOn) {
  std::string gate_step = "while [ ! -f \"$GATE\" ]; do sleep 0.05; done";
  ASSERT_NO_FATAL_FAILURE(StartFleet(Env("slow", gate_step) + Env("other", kExclusiveStep)));
  auto r = apis_[0]->Post("/api/v1/environments/slow/trigger");
  ASSERT_TRUE(r && r->status == 202);
  int64_t id = json::parse(r->body)["run_id"].get<int64_t>();
  int owner = NodeRunning(id);
  ASSERT_GE(owner, 0) << FleetLogs();
  int survivor = (owner + 1) % kNodes;

  nodes_[owner]->Signal(SIGKILL);
  ASSERT_EQ(nodes_[owner]->Wait(5'000), 128 + SIGKILL);
  int64_t killed_at = SteadyMs();
  std::string status;
  ASSERT_TRUE(WaitFor(
      [&] {
        json run = apis_[survivor]->Run(id);
        status = run.is_object() ? run["status"].get<std::string>() : "";
        return status == "interrupted";
      },
      3'000 + 5'000))
      << "run " << id << " is '" << status << "' " << SteadyMs() - killed_at << " ms after its node was killed\n"
      << FleetLogs();
  json run = apis_[survivor]->Run(id);
  EXPECT_NE(run["error"].get<std::string>().find("node lost"), std::string::npos) << run.dump();

  // The others carry on: the environment runs again, on a live node.
  world_.OpenGate("slow");  // (the killed node's orphaned step ends too)
  r = apis_[survivor]->Post("/api/v1/environments/slow/trigger");
  ASSERT_TRUE(r && r->status == 202);
  int64_t again = json::parse(r->body)["run_id"].get<int64_t>();
  EXPECT_EQ(apis_[survivor]->WaitFinal(again, 30'000), "succeeded") << FleetLogs();
  r = apis_[survivor]->Post("/api/v1/environments/other/trigger");
  ASSERT_TRUE(r && r->status == 202);
  EXPECT_EQ(apis_[survivor]->WaitFinal(json::parse(r->body)["run_id"].get<int64_t>(), 30'000), "succeeded");
  json nodes = apis_[survivor]->GetJson("/api/v1/nodes");
  EXPECT_EQ(nodes["nodes"].size(), 2u) << nodes.dump();
}

TEST_F(FleetTest, ADatabaseOutageMakesNodesWaitAndRetryAndLosesNothing) {
  std::string gate_step = "while [ ! -f \"$GATE\" ]; do sleep 0.05; done; " + std::string(kExclusiveStep);
  std::string envs;
  for (int e = 0; e < 4; ++e) envs += Env("env-" + std::to_string(e), gate_step);
  ASSERT_NO_FATAL_FAILURE(StartFleet(envs));
  // Acknowledged work: one running and one queued run per environment.
  std::set<int64_t> acknowledged;
  for (int round = 0; round < 2; ++round) {
    for (int e = 0; e < 4; ++e) {
      auto r = apis_[e % kNodes]->Post("/api/v1/environments/env-" + std::to_string(e) + "/trigger");
      ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "no answer");
      acknowledged.insert(json::parse(r->body)["run_id"].get<int64_t>());
    }
    if (round == 0) {
      ASSERT_TRUE(WaitFor(
          [&] {
            int running = 0;
            for (int64_t id : acknowledged) running += apis_[0]->Run(id)["status"] == "running" ? 1 : 0;
            return running == 4;
          },
          20'000))
          << FleetLogs();
    }
  }
  ASSERT_EQ(acknowledged.size(), 8u);

  std::string why;
  ASSERT_TRUE(server_->Pause(&why)) << why;
  int64_t paused_at = SteadyMs();
  // While the database is away, nodes stay up, say so, and refuse new work
  // instead of acknowledging what they cannot store.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto m = httplib::Client("127.0.0.1", ports_[1]).Get("/metrics");
        return m && m->body.find("slipway_fleet_database_up 0") != std::string::npos;
      },
      8'000));
  auto refused = apis_[2]->Post("/api/v1/environments/env-0/trigger");
  ASSERT_TRUE(refused);
  EXPECT_GE(refused->status, 500) << refused->body;
  int64_t left = 10'000 - (SteadyMs() - paused_at);
  if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(left));
  for (int i = 0; i < kNodes; ++i) EXPECT_EQ(nodes_[i]->Wait(0), -1) << "node " << i << " exited\n" << FleetLogs();
  ASSERT_TRUE(server_->Resume(&why)) << why;

  for (int e = 0; e < 4; ++e) world_.OpenGate("env-" + std::to_string(e));
  for (int64_t id : acknowledged) {
    EXPECT_EQ(apis_[id % kNodes]->WaitFinal(id, 60'000), "succeeded") << "run " << id << "\n" << FleetLogs();
  }
  json nodes = apis_[0]->GetJson("/api/v1/nodes");
  EXPECT_EQ(nodes["nodes"].size(), 3u) << "a node was declared lost after the outage: " << nodes.dump();
  // The next heartbeat (after its backoff, at most 5 s) says the database is back.
  EXPECT_TRUE(WaitFor([&] { return FleetLogs().find("reachable again") != std::string::npos; }, 15'000)) << FleetLogs();
  EXPECT_NE(FleetLogs().find("retrying with backoff"), std::string::npos) << FleetLogs();
}

TEST_F(FleetTest, ACancelThroughAnotherNodeStopsTheRunWhereItRuns) {
  GatedRun gated;
  ASSERT_NO_FATAL_FAILURE(StartGatedRunOnTwoNodes(&gated));
  const int64_t id = gated.id;
  const int owner = gated.owner, other = gated.other;
  const pid_t step_pid = gated.step_pid;
  ASSERT_EQ(::kill(step_pid, 0), 0) << "the step is not running";

  // A queued run of the same environment, cancelled through either node: at once.
  auto r = apis_[owner]->Post("/api/v1/environments/slow/trigger");
  ASSERT_TRUE(r && r->status == 202);
  int64_t queued = json::parse(r->body)["run_id"].get<int64_t>();
  ASSERT_NE(queued, id);
  r = apis_[other]->Post("/api/v1/runs/" + std::to_string(queued) + "/cancel");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  EXPECT_EQ(apis_[owner]->Run(queued)["status"], "cancelled");

  // The running one, through the node that does not run it.
  r = apis_[other]->Post("/api/v1/runs/" + std::to_string(id) + "/cancel");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  json accepted = json::parse(r->body);
  EXPECT_EQ(accepted["id"], id);
  EXPECT_EQ(accepted["cancel_requested_by"], "fleet-test") << accepted.dump();
  EXPECT_EQ(apis_[other]->WaitFinal(id, 30'000), "cancelled") << apis_[other]->Run(id).dump() << "\n" << FleetLogs();
  // Its step's process is gone (SIGTERM, grace, SIGKILL on its node).
  EXPECT_TRUE(WaitFor([&] { return ::kill(step_pid, 0) != 0 && errno == ESRCH; }, 10'000))
      << "step " << step_pid << " still runs\n"
      << FleetLogs();
  EXPECT_NE(nodes_[owner]->Log().find("run " + std::to_string(id) + " cancelled by fleet-test through another node"),
            std::string::npos)
      << FleetLogs();
  // A finished run: refused as before.
  r = apis_[other]->Post("/api/v1/runs/" + std::to_string(id) + "/cancel");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
}

TEST_F(FleetTest, NodesStartingWithAMissedScheduleCatchUpOnce) {
  ASSERT_NO_FATAL_FAILURE(
      WriteFleet(Env("nightly", kExclusiveStep, "      schedule: [\"0 3 * * *\"]\n      catch_up: true\n")));
  // The schedule last fired two days ago: every node starts with a missed occurrence.
  {
    Result<std::unique_ptr<Store>> store = OpenStore(url_, "");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EnvironmentState state;
    state.environment = "nightly";
    state.schedule_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count() -
        2 * 24 * 3600'000LL;
    ASSERT_TRUE((*store)->PutEnvironmentState(state).ok());
  }
  ASSERT_NO_FATAL_FAILURE(StartNodes());
  // Every node has decided: it caught up, saw that another did, or started
  // after another had recorded its catch-up.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& node : nodes_) {
          std::string log = node->Log();
          if (log.find("catching up with run") == std::string::npos &&
              log.find("caught up (or fired) by another node") == std::string::npos &&
              log.find("no schedule occurrence to catch up on") == std::string::npos) {
            return false;
          }
        }
        return true;
      },
      20'000))
      << FleetLogs();
  int catch_ups = 0;
  for (const auto& node : nodes_) catch_ups += node->Log().find("catching up with run") != std::string::npos ? 1 : 0;
  EXPECT_EQ(catch_ups, 1) << FleetLogs();
  std::map<int64_t, json> runs = Runs("nightly");
  ASSERT_EQ(runs.size(), 1u) << FleetLogs();
  EXPECT_EQ(runs.begin()->second["actor"], "schedule (catch-up)");
  EXPECT_EQ(apis_[0]->WaitFinal(runs.begin()->first, 30'000), "succeeded") << FleetLogs();
}

TEST_F(FleetTest, AFollowerOnAnotherNodeSeesTheLastLineEveryTime) {
  std::string step = "echo waiting for the gate; " + std::string(daemon_testing::kWaitForGate) +
                     "; i=0; while [ $i -lt 200 ]; do echo \"line $i of run $SLIPWAY_RUN_ID\"; i=$((i+1)); done; "
                     "printf 'the last line of run %s' \"$SLIPWAY_RUN_ID\"";
  ASSERT_NO_FATAL_FAILURE(StartFleet(Env("chatty", step), 2));
  for (int round = 0; round < 5; ++round) {
    world_.CloseGate("chatty");
    auto r = apis_[round % 2]->Post("/api/v1/environments/chatty/trigger");
    ASSERT_TRUE(r && r->status == 202);
    int64_t id = json::parse(r->body)["run_id"].get<int64_t>();
    int owner = NodeRunning(id);
    ASSERT_GE(owner, 0) << FleetLogs();
    int other = 1 - owner;
    // The follower is on the node that does not run the run; it opens the
    // gate once it sees the first line, so that the run ends while it follows.
    std::string body;
    int status = 0;
    std::thread follower([&] {
      httplib::Client c("127.0.0.1", ports_[other]);
      c.set_read_timeout(60, 0);
      bool opened = false;
      auto got = c.Get("/api/v1/runs/" + std::to_string(id) + "/log?follow=1",
                       httplib::Headers{{"Authorization", "Bearer " + token_}}, [&](const char* data, size_t n) {
                         body.append(data, n);
                         if (!opened && body.find("waiting for the gate") != std::string::npos) {
                           world_.OpenGate("chatty");
                           opened = true;
                         }
                         return true;
                       });
      if (got) status = got->status;
      if (!opened) world_.OpenGate("chatty");
    });
    follower.join();
    ASSERT_EQ(status, 200) << "round " << round;
    EXPECT_NE(body.find("line 199 of run " + std::to_string(id)), std::string::npos) << "round " << round;
    EXPECT_NE(body.find("the last line of run " + std::to_string(id)), std::string::npos)
        << "round " << round << ": the follower on the other node ended without the last line:\n"
        << body.substr(body.size() > 600 ? body.size() - 600 : 0);
    EXPECT_NE(body.find("event: end\ndata: succeeded"), std::string::npos)
        << body.substr(body.size() > 300 ? body.size() - 300 : 0);
  }
}

TEST_F(FleetTest, ANodeDeclaredLostThatReturnsLeavesItsRunInterrupted) {
  GatedRun gated;
  ASSERT_NO_FATAL_FAILURE(StartGatedRunOnTwoNodes(&gated));
  const int64_t id = gated.id;
  const int owner = gated.owner, other = gated.other;
  const pid_t step_pid = gated.step_pid;

  // The owner stops heartbeating (frozen, not dead) past the TTL...
  nodes_[owner]->Signal(SIGSTOP);
  ASSERT_TRUE(WaitFor([&] { return apis_[other]->Run(id)["status"] == "interrupted"; }, 3'000 + 10'000)) << FleetLogs();
  // ...and comes back: it stops the run's processes, and its own end of the
  // run (cancelled) must not overwrite what the fleet decided.
  nodes_[owner]->Signal(SIGCONT);
  ASSERT_TRUE(WaitFor([&] { return ::kill(step_pid, 0) != 0 && errno == ESRCH; }, 20'000)) << FleetLogs();
  ASSERT_TRUE(WaitFor(
      [&] { return nodes_[owner]->Log().find("no longer running (it is interrupted)") != std::string::npos; }, 20'000))
      << FleetLogs();
  json run = apis_[owner]->Run(id);
  EXPECT_EQ(run["status"], "interrupted") << run.dump();
  EXPECT_NE(run["error"].get<std::string>().find("node lost"), std::string::npos) << run.dump();
  // The returned node works again.
  world_.OpenGate("slow");
  ASSERT_TRUE(WaitFor(
      [&] {
        json j = apis_[other]->GetJson("/api/v1/nodes");
        return j.is_object() && j["nodes"].size() == 2u;
      },
      20'000))
      << FleetLogs();
}

}  // namespace
}  // namespace slipway
