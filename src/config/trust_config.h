// The parts of slipway.yaml added by issue 8 ("trust and tell"): signature
// verification, preview steps, forges for commit statuses, notifications.
// Reference: doc/config.md, doc/verify.md, doc/previews.md, doc/drift.md,
// doc/notifications.md. Included by config/config.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace slipway {

// A secret value's source: exactly one of the two is set when the secret is
// given. Secrets never live in slipway.yaml itself.
struct SecretRef {
  std::string file;  // absolute path; the value is its content without the trailing newline
  std::string env;   // a variable of the engine's environment
  bool empty() const { return file.empty() && env.empty(); }
};

// `verify:` of an environment (doc/verify.md).
struct VerifyConfig {
  enum class Mode { kNone, kSettings, kCode, kBoth };
  Mode mode = Mode::kNone;
  std::vector<std::string> gpg_keys;  // absolute paths of armored or binary OpenPGP public keys
  std::string ssh_allowed_signers;    // absolute path of an ssh-keygen allowed-signers file, "" when none
  bool settings() const { return mode == Mode::kSettings || mode == Mode::kBoth; }
  bool code() const { return mode == Mode::kCode || mode == Mode::kBoth; }
};
const char* VerifyModeName(VerifyConfig::Mode mode);  // "none", "settings", "code", "both"

// One notification target (doc/notifications.md).
struct NotifyTarget {
  enum class Kind { kWebhook, kSlack, kTeams, kEmail };
  Kind kind = Kind::kWebhook;
  // failure, recovery, success, drift. Default: failure, recovery, drift.
  std::vector<std::string> events;
  // webhook, slack, teams: the URL, inline or from a file / variable
  // (Slack and Teams webhook URLs are credentials).
  std::string url;
  SecretRef url_secret;
  SecretRef hmac;  // webhook: key of the X-Slipway-Signature-256 header (optional)
  // email
  std::string smtp_url;  // smtp://HOST:PORT
  std::string from;
  std::vector<std::string> to;
  std::string username;
  SecretRef password;
  bool starttls = true;  // required, never optional once set
  std::string ca_file;   // absolute; "" = the system's trust store
  std::string at;        // "FILE:LINE:COLUMN" of the entry, for messages
  bool Wants(const std::string& event) const;
};
const char* NotifyKindName(NotifyTarget::Kind kind);  // "webhook", "slack", "teams", "email"

// `server.forges.<github|gitlab|gitea>`: where previews report commit
// statuses (doc/previews.md).
struct ForgeConfig {
  std::string api_url;  // https://api.github.com, https://gitlab.example.com/api/v4, https://gitea.example.com/api/v1
  SecretRef token;
  bool comment = false;  // also comment on the pull request with the tail of `make diff`
};

}  // namespace slipway
