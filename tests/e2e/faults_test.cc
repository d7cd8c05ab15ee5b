// End-to-end: faults outside Slipway (issue 9, doc/reliability.md). A git
// remote that refuses connections, hangs after accepting, or dies in the
// middle of a fetch; a state directory on a full filesystem. SIGTERM during
// runs is DaemonLifecycleE2E.SigtermLetsAStepFinishWithinTheGraceThenCancels.
//
// Timing is asserted as "answers", never as latencies (those belong in
// bench/); the worst latency seen is printed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <regex>

#include "e2e/daemon_fixture.h"
#include "testing/leak_scan.h"

namespace slipway {
namespace {

using namespace daemon_testing;

// A TCP listener on 127.0.0.1 that misbehaves like a broken git server:
// kHang accepts and never answers; kDie reads the request, sends half a
// pkt-line and closes.
class BadRemote {
 public:
  enum class Mode { kHang, kDie };
  explicit BadRemote(Mode mode) : mode_(mode) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 64) != 0) {
      ADD_FAILURE() << "bad remote: bind/listen failed";
      return;
    }
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~BadRemote() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int c : held_) close(c);
    close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }
  std::string Url(const std::string& name) const { return "git://127.0.0.1:" + std::to_string(port_) + "/" + name; }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      if (mode_ == Mode::kHang) {
        held_.push_back(c);
        continue;
      }
      char buf[4096];
      pollfd r{c, POLLIN, 0};
      if (poll(&r, 1, 2000) > 0) (void)!read(c, buf, sizeof(buf));
      // The start of a ref advertisement, cut in the middle of its first line.
      const char partial[] = "00a1e83c5163316f89bfbde7d9ab23ca2e25604af290 HEAD\0multi_ack";
      (void)!write(c, partial, sizeof(partial) - 1);
      close(c);
    }
  }
  Mode mode_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> held_;
  std::thread thread_;
};

// Polls the API until `done`, counting answers and the worst latency; every
// request must be answered.
struct ApiProbe {
  int requests = 0, answered = 0;
  int64_t worst_ms = 0;
  void Once(const Api& api) {
    for (const char* path : {"/healthz", "/api/v1/runs?limit=20", "/api/v1/environments", "/metrics"}) {
      int64_t t0 = SteadyMs();
      auto r = api.Get(path);
      int64_t dt = SteadyMs() - t0;
      ++requests;
      if (r && r->status == 200) ++answered;
      worst_ms = std::max(worst_ms, dt);
    }
  }
};

int64_t Trigger(const Api& api, const std::string& env) {
  auto r = api.Post("/api/v1/environments/" + env + "/trigger");
  if (!r || r->status != 202) {
    ADD_FAILURE() << "trigger " << env << ": " << (r ? std::to_string(r->status) + " " + r->body : "no answer");
    return 0;
  }
  return json::parse(r->body)["run_id"].get<int64_t>();
}

// The value of the first Prometheus sample whose line starts with `prefix`; -1 when absent.
double Metric(const std::string& metrics, const std::string& prefix) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

