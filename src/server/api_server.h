// The HTTP side of `slipway serve` (doc/api.md): the JSON API under /api/v1
// with bearer tokens, webhooks under /hooks/, /healthz and /metrics. A thin
// layer over Daemon; cpp-httplib stays inside api_server.cc.
//
// Every error answer is JSON {"error": CODE, "message": SENTENCE} with the
// matching status: 400 bad_request, 401 unauthorized, 403 forbidden, 404
// not_found, 409 conflict, 411 length_required, 413 payload_too_large,
// 500 internal, 503 unavailable.
//
// Thread-safety: Serve runs the accept loop (call it from one thread); Stop
// may be called from any thread and makes Serve return after in-flight
// requests (live log streams included) end.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "daemon/daemon.h"
#include "util/status.h"

namespace slipway {

struct ApiServerOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT, [IPV6]:PORT or :PORT (all interfaces)
  size_t max_body_bytes = 1 << 20;        // larger requests get 413 before they are read
  int threads = 16;                       // each live log follower holds one
};

// Splits HOST:PORT ([::1]:8080, :8080 = 0.0.0.0). InvalidArgument naming
// the text when it is not of that form or the port is not 0..65535.
Status ParseListenAddress(const std::string& listen, std::string* host, int* port);

class ApiServer {
 public:
  // `daemon` must outlive the server.
  ApiServer(Daemon& daemon, ApiServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket (port 0: any free port). Errors name the
  // address: "listen on '127.0.0.1:8080': cannot bind (is another slipway
  // serve running?)".
  Status Bind();
  int port() const;
  // Serves until Stop(). Bind first.
  void Serve();
  // Stops accepting connections and ends live log streams. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slipway
