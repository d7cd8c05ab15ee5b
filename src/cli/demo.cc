// `slipway demo`: a complete, local rendition of the article's setup.
//
// Builds, under a directory of its own, a public "code" repository whose
// Makefile is the contract (setup / lint / all-tests / deploy, where deploy
// writes the deployed version into a local "target" folder standing in for
// the cloud account), tagged v1.0.0 and v1.1.0; a private "settings"
// repository with environments/staging and environments/production pinned to
// different tags; and a slipway.yaml. Then deploys both environments and
// shows the status.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "proc/process.h"
#include "util/fs.h"

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

std::string ConfigText(const std::string& dir) {
  return "# The demo's engine config; see doc/config.md.\n"
         "state_dir: .slipway\n"
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

}  // namespace

int DemoCommand(int argc, char** argv) {
  std::string dir = "demo";
  std::string config_flag;  // accepted for symmetry, unused: the demo writes its own
  CLI::App app("Build a demo code repo and settings repo, then deploy two environments", "demo");
  app.add_option("--dir", dir, "where to build the demo (default ./demo; recreated when it is a demo)");
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
  std::string config_path = JoinPath(dir, "slipway.yaml");
  if (Status s = WriteFile(config_path, ConfigText(dir)); !s.ok()) {
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
  // The commands to try name this very binary, wherever it was built.
  std::string self = "slipway";
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) self.assign(exe, static_cast<size_t>(n));
  std::printf(
      "\nWhat the target account now runs:\n  %s/target/staging.txt and %s/target/production.txt\n\n"
      "Try it yourself:\n"
      "  cd %s\n"
      "  %s plan production        # what would change, nothing runs\n"
      "  (cd work/settings && sed -i 's/v1.0.0/v1.1.0/' environments/production/deploy.yaml &&\n"
      "   git commit -qam 'Production to v1.1.0' && git push -q ../../remotes/settings.git main)\n"
      "  %s run production         # deploys v1.1.0\n"
      "  %s history; %s logs 3\n",
      dir.c_str(), dir.c_str(), dir.c_str(), self.c_str(), self.c_str(), self.c_str(), self.c_str());
  return rc;
}

}  // namespace slipway
