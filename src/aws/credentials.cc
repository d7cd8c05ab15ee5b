#include "aws/credentials.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "aws/http.h"
#include "aws/shared_config.h"
#include "aws/sts.h"
#include "aws/timestamp.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway::aws {

namespace {

using Found = std::optional<ResolvedCredentials>;  // nullopt: the source is not configured

constexpr const char* kContainerHost = "http://169.254.170.2";
constexpr const char* kImdsEndpoint = "http://169.254.169.254";
constexpr const char* kImdsEndpointV6 = "http://[fd00:ec2::254]";
constexpr size_t kMaxTokenFileBytes = 64 << 10;

std::string Env(const EnvMap& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? "" : std::string(Trim(it->second));
}

bool EnvTrue(const EnvMap& env, const std::string& name) { return ToLower(Env(env, name)) == "true"; }

std::string Setting(const ProfileSettings& p, const std::string& key) {
  auto it = p.find(key);
  return it == p.end() ? "" : std::string(Trim(it->second));
}

// Credentials from a JSON object with AWS's member names (container
// credentials, instance metadata, credential_process all use them).
Result<Credentials> CredentialsFromJson(const nlohmann::json& j, const std::string& what) {
  auto text = [&](const char* key) -> std::string {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  };
  Credentials c;
  c.access_key_id = text("AccessKeyId");
  c.secret_access_key = text("SecretAccessKey");
  c.session_token = text("Token");
  if (c.session_token.empty()) c.session_token = text("SessionToken");
  if (c.empty()) return Failed(what + ": answer has no AccessKeyId or SecretAccessKey");
  std::string expiration = text("Expiration");
  if (!expiration.empty()) {
    Result<int64_t> ms = ParseIso8601(expiration);
    if (!ms.ok()) return ms.status().WithContext(what);
    c.expiration_ms = ms.value();
  }
  return c;
}

Result<nlohmann::json> ParseJsonObject(const std::string& text, const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Failed(what + ": answer is not a JSON object");
  return j;
}

// A short, single-line excerpt of an error body or stderr for a message.
std::string Excerpt(std::string_view text) {
  text = Trim(text);
  size_t nl = text.rfind('\n');
  if (nl != std::string_view::npos) text = Trim(text.substr(nl + 1));
  if (text.size() > 200) return std::string(text.substr(0, 200)) + "...";
  return std::string(text);
}

class Chain {
 public:
  Chain(const ChainOptions& options, const SharedConfig& config) : o_(options), config_(config) {}

  Result<ResolvedCredentials> Resolve() {
    std::vector<std::string> tried;
    SLIPWAY_ASSIGN_OR_RETURN(Found env, FromEnvironment());
    if (env) return *env;
    tried.push_back("environment variables");

    if (config_.profile_explicit && !config_.HasProfile(config_.profile)) {
      return NotFound("profile '" + config_.profile + "' (AWS_PROFILE) is not in '" + config_.credentials_path +
                      "' or '" + config_.config_path + "'");
    }
    ProfileSettings profile = config_.Merged(config_.profile);
    if (!Setting(profile, "role_arn").empty() && Setting(profile, "web_identity_token_file").empty()) {
      std::vector<std::string> visited;
      SLIPWAY_ASSIGN_OR_RETURN(ResolvedCredentials role, FromProfileRole(config_.profile, &visited));
      return role;
    }
    SLIPWAY_ASSIGN_OR_RETURN(Found web, FromWebIdentity(profile));
    if (web) return *web;
    tried.push_back("web identity");

    SLIPWAY_ASSIGN_OR_RETURN(Found keys, FromProfileKeys(config_.profile, /*credentials_file=*/true));
    if (keys) return *keys;
    SLIPWAY_ASSIGN_OR_RETURN(Found process, FromProcess(config_.profile));
    if (process) return *process;
    SLIPWAY_ASSIGN_OR_RETURN(Found config_keys, FromProfileKeys(config_.profile, /*credentials_file=*/false));
    if (config_keys) return *config_keys;
    tried.push_back("profile '" + config_.profile + "' in '" + config_.credentials_path + "' and '" +
                    config_.config_path + "'");

    SLIPWAY_ASSIGN_OR_RETURN(Found container, FromContainer());
    if (container) return *container;
    tried.push_back("container credentials");

    std::string imds_why;
    SLIPWAY_ASSIGN_OR_RETURN(Found imds, FromInstanceMetadata(&imds_why));
    if (imds) return *imds;
    tried.push_back("EC2 instance metadata" + (imds_why.empty() ? "" : " (" + imds_why + ")"));

    std::string list;
    for (size_t i = 0; i < tried.size(); ++i) list += (i == 0 ? "" : ", ") + tried[i];
    return NotFound("no AWS credentials found (tried " + list + ")");
  }

