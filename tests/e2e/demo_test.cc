// `slipway demo` as a user runs it: it deploys two environments, leaves the
// daemon running with a working token, a pushed settings change deploys by
// itself, `logs --env --follow` shows that run, and a second demo replaces
// the first one's daemon.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "testing/testing.h"

namespace slipway {
namespace {

using nlohmann::json;
using testing::ReadTextFile;
using testing::TempDir;

struct DemoDaemon {
  int pid = 0;
  int port = 0;
  std::string token;
};

// Reads what the demo printed; fails the test when a part is missing.
DemoDaemon ParseDemoOutput(const std::string& out) {
  DemoDaemon d;
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(Dashboard: +http://127\.0\.0\.1:(\d+)/)"))) d.port = std::stoi(m[1]);
  if (std::regex_search(out, m, std::regex(R"(Operator token: +(\S+))"))) d.token = m[1];
  if (std::regex_search(out, m, std::regex(R"(The daemon runs as pid (\d+))"))) d.pid = std::stoi(m[1]);
  EXPECT_NE(d.port, 0) << out;
  EXPECT_FALSE(d.token.empty()) << out;
  EXPECT_NE(d.pid, 0) << out;
  return d;
}

// True while the process runs (a zombie waiting for its parent does not count).
bool Alive(int pid) {
  if (pid <= 0 || !testing::FileExists("/proc/" + std::to_string(pid) + "/stat")) return false;
  std::string stat = ReadTextFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

class DemoTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int pid : pids_) {
      if (Alive(pid)) ::kill(pid, SIGKILL);
    }
  }
  DemoDaemon RunDemo() {
    testing::CommandResult r = testing::Slipway({"demo", "--dir", dir_.Sub("demo"), "--port", "0"}, dir_.path());
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    DemoDaemon d = ParseDemoOutput(r.out);
    pids_.push_back(d.pid);
    return d;
  }
  TempDir dir_;
  std::vector<int> pids_;
};

TEST_F(DemoTest, LeavesADaemonThatDeploysAPushAndIsReplacedByTheNextDemo) {
  DemoDaemon first = RunDemo();
  ASSERT_TRUE(Alive(first.pid));
  std::string demo = dir_.Sub("demo");
  EXPECT_NE(ReadTextFile(demo + "/target/production.txt").find("version=1.0.0"), std::string::npos);

  // The printed token works against the printed address.
  httplib::Client client("127.0.0.1", first.port);
  client.set_bearer_token_auth(first.token);
  httplib::Result envs = client.Get("/api/v1/environments");
  ASSERT_TRUE(envs);
  ASSERT_EQ(envs->status, 200) << envs->body;
  json body = json::parse(envs->body);
  ASSERT_EQ(body["environments"].size(), 2U);

  // A merge on the settings branch deploys staging by itself (it polls every 10 s).
  testing::Sh(
      "cd work/settings && sed -i 's/^account: .*/account: 444444444444/' environments/staging/settings.yaml && "
      "git -c user.name=T -c user.email=t@example.invalid commit -qam 'Staging moves' && "
      "git push -q ../../remotes/settings.git main",
      demo);
  testing::CommandResult follow =
      testing::Run({"timeout", "90", SLIPWAY_BINARY, "logs", "--env", "staging", "--follow"}, demo,
                   {{"SLIPWAY_CONFIG", demo + "/slipway.yaml"}});
  EXPECT_EQ(follow.exit_code, 0) << follow.out << follow.err;
  EXPECT_NE(follow.out.find("(trigger: push)"), std::string::npos) << follow.out;
  EXPECT_NE(follow.out.find("succeeded after"), std::string::npos) << follow.out;
  EXPECT_NE(ReadTextFile(demo + "/target/staging.txt").find("account=444444444444"), std::string::npos);

  // Running the demo again stops the first daemon and starts a new one.
  DemoDaemon second = RunDemo();
  EXPECT_NE(second.pid, first.pid);
  EXPECT_TRUE(Alive(second.pid));
  for (int i = 0; i < 50 && Alive(first.pid); ++i) usleep(100'000);
  EXPECT_FALSE(Alive(first.pid)) << "the first demo's daemon still runs";
}

TEST_F(DemoTest, LogsWithoutRunOrEnvironmentIsAUsageError) {
  testing::CommandResult r = testing::Slipway({"logs"}, dir_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("name a run"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace slipway
