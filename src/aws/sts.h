// AWS STS over its query API: AssumeRole (signed with SigV4 by our own
// signer), AssumeRoleWithWebIdentity (unsigned, as AWS wants it) and
// GetCallerIdentity. Answers and errors are XML.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "aws/credentials.h"
#include "aws/http.h"
#include "proc/process.h"
#include "util/status.h"

namespace slipway::aws {

struct StsEndpoint {
  std::string url;             // "https://sts.eu-west-1.amazonaws.com"
  std::string signing_region;  // "eu-west-1"
};

// Where STS requests go, in the SDKs' order: AWS_ENDPOINT_URL_STS, then
// AWS_ENDPOINT_URL (both ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
// "true"), then the regional endpoint https://sts.REGION.amazonaws.com
// (".amazonaws.com.cn" for cn- regions). Without a region: the global
// endpoint, signed for us-east-1. Returns InvalidArgument for a configured
// endpoint that is not an http(s) URL, naming the variable.
Result<StsEndpoint> ResolveStsEndpoint(const EnvMap& env, std::string_view region);

// The endpoint as the engine uses it: the region from ResolveRegion (env, then
// the selected profile of the shared config files), then ResolveStsEndpoint.
Result<StsEndpoint> StsEndpointForEnvironment(const EnvMap& env);

// Replaces every character outside [A-Za-z0-9_+=,.@-] with '-' and cuts to 64
// characters: what STS accepts as a RoleSessionName.
std::string SanitizeSessionName(std::string_view name);
// "slipway-ENV-RUN", sanitised; when too long the environment part is cut so
// the run id survives (it is what ties a CloudTrail entry to a run).
std::string MakeSessionName(std::string_view environment, std::string_view run_id);

struct AssumeRoleParams {
  std::string role_arn;
  std::string session_name;      // see MakeSessionName
  std::string external_id;       // "" for none
  int64_t duration_seconds = 0;  // 0: the role's default (one hour)
};

struct StsOptions {
  StsEndpoint endpoint;
  HttpClient* http = nullptr;    // not owned; must outlive the client
  Clock clock;                   // defaults to NowMs
  int64_t timeout_ms = 10000;    // per attempt
  int attempts = 3;              // for network errors, throttling and 5xx answers
  int64_t retry_delay_ms = 200;  // doubled after each failed attempt
};

// Thread-safe: calls share nothing but the HTTP client (itself thread-safe).
class StsClient {
 public:
  explicit StsClient(StsOptions options);

  // Credentials of the role, signed for with `base`. Errors are one sentence
  // naming the role, e.g.
  //   assume role 'arn:aws:iam::1:role/deploy': AccessDenied: User: ... is not authorized to perform: ...
  // with code kPermissionDenied for answers that refuse (AccessDenied,
  // ExpiredToken, InvalidClientTokenId, SignatureDoesNotMatch, ...),
  // kInvalidArgument for a ValidationError, kNetwork / kTimeout otherwise.
  Result<Credentials> AssumeRole(const Credentials& base, const AssumeRoleParams& params) const;

  // The same for an OIDC token (AWS_WEB_IDENTITY_TOKEN_FILE); the request is
  // not signed. external_id is ignored.
  Result<Credentials> AssumeRoleWithWebIdentity(const AssumeRoleParams& params, std::string_view token) const;

  // The ARN that `credentials` act as ("arn:aws:sts::1:assumed-role/deploy/slipway-prod-7").
  Result<std::string> GetCallerIdentityArn(const Credentials& credentials) const;

 private:
  Result<std::string> Call(std::string_view what, const QueryList& form, const Credentials* credentials) const;

  StsOptions options_;
};

}  // namespace slipway::aws
