// The engine's AWS context (doc/aws.md "Wiring"): the snapshot of the
// engine's environment taken at start-up, one HTTP client, the base
// credentials provider (resolved lazily: only a run that needs a role or a
// secret asks for them), the region, and the STS, SSM and Secrets Manager
// clients built from them. Nothing of this reaches a step.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "aws/credentials.h"
#include "aws/http.h"
#include "aws/secrets.h"
#include "aws/sts.h"
#include "proc/process.h"
#include "util/status.h"

namespace slipway::aws {

// The process's environment as it was when the program started (taken by a
// static initializer of this library, before main()).
const EnvMap& StartupEnvironment();

// Thread-safe; the clients are created on first use.
class EngineAws {
 public:
  // `env`: the environment snapshot to read credentials, region, endpoints
  // and proxies from.
  explicit EngineAws(EnvMap env);
  EngineAws(const EngineAws&) = delete;
  EngineAws& operator=(const EngineAws&) = delete;

  // The process-wide context on StartupEnvironment().
  static EngineAws& Default();

  const EnvMap& env() const { return env_; }
  // AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else "us-east-1".
  std::string region();

  // The engine's base credentials (cached, refreshed before they expire).
  // *source (optional) gets where they came from, never a secret.
  Result<Credentials> BaseCredentials(std::string* source);
  // Assumes a role with the base credentials. Errors are one sentence naming
  // the role ("assume role 'ARN': AccessDenied: ..."). The answer is cached
  // for the same parameters (session name included) until five minutes
  // before it expires.
  Result<Credentials> AssumeRole(const AssumeRoleParams& params);
  // Parameter Store and Secrets Manager with the given credentials.
  Result<std::string> GetParameter(const Credentials& credentials, const std::string& name);
  Result<std::string> GetSecretValue(const Credentials& credentials, const std::string& reference);

 private:
  Status InitLocked();

  const EnvMap env_;
  std::mutex mu_;
  bool initialized_ = false;
  Status init_status_;
  std::string region_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<CredentialsProvider> provider_;
  std::unique_ptr<StsClient> sts_;
  std::unique_ptr<SecretsClient> secrets_;
  std::map<std::string, Credentials> role_cache_;  // by role, external id, duration, session
};

}  // namespace slipway::aws
