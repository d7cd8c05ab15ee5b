// AWS Systems Manager Parameter Store (GetParameters, with decryption) and
// Secrets Manager (GetSecretValue) over their JSON protocol: a POST of
// application/x-amz-json-1.1 with an X-Amz-Target header, signed with SigV4.
// Answers and errors are JSON ({"__type": "...", "message": "..."}).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "aws/credentials.h"
#include "aws/http.h"
#include "proc/process.h"
#include "util/status.h"

namespace slipway::aws {

// Where requests of `service` ("ssm", "secretsmanager") go, in the SDKs'
// order: AWS_ENDPOINT_URL_<ID> (ID "SSM" or "SECRETS_MANAGER"), then
// AWS_ENDPOINT_URL (both ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
// "true"), then https://SERVICE.REGION.amazonaws.com (".com.cn" for cn-
// regions). InvalidArgument for a configured endpoint that is not an http(s)
// URL, naming the variable. The URL has no trailing '/'.
Result<std::string> ResolveServiceEndpoint(const EnvMap& env, std::string_view service, std::string_view region);

// Splits a Secrets Manager reference "SECRET-ID[:JSON-KEY[:VERSION-STAGE[:VERSION-ID]]]"
// (CodeBuild's env.secrets-manager form). SECRET-ID may be an ARN, whose own
// seven ':'-separated fields stay together. InvalidArgument for an empty id.
struct SecretReferenceParts {
  std::string secret_id;
  std::string json_key;
  std::string version_stage;
  std::string version_id;
};
Result<SecretReferenceParts> ParseSecretReference(std::string_view reference);

struct SecretsClientOptions {
  std::string region;            // signing region; "us-east-1" when empty
  std::string ssm_endpoint;      // see ResolveServiceEndpoint
  std::string secrets_endpoint;  // ...
  HttpClient* http = nullptr;    // not owned; must outlive the client
  Clock clock;                   // defaults to NowMs
  int64_t timeout_ms = 10000;    // per attempt
  int attempts = 3;              // for network errors, throttling and 5xx answers
  int64_t retry_delay_ms = 200;  // doubled after each failed attempt
};

// Thread-safe: calls share nothing but the HTTP client.
class SecretsClient {
 public:
  explicit SecretsClient(SecretsClientOptions options);

  // The decrypted value of one parameter (name or ARN). Errors name it:
  //   "ssm parameter '/prod/token': not found" (kNotFound)
  //   "ssm parameter '/prod/token': AccessDeniedException: ..." (kPermissionDenied)
  Result<std::string> GetParameter(const Credentials& credentials, std::string_view name) const;

  // The value a Secrets Manager reference names (ParseSecretReference): the
  // SecretString, or with a JSON key that key's value in it (a string as it
  // is, anything else as compact JSON). Errors name the secret id:
  //   "secret 'prod/db': ResourceNotFoundException: ..." / "...: no key 'pw' in its JSON"
  Result<std::string> GetSecretValue(const Credentials& credentials, std::string_view reference) const;

 private:
  Result<std::string> Call(std::string_view what, const std::string& endpoint, std::string_view service,
                           std::string_view target, const std::string& body, const Credentials& credentials) const;

  SecretsClientOptions options_;
};

}  // namespace slipway::aws
