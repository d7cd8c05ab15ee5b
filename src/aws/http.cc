#include "aws/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "dynlib/libcurl.h"
#include "util/strings.h"

namespace slipway::aws {

namespace {

constexpr size_t kMaxBody = 16 << 20;
// Never send these through a proxy: loopback (local test endpoints) and the
// link-local metadata services, which a proxy could only answer wrongly.
constexpr const char* kNeverProxied = "localhost,127.0.0.1,::1,169.254.169.254,169.254.170.2,fd00:ec2::254";

struct Exchange {
  HttpResponse response;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  size_t n = size * count;
  if (exchange->response.body.size() + n > kMaxBody) {
    exchange->too_large = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  exchange->response.body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  size_t n = size * count;
  std::string_view line(data, n);
  if (StartsWith(line, "HTTP/")) {
    // A new response (after a 100 Continue or a proxy's CONNECT answer):
    // keep only the headers of the last one.
    exchange->response.headers.clear();
    return n;
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    exchange->response.headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                            std::string(Trim(line.substr(colon + 1))));
  }
  return n;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

class CurlHttpClient : public HttpClient {
 public:
  // libcurl is loaded by the first Send, not here: the engine makes its
  // client whether or not anything ever calls AWS.
  explicit CurlHttpClient(HttpSettings settings) : settings_(std::move(settings)) {
    no_proxy_ = settings_.no_proxy.empty() ? kNeverProxied : settings_.no_proxy + "," + kNeverProxied;
  }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    Result<Url> url = ParseUrl(request.url);
    if (!url.ok()) return url.status();
    if (url->scheme != "https" && url->scheme != "http") {
      return InvalidArgument("request to '" + request.url + "': only http and https URLs are supported");
    }
    std::string where = "request to '" + url->host + "'";
    SLIPWAY_RETURN_IF_ERROR(LoadLibcurl("AWS client"));

    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) return Internal(where + ": curl_easy_init failed");
    CURL* c = curl.get();
    char error[CURL_ERROR_SIZE] = {0};
    Exchange exchange;
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_ms));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &exchange);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &exchange);
    // The proxy is always set explicitly ("" = none) so libcurl never
    // reads the engine's own environment.
    const std::string& proxy = url->scheme == "https" ? settings_.https_proxy : settings_.http_proxy;
    curl_easy_setopt(c, CURLOPT_PROXY, proxy.c_str());
    curl_easy_setopt(c, CURLOPT_NOPROXY, no_proxy_.c_str());
    if (!settings_.ca_bundle.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, settings_.ca_bundle.c_str());

    std::string method = request.method.empty() ? "GET" : request.method;
    if (method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (method != "GET" || !request.body.empty()) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      if (method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    }

    std::unique_ptr<curl_slist, SlistDeleter> headers;
    auto add_header = [&](const std::string& line) {
      // Appending returns the list's head, or null (list unchanged) when out of memory.
      curl_slist* head = curl_slist_append(headers.get(), line.c_str());
      if (head != nullptr && head != headers.get()) headers.reset(head);
    };
    for (const auto& [name, value] : request.headers) {
      // "Name;" is curl's way to send a header with an empty value.
      add_header(value.empty() ? name + ";" : name + ": " + value);
    }
    add_header("Expect:");  // no 100-continue round trip
    bool has_content_type = std::any_of(request.headers.begin(), request.headers.end(),
                                        [](const auto& h) { return ToLower(h.first) == "content-type"; });
    if (!has_content_type) add_header("Content-Type:");  // don't let curl invent one for POST
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      if (exchange.too_large) return NetworkError(where + ": response larger than 16 MiB");
      std::string detail = error[0] != '\0' ? std::string(error) : curl_easy_strerror(rc);
      if (rc == CURLE_OPERATION_TIMEDOUT) {
        return Timeout(where + " timed out after " + FormatDurationMs(request.timeout_ms));
      }
      return NetworkError(where + ": " + detail);
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    exchange.response.status = static_cast<int>(status);
    return std::move(exchange.response);
  }

 private:
  HttpSettings settings_;
  std::string no_proxy_;
};

std::string FirstOf(const EnvMap& env, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = env.find(name);
    if (it != env.end() && !it->second.empty()) return it->second;
  }
  return "";
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  std::string lower = ToLower(name);
  for (const auto& [n, v] : headers) {
    if (ToLower(n) == lower) return v;
  }
  return "";
}

HttpSettings HttpSettings::FromEnvironment(const EnvMap& env) {
  HttpSettings s;
  std::string all = FirstOf(env, {"ALL_PROXY", "all_proxy"});
  s.https_proxy = FirstOf(env, {"HTTPS_PROXY", "https_proxy"});
  if (s.https_proxy.empty()) s.https_proxy = all;
  // Lower-case first for http_proxy: the upper-case form is unsafe in CGI
  // contexts (httpoxy), which is why curl itself ignores HTTP_PROXY.
  s.http_proxy = FirstOf(env, {"http_proxy", "HTTP_PROXY"});
  if (s.http_proxy.empty()) s.http_proxy = all;
  s.no_proxy = FirstOf(env, {"NO_PROXY", "no_proxy"});
  s.ca_bundle = FirstOf(env, {"AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"});
  return s;
}

std::unique_ptr<HttpClient> NewCurlHttpClient(HttpSettings settings) {
  return std::make_unique<CurlHttpClient>(std::move(settings));
}

Result<std::string> CallApi(HttpClient& http, std::string_view what, const HttpRequest& request,
                            const ApiCallOptions& options, const ApiErrorReader& read_error) {
  Result<Url> url = ParseUrl(request.url);
  if (!url.ok()) return url.status().WithContext(what);
  int64_t delay_ms = options.retry_delay_ms;
  Status last;
  for (int attempt = 1; attempt <= std::max(options.attempts, 1); ++attempt) {
    HttpRequest sent = request;
    if (options.credentials != nullptr) {
      SigningOptions signing{options.region, options.service, options.clock()};
      SigningRequest to_sign{sent.method, sent.url, {}, sent.headers, sent.body};
      Result<SignedRequest> signed_request = SignRequest(to_sign, *options.credentials, signing);
      if (!signed_request.ok()) return signed_request.status();
      sent.url = std::move(signed_request->url);
      sent.headers = std::move(signed_request->headers);
    }
    Result<HttpResponse> response = http.Send(sent);
    bool retryable = true;
    if (!response.ok()) {
      last = response.status();
    } else if (response->status == 200) {
      return std::move(response->body);
    } else if (std::optional<ApiError> error = read_error(response.value())) {
      last = error->status;
      retryable = error->retryable;
    } else {
      last = NetworkError("HTTP " + std::to_string(response->status) + " from '" + url->host + "'");
      retryable = response->status >= 500 || response->status == 429;
    }
    if (!retryable || attempt >= options.attempts) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    delay_ms *= 2;
  }
  return last.WithContext(what);
}

}  // namespace slipway::aws
