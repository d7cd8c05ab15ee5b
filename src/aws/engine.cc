#include "aws/engine.h"

#include <unistd.h>

#include "aws/shared_config.h"
#include "util/clock.h"

namespace slipway::aws {

namespace {

EnvMap SnapshotEnviron() {
  EnvMap env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view var(*entry);
    size_t eq = var.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.emplace(std::string(var.substr(0, eq)), std::string(var.substr(eq + 1)));
  }
  return env;
}

// Taken before main() runs, so nothing the program does to its own
// environment later changes where the engine's credentials come from.
const EnvMap kStartupEnvironment = SnapshotEnviron();

}  // namespace

const EnvMap& StartupEnvironment() { return kStartupEnvironment; }

EngineAws::EngineAws(EnvMap env) : env_(std::move(env)) {}

EngineAws& EngineAws::Default() {
  static EngineAws* instance = new EngineAws(StartupEnvironment());  // never destroyed: used until exit
  return *instance;
}

Status EngineAws::InitLocked() {
  if (initialized_) return init_status_;
  initialized_ = true;
  Result<SharedConfig> shared = LoadSharedConfig(env_);
  region_ = shared.ok() ? ResolveRegion(env_, *shared) : "";
  if (region_.empty()) {
    auto it = env_.find("AWS_REGION");
    if (it != env_.end()) region_ = it->second;
  }
  if (region_.empty()) region_ = "us-east-1";
  http_ = NewCurlHttpClient(HttpSettings::FromEnvironment(env_));
  ChainOptions chain;
  chain.env = env_;
  chain.http = http_.get();
  provider_ = std::make_unique<CredentialsProvider>(chain);
  Result<StsEndpoint> sts_endpoint = ResolveStsEndpoint(env_, region_);
  if (!sts_endpoint.ok()) return init_status_ = sts_endpoint.status();
  StsOptions sts;
  sts.endpoint = *sts_endpoint;
  sts.http = http_.get();
  sts_ = std::make_unique<StsClient>(sts);
  SecretsClientOptions secrets;
  secrets.region = region_;
  secrets.http = http_.get();
  Result<std::string> ssm = ResolveServiceEndpoint(env_, "ssm", region_);
  if (!ssm.ok()) return init_status_ = ssm.status();
  Result<std::string> sm = ResolveServiceEndpoint(env_, "secretsmanager", region_);
  if (!sm.ok()) return init_status_ = sm.status();
  secrets.ssm_endpoint = *ssm;
  secrets.secrets_endpoint = *sm;
  secrets_ = std::make_unique<SecretsClient>(secrets);
  return init_status_ = Status::Ok();
}

std::string EngineAws::region() {
  std::lock_guard<std::mutex> lock(mu_);
  (void)InitLocked();
  return region_;
}

Result<Credentials> EngineAws::BaseCredentials(std::string* source) {
  CredentialsProvider* provider = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SLIPWAY_RETURN_IF_ERROR(InitLocked());
    provider = provider_.get();
  }
  Result<Credentials> creds = provider->Get();
  if (creds.ok() && source != nullptr) *source = provider->source();
  return creds;
}

Result<Credentials> EngineAws::AssumeRole(const AssumeRoleParams& params) {
  constexpr int64_t kRefreshBeforeMs = 5 * 60 * 1000;
  std::string key = params.role_arn + "\n" + params.external_id + "\n" + std::to_string(params.duration_seconds) +
                    "\n" + params.session_name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = role_cache_.find(key);
    if (it != role_cache_.end() &&
        (it->second.expiration_ms == 0 || it->second.expiration_ms - NowMs() > kRefreshBeforeMs)) {
      return it->second;
    }
  }
  SLIPWAY_ASSIGN_OR_RETURN(Credentials base, BaseCredentials(nullptr));
  StsClient* sts = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sts = sts_.get();
  }
  SLIPWAY_ASSIGN_OR_RETURN(Credentials credentials, sts->AssumeRole(base, params));
  std::lock_guard<std::mutex> lock(mu_);
  role_cache_[key] = credentials;
  return credentials;
}

Result<std::string> EngineAws::GetParameter(const Credentials& credentials, const std::string& name) {
  SecretsClient* client = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SLIPWAY_RETURN_IF_ERROR(InitLocked());
    client = secrets_.get();
  }
  return client->GetParameter(credentials, name);
}

Result<std::string> EngineAws::GetSecretValue(const Credentials& credentials, const std::string& reference) {
  SecretsClient* client = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    SLIPWAY_RETURN_IF_ERROR(InitLocked());
    client = secrets_.get();
  }
  return client->GetSecretValue(credentials, reference);
}

}  // namespace slipway::aws
