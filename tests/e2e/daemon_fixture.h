// Helpers for the end-to-end tests of `slipway serve` (daemon_*_test.cc):
// the real binary in the background, real git repositories on `git daemon`,
// real HTTP. For tests only.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "testing/leak_scan.h"
#include "testing/testing.h"

namespace slipway::daemon_testing {

using nlohmann::json;
using slipway::testing::GitDaemon;
using slipway::testing::GitRepo;
using slipway::testing::TempDir;

inline int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Polls `done` every 50 ms until it is true or timeout_ms passed.
inline bool WaitFor(const std::function<bool()>& done, int64_t timeout_ms) {
  int64_t deadline = SteadyMs() + timeout_ms;
  while (SteadyMs() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

// `slipway serve -c CONFIG ARGS...` in the background, its output in a file.
// Killed (SIGKILL) on destruction if still running.
class Serve {
 public:
  Serve(const std::string& dir, const std::string& config, const std::vector<std::string>& args = {},
        const std::vector<std::string>& env = {}) {
    static int counter = 0;
    log_path_ = dir + "/serve-" + std::to_string(++counter) + ".log";
    std::vector<std::string> argv = {SLIPWAY_BINARY, "serve", "-c", config};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int devnull = ::open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      dup2(fd, 1);
      dup2(fd, 2);
      if (chdir(dir.c_str()) != 0) _exit(126);
      for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
      std::vector<char*> args_c;
      for (const auto& a : argv) args_c.push_back(const_cast<char*>(a.c_str()));
      args_c.push_back(nullptr);
      execv(SLIPWAY_BINARY, args_c.data());
      _exit(127);
    }
  }
  ~Serve() {
    if (pid_ > 0 && exit_code_ < 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Serve(const Serve&) = delete;
  Serve& operator=(const Serve&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) { kill(pid_, sig); }
  // The exit code (128+N for signal N), or -1 when still running after timeout_ms.
  int Wait(int64_t timeout_ms) {
    if (exit_code_ >= 0) return exit_code_;
    int64_t deadline = SteadyMs() + timeout_ms;
    do {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (SteadyMs() < deadline);
    return -1;
  }
  std::string Log() const { return slipway::testing::ReadTextFile(log_path_); }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

// The API of a daemon on 127.0.0.1:port with a token.
class Api {
 public:
  Api(int port, std::string token = "") : port_(port), token_(std::move(token)) {}
  httplib::Headers Auth(const std::string& token) const {
    if (token.empty()) return {};
    return {{"Authorization", "Bearer " + token}};
  }
  httplib::Result Get(const std::string& path) const { return Client().Get(path, Auth(token_)); }
  httplib::Result Post(const std::string& path, const std::string& body = "{}",
                       const httplib::Headers& headers = {}) const {
    httplib::Headers h = headers;
    for (const auto& kv : Auth(token_)) h.insert(kv);
    return Client().Post(path, h, body, "application/json");
  }
  httplib::Result PostAs(const std::string& token, const std::string& path, const std::string& body = "{}") const {
    return Client().Post(path, Auth(token), body, "application/json");
  }
  httplib::Result GetAs(const std::string& token, const std::string& path) const {
    return Client().Get(path, Auth(token));
  }
  // GET path as JSON; null when the request fails.
  json GetJson(const std::string& path) const {
    auto r = Get(path);
    if (!r || r->status != 200) return nullptr;
    return json::parse(r->body, nullptr, false);
  }
  bool Healthy() const {
    auto r = Client().Get("/healthz");
    return r && r->status == 200;
  }
  // The runs of env, newest first.
  std::vector<json> Runs(const std::string& env) const {
    json j = GetJson("/api/v1/runs?limit=500&environment=" + env);
    std::vector<json> runs;
    if (j.is_object() && j["runs"].is_array()) {
      for (const auto& r : j["runs"]) runs.push_back(r);
    }
    return runs;
  }
  json Run(int64_t id) const { return GetJson("/api/v1/runs/" + std::to_string(id)); }
  // Waits for run id to reach a final status; returns it ("" on timeout).
  std::string WaitFinal(int64_t id, int64_t timeout_ms) const {
    std::string status;
    WaitFor(
        [&] {
          json r = Run(id);
          if (!r.is_object()) return false;
          status = r["status"].get<std::string>();
          return status != "queued" && status != "running";
        },
        timeout_ms);
    return status == "queued" || status == "running" ? "" : status;
  }
  int port() const { return port_; }

 private:
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(30, 0);
    return c;
  }
  int port_;
  std::string token_;
};

// A code repository (VERSION 1.0.0 tagged v1.0.0, 1.1.0 tagged v1.1.0) and a
// settings repository with environments/<env>/deploy.yaml pins, both served
// by git daemon; a config writer; tokens.
class World {
 public:
  World() {
    code_ = std::make_unique<GitRepo>(tmp_.Sub("work/code"));
    code_->Write("VERSION", "1.0.0\n");
    v1_ = code_->Commit("v1");
    code_->Tag("v1.0.0");
    code_->Write("VERSION", "1.1.0\n");
    v11_ = code_->Commit("v1.1");
    code_->Tag("v1.1.0");
    code_->PushTo(tmp_.Sub("remotes/code.git"));
    settings_ = std::make_unique<GitRepo>(tmp_.Sub("work/settings"));
    settings_->Write("README.md", "settings\n");
    git_daemon_ = std::make_unique<GitDaemon>(tmp_.Sub("remotes"));
    port_ = slipway::testing::FreePort();
  }

  // Writes environments/<env>/deploy.yaml pinning ref (not committed).
  void Pin(const std::string& env, const std::string& ref) {
    settings_->Write("environments/" + env + "/deploy.yaml", "code:\n  ref: \"" + ref + "\"\n");
  }
  // Commits the settings work tree and publishes it; returns the commit.
  std::string PushSettings(const std::string& message) {
    std::string commit = settings_->Commit(message);
    settings_->PushTo(tmp_.Sub("remotes/settings.git"));
    return commit;
  }
  std::string SettingsUrl() const { return git_daemon_->Url("settings.git"); }
  std::string CodeUrl() const { return git_daemon_->Url("code.git"); }

  // An environment block for slipway.yaml. `triggers` is the YAML of the
  // triggers map (indented by the caller), `steps` a list of "NAME: RUN".
  std::string Env(const std::string& name, const std::string& triggers,
                  const std::vector<std::pair<std::string, std::string>>& steps) const {
    std::string y = "  " + name + ":\n" + "    settings:\n      url: " + SettingsUrl() + "\n      path: environments/" +
                    name + "\n    code:\n      url: " + CodeUrl() + "\n";
    y += "    env:\n      OUT: " + tmp_.Sub("out") + "\n      GATE: " + tmp_.Sub("gate-" + name) + "\n";
    if (!triggers.empty()) y += "    triggers:\n" + triggers;
    y += "    steps:\n";
    for (const auto& [n, run] : steps) y += "      - name: " + n + "\n        run: " + json(run).dump() + "\n";
    return y;
  }
  // Writes slipway.yaml with the environments and an optional server block
  // extra (webhooks), and returns its path.
  std::string WriteConfig(const std::string& environments, const std::string& server_extra = "",
                          const std::string& top_extra = "") {
    std::string cfg = "state_dir: state\n" + top_extra + "server:\n  listen: 127.0.0.1:" + std::to_string(port_) +
                      "\n" + server_extra + "environments:\n" + environments;
    slipway::testing::WriteTextFile(config_path(), cfg);
    return config_path();
  }
  std::string config_path() const { return tmp_.Sub("slipway.yaml"); }

  // Creates a token with the CLI (no daemon needed).
  std::string Token(const std::string& role, const std::string& name) {
    auto r = slipway::testing::Slipway({"token", "create", "--role", role, "--name", name, "-c", config_path()},
                                       tmp_.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string t = r.out;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    slipway::testing::RecordSecret(t);  // tests/e2e/leak_scan_test.cc
    return t;
  }

  // Opens the gate file of env: a step `while [ ! -f $GATE ]` ends.
  void OpenGate(const std::string& env) { slipway::testing::WriteTextFile(tmp_.Sub("gate-" + env), "open\n"); }
  void CloseGate(const std::string& env) { unlink(tmp_.Sub("gate-" + env).c_str()); }

  TempDir tmp_;
  std::unique_ptr<GitRepo> code_, settings_;
  std::unique_ptr<GitDaemon> git_daemon_;
  std::string v1_, v11_;
  int port_ = 0;
};

// A step that waits for the environment's gate file.
inline constexpr const char* kWaitForGate = "while [ ! -f \"$GATE\" ]; do sleep 0.05; done";
// A step that records the deployed version.
inline constexpr const char* kRecordVersion =
    "mkdir -p \"$OUT\" && echo \"$SLIPWAY_RUN_ID $(cat VERSION) $SLIPWAY_SETTINGS_COMMIT\" >> "
    "\"$OUT/$SLIPWAY_ENV.txt\"";

}  // namespace slipway::daemon_testing
