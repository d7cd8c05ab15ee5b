// A small HTTP client for the AWS layer (STS, SSM, Secrets Manager, instance
// and container metadata), on libcurl. curl stays out of this header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "aws/sigv4.h"
#include "proc/process.h"
#include "util/status.h"

namespace slipway::aws {

struct HttpRequest {
  std::string method = "GET";  // any verb; HEAD sends no body and reads none
  std::string url;             // http:// or https:// only
  HeaderList headers;
  std::string body;
  int64_t timeout_ms = 10000;  // the whole exchange, connect included
};

struct HttpResponse {
  int status = 0;
  HeaderList headers;  // of the final response, names as received
  std::string body;

  // The first value of a header, by case-insensitive name; "" when absent.
  std::string Header(std::string_view name) const;
};

// Sends HTTP requests. Implementations are thread-safe: Send may be called
// from several threads at once.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Returns the response whatever its status (a 403 is a response, not an
  // error). Returns an error Status naming the host when no response came:
  //   "request to 'sts.eu-west-1.amazonaws.com': Could not resolve hostname"
  // (kNetwork), "... timed out after 10s" (kTimeout), or an InvalidArgument
  // for a URL that is not http(s).
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// Where the client goes through a proxy and which CA bundle it trusts, taken
// from an environment snapshot (never from the engine's own environ):
// HTTPS_PROXY / https_proxy for https URLs, HTTP_PROXY / http_proxy for http,
// ALL_PROXY / all_proxy for either, NO_PROXY / no_proxy for exceptions, and
// AWS_CA_BUNDLE, then CURL_CA_BUNDLE, then SSL_CERT_FILE for the CA bundle.
// Loopback and the instance and container metadata addresses are never
// proxied.
struct HttpSettings {
  std::string http_proxy;
  std::string https_proxy;
  std::string no_proxy;
  std::string ca_bundle;  // "" for libcurl's default

  static HttpSettings FromEnvironment(const EnvMap& env);
};

// The libcurl-backed client. Response bodies larger than 16 MiB are an error.
std::unique_ptr<HttpClient> NewCurlHttpClient(HttpSettings settings);

// What an AWS API's error answer means: the Status to report, and whether
// trying again may help (throttling, 5xx: reported as kNetwork).
struct ApiError {
  Status status;
  bool retryable = false;
};

// Reads one service's error answer (JSON or XML); nullopt when the answer
// carries no error code, which CallApi reports as "HTTP 502 from 'HOST'"
// (kNetwork, retryable for 5xx and 429).
using ApiErrorReader = std::function<std::optional<ApiError>(const HttpResponse&)>;

struct ApiCallOptions {
  std::string region;                        // signing region
  std::string service;                       // signing name: "sts", "ssm", "secretsmanager"
  const Credentials* credentials = nullptr;  // nullptr: sent unsigned
  Clock clock;                               // signing time
  int attempts = 3;                          // at least 1
  int64_t retry_delay_ms = 200;              // doubled after each failed attempt
};

// Sends `request`, signed afresh at each attempt, until an HTTP 200 (its body
// is returned), an error that a retry cannot mend, or the last attempt; the
// error is the last one seen, prefixed with `what`.
Result<std::string> CallApi(HttpClient& http, std::string_view what, const HttpRequest& request,
                            const ApiCallOptions& options, const ApiErrorReader& read_error);

}  // namespace slipway::aws