TEST(FaultsE2E, ARemoteThatRefusesHangsOrDiesFailsTheRunNamingItWhileTheApiKeepsAnswering) {
  World w;
  w.Pin("healthy", "v1.0.0");
  for (const char* env : {"refused", "hanging", "dying"}) w.Pin(env, "v1.0.0");
  w.PushSettings("pins");
  BadRemote hang(BadRemote::Mode::kHang), die(BadRemote::Mode::kDie);
  int closed_port = slipway::testing::FreePort();  // nobody listens there
  std::string refused_url = "git://127.0.0.1:" + std::to_string(closed_port) + "/settings.git";
  auto with_settings = [&](std::string env_yaml, const std::string& url) {
    size_t at = env_yaml.find(w.SettingsUrl());
    env_yaml.replace(at, w.SettingsUrl().size(), url);
    return env_yaml;
  };
  std::string poll = "      push: { poll: 1s }\n";
  std::vector<std::pair<std::string, std::string>> steps = {{"deploy", kRecordVersion}};
  std::string cfg =
      w.WriteConfig(w.Env("healthy", poll, steps) + with_settings(w.Env("refused", poll, steps), refused_url) +
                        with_settings(w.Env("hanging", "", steps), hang.Url("settings.git")) +
                        with_settings(w.Env("dying", "", steps), die.Url("settings.git")),
                    "", "git_timeout: 3s\nmax_parallel: 4\n");
  std::string token = w.Token("operator", "faults");
  Api api(w.port_, token);
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 30000)) << serve.Log();

  std::map<std::string, int64_t> runs;
  for (const char* env : {"refused", "hanging", "dying"}) runs[env] = Trigger(api, env);
  ApiProbe probe;
  int64_t t0 = SteadyMs();
  // While the runs fail (the hanging one takes git_timeout), and for at least
  // 8 s of polling, the API answers.
  auto all_final = [&] {
    for (const auto& [env, id] : runs) {
      json run = api.Run(id);
      if (!run.is_object() || run["status"] == "queued" || run["status"] == "running") return false;
    }
    return true;
  };
  while (SteadyMs() - t0 < 8000 || !all_final()) {
    probe.Once(api);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_LT(SteadyMs() - t0, 60000) << "runs did not finish; " << serve.Log();
  }
  EXPECT_EQ(probe.answered, probe.requests) << serve.Log();
  EXPECT_GT(probe.requests, 40);
  std::cout << "faults: " << probe.requests
            << " API requests during remote faults, all answered: " << (probe.answered == probe.requests ? "yes" : "no")
            << ", worst " << probe.worst_ms << " ms" << std::endl;

  const std::map<std::string, std::string> names = {{"refused", "127.0.0.1:" + std::to_string(closed_port)},
                                                    {"hanging", "127.0.0.1:" + std::to_string(hang.port())},
                                                    {"dying", "127.0.0.1:" + std::to_string(die.port())}};
  for (const auto& [env, id] : runs) {
    json run = api.Run(id);
    EXPECT_TRUE(run["status"] == "failed" || run["status"] == "timed_out") << env << ": " << run.dump(2);
    std::string error = run["error"].is_string() ? run["error"].get<std::string>() : "";
    EXPECT_NE(error.find(names.at(env)), std::string::npos) << env << " error must name the remote: " << error;
    EXPECT_TRUE(run["steps"].empty() || run["steps"][0]["status"] != "succeeded") << env << ": " << run.dump(2);
    slipway::testing::KeepTextForLeakScan("run-" + env + ".json", run.dump());
  }
  EXPECT_NE(api.Run(runs["hanging"])["error"].get<std::string>().find("timed out"), std::string::npos);
  EXPECT_GT(hang.accepted(), 0);
  EXPECT_GT(die.accepted(), 0);

  // Backoff: the refused URL is polled less and less often; the healthy one
  // every second. Both show in /metrics.
  auto metrics = api.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  double refused_polls = Metric(metrics->body, "slipway_polls_total{url=\"" + refused_url + "\"}");
  double refused_errors = Metric(metrics->body, "slipway_poll_errors_total{url=\"" + refused_url + "\"}");
  double healthy_polls = Metric(metrics->body, "slipway_polls_total{url=\"" + w.SettingsUrl() + "\"}");
  EXPECT_GE(refused_errors, 2) << metrics->body;
  EXPECT_EQ(refused_errors, refused_polls) << metrics->body;
  EXPECT_LT(refused_polls, healthy_polls) << "no backoff on errors:\n" << metrics->body;
  json env = api.GetJson("/api/v1/environments/refused");
  EXPECT_NE(env["triggers"]["error"].dump().find(std::to_string(closed_port)), std::string::npos) << env.dump(2);
  std::cout << "faults: polls in " << (SteadyMs() - t0) / 1000 << " s: healthy " << healthy_polls << ", refused "
            << refused_polls << " (all errors, backing off)" << std::endl;

  // The healthy environment still deploys.
  EXPECT_EQ(api.WaitFinal(Trigger(api, "healthy"), 60000), "succeeded") << serve.Log();
  slipway::testing::KeepTextForLeakScan("metrics.txt", metrics->body);
}

