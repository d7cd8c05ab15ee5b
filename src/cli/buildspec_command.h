// `slipway buildspec run FILE`: runs an AWS CodeBuild buildspec 0.2 locally,
// with no daemon and no config file (doc/buildspec.md, doc/cli.md).
#pragma once

namespace slipway {

// argv[0] is "buildspec", argv[1] the subcommand ("run"), then its arguments:
//   run FILE [--src DIR] [--env K=V]... [--timeout MINUTES] [--artifacts DIR] [--json]
// The CodeBuild-format log goes to stdout, or to stderr with --json, which
// prints the build record (BuildResultToJson) on stdout.
// Returns 0 SUCCEEDED, 1 FAILED or TIMED_OUT, 2 a buildspec that cannot be
// used (YAML_FILE_ERROR, a refusal) or a usage error, 130 when stopped by
// SIGINT/SIGTERM (STOPPED).
int BuildspecCommand(int argc, char** argv);

// The same, for callers that already consumed the word "run": argv[0] is
// "run" (or any program name) and argv[1..] the arguments above.
int BuildspecRunCommand(int argc, char** argv);

}  // namespace slipway
