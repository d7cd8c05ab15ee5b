// AWS credentials: the value, and (below) the SDKs' chain of places to find
// the engine's base credentials.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace slipway::aws {

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

}  // namespace slipway::aws
