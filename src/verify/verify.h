// Signature verification of what a run is about to deploy (issue 8;
// doc/verify.md): the settings commit and/or the code's tag (or commit),
// signed by a trusted OpenPGP key (gpg) or SSH key (allowed-signers file).
//
// How: a throwaway GnuPG home holding only the trusted public keys
// (`gpg --import`), then git's own `verify-commit --raw` / `verify-tag --raw`
// through the hardened Git class, with GNUPGHOME pointing at that home and
// gpg.ssh.allowedSignersFile at the configured file (or /dev/null). The
// engine's own keyring and ~/.ssh never count.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/trust_config.h"
#include "git/git.h"
#include "util/status.h"

namespace slipway {

struct VerifyRequest {
  std::string environment;
  VerifyConfig config;
  GitOptions git;        // mirrors_dir, timeout, cancel (extra_env/extra_config are set here)
  std::string temp_dir;  // an existing directory for the throwaway keyring
  // The settings commit (mode settings / both); settings_url "" when none.
  std::string settings_url;
  std::string settings_commit;
  // The code (mode code / both): a tag is checked with verify-tag and must
  // still point at code_commit; a commit or branch with verify-commit.
  std::string code_url;
  std::string code_ref;
  RefKind code_kind = RefKind::kCommit;
  std::string code_commit;
};

// Verifies what the mode asks for. On success returns who signed, e.g.
// "settings: Alice Example <alice@example.com> (openpgp D33E...2D56); code:
// bob@example.com (ssh SHA256:Noc...)"; "" when the mode is none. On refusal
// a kPermissionDenied Status with one sentence naming the commit or tag, why
// and which keys were expected. Other errors (gpg missing, unreadable key
// file) keep their codes and also stop the run.
Result<std::string> VerifyRun(const VerifyRequest& request);

// One `git verify-* --raw` verdict, parsed. Exposed for tests.
struct SignatureVerdict {
  bool good = false;
  std::string signer;  // "NAME <EMAIL> (openpgp FPR)" or "PRINCIPAL (ssh SHA256:...)"
  std::string reason;  // when not good: "it is not signed", "it is signed by unknown key ABCD", ...
};
SignatureVerdict ParseVerifyOutput(bool exited_zero, const std::string& out, const std::string& err);

}  // namespace slipway
