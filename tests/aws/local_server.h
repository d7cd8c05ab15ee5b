// For tests only: runs one of the Python servers of tests/aws on 127.0.0.1.
// The server prints "PORT <n>" when it listens; the destructor stops it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aws/http.h"
#include "testing/testing.h"

namespace slipway::aws::testing {

// The Python for test helpers: $SLIPWAY_TEST_PYTHON, else Debian's
// /usr/bin/python3 (where `make setup` installs python3-botocore; it also
// starts faster than a pyenv shim), else python3 from PATH.
inline std::string TestPython() {
  const char* env = std::getenv("SLIPWAY_TEST_PYTHON");
  if (env != nullptr && *env != '\0') return env;
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return "python3";
}

class LocalServer {
 public:
  // script: a file name under tests/aws; args: its arguments.
  LocalServer(const std::string& script, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {TestPython(), std::string(SLIPWAY_SOURCE_DIR) + "/tests/aws/" + script};
    argv.insert(argv.end(), args.begin(), args.end());
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe failed";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      setpgid(0, 0);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execvp(cargv[0], cargv.data());
      _exit(127);
    }
    close(out[1]);
    std::string line;
    pollfd pfd{out[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos && poll(&pfd, 1, 15000) > 0) {
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    if (line.rfind("PORT ", 0) != 0) {
      ADD_FAILURE() << script << " did not start (is python3 with botocore installed?): " << line;
      return;
    }
    port_ = std::stoi(line.substr(5));
  }
  ~LocalServer() {
    if (pid_ > 0) {
      kill(-pid_, SIGTERM);
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  int port() const { return port_; }
  bool ok() const { return port_ > 0; }
  // http://127.0.0.1:PORT
  std::string Origin() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// tests/aws/fake_sts.py with a JSON configuration (see that file).
class FakeSts {
 public:
  explicit FakeSts(const nlohmann::json& config) {
    slipway::testing::WriteTextFile(dir_.Sub("sts.json"), config.dump());
    server_ = std::make_unique<LocalServer>("fake_sts.py", std::vector<std::string>{"--config", dir_.Sub("sts.json")});
  }
  bool ok() const { return server_->ok(); }
  std::string Origin() const { return server_->Origin(); }
  // The requests it handled so far.
  nlohmann::json Log() const {
    auto http = NewCurlHttpClient(HttpSettings{});
    Result<HttpResponse> r = http->Send(HttpRequest{"GET", Origin() + "/_log", {}, ""});
    return r.ok() ? nlohmann::json::parse(r->body) : nlohmann::json::array();
  }

 private:
  slipway::testing::TempDir dir_;
  std::unique_ptr<LocalServer> server_;
};

}  // namespace slipway::aws::testing
