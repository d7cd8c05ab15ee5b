// `slipway demo`: a complete, local rendition of the article's setup.
//
// Builds, under a directory of its own, a public "code" repository whose
// Makefile is the contract (setup / lint / all-tests / deploy, where deploy
// writes the deployed version into a local "target" folder standing in for
// the cloud account), tagged v1.0.0 and v1.1.0; a private "settings"
// repository with environments/staging and environments/production pinned to
// different tags; and a slipway.yaml. Then deploys both environments, shows
// the status, and starts `slipway serve` in the background (the API and the
// dashboard) with an operator token, so that a pushed settings change deploys
// by itself.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "proc/process.h"
#include "server/auth.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

// The repositories are made by a plain shell script, the way a user would.
constexpr const char* kSetupScript = R"SH(
set -eu
export GIT_AUTHOR_NAME="Slipway Demo" GIT_AUTHOR_EMAIL="demo@slipway.invalid"
export GIT_COMMITTER_NAME="Slipway Demo" GIT_COMMITTER_EMAIL="demo@slipway.invalid"
git() { command git -c init.defaultBranch=main -c advice.detachedHead=false "$@"; }
mkdir -p work/code work/settings remotes target

# The public code base: its Makefile is the contract between people and automation.
cd work/code
git init -q
cat > Makefile <<'MAKE'
VERSION := $(shell cat VERSION)
TARGET_DIR ?= ../target

.PHONY: setup lint all-tests deploy
setup:
	@echo "setup: preparing version $(VERSION)"
lint:
	@echo "lint: checking settings.yaml"
	@test -f settings.yaml || { echo "settings.yaml is missing"; exit 1; }
	@grep -q '^account:' settings.yaml || { echo "settings.yaml has no account"; exit 1; }
all-tests:
	@echo "all-tests: 3 passed"
deploy:
	@mkdir -p "$(TARGET_DIR)"
	@printf 'environment=%s\nversion=%s\ncommit=%s\naccount=%s\n' "$(SLIPWAY_ENV)" "$(VERSION)" \
	  "$(SLIPWAY_CODE_COMMIT)" "$$(sed -n 's/^account: *//p' settings.yaml)" > "$(TARGET_DIR)/$(SLIPWAY_ENV).txt"
	@echo "deploy: $(SLIPWAY_ENV) now runs $(VERSION)"
MAKE
echo "1.0.0" > VERSION
echo "# A public code base deployed by Slipway" > README.md
git add -A && git commit -q -m "First release" && git tag v1.0.0
echo "1.1.0" > VERSION
git add -A && git commit -q -m "Second release" && git tag -a -m "Release 1.1.0" v1.1.0
git clone -q --bare . ../../remotes/code.git

# The private settings: one folder per environment, changed by pull request.
cd ../settings
git init -q
mkdir -p environments/staging environments/production
printf 'code:\n  ref: v1.1.0\nvariables:\n  VERBOSITY: DEBUG\n' > environments/staging/deploy.yaml
printf 'account: 222222222222\n' > environments/staging/settings.yaml
printf 'code:\n  ref: v1.0.0\nvariables:\n  VERBOSITY: INFO\n' > environments/production/deploy.yaml
printf 'account: 333333333333\n' > environments/production/settings.yaml
git add -A && git commit -q -m "Staging on v1.1.0, production on v1.0.0"
git clone -q --bare . ../../remotes/settings.git
)SH";

std::string ConfigText(const std::string& dir, int port) {
  return "# The demo's engine config; see doc/config.md.\n"
         "state_dir: .slipway\n"
         "server:\n"
         "  listen: 127.0.0.1:" +
         std::to_string(port) +
         "\n"
         "environments:\n"
         "  staging:\n"
         "    settings:\n"
         "      url: file://" +
         dir +
         "/remotes/settings.git\n"
         "      branch: main\n"
         "      path: environments/staging\n"
         "    code:\n"
         "      url: file://" +
         dir +
         "/remotes/code.git\n"
         "    env:\n"
         "      TARGET_DIR: " +
         dir +
         "/target\n"
         "    triggers:\n"
         "      push: { poll: 10s }\n"
         "  production:\n"
         "    settings:\n"
         "      url: file://" +
         dir +
         "/remotes/settings.git\n"
         "      branch: main\n"
         "      path: environments/production\n"
         "    code:\n"
         "      url: file://" +
         dir +
         "/remotes/code.git\n"
         "    env:\n"
         "      TARGET_DIR: " +
         dir +
         "/target\n"
         "    triggers:\n"
         "      schedule: [\"0 3 * * *\"]\n";
}

