// Signature verification end to end (issue 8; doc/verify.md): real keys made
// here with ssh-keygen and gpg, real signed commits and tags, the real
// `slipway run`. A refused run must stop before any step: every step writes a
// marker file, and the test checks that none exists.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>

#include "store/store.h"
#include "testing/testing.h"

namespace slipway {
namespace {

using testing::CommandResult;
using testing::FileExists;
using testing::GitRepo;
using testing::ReadTextFile;
using testing::Sh;
using testing::TempDir;
using testing::WriteTextFile;

class TrustVerifyE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two SSH keys: alice is trusted, eve is not.
    Sh("ssh-keygen -q -t ed25519 -N '' -C alice -f alice && ssh-keygen -q -t ed25519 -N '' -C eve -f eve", tmp_.path());
    WriteTextFile(tmp_.Sub("allowed_signers"), "alice@example.com " + ReadTextFile(tmp_.Sub("alice.pub")));
    code_ = std::make_unique<GitRepo>(tmp_.Sub("work/code"));
    code_->Write("VERSION", "1.0.0\n");
    code_->Commit("v1");
    SshSign(code_->dir(), "alice", "tag -s -m 'release v1' v1");
    code_->PushTo(tmp_.Sub("remotes/code.git"));
    settings_ = std::make_unique<GitRepo>(tmp_.Sub("work/settings"));
    settings_->Write("environments/prod/deploy.yaml", "code:\n  ref: v1\n");
  }
  void TearDown() override {
    if (!gnupg_.empty()) Sh("gpgconf --homedir '" + gnupg_ + "' --kill all", "", /*allow_failure=*/true);
  }

  // Runs `git -c gpg.format=ssh -c user.signingkey=KEY ARGS` in dir.
  void SshSign(const std::string& dir, const std::string& key, const std::string& args) {
    Sh("git -c gpg.format=ssh -c user.signingkey='" + tmp_.Sub(key) + ".pub' " + args, dir);
  }
  std::string SettingsCommit(const std::string& signer, const std::string& message) {
    if (signer.empty()) {
      settings_->Commit(message);
    } else {
      Sh("git add -A", settings_->dir());
      SshSign(settings_->dir(), signer, "commit -q -S --allow-empty -m '" + message + "'");
    }
    settings_->PushTo(tmp_.Sub("remotes/settings.git"));
    return settings_->Head();
  }
  void WriteConfig(const std::string& verify) {
    WriteTextFile(tmp_.Sub("slipway.yaml"),
                  "state_dir: state\n"
                  "environments:\n"
                  "  prod:\n"
                  "    settings: { url: " +
                      tmp_.Sub("remotes/settings.git") +
                      ", path: environments/prod }\n"
                      "    code: { url: " +
                      tmp_.Sub("remotes/code.git") +
                      " }\n"
                      "    verify:\n" +
                      verify +
                      "    steps:\n"
                      "      - { name: setup, run: 'touch " +
                      tmp_.Sub("ran-setup") +
                      "' }\n"
                      "      - { name: deploy, run: 'touch " +
                      tmp_.Sub("ran-deploy") + "' }\n");
  }
  CommandResult RunProd() { return testing::Slipway({"run", "prod"}, tmp_.path()); }
  RunRecord LastRun() {
    auto store = OpenSqliteStore(tmp_.Sub("state/slipway.db"));
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (!store.ok()) return {};
    auto last = (*store)->LastRun("prod");
    EXPECT_TRUE(last.ok() && last->has_value());
    if (!last.ok() || !last->has_value()) return {};
    auto run = (*store)->GetRun((*last)->id);
    return run.ok() ? *run : RunRecord{};
  }
  bool AnyStepRan() const { return FileExists(tmp_.Sub("ran-setup")) || FileExists(tmp_.Sub("ran-deploy")); }

  TempDir tmp_;
  std::unique_ptr<GitRepo> code_, settings_;
  std::string gnupg_;
};

TEST_F(TrustVerifyE2E, SshSignedSettingsAndTagPassAndTheRunRecordsTheSigner) {
  WriteConfig("      mode: both\n      ssh_allowed_signers: allowed_signers\n");
  SettingsCommit("alice", "pin v1");
  CommandResult r = RunProd();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(FileExists(tmp_.Sub("ran-deploy")));
  RunRecord run = LastRun();
  EXPECT_EQ(run.status, RunStatus::kSucceeded);
  EXPECT_NE(run.signer.find("settings: alice@example.com (ssh SHA256:"), std::string::npos) << run.signer;
  EXPECT_NE(run.signer.find("code: alice@example.com (ssh SHA256:"), std::string::npos) << run.signer;
}

