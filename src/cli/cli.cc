#include "cli/cli.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"
#include "proc/process.h"
#include "util/strings.h"

namespace slipway {

namespace {

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "Slipway: a merge on your settings repository deploys a pinned version of your code.\n\n"
               "usage: slipway [-c FILE] COMMAND [ARGS...]\n\ncommands:\n");
  for (const auto& c : Commands()) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
  std::fprintf(out,
               "\nThe config is ./slipway.yaml unless -c FILE or SLIPWAY_CONFIG names another.\n"
               "Run 'slipway COMMAND --help' for a command's options.\n");
}

}  // namespace

int Main(int argc, char** argv) {
  // Orphaned grandchildren of steps are re-parented to us, so a step is only
  // finished when all of its processes are.
  (void)BecomeSubreaper();

  // Global options may precede the command: -c FILE / --config FILE.
  std::vector<char*> args(argv, argv + argc);
  std::string config_flag;
  size_t i = 1;
  while (i < args.size() && args[i][0] == '-') {
    std::string a = args[i];
    if ((a == "-c" || a == "--config") && i + 1 < args.size()) {
      config_flag = args[i + 1];
      i += 2;
    } else if (StartsWith(a, "--config=")) {
      config_flag = a.substr(9);
      i += 1;
    } else if (a == "-h" || a == "--help") {
      PrintUsage(stdout);
      return kExitOk;
    } else if (a == "--version") {
      std::printf("slipway 0.1.0\n");
      return kExitOk;
    } else {
      PrintError("unknown option '" + a + "'; run 'slipway --help'");
      return kExitUsage;
    }
  }
  if (i >= args.size()) {
    PrintUsage(stderr);
    return kExitUsage;
  }
  std::string name = args[i];
  if (name == "help") {
    PrintUsage(stdout);
    return kExitOk;
  }
  for (const auto& c : Commands()) {
    if (name == c.name) {
      std::vector<char*> sub(args.begin() + static_cast<long>(i), args.end());
      // Hand a global -c to the command as if it had been given after it.
      static std::string c_flag = "--config";
      if (!config_flag.empty()) {
        sub.push_back(c_flag.data());
        sub.push_back(config_flag.data());
      }
      sub.push_back(nullptr);
      return c.handler(static_cast<int>(sub.size() - 1), sub.data());
    }
  }
  std::vector<std::string> names;
  for (const auto& c : Commands()) names.push_back(c.name);
  PrintError("unknown command '" + name + "'" + DidYouMeanHint(name, names) + " (run 'slipway --help')");
  return kExitUsage;
}

}  // namespace slipway