// `port` on loopback when it is free, else any free port; 0 when none.
int PickPort(int port) {
  for (int candidate : {port, 0}) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(candidate));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) continue;
    socklen_t len = sizeof addr;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    return ntohs(addr.sin_port);
  }
  return 0;
}

// The daemon a previous demo in `dir` left running, stopped (SIGTERM, then
// SIGKILL after 10 s). Only a process that still runs `slipway serve` is
// signalled, never whatever reused its pid.
void StopPreviousDaemon(const std::string& dir) {
  Result<std::string> text = ReadFile(JoinPath(dir, "serve.pid"));
  if (!text.ok()) return;
  pid_t pid = static_cast<pid_t>(std::atoll(text->c_str()));
  if (pid <= 1) return;
  Result<std::string> cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::string ours = std::string("serve") + '\0' + "-c" + '\0' + JoinPath(dir, "slipway.yaml") + '\0';
  if (!cmdline.ok() || cmdline->find(ours) == std::string::npos) {
    return;
  }
  std::printf("==> stopping the daemon of the previous demo (pid %d)\n", static_cast<int>(pid));
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
}

// Starts `SELF serve -c CONFIG` in a session of its own, its output in
// DIR/serve.log, and waits until it answers /healthz. Returns its pid.
Result<pid_t> StartDaemon(const std::string& self, const std::string& dir, const std::string& config_path, int port) {
  std::string log_path = JoinPath(dir, "serve.log");
  pid_t pid = ::fork();
  if (pid < 0) return PosixError("start slipway serve", errno);
  if (pid == 0) {
    ::setsid();
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (in < 0 || out < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execl(self.c_str(), self.c_str(), "serve", "-c", config_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  (void)WriteFile(JoinPath(dir, "serve.pid"), std::to_string(pid) + "\n");
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(0, 200'000);
  for (int i = 0; i < 150; ++i) {
    int wstatus = 0;
    if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
      return Failed("slipway serve stopped at once (" + DecodeWaitStatus(wstatus).Describe() + "); see " + log_path);
    }
    httplib::Result r = client.Get("/healthz");
    if (r && r->status == 200) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGTERM);
  return Failed("slipway serve did not answer on 127.0.0.1:" + std::to_string(port) + " within 15 s; see " + log_path);
}

}  // namespace

int DemoCommand(int argc, char** argv) {
  std::string dir = "demo";
  std::string config_flag;  // accepted for symmetry, unused: the demo writes its own
  int port = 8080;
  CLI::App app("Build a demo code repo and settings repo, deploy two environments, start the daemon", "demo");
  app.add_option("--dir", dir, "where to build the demo (default ./demo; recreated when it is a demo)");
  app.add_option("--port", port, "the daemon's port on 127.0.0.1 (default 8080; another free one when taken)")
      ->check(CLI::Range(0, 65535));
  app.add_option("-c,--config", config_flag, "ignored: the demo writes its own slipway.yaml");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    PrintError(std::string("demo: ") + e.what());
    return kExitUsage;
  }
  dir = AbsolutePath(dir, CurrentDir());
  std::string marker = JoinPath(dir, ".slipway-demo");
  if (PathExists(dir)) {
    if (!PathExists(marker)) {
      PrintError("'" + dir + "' exists and is not a Slipway demo; choose another place with --dir");
      return kExitUsage;
    }
    StopPreviousDaemon(dir);
    if (Status s = RemoveTree(dir); !s.ok()) {
      PrintError(s.message());
      return kExitFailed;
    }
  }
  if (Status s = MakeDirs(dir); !s.ok()) {
    PrintError(s.message());
    return kExitFailed;
  }
  (void)WriteFile(marker, "made by slipway demo; safe to delete\n");

  std::printf("==> building a code repository (tags v1.0.0, v1.1.0) and a settings repository in %s\n", dir.c_str());
  ProcessOptions setup;
  setup.argv = {"/bin/sh", "-c", kSetupScript};
  setup.env = AllowedBaseEnvironment();
  setup.cwd = dir;
  setup.timeout_ms = 120'000;
  Result<ProcessResult> made =
      RunProcess(setup, [](std::string_view chunk) { std::fwrite(chunk.data(), 1, chunk.size(), stdout); });
  if (!made.ok() || !made->exit.success()) {
    PrintError("demo setup failed: " + (made.ok() ? made->exit.Describe() : made.status().message()));
    return kExitFailed;
  }
  int listen_port = PickPort(port);
  if (listen_port == 0) {
    PrintError("demo: no free port on 127.0.0.1 for the daemon");
    return kExitFailed;
  }
  std::string config_path = JoinPath(dir, "slipway.yaml");
  if (Status s = WriteFile(config_path, ConfigText(dir, listen_port)); !s.ok()) {
    PrintError(s.message());
    return kExitFailed;
  }
  Result<Config> config = LoadConfigOrReport(config_path);
  if (!config.ok()) return kExitFailed;
  Result<std::unique_ptr<Store>> store = OpenStore(*config);
  if (!store.ok()) return kExitFailed;
  Pipeline pipeline(*config, **store);
  int rc = kExitOk;
  for (const auto& env : config->environments) {
    std::printf("\n==> slipway run %s\n", env.name.c_str());
    std::fflush(stdout);
    RunOptions options;
    options.trigger = "manual";
    options.actor = "demo";
    options.echo_fd = 1;
    Result<RunRecord> run = pipeline.Run(env, options);
    if (!run.ok() || run->status != RunStatus::kSucceeded) {
      PrintError("demo run of '" + env.name + "' did not succeed: " + (run.ok() ? run->error : run.status().message()));
      rc = kExitFailed;
    }
  }
  std::printf("\n==> slipway status\n");
  std::fflush(stdout);
  std::vector<std::string> args = {"status", "--config", config_path};
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  for (const auto& c : Commands()) {
    if (std::string(c.name) == "status") c.handler(static_cast<int>(args.size()), cargs.data());
  }
  if (rc != kExitOk) return rc;

  // The daemon: the API, the dashboard and the triggers, with a token to use them.
  Result<CreatedToken> token = CreateToken(**store, TokenRole::kOperator, "demo");
  if (!token.ok()) {
    PrintError("demo: " + token.status().message());
    return kExitFailed;
  }
  // The commands to try name this very binary, wherever it was built.
  std::string self = "slipway";
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) self.assign(exe, static_cast<size_t>(n));
  std::printf("\n==> slipway serve (in the background)\n");
  std::fflush(stdout);
  Result<pid_t> daemon = StartDaemon(self, dir, config_path, listen_port);
  if (!daemon.ok()) {
    PrintError("demo: " + daemon.status().message());
    return kExitFailed;
  }
  std::string url = "http://127.0.0.1:" + std::to_string(listen_port) + "/";
  std::printf(
      "The daemon runs as pid %d; its log is %s/serve.log.\n\n"
      "  Dashboard:       %s\n"
      "  Operator token:  %s\n\n"
      "What the target account now runs:\n  %s/target/staging.txt and %s/target/production.txt\n\n"
      "Push a settings change and watch it deploy (the daemon polls the settings repository every 10 s):\n"
      "  cd %s\n"
      "  alias slipway=%s\n"
      "  export SLIPWAY_CONFIG=$PWD/slipway.yaml SLIPWAY_TOKEN=%s\n"
      "  (cd work/settings && sed -i 's/^account: .*/account: 444444444444/' environments/staging/settings.yaml &&\n"
      "   git commit -qam 'Staging moves to account 444444444444' && git push -q ../../remotes/settings.git main)\n"
      "  slipway logs --env staging --follow   # waits for the push's run and prints its log as it runs\n"
      "  cat target/staging.txt\n\n"
      "More to try:\n"
      "  slipway status; slipway history; slipway plan production\n"
      "  slipway trigger production --wait\n"
      "  slipway rollback staging   # 'slipway status' then says held, until: slipway resume staging\n"
      "Stop the daemon with: kill %d   (running 'slipway demo' again also replaces it)\n",
      static_cast<int>(*daemon), dir.c_str(), url.c_str(), token->token.c_str(), dir.c_str(), dir.c_str(), dir.c_str(),
      self.c_str(), token->token.c_str(), static_cast<int>(*daemon));
  return rc;
}

}  // namespace slipway
