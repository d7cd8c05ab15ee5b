// The commands that talk to a running `slipway serve` over its HTTP API
// (doc/daemon.md, doc/api.md): trigger, cancel, rollback, pause, resume —
// and `token`, which works on the store directly (no daemon needed).
//
// The daemon's address: --server URL, else $SLIPWAY_SERVER, else
// server.listen of the local slipway.yaml. The token: --token, else
// $SLIPWAY_TOKEN.
//
// Exit codes: 0 done; 1 the daemon refused or could not be reached (the
// reason on stderr in one sentence); 2 usage errors. `trigger --wait` and
// `rollback --wait` exit like `slipway run`: 0 succeeded, 1 failed, 130
// cancelled.
#pragma once

#include <string>

namespace slipway {

int TriggerCommand(int argc, char** argv);   // trigger ENV [--ref REF] [--wait]
int CancelCommand(int argc, char** argv);    // cancel RUN
int RollbackCommand(int argc, char** argv);  // rollback ENV [--to RUN] [--wait]
int PauseCommand(int argc, char** argv);     // pause ENV
int ResumeCommand(int argc, char** argv);    // resume ENV
// token create --role viewer|operator|admin [--name N] | token list | token delete ID
int TokenCommand(int argc, char** argv);

// The base URL of the daemon ("http://127.0.0.1:8080") from the flag, the
// environment or the config's server.listen ("0.0.0.0" and "::" become
// loopback). Exposed for tests.
std::string DaemonUrl(const std::string& flag, const std::string& config_flag, std::string* error);

}  // namespace slipway