 private:
  int64_t Now() const { return o_.clock ? o_.clock() : NowMs(); }

  Result<Found> FromEnvironment() {
    std::string id = Env(o_.env, "AWS_ACCESS_KEY_ID");
    std::string secret = Env(o_.env, "AWS_SECRET_ACCESS_KEY");
    if (id.empty() && secret.empty()) return Found();
    if (id.empty()) return InvalidArgument("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    if (secret.empty()) return InvalidArgument("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    std::string token = Env(o_.env, "AWS_SESSION_TOKEN");
    if (token.empty()) token = Env(o_.env, "AWS_SECURITY_TOKEN");  // the old name, still honoured by the SDKs
    Credentials c{id, secret, token, 0};
    std::string expiration = Env(o_.env, "AWS_CREDENTIAL_EXPIRATION");
    if (!expiration.empty()) {
      Result<int64_t> ms = ParseIso8601(expiration);
      if (!ms.ok()) return ms.status().WithContext("AWS_CREDENTIAL_EXPIRATION");
      c.expiration_ms = ms.value();
    }
    return Found(ResolvedCredentials{c, "environment variables"});
  }

  Result<Found> FromProfileKeys(const std::string& name, bool credentials_file) {
    const auto& file = credentials_file ? config_.credentials_file : config_.config_file;
    auto it = file.find(name);
    if (it == file.end()) return Found();
    std::string id = Setting(it->second, "aws_access_key_id");
    std::string secret = Setting(it->second, "aws_secret_access_key");
    if (id.empty() && secret.empty()) return Found();
    const std::string& path = credentials_file ? config_.credentials_path : config_.config_path;
    std::string where = "profile '" + name + "' in '" + path + "'";
    if (id.empty() || secret.empty()) {
      return InvalidArgument(where + " has only one of aws_access_key_id and aws_secret_access_key");
    }
    return Found(ResolvedCredentials{Credentials{id, secret, Setting(it->second, "aws_session_token"), 0}, where});
  }

  Result<Found> FromProcess(const std::string& name) {
    std::string command = config_.Get(name, "credential_process");
    if (command.empty()) return Found();
    std::string what = "credential_process of profile '" + name + "'";
    Result<std::vector<std::string>> argv = SplitCommandLine(command);
    if (!argv.ok()) return argv.status().WithContext(what);
    if (argv->empty()) return InvalidArgument(what + " is empty");
    ProcessOptions p;
    p.argv = argv.value();
    p.env = o_.env;
    p.timeout_ms = o_.process_timeout_ms;
    Result<CapturedOutput> out = RunCapture(p, 1 << 20);
    if (!out.ok()) return out.status().WithContext(what);
    if (out->result.timed_out) {
      return Timeout(what + " timed out after " + FormatDurationMs(o_.process_timeout_ms));
    }
    if (!out->result.exit.success()) {
      // stderr only: stdout may hold half a secret.
      std::string err = Excerpt(out->err);
      return Failed(what + " failed (" + out->result.exit.Describe() + ")" + (err.empty() ? "" : ": " + err));
    }
    SLIPWAY_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonObject(out->out, what));
    auto version = j.find("Version");
    if (version == j.end() || !version->is_number_integer() || version->get<int>() != 1) {
      return Failed(what + ": answer must have \"Version\": 1");
    }
    SLIPWAY_ASSIGN_OR_RETURN(Credentials c, CredentialsFromJson(j, what));
    return Found(ResolvedCredentials{c, what});
  }

