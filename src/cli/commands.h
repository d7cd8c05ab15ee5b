// Internal to the CLI: the subcommand table and helpers shared by commands.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "store/store.h"
#include "util/status.h"

namespace slipway {

// Exit codes (doc/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCancelled = 130;

struct Command {
  const char* name;
  const char* help;  // one line
  // argv[0] is the command name; argv[1..] its arguments.
  int (*handler)(int argc, char** argv);
};
const std::vector<Command>& Commands();

// Prints "slipway: MESSAGE" (each line of a multi-line message) on stderr.
void PrintError(const std::string& message);

// Loads the config named by -c / SLIPWAY_CONFIG / ./slipway.yaml. On error,
// prints it and returns an error.
Result<Config> LoadConfigOrReport(const std::string& flag_path);
// Opens the store of the config's state dir.
Result<std::unique_ptr<Store>> OpenStore(const Config& config);
// The environment, or an error naming it with a did-you-mean hint.
Result<const EnvironmentConfig*> FindEnvironment(const Config& config, const std::string& name);

int ExitCodeFor(RunStatus status);

// Copies run `id`'s log to `out`. With follow, goes on until the run is
// final (waiting while it is queued) and returns its final status; without,
// copies what is there and returns the current status.
Result<RunStatus> CopyRunLog(Store& store, int64_t id, bool follow, std::FILE* out);

// Commands implemented in their own files.
int DemoCommand(int argc, char** argv);

}  // namespace slipway
