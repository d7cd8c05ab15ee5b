#include "aws/sts.h"

#include <optional>

#include "aws/shared_config.h"
#include "aws/timestamp.h"
#include "aws/xml.h"
#include "util/clock.h"
#include "util/strings.h"

namespace slipway::aws {

namespace {

constexpr std::string_view kApiVersion = "2011-06-15";

bool IsSessionNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
         c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
}

// STS error codes that mean "you may not", as opposed to a bad request or an
// outage. All of them fail a run with StatusCode::kPermissionDenied.
bool IsRefusal(std::string_view code) {
  return code == "AccessDenied" || code == "ExpiredToken" || code == "ExpiredTokenException" ||
         code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch" || code == "IncompleteSignature" ||
         code == "InvalidIdentityToken" || code == "IDPRejectedClaim" || code == "RegionDisabledException" ||
         code == "RequestExpired" || code == "MissingAuthenticationToken" || code == "AccessDeniedException";
}

bool IsRetryable(std::string_view code, int http_status) {
  return http_status >= 500 || code == "Throttling" || code == "ThrottlingException" ||
         code == "IDPCommunicationError" || code == "RequestLimitExceeded";
}

// A query-protocol error answer: <ErrorResponse><Error><Code>…</Code>
// <Message>…</Message></Error></ErrorResponse>.
std::optional<ApiError> ReadError(const HttpResponse& response) {
  Result<XmlElement> doc = ParseXml(response.body);
  std::string code, message;
  if (doc.ok()) {
    const XmlElement* error = doc->name == "Error" ? &doc.value() : doc->Find({"Error"});
    if (error != nullptr) {
      code = std::string(Trim(error->TextAt({"Code"})));
      message = std::string(Trim(error->TextAt({"Message"})));
    }
  }
  if (code.empty()) return std::nullopt;
  std::string text = message.empty() ? code : code + ": " + message;
  StatusCode status_code = IsRefusal(code) ? StatusCode::kPermissionDenied
                           : code == "ValidationError" || code == "MalformedPolicyDocument"
                               ? StatusCode::kInvalidArgument
                               : StatusCode::kFailed;
  bool retryable = IsRetryable(code, response.status);
  if (retryable) status_code = StatusCode::kNetwork;
  return ApiError{Status(status_code, text), retryable};
}

Result<Credentials> ParseCredentials(const std::string& body, std::string_view result_name) {
  Result<XmlElement> doc = ParseXml(body);
  if (!doc.ok()) return NetworkError("unreadable answer from STS: " + doc.status().message());
  const XmlElement* c = doc->Find({result_name, "Credentials"});
  if (c == nullptr) return NetworkError("answer from STS has no " + std::string(result_name) + "/Credentials");
  Credentials out;
  out.access_key_id = std::string(Trim(c->TextAt({"AccessKeyId"})));
  out.secret_access_key = std::string(Trim(c->TextAt({"SecretAccessKey"})));
  out.session_token = std::string(Trim(c->TextAt({"SessionToken"})));
  if (out.empty() || out.session_token.empty()) return NetworkError("answer from STS has incomplete credentials");
  std::string expiration(Trim(c->TextAt({"Expiration"})));
  if (!expiration.empty()) {
    SLIPWAY_ASSIGN_OR_RETURN(out.expiration_ms, ParseIso8601(expiration));
  }
  return out;
}

}  // namespace

Result<StsEndpoint> ResolveStsEndpoint(const EnvMap& env, std::string_view region) {
  StsEndpoint out;
  out.signing_region = region.empty() ? "us-east-1" : std::string(region);
  SLIPWAY_ASSIGN_OR_RETURN(out.url, ConfiguredEndpointUrl(env, "STS"));
  if (!out.url.empty()) return out;
  if (region.empty()) {
    out.url = "https://sts.amazonaws.com";
  } else {
    out.url =
        "https://sts." + std::string(region) + (StartsWith(region, "cn-") ? ".amazonaws.com.cn" : ".amazonaws.com");
  }
  return out;
}

