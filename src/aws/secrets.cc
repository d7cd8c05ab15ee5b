#include "aws/secrets.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

#include "aws/shared_config.h"
#include "util/clock.h"
#include "util/strings.h"

namespace slipway::aws {

namespace {

// JSON-protocol error codes that mean "you may not".
bool IsRefusal(std::string_view code) {
  return code == "AccessDeniedException" || code == "AccessDenied" || code == "UnrecognizedClientException" ||
         code == "InvalidSignatureException" || code == "ExpiredTokenException" || code == "IncompleteSignature" ||
         code == "MissingAuthenticationTokenException" || code == "SignatureDoesNotMatch";
}

bool IsNotFound(std::string_view code) {
  return code == "ResourceNotFoundException" || code == "ParameterNotFound" || code == "ParameterVersionNotFound";
}

// A JSON-protocol error answer: {"__type": "…#Code", "message": "…"}, or the
// code in the x-amzn-ErrorType header.
std::optional<ApiError> ReadError(const HttpResponse& response) {
  std::string code;
  std::string message;
  nlohmann::json doc = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    if (doc.contains("__type") && doc["__type"].is_string()) code = doc["__type"].get<std::string>();
    for (const char* key : {"message", "Message"}) {
      if (doc.contains(key) && doc[key].is_string()) message = doc[key].get<std::string>();
    }
  }
  // "com.amazonaws.secretsmanager#ResourceNotFoundException" -> the name.
  if (size_t hash = code.rfind('#'); hash != std::string::npos) code = code.substr(hash + 1);
  if (code.empty()) code = response.Header("x-amzn-ErrorType").substr(0, response.Header("x-amzn-ErrorType").find(':'));
  if (code.empty()) return std::nullopt;
  std::string text = message.empty() ? code : code + ": " + message;
  bool retryable = response.status >= 500 || code == "ThrottlingException" || code == "Throttling" ||
                   code == "TooManyUpdates" || code == "InternalServerError" || code == "InternalFailure";
  StatusCode status_code = retryable                ? StatusCode::kNetwork
                           : IsRefusal(code)        ? StatusCode::kPermissionDenied
                           : IsNotFound(code)       ? StatusCode::kNotFound
                           : response.status == 400 ? StatusCode::kInvalidArgument
                                                    : StatusCode::kFailed;
  return ApiError{Status(status_code, text), retryable};
}

}  // namespace

Result<std::string> ResolveServiceEndpoint(const EnvMap& env, std::string_view service, std::string_view region) {
  std::string id = service == "secretsmanager" ? "SECRETS_MANAGER" : std::string(service);
  for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  SLIPWAY_ASSIGN_OR_RETURN(std::string configured, ConfiguredEndpointUrl(env, id));
  if (!configured.empty()) return configured;
  std::string r = region.empty() ? "us-east-1" : std::string(region);
  return "https://" + std::string(service) + "." + r + (StartsWith(r, "cn-") ? ".amazonaws.com.cn" : ".amazonaws.com");
}

Result<SecretReferenceParts> ParseSecretReference(std::string_view reference) {
  std::vector<std::string> fields = Split(reference, ':');
  SecretReferenceParts out;
  size_t next = 1;
  if (fields.size() >= 7 && fields[0] == "arn") {
    out.secret_id = fields[0];
    for (size_t i = 1; i < 7; ++i) out.secret_id += ":" + fields[i];
    next = 7;
  } else if (!fields.empty()) {
    out.secret_id = fields[0];
  }
  if (out.secret_id.empty()) {
    return InvalidArgument("secrets manager reference '" + std::string(reference) + "' has no secret id");
  }
  if (fields.size() > next + 3) {
    return InvalidArgument("secrets manager reference '" + std::string(reference) +
                           "' has too many ':' fields; expected SECRET-ID:JSON-KEY:VERSION-STAGE:VERSION-ID");
  }
  if (fields.size() > next) out.json_key = fields[next];
  if (fields.size() > next + 1) out.version_stage = fields[next + 1];
  if (fields.size() > next + 2) out.version_id = fields[next + 2];
  return out;
}

SecretsClient::SecretsClient(SecretsClientOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = NowMs;
  if (options_.attempts < 1) options_.attempts = 1;
  if (options_.region.empty()) options_.region = "us-east-1";
}

Result<std::string> SecretsClient::Call(std::string_view what, const std::string& endpoint, std::string_view service,
                                        std::string_view target, const std::string& body,
                                        const Credentials& credentials) const {
  if (options_.http == nullptr) return Internal(std::string(what) + ": no HTTP client");
  if (credentials.empty()) return InvalidArgument(std::string(what) + ": no credentials to sign the request with");
  HttpRequest request;
  request.method = "POST";
  request.url = endpoint + "/";
  request.headers = {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", std::string(target)}};
  request.body = body;
  request.timeout_ms = options_.timeout_ms;
  ApiCallOptions call{options_.region, std::string(service), &credentials,
                      options_.clock,  options_.attempts,    options_.retry_delay_ms};
  return CallApi(*options_.http, what, request, call, ReadError);
}

Result<std::string> SecretsClient::GetParameter(const Credentials& credentials, std::string_view name) const {
  std::string what = "ssm parameter '" + std::string(name) + "'";
  nlohmann::json request = {{"Names", {std::string(name)}}, {"WithDecryption", true}};
  SLIPWAY_ASSIGN_OR_RETURN(std::string body, Call(what, options_.ssm_endpoint, "ssm", "AmazonSSM.GetParameters",
                                                  request.dump(), credentials));
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return NetworkError(what + ": unreadable answer");
  if (doc.contains("Parameters") && doc["Parameters"].is_array()) {
    for (const auto& p : doc["Parameters"]) {
      if (p.is_object() && p.contains("Value") && p["Value"].is_string()) return p["Value"].get<std::string>();
    }
  }
  return NotFound(what + ": not found");
}

Result<std::string> SecretsClient::GetSecretValue(const Credentials& credentials, std::string_view reference) const {
  SLIPWAY_ASSIGN_OR_RETURN(SecretReferenceParts parts, ParseSecretReference(reference));
  std::string what = "secret '" + parts.secret_id + "'";
  nlohmann::json request = {{"SecretId", parts.secret_id}};
  if (!parts.version_stage.empty()) request["VersionStage"] = parts.version_stage;
  if (!parts.version_id.empty()) request["VersionId"] = parts.version_id;
  SLIPWAY_ASSIGN_OR_RETURN(std::string body, Call(what, options_.secrets_endpoint, "secretsmanager",
                                                  "secretsmanager.GetSecretValue", request.dump(), credentials));
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return NetworkError(what + ": unreadable answer");
  if (!doc.contains("SecretString") || !doc["SecretString"].is_string()) {
    return InvalidArgument(what + ": has no SecretString (binary secrets are not supported)");
  }
  std::string secret = doc["SecretString"].get<std::string>();
  if (parts.json_key.empty()) return secret;
  nlohmann::json inner = nlohmann::json::parse(secret, nullptr, /*allow_exceptions=*/false);
  if (!inner.is_object())
    return InvalidArgument(what + ": its value is not a JSON object, so it has no key '" + parts.json_key + "'");
  if (!inner.contains(parts.json_key)) return NotFound(what + ": no key '" + parts.json_key + "' in its JSON");
  const nlohmann::json& value = inner[parts.json_key];
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace slipway::aws