  Result<Credentials> AssumeRole(const std::string& role_arn, const ProfileSettings& profile, const Credentials& base) {
    std::string region = ResolveRegion(o_.env, config_);
    SLIPWAY_ASSIGN_OR_RETURN(StsEndpoint endpoint, ResolveStsEndpoint(o_.env, region));
    StsOptions sts_options;
    sts_options.endpoint = endpoint;
    sts_options.http = o_.http;
    sts_options.clock = o_.clock;
    StsClient sts(sts_options);
    AssumeRoleParams params;
    params.role_arn = role_arn;
    params.session_name = Setting(profile, "role_session_name");
    if (params.session_name.empty()) params.session_name = o_.session_name;
    params.session_name = SanitizeSessionName(params.session_name);
    params.external_id = Setting(profile, "external_id");
    std::string duration = Setting(profile, "duration_seconds");
    if (!duration.empty()) {
      int64_t seconds = 0;
      if (!ParseDuration(duration, &seconds) || seconds <= 0) {
        return InvalidArgument("duration_seconds '" + duration + "' of role '" + role_arn + "' is not a number");
      }
      params.duration_seconds = seconds / 1000;
    }
    return sts.AssumeRole(base, params);
  }

  // A profile with role_arn: its base credentials come from source_profile
  // (which may itself be a role) or credential_source.
  Result<ResolvedCredentials> FromProfileRole(const std::string& name, std::vector<std::string>* visited) {
    for (const std::string& v : *visited) {
      if (v == name) {
        std::string cycle;
        for (const std::string& p : *visited) cycle += p + " -> ";
        return InvalidArgument("source_profile cycle: " + cycle + name);
      }
    }
    visited->push_back(name);
    if (!config_.HasProfile(name)) {
      return NotFound("source_profile '" + name + "' is not in '" + config_.credentials_path + "' or '" +
                      config_.config_path + "'");
    }
    ProfileSettings profile = config_.Merged(name);
    std::string role_arn = Setting(profile, "role_arn");
    std::string source_profile = Setting(profile, "source_profile");
    std::string credential_source = Setting(profile, "credential_source");
    std::string where = "profile '" + name + "'";
    if (!source_profile.empty() && !credential_source.empty()) {
      return InvalidArgument(where + " has both source_profile and credential_source");
    }
    ResolvedCredentials base;
    if (!credential_source.empty()) {
      Result<Found> found = Found();
      if (credential_source == "Environment") {
        found = FromEnvironment();
      } else if (credential_source == "EcsContainer") {
        found = FromContainer();
      } else if (credential_source == "Ec2InstanceMetadata") {
        std::string why;
        found = FromInstanceMetadata(&why);
      } else {
        return InvalidArgument(where + ": unknown credential_source '" + credential_source +
                               "' (Environment, Ec2InstanceMetadata or EcsContainer)");
      }
      if (!found.ok()) return found.status();
      if (!found->has_value()) {
        return NotFound(where + ": credential_source '" + credential_source + "' has no credentials");
      }
      base = **found;
    } else if (source_profile.empty()) {
      return InvalidArgument(where + " has role_arn but neither source_profile nor credential_source");
    } else {
      ProfileSettings source = config_.Merged(source_profile);
      // A profile may name itself as source_profile to use its own keys.
      bool own_keys = source_profile == name;
      if (!own_keys && !Setting(source, "role_arn").empty() && Setting(source, "web_identity_token_file").empty()) {
        SLIPWAY_ASSIGN_OR_RETURN(base, FromProfileRole(source_profile, visited));
      } else {
        if (!config_.HasProfile(source_profile)) {
          return NotFound(where + ": source_profile '" + source_profile + "' is not in '" + config_.credentials_path +
                          "' or '" + config_.config_path + "'");
        }
        Result<Found> found = Found();
        if (!own_keys && !Setting(source, "role_arn").empty()) found = FromWebIdentity(source);
        if (found.ok() && !found->has_value()) found = FromProfileKeys(source_profile, true);
        if (found.ok() && !found->has_value()) found = FromProcess(source_profile);
        if (found.ok() && !found->has_value()) found = FromProfileKeys(source_profile, false);
        if (!found.ok()) return found.status();
        if (!found->has_value()) {
          return NotFound(where + ": source_profile '" + source_profile + "' has no credentials");
        }
        base = **found;
      }
    }
    SLIPWAY_ASSIGN_OR_RETURN(Credentials creds, AssumeRole(role_arn, profile, base.credentials));
    return ResolvedCredentials{creds, "role '" + role_arn + "' of " + where + " (source: " + base.source + ")"};
  }

