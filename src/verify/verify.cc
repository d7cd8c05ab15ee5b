#include "verify/verify.h"

#include <sys/stat.h>

#include <cerrno>
#include <sstream>

#include "proc/process.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

// Lines of `text` that start with prefix, the prefix removed.
std::vector<std::string> LinesWith(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (StartsWith(line, prefix)) found.push_back(line.substr(prefix.size()));
  }
  return found;
}

// The trusted keys, described for messages: "Alice <a@x> (openpgp D33E36594ED43CED)", "bob@example.com (ssh)".
struct Keyring {
  std::string home;  // GNUPGHOME
  std::vector<std::string> described;
};

Result<CapturedOutput> RunGpg(const std::string& home, std::vector<std::string> args, int64_t timeout_ms) {
  ProcessOptions p;
  p.argv = {"gpg", "--batch", "--no-tty", "--homedir", home};
  p.argv.insert(p.argv.end(), args.begin(), args.end());
  p.env = AllowedBaseEnvironment();
  p.env["GNUPGHOME"] = home;
  p.env["LC_ALL"] = "C";
  p.timeout_ms = timeout_ms;
  SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput out, RunCapture(p, 1 << 20));
  if (out.result.timed_out) return Timeout("gpg timed out");
  return out;
}

Result<Keyring> BuildKeyring(const VerifyRequest& r) {
  Keyring k;
  SLIPWAY_ASSIGN_OR_RETURN(k.home, MakeTempDir(r.temp_dir, "gnupg-"));
  if (::chmod(k.home.c_str(), 0700) != 0) return PosixError("chmod '" + k.home + "'", errno);
  const int64_t timeout = r.git.timeout_ms;
  for (const std::string& file : r.config.gpg_keys) {
    SLIPWAY_RETURN_IF_ERROR(ReadFileLimited(file, 1 << 20).status().WithContext("gpg key of '" + r.environment + "'"));
    Result<CapturedOutput> imported = RunGpg(k.home, {"--import", "--", file}, timeout);
    if (!imported.ok()) return imported.status().WithContext("import gpg key '" + file + "'");
    if (!imported->result.exit.success()) {
      return InvalidArgument("gpg key file '" + file + "' of '" + r.environment +
                             "' could not be imported: " + std::string(Trim(imported->err)));
    }
  }
  if (!r.config.gpg_keys.empty()) {
    SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput listed, RunGpg(k.home, {"--with-colons", "--list-keys"}, timeout));
    std::istringstream in(listed.out);
    std::string line, uid, fpr;
    auto flush = [&] {
      if (!fpr.empty()) k.described.push_back((uid.empty() ? std::string("key") : uid) + " (openpgp " + fpr + ")");
      uid.clear();
      fpr.clear();
    };
    bool in_primary = false;
    while (std::getline(in, line)) {
      std::vector<std::string> f = Split(line, ':');
      if (f.empty()) continue;
      if (f[0] == "pub") {
        flush();
        in_primary = true;
      } else if (f[0] == "sub") {
        in_primary = false;
      } else if (f[0] == "fpr" && in_primary && fpr.empty() && f.size() > 9) {
        fpr = f[9];
      } else if (f[0] == "uid" && uid.empty() && f.size() > 9) {
        uid = f[9];
      }
    }
    flush();
  }
  if (!r.config.ssh_allowed_signers.empty()) {
    Result<std::string> signers = ReadFileLimited(r.config.ssh_allowed_signers, 1 << 20);
    if (!signers.ok()) return signers.status().WithContext("ssh_allowed_signers of '" + r.environment + "'");
    std::istringstream in(*signers);
    std::string line;
    while (std::getline(in, line)) {
      std::string_view t = Trim(line);
      if (t.empty() || t[0] == '#') continue;
      std::string principals(t.substr(0, t.find_first_of(" \t")));
      k.described.push_back(principals + " (ssh)");
    }
  }
  return k;
}

std::string Expected(const Keyring& k) {
  if (k.described.empty()) return "expected a signature by a trusted key, but the trusted set is empty";
  std::string s = "expected a signature by ";
  s += k.described.size() == 1 ? "" : "one of ";
  for (size_t i = 0; i < k.described.size(); ++i) s += (i ? ", " : "") + k.described[i];
  return s;
}

Result<SignatureVerdict> Check(Git& git, const std::string& url, const std::string& object, bool tag) {
  SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput out, git.VerifySignature(url, object, tag));
  return ParseVerifyOutput(out.result.exit.success(), out.out, out.err);
}

}  // namespace

