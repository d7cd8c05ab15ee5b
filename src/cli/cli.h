// The command line: one table of subcommands (see commands.cc).
#pragma once

namespace slipway {

// Runs the slipway command line; returns the process exit code:
// 0 succeeded, 1 failed or timed out, 2 usage or config error, 130 cancelled.
int Main(int argc, char** argv);

}  // namespace slipway