  // Web identity from the environment, or from a profile's
  // web_identity_token_file + role_arn.
  Result<Found> FromWebIdentity(const ProfileSettings& profile) {
    std::string token_file = Env(o_.env, "AWS_WEB_IDENTITY_TOKEN_FILE");
    std::string role_arn = Env(o_.env, "AWS_ROLE_ARN");
    std::string session = Env(o_.env, "AWS_ROLE_SESSION_NAME");
    if (token_file.empty() || role_arn.empty()) {
      token_file = Setting(profile, "web_identity_token_file");
      role_arn = Setting(profile, "role_arn");
      session = Setting(profile, "role_session_name");
      if (token_file.empty() || role_arn.empty()) return Found();
    }
    Result<std::string> token = ReadFileLimited(token_file, kMaxTokenFileBytes);
    if (!token.ok()) return token.status().WithContext("web identity token file");
    std::string region = ResolveRegion(o_.env, config_);
    SLIPWAY_ASSIGN_OR_RETURN(StsEndpoint endpoint, ResolveStsEndpoint(o_.env, region));
    StsOptions sts_options;
    sts_options.endpoint = endpoint;
    sts_options.http = o_.http;
    sts_options.clock = o_.clock;
    StsClient sts(sts_options);
    AssumeRoleParams params;
    params.role_arn = role_arn;
    params.session_name = SanitizeSessionName(session.empty() ? o_.session_name : session);
    SLIPWAY_ASSIGN_OR_RETURN(Credentials creds, sts.AssumeRoleWithWebIdentity(params, token.value()));
    return Found(
        ResolvedCredentials{creds, "web identity token file '" + token_file + "' for role '" + role_arn + "'"});
  }

  static bool ContainerHostAllowed(const Url& url) {
    if (url.scheme == "https") return true;
    if (url.scheme != "http") return false;
    const std::string& h = url.host;
    return StartsWith(h, "127.") || h == "localhost" || h == "[::1]" || h == "169.254.170.2" || h == "169.254.170.23" ||
           h == "[fd00:ec2::23]";
  }