TEST_F(TrustVerifyE2E, UnsignedSettingsCommitIsRefusedBeforeAnyStep) {
  WriteConfig("      mode: settings\n      ssh_allowed_signers: allowed_signers\n");
  std::string commit = SettingsCommit("", "pin v1, unsigned");
  CommandResult r = RunProd();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(AnyStepRan());
  RunRecord run = LastRun();
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.error, "settings commit " + commit.substr(0, 12) +
                           " of 'prod' failed signature verification: it is not signed; expected a signature by "
                           "alice@example.com (ssh)");
  EXPECT_EQ(run.signer, "");
  for (const StepRecord& s : run.steps) EXPECT_EQ(s.status, StepStatus::kSkipped) << s.name;
  EXPECT_NE(r.err.find("it is not signed"), std::string::npos) << r.err;
}

TEST_F(TrustVerifyE2E, SignatureByAnUntrustedKeyIsRefusedBeforeAnyStep) {
  WriteConfig("      mode: settings\n      ssh_allowed_signers: allowed_signers\n");
  std::string commit = SettingsCommit("eve", "pin v1, signed by eve");
  CommandResult r = RunProd();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(AnyStepRan());
  RunRecord run = LastRun();
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_NE(run.error.find("settings commit " + commit.substr(0, 12) +
                           " of 'prod' failed signature verification: it is signed by SSH key SHA256:"),
            std::string::npos)
      << run.error;
  EXPECT_NE(run.error.find("which is not in the allowed signers; expected a signature by alice@example.com (ssh)"),
            std::string::npos)
      << run.error;
}

TEST_F(TrustVerifyE2E, TagMovedToAnUnsignedCommitIsRefusedBeforeAnyStep) {
  WriteConfig("      mode: code\n      ssh_allowed_signers: allowed_signers\n");
  SettingsCommit("", "pin v1");  // mode code: the settings commit is not checked
  ASSERT_EQ(RunProd().exit_code, 0);
  EXPECT_NE(LastRun().signer.find("code: alice@example.com"), std::string::npos);
  unlink(tmp_.Sub("ran-setup").c_str());
  unlink(tmp_.Sub("ran-deploy").c_str());

  // Someone moves v1 to a commit of their own, as a plain (unsigned) tag.
  code_->Write("VERSION", "6.6.6\n");
  code_->Commit("not what was signed");
  code_->Tag("v1");
  code_->PushTo(tmp_.Sub("remotes/code.git"));
  CommandResult r = RunProd();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(AnyStepRan());
  RunRecord run = LastRun();
  EXPECT_EQ(run.status, RunStatus::kFailed);
  EXPECT_EQ(run.error,
            "code tag 'v1' of 'prod' failed signature verification: it is not an annotated, signed tag (it names a "
            "commit directly); expected a signature by alice@example.com (ssh)");
}

TEST_F(TrustVerifyE2E, OpenPgpKeysFromFilesAreTheOnlyOnesTrusted) {
  gnupg_ = tmp_.Sub("gnupg");
  Sh("mkdir -m 700 gnupg && export GNUPGHOME=" + gnupg_ +
         " && gpg --batch --passphrase '' --quick-gen-key 'Alice Example <alice@example.com>' ed25519 sign never"
         " && gpg --batch --passphrase '' --quick-gen-key 'Mallory <mallory@example.com>' ed25519 sign never"
         " && gpg --armor --export alice@example.com > alice.asc",
     tmp_.path());
  WriteConfig("      mode: settings\n      gpg_keys: [alice.asc]\n");
  auto sign = [&](const std::string& who, const std::string& message) {
    Sh("git add -A && GNUPGHOME=" + gnupg_ + " git -c user.signingkey=" + who + " commit -q -S --allow-empty -m '" +
           message + "'",
       settings_->dir());
    settings_->PushTo(tmp_.Sub("remotes/settings.git"));
    return settings_->Head();
  };
  sign("alice@example.com", "pin v1 by alice");
  CommandResult ok = RunProd();
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(LastRun().signer.find("settings: Alice Example <alice@example.com> (openpgp "), std::string::npos)
      << LastRun().signer;
  unlink(tmp_.Sub("ran-setup").c_str());
  unlink(tmp_.Sub("ran-deploy").c_str());

  // Mallory's key is in the engine user's keyring here, but not in gpg_keys.
  std::string commit = sign("mallory@example.com", "pin v1 by mallory");
  CommandResult r = RunProd();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(AnyStepRan());
  RunRecord run = LastRun();
  EXPECT_NE(run.error.find("settings commit " + commit.substr(0, 12) +
                           " of 'prod' failed signature verification: it is signed by OpenPGP key "),
            std::string::npos)
      << run.error;
  EXPECT_NE(run.error.find("which is not trusted; expected a signature by Alice Example <alice@example.com> (openpgp "),
            std::string::npos)
      << run.error;
}

TEST_F(TrustVerifyE2E, VerifyWithoutKeysIsAConfigError) {
  WriteConfig("      mode: both\n");
  CommandResult r = testing::Slipway({"validate"}, tmp_.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("'verify' in environment 'prod' has mode 'both' but no trusted keys"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace slipway