Result<StsEndpoint> StsEndpointForEnvironment(const EnvMap& env) {
  SLIPWAY_ASSIGN_OR_RETURN(SharedConfig config, LoadSharedConfig(env));
  return ResolveStsEndpoint(env, ResolveRegion(env, config));
}

std::string SanitizeSessionName(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64)) out.push_back(IsSessionNameChar(c) ? c : '-');
  return out;
}

std::string MakeSessionName(std::string_view environment, std::string_view run_id) {
  constexpr size_t kMax = 64;
  std::string env = SanitizeSessionName(environment);
  std::string run = SanitizeSessionName(run_id);
  std::string prefix = "slipway-";
  if (prefix.size() + 1 + run.size() < kMax) {
    env = env.substr(0, kMax - prefix.size() - 1 - run.size());
  }
  return SanitizeSessionName(prefix + env + "-" + run);
}

StsClient::StsClient(StsOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = NowMs;
  if (options_.attempts < 1) options_.attempts = 1;
}

Result<std::string> StsClient::Call(std::string_view what, const QueryList& form,
                                    const Credentials* credentials) const {
  if (options_.http == nullptr) return Internal("sts: no HTTP client");
  HttpRequest request;
  request.method = "POST";
  request.url = options_.endpoint.url + "/";
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  request.body = EncodeQuery(form);
  request.timeout_ms = options_.timeout_ms;
  ApiCallOptions call{options_.endpoint.signing_region, "sts", credentials, options_.clock, options_.attempts,
                      options_.retry_delay_ms};
  return CallApi(*options_.http, what, request, call, ReadError);
}

Result<Credentials> StsClient::AssumeRole(const Credentials& base, const AssumeRoleParams& params) const {
  std::string what = "assume role '" + params.role_arn + "'";
  if (base.empty()) return InvalidArgument(what + ": no base credentials to sign the request with");
  QueryList form = {{"Action", "AssumeRole"},
                    {"Version", std::string(kApiVersion)},
                    {"RoleArn", params.role_arn},
                    {"RoleSessionName", params.session_name}};
  if (!params.external_id.empty()) form.emplace_back("ExternalId", params.external_id);
  if (params.duration_seconds > 0) form.emplace_back("DurationSeconds", std::to_string(params.duration_seconds));
  SLIPWAY_ASSIGN_OR_RETURN(std::string body, Call(what, form, &base));
  Result<Credentials> creds = ParseCredentials(body, "AssumeRoleResult");
  if (!creds.ok()) return creds.status().WithContext(what);
  return creds;
}

Result<Credentials> StsClient::AssumeRoleWithWebIdentity(const AssumeRoleParams& params, std::string_view token) const {
  std::string what = "assume role '" + params.role_arn + "' with web identity";
  QueryList form = {{"Action", "AssumeRoleWithWebIdentity"},
                    {"Version", std::string(kApiVersion)},
                    {"RoleArn", params.role_arn},
                    {"RoleSessionName", params.session_name},
                    {"WebIdentityToken", std::string(Trim(token))}};
  if (params.duration_seconds > 0) form.emplace_back("DurationSeconds", std::to_string(params.duration_seconds));
  SLIPWAY_ASSIGN_OR_RETURN(std::string body, Call(what, form, nullptr));
  Result<Credentials> creds = ParseCredentials(body, "AssumeRoleWithWebIdentityResult");
  if (!creds.ok()) return creds.status().WithContext(what);
  return creds;
}

Result<std::string> StsClient::GetCallerIdentityArn(const Credentials& credentials) const {
  QueryList form = {{"Action", "GetCallerIdentity"}, {"Version", std::string(kApiVersion)}};
  SLIPWAY_ASSIGN_OR_RETURN(std::string body, Call("get caller identity", form, &credentials));
  Result<XmlElement> doc = ParseXml(body);
  if (!doc.ok()) return doc.status().WithContext("get caller identity");
  std::string arn(Trim(doc->TextAt({"GetCallerIdentityResult", "Arn"})));
  if (arn.empty()) return NetworkError("get caller identity: answer has no Arn");
  return arn;
}

}  // namespace slipway::aws
