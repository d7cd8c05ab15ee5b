// AWS credentials: the value, and the SDKs' chain of places where the engine
// finds its own base credentials, with a provider that caches and refreshes
// them.
//
// The chain reads an explicit environment snapshot (EnvMap), never the
// process's environ, so the engine can scrub its own environment before it
// starts steps and still know where its credentials came from.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "proc/process.h"
#include "util/status.h"

namespace slipway::aws {

class HttpClient;

// The wall clock in epoch milliseconds; injectable so tests can pin time.
using Clock = std::function<int64_t()>;

// A set of AWS credentials. Long-term keys have no session token and no
// expiration; STS and instance credentials have both.
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-term keys
  int64_t expiration_ms = 0;  // epoch ms; 0 when they do not expire

  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
};

// The strings of `credentials` that must never be shown: the secret access
// key and the session token (when set). For the log masker. The access key id
// is not a secret (AWS prints it in error messages) and is not listed.
std::vector<std::string> SecretStrings(const Credentials& credentials);

// The variables that hand `credentials` to a step: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (when there is one), and
// AWS_REGION and AWS_DEFAULT_REGION (when region is not empty).
EnvMap CredentialsEnvironment(const Credentials& credentials, const std::string& region);

// "AKIA…WXYZ": enough of an access key id to tell keys apart in a log.
std::string AbbreviateKeyId(const std::string& access_key_id);

struct ResolvedCredentials {
  Credentials credentials;
  // Where they came from, for the log; never a secret. E.g.
  //   "environment variables"
  //   "profile 'dev' in '/home/ops/.aws/credentials'"
  //   "credential_process of profile 'dev'"
  //   "role 'arn:aws:iam::1:role/x' of profile 'dev' (source: profile 'base' in '...')"
  //   "web identity token file '/var/run/token' for role 'arn:...'"
  //   "container credentials endpoint 'http://169.254.170.2/v2/credentials/…'"
  //   "EC2 instance metadata (role 'my-instance-role')"
  std::string source;
};

struct ChainOptions {
  EnvMap env;                          // the engine's environment snapshot
  HttpClient* http = nullptr;          // not owned; for STS, container and instance metadata
  Clock clock;                         // defaults to NowMs
  int64_t metadata_timeout_ms = 1000;  // per attempt, instance and container metadata
  int metadata_attempts = 2;
  int64_t process_timeout_ms = 60000;  // credential_process
  // RoleSessionName for roles of profiles and web identity when the profile
  // or AWS_ROLE_SESSION_NAME names none.
  std::string session_name = "slipway-engine";
};

// Finds base credentials in the AWS SDKs' (botocore's) order:
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   2. the profile's role_arn, with source_profile (chains followed, cycles
//      refused) or credential_source (Environment, Ec2InstanceMetadata,
//      EcsContainer); external_id, duration_seconds, role_session_name
//   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
//      (+ AWS_ROLE_SESSION_NAME), or the profile's web_identity_token_file
//   4. the profile's keys in the shared credentials file
//   5. the profile's credential_process (run without a shell; JSON answer)
//   6. the profile's keys in the config file
//   7. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
//      169.254.170.2) or _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
//      or AWS_CONTAINER_AUTHORIZATION_TOKEN
//   8. EC2 instance metadata, IMDSv2 (token PUT, then GETs); endpoint
//      AWS_EC2_METADATA_SERVICE_ENDPOINT, off when AWS_EC2_METADATA_DISABLED=true
// The first source that is configured answers: when it is configured but
// fails (credential_process exits non-zero, the role is refused, a profile
// is incomplete), that error is returned, as the SDKs do, rather than
// falling through to a source the user did not mean. When no source is
// configured: NotFound, "no AWS credentials found (tried ...)".
Result<ResolvedCredentials> ResolveBaseCredentials(const ChainOptions& options);

// Caches the chain's answer and resolves again when the credentials are
// within `refresh_before_ms` of their expiration. If that refresh fails while
// the cached credentials are still valid for more than a minute, the cached
// ones are returned (a metadata hiccup must not fail a run) and the source is
// not asked again for 30 seconds. Thread-safe.
class CredentialsProvider {
 public:
  explicit CredentialsProvider(ChainOptions options, int64_t refresh_before_ms = 5 * 60 * 1000);
  CredentialsProvider(const CredentialsProvider&) = delete;
  CredentialsProvider& operator=(const CredentialsProvider&) = delete;

  Result<Credentials> Get();
  // Where the current credentials came from ("" before the first Get()).
  std::string source() const;
  // Called with one line ("aws: base credentials from environment variables
  // (key AKIA…WXYZ)") each time credentials are (re)resolved. Never a secret.
  void set_logger(std::function<void(const std::string&)> logger);

 private:
  ChainOptions options_;
  int64_t refresh_before_ms_;
  mutable std::mutex mu_;
  bool have_ = false;
  ResolvedCredentials current_;
  int64_t retry_after_ms_ = 0;  // no new attempt before this after a failed refresh
  std::function<void(const std::string&)> logger_;
};

}  // namespace slipway::aws