SignatureVerdict ParseVerifyOutput(bool exited_zero, const std::string& out, const std::string& err) {
  SignatureVerdict v;
  const std::string all = out + "\n" + err;
  // OpenPGP (--raw: gpg's status lines).
  std::vector<std::string> goodsig = LinesWith(all, "[GNUPG:] GOODSIG ");
  std::vector<std::string> validsig = LinesWith(all, "[GNUPG:] VALIDSIG ");
  // SSH: `Good "git" signature for PRINCIPAL with TYPE key SHA256:...`.
  std::vector<std::string> ssh_good = LinesWith(all, "Good \"git\" signature for ");
  if (exited_zero && !goodsig.empty()) {
    std::string rest = goodsig[0];
    size_t space = rest.find(' ');
    std::string uid = space == std::string::npos ? "" : rest.substr(space + 1);
    std::string fpr;
    if (!validsig.empty()) {
      std::vector<std::string> f = Split(validsig[0], ' ');
      fpr = f.empty() ? "" : f.back();  // the primary key's fingerprint
    }
    v.good = true;
    v.signer = uid + " (openpgp " + (fpr.empty() ? rest.substr(0, space) : fpr) + ")";
    return v;
  }
  if (exited_zero && !ssh_good.empty()) {
    const std::string& rest = ssh_good[0];
    size_t with = rest.find(" with ");
    std::string principal = rest.substr(0, with);
    size_t key = rest.find("key ", with == std::string::npos ? 0 : with);
    std::string fp = key == std::string::npos ? "" : std::string(Trim(rest.substr(key + 4)));
    v.good = true;
    v.signer = principal + " (ssh " + fp + ")";
    return v;
  }
  if (std::vector<std::string> bad = LinesWith(all, "[GNUPG:] BADSIG "); !bad.empty()) {
    v.reason = "its OpenPGP signature is bad (" + bad[0] + ")";
  } else if (std::vector<std::string> nokey = LinesWith(all, "[GNUPG:] NO_PUBKEY "); !nokey.empty()) {
    v.reason = "it is signed by OpenPGP key " + nokey[0] + ", which is not trusted";
  } else if (std::vector<std::string> errsig = LinesWith(all, "[GNUPG:] ERRSIG "); !errsig.empty()) {
    v.reason = "its OpenPGP signature cannot be checked (" + errsig[0] + ")";
  } else if (all.find("No principal matched") != std::string::npos ||
             all.find("Good \"git\" signature with") != std::string::npos) {
    std::string key;
    if (size_t at = all.find(" key SHA256:"); at != std::string::npos) {
      key = all.substr(at + 5, all.find_first_of(" \n", at + 5) - (at + 5));
    }
    v.reason = "it is signed by SSH key " + (key.empty() ? std::string("(unknown)") : key) +
               ", which is not in the allowed signers";
  } else if (all.find("cannot verify a non-tag object") != std::string::npos) {
    v.reason = "it is not an annotated, signed tag (it names a commit directly)";
  } else if (all.find("Could not verify signature") != std::string::npos ||
             all.find("ssh-keygen") != std::string::npos ||
             all.find("Signature verification failed") != std::string::npos) {
    v.reason = "its SSH signature is not valid";
  } else if (exited_zero) {
    v.reason = "git accepted it, but named no signer";
  } else {
    v.reason = "it is not signed";
  }
  return v;
}

Result<std::string> VerifyRun(const VerifyRequest& r) {
  if (r.config.mode == VerifyConfig::Mode::kNone) return std::string();
  SLIPWAY_ASSIGN_OR_RETURN(Keyring keyring, BuildKeyring(r));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { (void)RemoveTree(dir); }
  } cleanup{keyring.home};

  GitOptions options = r.git;
  options.extra_env["GNUPGHOME"] = keyring.home;
  // Only our files count: never the engine's ~/.gitconfig choices.
  options.extra_config.push_back("gpg.program=gpg");
  options.extra_config.push_back("gpg.ssh.program=ssh-keygen");
  options.extra_config.push_back("gpg.ssh.allowedSignersFile=" + (r.config.ssh_allowed_signers.empty()
                                                                      ? std::string("/dev/null")
                                                                      : r.config.ssh_allowed_signers));
  options.extra_config.push_back("gpg.ssh.revocationFile=/dev/null");
  options.extra_config.push_back("gpg.minTrustLevel=undefined");
  Git git(options);

  std::vector<std::string> signers;
  if (r.config.settings() && !r.settings_url.empty()) {
    SLIPWAY_ASSIGN_OR_RETURN(SignatureVerdict v, Check(git, r.settings_url, r.settings_commit, false));
    if (!v.good) {
      return Status(StatusCode::kPermissionDenied, "settings commit " + Short(r.settings_commit) + " of '" +
                                                       r.environment + "' failed signature verification: " + v.reason +
                                                       "; " + Expected(keyring));
    }
    signers.push_back("settings: " + v.signer);
  }
  if (r.config.code() && !r.code_url.empty()) {
    SignatureVerdict v;
    std::string what;
    if (r.code_kind == RefKind::kTag) {
      what = "code tag '" + r.code_ref + "'";
      SLIPWAY_ASSIGN_OR_RETURN(v, Check(git, r.code_url, r.code_ref, true));
      if (v.good) {
        // The tag must still name what we are about to deploy.
        SLIPWAY_ASSIGN_OR_RETURN(std::string now, git.TagCommit(r.code_url, r.code_ref));
        if (now != r.code_commit) {
          v.good = false;
          v.reason = "it now points to " + Short(now) + ", not to " + Short(r.code_commit);
        }
      }
    } else {
      what = std::string("code ") + RefKindName(r.code_kind) + " " + Short(r.code_commit) +
             (r.code_ref == r.code_commit ? "" : " ('" + r.code_ref + "')");
      SLIPWAY_ASSIGN_OR_RETURN(v, Check(git, r.code_url, r.code_commit, false));
    }
    if (!v.good) {
      return Status(
          StatusCode::kPermissionDenied,
          what + " of '" + r.environment + "' failed signature verification: " + v.reason + "; " + Expected(keyring));
    }
    signers.push_back("code: " + v.signer);
  }
  std::string joined;
  for (size_t i = 0; i < signers.size(); ++i) joined += (i ? "; " : "") + signers[i];
  return joined;
}

}  // namespace slipway
