#include "cli/buildspec_command.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "buildspec/runner.h"
#include "cli/commands.h"
#include "proc/process.h"
#include "proc/sigpipe.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

// Ctrl-C and SIGTERM stop the build through one token (async-signal-safe).
CancelToken* g_buildspec_cancel = nullptr;
void OnBuildspecSignal(int) {
  if (g_buildspec_cancel != nullptr) g_buildspec_cancel->Cancel();
}

struct RunFlags {
  std::string file;
  std::string src;
  std::vector<std::string> env;
  double timeout_minutes = 60;
  std::string artifacts;
  bool json = false;
};

int RunBuildspecFile(const RunFlags& flags) {
  BuildspecRunOptions options;
  std::string cwd = CurrentDir();
  options.buildspec_path = AbsolutePath(flags.file, cwd);
  options.src_dir = AbsolutePath(flags.src.empty() ? "." : flags.src, cwd);
  if (!IsDirectory(options.src_dir)) {
    PrintError("buildspec run: source directory '" + options.src_dir + "' does not exist (--src)");
    return kExitUsage;
  }
  for (const auto& kv : flags.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      PrintError("buildspec run: --env '" + kv + "' is not NAME=VALUE");
      return kExitUsage;
    }
    options.overrides[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!(flags.timeout_minutes > 0) || flags.timeout_minutes > 2160) {
    PrintError("buildspec run: --timeout must be between 0 and 2160 minutes (36 hours)");
    return kExitUsage;
  }
  options.timeout_ms = static_cast<int64_t>(std::llround(flags.timeout_minutes * 60'000));
  if (!flags.artifacts.empty()) options.artifacts_dir = AbsolutePath(flags.artifacts, cwd);

  // Only the allow-list of our own environment reaches the commands (DESIGN.md §5).
  options.base_env = AllowedBaseEnvironment();
  auto user = options.base_env.find("USER");
  options.initiator = user != options.base_env.end() ? user->second : "slipway";
  auto tmp = options.base_env.find("TMPDIR");
  if (tmp != options.base_env.end() && IsDirectory(tmp->second)) options.temp_parent = tmp->second;

  int log_fd = flags.json ? STDERR_FILENO : STDOUT_FILENO;
  bool log_ok = true;
  options.log = [&](std::string_view chunk) {
    // A closed terminal must not stop the build; keep running, stop writing.
    if (log_ok && !WriteAllNoSigpipe(log_fd, chunk, "log").ok()) log_ok = false;
  };

  CancelToken cancel;
  options.cancel = &cancel;
  g_buildspec_cancel = &cancel;
  struct sigaction sa = {};
  struct sigaction old_int = {}, old_term = {};
  sa.sa_handler = OnBuildspecSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  Result<BuildResult> result = RunBuildspec(options);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  g_buildspec_cancel = nullptr;

  if (!result.ok()) {
    PrintError("buildspec run: " + result.status().message());
    return kExitFailed;
  }
  if (flags.json) {
    std::string json = BuildResultToJson(*result) + "\n";
    (void)WriteAllNoSigpipe(STDOUT_FILENO, json, "stdout");
  }
  if (result->rejected()) {
    const PhaseRecord& ds = result->phases[0];
    PrintError("buildspec run: " + ds.context_code + ": " + ds.context_message);
    return kExitUsage;
  }
  switch (result->status) {
    case BuildStatus::kSucceeded:
      return kExitOk;
    case BuildStatus::kStopped:
      return kExitCancelled;
    default:
      return kExitFailed;
  }
}

}  // namespace

int BuildspecRunCommand(int argc, char** argv) {
  RunFlags flags;
  CLI::App app("Run an AWS CodeBuild buildspec 0.2 locally, with CodeBuild's semantics (doc/buildspec.md)",
               "buildspec run");
  app.add_option("FILE", flags.file, "the buildspec file")->required();
  app.add_option("--src", flags.src, "CODEBUILD_SRC_DIR and the first working directory (default: .)");
  app.add_option("--env", flags.env, "NAME=VALUE, a start-build override (repeatable)")->take_all();
  app.add_option("--timeout", flags.timeout_minutes, "build timeout in minutes (default 60)");
  app.add_option("--artifacts", flags.artifacts, "copy artifacts (and report files) into this folder");
  app.add_flag("--json", flags.json, "print the build record as JSON on stdout; the log goes to stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    PrintError(std::string("buildspec run: ") + e.what() + " (run 'slipway buildspec run --help')");
    return kExitUsage;
  }
  return RunBuildspecFile(flags);
}

int BuildspecCommand(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "run") return BuildspecRunCommand(argc - 1, argv + 1);
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf(
        "usage: slipway buildspec run FILE [--src DIR] [--env NAME=VALUE]... [--timeout MINUTES] "
        "[--artifacts DIR] [--json]\n\nRuns an AWS CodeBuild buildspec 0.2 locally (doc/buildspec.md).\n");
    return kExitOk;
  }
  std::string word = argc >= 2 ? argv[1] : "";
  PrintError("buildspec: " +
             (word.empty() ? std::string("missing subcommand")
                           : "unknown subcommand '" + word + "'" + DidYouMeanHint(word, {"run"})) +
             "\nusage: slipway buildspec run FILE [--src DIR] [--env NAME=VALUE]... [--timeout MINUTES] "
             "[--artifacts DIR] [--json]");
  return kExitUsage;
}

}  // namespace slipway