// A tmpfs mounted over a folder for the life of the object (we run as root in
// CI; elsewhere the test is skipped).
class SmallFilesystem {
 public:
  SmallFilesystem(const std::string& dir, const std::string& size) : dir_(dir) {
    slipway::testing::Sh("mkdir -p '" + dir + "'");
    std::string opts = "size=" + size + ",mode=0755";
    mounted_ = mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) error_ = std::string("mount tmpfs: ") + strerror(errno);
  }
  ~SmallFilesystem() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  // Fills the filesystem with `name` until nothing is left.
  void Fill(const std::string& name) {
    slipway::testing::Sh("dd if=/dev/zero of='" + dir_ + "/" + name + "' bs=4k 2>/dev/null; sync", "", true);
  }
  void Free(const std::string& name) { unlink((dir_ + "/" + name).c_str()); }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

std::string IntegrityCheck(const std::string& db_path) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) result += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      sqlite3_finalize(st);
    }
  }
  if (result.empty()) result = std::string("cannot read: ") + (db ? sqlite3_errmsg(db) : "open failed");
  sqlite3_close(db);
  return result;
}

TEST(FaultsE2E, AFullStateFilesystemFailsClearlyKeepsTheDatabaseAndRecoversWhenSpaceReturns) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("pins");
  SmallFilesystem fs(w.tmp_.Sub("state"), "16m");
  if (!fs.mounted()) GTEST_SKIP() << "needs root to mount a tmpfs: " << fs.error();
  std::string cfg =
      w.WriteConfig(w.Env("staging", "",
                          {{"chatty", "i=0; while [ $i -lt 2000 ]; do echo \"line $i\"; i=$((i+1)); done"},
                           {"deploy", kRecordVersion}}),
                    "", "git_timeout: 20s\n");
  Api api(w.port_, w.Token("operator", "disk"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 30000)) << serve.Log();
  // A first run warms the mirrors, as in real life.
  ASSERT_EQ(api.WaitFinal(Trigger(api, "staging"), 60000), "succeeded") << serve.Log();

  // New settings need a fetch; the disk is full.
  w.Pin("staging", "v1.1.0");
  w.PushSettings("staging on v1.1.0");
  fs.Fill("filler");
  struct statvfs st {};
  ASSERT_EQ(statvfs(w.tmp_.Sub("state").c_str(), &st), 0);
  ASSERT_LT(st.f_bavail * st.f_frsize, 64u * 1024);

  // Either the trigger is refused in one sentence, or the run fails in one.
  std::string error;
  auto r = api.Post("/api/v1/environments/staging/trigger");
  ASSERT_TRUE(r) << "the API must answer with a full disk";
  if (r->status == 202) {
    int64_t id = json::parse(r->body)["run_id"].get<int64_t>();
    std::string status = api.WaitFinal(id, 60000);
    json run = api.Run(id);
    EXPECT_EQ(status, "failed") << run.dump(2) << serve.Log();
    error = run["error"].is_string() ? run["error"].get<std::string>() : "";
  } else {
    EXPECT_EQ(r->status, 507) << r->body;
    EXPECT_EQ(json::parse(r->body, nullptr, false).value("error", ""), "insufficient_storage") << r->body;
    error = r->body;
  }
  std::cout << "full disk: " << error << std::endl;
  EXPECT_TRUE(std::regex_search(error, std::regex("[Nn]o space|disk is full|disk full"))) << error;
  EXPECT_TRUE(api.Healthy()) << "the daemon keeps running on a full disk";
  ASSERT_EQ(serve.Wait(0), -1) << serve.Log();

  // Space returns: the next trigger deploys v1.1.0.
  fs.Free("filler");
  int64_t after = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto t = api.Post("/api/v1/environments/staging/trigger");
        if (!t || t->status != 202) return false;
        after = json::parse(t->body)["run_id"].get<int64_t>();
        return true;
      },
      10000));
  EXPECT_EQ(api.WaitFinal(after, 60000), "succeeded") << api.Run(after).dump(2) << serve.Log();
  json env = api.GetJson("/api/v1/environments/staging");
  EXPECT_EQ(env["deployed"]["code_ref"], "v1.1.0") << env.dump(2);
  serve.Signal(SIGTERM);
  EXPECT_EQ(serve.Wait(30000), 0) << serve.Log();
  EXPECT_EQ(IntegrityCheck(w.tmp_.Sub("state/slipway.db")), "ok");
  slipway::testing::KeepForLeakScan(w.tmp_.path());  // before the tmpfs goes away
}

}  // namespace
}  // namespace slipway
