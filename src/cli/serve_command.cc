#include "cli/serve_command.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "daemon/daemon.h"
#include "server/api_server.h"
#include "util/strings.h"

namespace slipway {

int ServeCommand(int argc, char** argv) {
  std::string config_flag, listen, grace = "30s", heartbeat = "2s", node_ttl = "15s";
  CLI::App app("Run the engine: triggers, the run queue and the HTTP API, until SIGTERM", "serve");
  app.add_option("-c,--config", config_flag, "the engine config (default ./slipway.yaml or $SLIPWAY_CONFIG)");
  app.add_option("--listen", listen, "HOST:PORT to serve the API on (default: server.listen of the config)");
  app.add_option("--grace", grace, "on SIGTERM, how long running steps may go on before they are cancelled (30s)");
  app.add_option("--heartbeat", heartbeat, "fleet mode: how often this node heartbeats and renews its leases (2s)");
  app.add_option("--node-ttl", node_ttl,
                 "fleet mode: a node silent this long is declared lost and its runs interrupted (15s)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    PrintError(std::string("serve: ") + e.what() + " (run 'slipway serve --help')");
    return kExitUsage;
  }
  DaemonOptions options;
  if (!ParseDuration(grace, &options.shutdown_grace_ms)) {
    PrintError("serve: --grace must be a duration like 30s or 2m, got '" + grace + "'");
    return kExitUsage;
  }
  if (!ParseDuration(heartbeat, &options.heartbeat_ms) || options.heartbeat_ms <= 0 ||
      !ParseDuration(node_ttl, &options.node_ttl_ms) || options.node_ttl_ms < 2 * options.heartbeat_ms) {
    PrintError(
        "serve: --heartbeat and --node-ttl must be durations like 2s and 15s, the TTL at least twice the "
        "heartbeat; got '" +
        heartbeat + "' and '" + node_ttl + "'");
    return kExitUsage;
  }
  Result<Config> config = LoadConfigOrReport(config_flag);
  if (!config.ok()) return kExitUsage;
  if (Status checked = CheckDaemonConfig(*config); !checked.ok()) {
    PrintError(checked.message());
    return kExitUsage;
  }
  Result<std::unique_ptr<Store>> store = OpenStore(*config);
  if (!store.ok()) return kExitFailed;

  // glibc's defaults return the top of the heap to the kernel as soon as 128
  // KiB are free: a step printing fast makes the log path allocate and free
  // ~100 KiB buffers per chunk, and every one of them then costs a brk() and
  // fresh page faults (10x slower output, measured in bench/daemon). Keep a
  // few MiB instead, and few arenas so that idle threads hold no memory.
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
  mallopt(M_TOP_PAD, 1 << 20);
  mallopt(M_ARENA_MAX, 2);

  // Signals are taken synchronously by this thread (sigwaitinfo below): block
  // them before any thread starts, so that every thread inherits the mask.
  // Steps start with an empty mask and default dispositions whatever ours are.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client that goes away mid-answer must not kill the engine.
  ::signal(SIGPIPE, SIG_IGN);

  ApiServerOptions server_options;
  server_options.listen = listen.empty() ? config->server.listen : listen;
  options.fleet = IsPostgresUrl(config->database);
  options.node_address = server_options.listen;
  Daemon daemon(std::move(config).value(), std::move(store).value(), options);
  ApiServer server(daemon, server_options);
  if (Status bound = server.Bind(); !bound.ok()) {
    PrintError(bound.message());
    return kExitFailed;
  }
  if (Status started = daemon.Start(); !started.ok()) {
    PrintError(started.message());
    return kExitFailed;
  }
  std::thread http([&server] { server.Serve(); });
  std::string host;
  int port = 0;
  (void)ParseListenAddress(server_options.listen, &host, &port);
  LogEvent("listening on http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(server.port()));

  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&signals, &info);
    if (sig < 0) continue;  // EINTR
    if (sig == SIGHUP) {
      LogEvent("SIGHUP: reloading the config");
      (void)daemon.Reload();  // logged either way
      continue;
    }
    LogEvent(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + ": shutting down");
    break;
  }
  server.Stop();
  http.join();
  daemon.Shutdown();
  return kExitOk;
}

}  // namespace slipway