  Result<Found> FromContainer() {
    std::string relative = Env(o_.env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    std::string full = Env(o_.env, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    std::string url;
    if (!relative.empty()) {
      url = std::string(kContainerHost) + (StartsWith(relative, "/") ? "" : "/") + relative;
    } else if (!full.empty()) {
      Result<Url> parsed = ParseUrl(full);
      if (!parsed.ok() || !ContainerHostAllowed(parsed.value())) {
        return InvalidArgument("AWS_CONTAINER_CREDENTIALS_FULL_URI '" + full +
                               "' must be https, or http on a loopback or the ECS/EKS credentials address");
      }
      url = full;
    } else {
      return Found();
    }
    std::string what = "container credentials endpoint '" + url + "'";
    std::string token;
    std::string token_file = Env(o_.env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (!token_file.empty()) {
      Result<std::string> text = ReadFileLimited(token_file, kMaxTokenFileBytes);
      if (!text.ok()) return text.status().WithContext("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
      token = std::string(Trim(text.value()));
    } else {
      token = Env(o_.env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    }
    if (token.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgument("the container authorization token contains a line break");
    }
    if (o_.http == nullptr) return Internal(what + ": no HTTP client");
    HttpRequest request{"GET", url, {{"Accept", "application/json"}}, ""};
    if (!token.empty()) request.headers.emplace_back("Authorization", token);
    request.timeout_ms = o_.metadata_timeout_ms;
    Result<HttpResponse> response = SendWithRetries(request);
    if (!response.ok()) return response.status().WithContext(what);
    if (response->status != 200) {
      std::string message;
      Result<nlohmann::json> j = ParseJsonObject(response->body, what);
      if (j.ok() && j->contains("message") && (*j)["message"].is_string()) message = (*j)["message"];
      return Failed(what + ": HTTP " + std::to_string(response->status) + (message.empty() ? "" : ": " + message));
    }
    SLIPWAY_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonObject(response->body, what));
    SLIPWAY_ASSIGN_OR_RETURN(Credentials c, CredentialsFromJson(j, what));
    return Found(ResolvedCredentials{c, what});
  }

  Result<HttpResponse> SendWithRetries(const HttpRequest& request) {
    Result<HttpResponse> response = NetworkError("not sent");
    for (int attempt = 0; attempt < std::max(1, o_.metadata_attempts); ++attempt) {
      response = o_.http->Send(request);
      if (response.ok() && response->status < 500) break;
    }
    return response;
  }

  // IMDSv2. Not being on EC2 (no answer) is "not configured", with the
  // reason in *why for the final message.
  Result<Found> FromInstanceMetadata(std::string* why) {
    if (EnvTrue(o_.env, "AWS_EC2_METADATA_DISABLED")) {
      *why = "disabled by AWS_EC2_METADATA_DISABLED";
      return Found();
    }
    std::string endpoint = Env(o_.env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (endpoint.empty()) {
      endpoint =
          ToLower(Env(o_.env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")) == "ipv6" ? kImdsEndpointV6 : kImdsEndpoint;
    }
    while (EndsWith(endpoint, "/")) endpoint.pop_back();
    if (o_.http == nullptr) return Internal("instance metadata: no HTTP client");
    std::string what = "EC2 instance metadata '" + endpoint + "'";

    HttpRequest token_request{
        "PUT", endpoint + "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, ""};
    token_request.timeout_ms = o_.metadata_timeout_ms;
    Result<HttpResponse> token = SendWithRetries(token_request);
    if (!token.ok()) {
      *why = token.status().message();
      return Found();
    }
    HeaderList auth;
    if (token->status == 200) {
      auth.emplace_back("X-aws-ec2-metadata-token", std::string(Trim(token->body)));
    } else if (token->status == 403 || token->status == 404 || token->status == 405) {
      // An IMDSv1-only endpoint (or a proxy in between): the SDKs fall back
      // to v1 unless told not to.
      if (EnvTrue(o_.env, "AWS_EC2_METADATA_V1_DISABLED")) {
        return Failed(what + ": no IMDSv2 token (HTTP " + std::to_string(token->status) +
                      ") and AWS_EC2_METADATA_V1_DISABLED is set");
      }
    } else {
      return Failed(what + ": token request answered HTTP " + std::to_string(token->status));
    }

    std::string base = endpoint + "/latest/meta-data/iam/security-credentials/";
    HttpRequest roles_request{"GET", base, auth, ""};
    roles_request.timeout_ms = o_.metadata_timeout_ms;
    Result<HttpResponse> roles = SendWithRetries(roles_request);
    if (!roles.ok()) return roles.status().WithContext(what);
    if (roles->status == 404) {
      *why = "the instance has no IAM role";
      return Found();
    }
    if (roles->status != 200) return Failed(what + ": role list answered HTTP " + std::to_string(roles->status));
    std::string role(Trim(roles->body));
    if (size_t nl = role.find('\n'); nl != std::string::npos) role = std::string(Trim(role.substr(0, nl)));
    if (role.empty()) {
      *why = "the instance has no IAM role";
      return Found();
    }
    HttpRequest creds_request{"GET", base + UriEncode(role), auth, ""};
    creds_request.timeout_ms = o_.metadata_timeout_ms;
    Result<HttpResponse> creds = SendWithRetries(creds_request);
    if (!creds.ok()) return creds.status().WithContext(what);
    if (creds->status != 200) {
      return Failed(what + ": credentials of role '" + role + "' answered HTTP " + std::to_string(creds->status));
    }
    SLIPWAY_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonObject(creds->body, what));
    if (j.contains("Code") && j["Code"] != "Success") {
      return Failed(what + ": role '" + role + "' answered Code " + j["Code"].dump());
    }
    SLIPWAY_ASSIGN_OR_RETURN(Credentials c, CredentialsFromJson(j, what));
    return Found(ResolvedCredentials{c, "EC2 instance metadata (role '" + role + "')"});
  }

  const ChainOptions& o_;
  const SharedConfig& config_;
};

}  // namespace

std::vector<std::string> SecretStrings(const Credentials& credentials) {
  std::vector<std::string> out;
  if (!credentials.secret_access_key.empty()) out.push_back(credentials.secret_access_key);
  if (!credentials.session_token.empty()) out.push_back(credentials.session_token);
  return out;
}

EnvMap CredentialsEnvironment(const Credentials& credentials, const std::string& region) {
  EnvMap env = {{"AWS_ACCESS_KEY_ID", credentials.access_key_id},
                {"AWS_SECRET_ACCESS_KEY", credentials.secret_access_key}};
  if (!credentials.session_token.empty()) env["AWS_SESSION_TOKEN"] = credentials.session_token;
  if (!region.empty()) {
    env["AWS_REGION"] = region;
    env["AWS_DEFAULT_REGION"] = region;
  }
  return env;
}

std::string AbbreviateKeyId(const std::string& access_key_id) {
  if (access_key_id.size() <= 8) return access_key_id;
  return access_key_id.substr(0, 4) + "\xE2\x80\xA6" + access_key_id.substr(access_key_id.size() - 4);
}

Result<ResolvedCredentials> ResolveBaseCredentials(const ChainOptions& options) {
  SLIPWAY_ASSIGN_OR_RETURN(SharedConfig config, LoadSharedConfig(options.env));
  return Chain(options, config).Resolve();
}

CredentialsProvider::CredentialsProvider(ChainOptions options, int64_t refresh_before_ms)
    : options_(std::move(options)), refresh_before_ms_(refresh_before_ms) {
  if (!options_.clock) options_.clock = NowMs;
}

Result<Credentials> CredentialsProvider::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = options_.clock();
  int64_t expiration = current_.credentials.expiration_ms;
  bool still_valid = have_ && (expiration == 0 || expiration - now > 60 * 1000);
  if (have_ && (expiration == 0 || expiration - now > refresh_before_ms_)) return current_.credentials;
  // After a failed refresh, keep using valid credentials for a while rather
  // than asking a struggling source again on every call.
  if (still_valid && now < retry_after_ms_) return current_.credentials;
  Result<ResolvedCredentials> fresh = ResolveBaseCredentials(options_);
  if (!fresh.ok()) {
    if (still_valid) {
      retry_after_ms_ = now + 30 * 1000;
      return current_.credentials;
    }
    return fresh.status();
  }
  bool changed = !have_ || fresh->source != current_.source ||
                 fresh->credentials.access_key_id != current_.credentials.access_key_id;
  current_ = std::move(fresh).value();
  have_ = true;
  if (logger_ && changed) {
    std::string line = "aws: base credentials from " + current_.source + " (key " +
                       AbbreviateKeyId(current_.credentials.access_key_id);
    if (current_.credentials.expiration_ms != 0) {
      line += ", expires " + FormatIso8601(current_.credentials.expiration_ms);
    }
    logger_(line + ")");
  }
  return current_.credentials;
}

std::string CredentialsProvider::source() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_.source;
}

void CredentialsProvider::set_logger(std::function<void(const std::string&)> logger) {
  std::lock_guard<std::mutex> lock(mu_);
  logger_ = std::move(logger);
}

}  // namespace slipway::aws
