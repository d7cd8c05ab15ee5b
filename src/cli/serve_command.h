// `slipway serve`: the always-on engine (doc/daemon.md) — the daemon and its
// HTTP API in one process, until SIGTERM or SIGINT. SIGHUP reloads the
// config.
#pragma once

namespace slipway {

// serve [-c FILE] [--listen HOST:PORT] [--grace DURATION]
// Returns 0 after a clean shutdown, 1 when the engine cannot start (store,
// port), 2 for a config that does not load.
int ServeCommand(int argc, char** argv);

}  // namespace slipway
