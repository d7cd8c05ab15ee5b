// Drift checks in a fleet (issue 8; doc/drift.md, doc/fleet.md): two
// `slipway serve` nodes on one real PostgreSQL (tests/testing/postgres.h)
// both read `triggers.verify`; each occurrence is checked once.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <map>
#include <thread>

#include "e2e/daemon_fixture.h"
#include "testing/postgres.h"

namespace slipway {
namespace {

using daemon_testing::Api;
using daemon_testing::json;
using daemon_testing::Serve;
using daemon_testing::WaitFor;
using daemon_testing::World;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(TrustFleetE2E, AScheduledDriftCheckRunsOnceAcrossTheFleet) {
  SLIPWAY_NEW_POSTGRES_DATABASE_OR_SKIP(url);
  World w;
  w.Pin("watched", "v1.0.0");
  w.PushSettings("watched on v1.0.0");
  // A check every minute whose preview step passes and prints no diff.
  std::string env = w.Env("watched", "      verify: \"* * * * *\"\n", {{"deploy", "true"}}) +
                    "    preview:\n      - name: check\n        run: \"true\"\n";

  constexpr int kNodes = 2;
  std::vector<int> ports;
  std::vector<std::string> configs;
  for (int i = 0; i < kNodes; ++i) {
    std::string dir = w.tmp_.Sub("node-" + std::to_string(i));
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    ports.push_back(testing::FreePort());
    configs.push_back(dir + "/slipway.yaml");
    testing::WriteTextFile(configs.back(), "state_dir: state\ndatabase: " + url + "\nserver:\n  listen: 127.0.0.1:" +
                                               std::to_string(ports.back()) + "\nenvironments:\n" + env);
  }
  auto token =
      testing::Slipway({"token", "create", "--role", "operator", "--name", "drift", "-c", configs[0]}, w.tmp_.path());
  ASSERT_EQ(token.exit_code, 0) << token.err;
  std::string t = token.out.substr(0, token.out.find_first_of(" \n"));
  testing::RecordSecret(t);
  std::vector<std::unique_ptr<Serve>> nodes;
  std::vector<std::unique_ptr<Api>> apis;
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(std::make_unique<Serve>(w.tmp_.Sub("node-" + std::to_string(i)), configs[i],
                                            std::vector<std::string>{"--heartbeat", "300ms", "--node-ttl", "3s"}));
    apis.push_back(std::make_unique<Api>(ports[i], t));
  }
  auto logs = [&] {
    std::string all;
    for (int i = 0; i < kNodes; ++i) all += "--- node " + std::to_string(i) + " ---\n" + nodes[i]->Log();
    return all;
  };
  for (int i = 0; i < kNodes; ++i) ASSERT_TRUE(WaitFor([&] { return apis[i]->Healthy(); }, 30'000)) << logs();

  // Deployed first: a check has something to compare with.
  auto r = apis[0]->Post("/api/v1/environments/watched/trigger");
  ASSERT_TRUE(r && r->status == 202) << (r ? r->body : "no answer") << logs();
  ASSERT_EQ(apis[0]->WaitFinal(json::parse(r->body)["run_id"].get<int64_t>(), 60'000), "succeeded") << logs();

  // Wait for the next minute boundary, plus time for a node to act on it.
  int64_t boundary = (WallMs() / 60'000 + 1) * 60'000;
  int64_t now = WallMs();
  if (now < boundary + 5'000) std::this_thread::sleep_for(std::chrono::milliseconds(boundary + 5'000 - now));
  auto drift_runs = [&] {
    std::vector<json> out;
    for (const json& run : apis[1]->Runs("watched")) {
      int64_t created = run["created_ms"].get<int64_t>();
      if (run["kind"] == "drift" && created >= boundary && created < boundary + 60'000) out.push_back(run);
    }
    return out;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<json> runs = drift_runs();
        for (const json& run : runs) {
          if (run["status"] != "succeeded") return false;
        }
        return !runs.empty();
      },
      30'000))
      << logs();
  std::vector<json> runs = drift_runs();
  EXPECT_EQ(runs.size(), 1u) << "the drift check ran " << runs.size() << " times at one occurrence\n" << logs();
  EXPECT_EQ(runs[0]["trigger"], "schedule");
  EXPECT_EQ(runs[0]["actor"], "drift schedule");
}

}  // namespace
}  // namespace slipway
