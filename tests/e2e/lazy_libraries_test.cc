// libpq and libcurl are loaded at first use, not at start (issue 5's idle
// RSS; src/dynlib/): what the real `slipway serve` has mapped, read from
// /proc/PID/maps, before and after the features that need them.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "e2e/daemon_fixture.h"
#include "testing/postgres.h"

namespace slipway {
namespace {

using daemon_testing::Api;
using daemon_testing::json;
using daemon_testing::kRecordVersion;
using daemon_testing::Serve;
using daemon_testing::WaitFor;
using daemon_testing::World;

// Whether process pid has the library `soname` mapped: maps names the file
// the soname links to, e.g. /usr/lib/x86_64-linux-gnu/libpq.so.5.15.
bool Maps(pid_t pid, const std::string& soname) {
  std::string maps = testing::ReadTextFile("/proc/" + std::to_string(pid) + "/maps");
  EXPECT_FALSE(maps.empty()) << "cannot read /proc/" << pid << "/maps";
  std::string needle = "/" + soname;
  for (size_t at = maps.find(needle); at != std::string::npos; at = maps.find(needle, at + 1)) {
    char next = at + needle.size() < maps.size() ? maps[at + needle.size()] : '\n';
    if (next == '\n' || next == '.') return true;
  }
  return false;
}

int64_t TriggerAndWait(const Api& api, const std::string& env, const Serve& serve) {
  auto r = api.Post("/api/v1/environments/" + env + "/trigger");
  if (!r || r->status != 202) {
    ADD_FAILURE() << "trigger " << env << ": " << (r ? r->body : "no answer");
    return 0;
  }
  int64_t id = json::parse(r->body)["run_id"].get<int64_t>();
  EXPECT_EQ(api.WaitFinal(id, 60000), "succeeded") << serve.Log();
  return id;
}

TEST(LazyLibrariesE2E, ADaemonOnSqliteWithoutAwsOrNotificationsNeverMapsLibpqOrLibcurl) {
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("pin");
  std::string cfg = w.WriteConfig(w.Env("staging", "", {{"deploy", kRecordVersion}}));
  Api api(w.port_, w.Token("operator", "ops"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  EXPECT_FALSE(Maps(serve.pid(), "libpq.so.5"));
  EXPECT_FALSE(Maps(serve.pid(), "libcurl.so.4"));
  // Nor does a deploy, which uses neither.
  TriggerAndWait(api, "staging", serve);
  EXPECT_FALSE(Maps(serve.pid(), "libpq.so.5"));
  EXPECT_FALSE(Maps(serve.pid(), "libcurl.so.4"));
}

// A local webhook receiver that counts the notifications it gets.
class Receiver {
 public:
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++got_;
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  int Got() {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  int got_ = 0;
};

TEST(LazyLibrariesE2E, TheFirstNotificationLoadsLibcurlAndIsDelivered) {
  Receiver receiver;
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("pin");
  std::string cfg =
      w.WriteConfig(w.Env("staging", "", {{"deploy", kRecordVersion}}), "",
                    "notify:\n  - type: webhook\n    url: " + receiver.Url() + "\n    events: [success]\n");
  Api api(w.port_, w.Token("operator", "ops"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  EXPECT_FALSE(Maps(serve.pid(), "libcurl.so.4")) << "configured notifications alone must not load libcurl";
  TriggerAndWait(api, "staging", serve);
  EXPECT_TRUE(WaitFor([&] { return receiver.Got() == 1; }, 15000)) << serve.Log();
  EXPECT_TRUE(Maps(serve.pid(), "libcurl.so.4"));
  EXPECT_FALSE(Maps(serve.pid(), "libpq.so.5"));
}

TEST(LazyLibrariesE2E, AFleetNodeLoadsLibpqAndServes) {
  SLIPWAY_NEW_POSTGRES_DATABASE_OR_SKIP(url);
  World w;
  w.Pin("staging", "v1.0.0");
  w.PushSettings("pin");
  std::string cfg = w.WriteConfig(w.Env("staging", "", {{"deploy", kRecordVersion}}), "", "database: " + url + "\n");
  Api api(w.port_, w.Token("operator", "ops"));
  Serve serve(w.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  TriggerAndWait(api, "staging", serve);
  EXPECT_TRUE(Maps(serve.pid(), "libpq.so.5"));
  EXPECT_FALSE(Maps(serve.pid(), "libcurl.so.4"));
}

}  // namespace
}  // namespace slipway
