// End-to-end: the real SPA deploy buildspec (tests/e2e/data/
// spa-deploy-buildspec.yaml, a byte-for-byte copy of
// shared/reference/spa-deploy-buildspec.yaml) run UNCHANGED by the real
// `slipway buildspec run`, against settings and code repositories served by
// `git daemon`, with stand-in `aws` and `pip` executables on PATH.
//
// The code base's Makefile records what each target saw in $RECORD: the
// working directory, the AWS credentials, the variables from the settings'
// variables.sh, the virtualenv.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/testing.h"
#include "util/strings.h"

namespace slipway {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::FileExists;
using testing::GitDaemon;
using testing::GitRepo;
using testing::ReadTextFile;
using testing::Slipway;
using testing::TempDir;
using testing::WriteTextFile;

const std::string kBuildspec = std::string(SLIPWAY_SOURCE_DIR) + "/tests/e2e/data/spa-deploy-buildspec.yaml";

// `aws sts assume-role ... --output text` prints AccessKeyId, SecretAccessKey
// and SessionToken; the stand-in makes them depend on the session name so the
// test can tell the settings role from the deploy role.
constexpr const char* kAws = R"(#!/bin/sh
echo "aws $*" >> "$RECORD"
if [ "$1 $2" != "sts assume-role" ]; then echo "aws stand-in: unsupported: $*" >&2; exit 2; fi
session=unknown
while [ $# -gt 0 ]; do
  if [ "$1" = "--role-session-name" ]; then session=$2; fi
  shift
done
case $session in
  SettingsContext) printf 'AKIASETTINGS\tsettings-secret\tsettings-token\n' ;;
  TargetUpdateContext) printf 'AKIADEPLOY\tdeploy-secret\tdeploy-token\n' ;;
  *) printf 'AKIAUNKNOWN\tx\ty\n' ;;
esac
)";

constexpr const char* kPip = R"(#!/bin/sh
echo "pip $*" >> "$RECORD"
echo "Successfully installed $2"
)";

// What a make target saw, as one line.
constexpr const char* kSeeScript = R"sh(#!/bin/sh
printf 'pwd=%s key=[%s] secret=[%s] token=[%s] env=[%s] account=[%s] venv=[%s] settings=[%s]' \
  "$(basename "$PWD")" "${AWS_ACCESS_KEY_ID-}" "${AWS_SECRET_ACCESS_KEY-}" "${AWS_SESSION_TOKEN-}" \
  "${SPA_ENVIRONMENT-}" "${SPA_ACCOUNT-}" "${VIRTUAL_ENV##*/}" "$(cat settings.yaml 2>/dev/null)"
)sh";

// Recipes run by make's /bin/sh; "$$" is make's escape for "$".
constexpr const char* kMakefile =
    ".PHONY: setup lint all-tests deploy\n"
    "setup:\n"
    "\t@echo \"setup $$(sh see.sh)\" >> \"$$RECORD\"\n"
    "\t@mkdir -p venv/bin\n"
    "\t@printf '#!/bin/sh\\necho \"Python 3.12.0 (stand-in)\"\\n' > venv/bin/python && chmod +x venv/bin/python\n"
    "\t@printf 'VIRTUAL_ENV=\"%s/venv\"\\nexport VIRTUAL_ENV\\nPATH=\"$$VIRTUAL_ENV/bin:$$PATH\"\\nexport PATH\\n' "
    "\"$$PWD\" > venv/bin/activate\n"
    "lint:\n"
    "\t@echo \"lint $$(sh see.sh)\" >> \"$$RECORD\"\n"
    "all-tests:\n"
    "\t@echo \"all-tests $$(sh see.sh)\" >> \"$$RECORD\"\n"
    "\t@test ! -f FAIL_TESTS || { echo 'tests failed'; exit 1; }\n"
    "deploy:\n"
    "\t@echo \"deploy $$(sh see.sh) python=[$$(python --version)]\" >> \"$$RECORD\"\n";

class BuildspecSpaE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = tmp_.Sub("bin");
    WriteTextFile(bin_ + "/aws", kAws, 0755);
    WriteTextFile(bin_ + "/pip", kPip, 0755);
    record_ = tmp_.Sub("record.txt");
    WriteTextFile(record_, "");

    GitRepo settings(tmp_.Sub("work/settings"));
    // A plain assignment and an export: both must reach `make` in later phases.
    settings.Write("environments/automation/variables.sh",
                   "SPA_ENVIRONMENT=automation\nexport SPA_ACCOUNT=123456789012\n");
    settings.Write("environments/automation/settings.yaml", "from-settings\n");
    settings.Write("environments/other/settings.yaml", "wrong-environment\n");
    settings.Commit("settings");
    settings.PushTo(tmp_.Sub("remotes/settings.git"));

    GitRepo code(tmp_.Sub("work/code"));
    code.Write("Makefile", kMakefile);
    code.Write("see.sh", kSeeScript);
    code.Write("README.md", "the public code\n");
    code.Commit("code");
    code.Write("FAIL_TESTS", "\n");
    Sh("git checkout -q -b broken && git add -A && git commit -q -m broken && git checkout -q main", code.dir());
    code.PushTo(tmp_.Sub("remotes/code.git"));

    daemon_ = std::make_unique<GitDaemon>(tmp_.Sub("remotes"));
    src_ = tmp_.Sub("src");
    testing::Sh("mkdir -p '" + src_ + "'");
  }

  static void Sh(const std::string& script, const std::string& cwd) { testing::Sh(script, cwd); }

  CommandResult RunSpa(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"buildspec", "run",
                                     kBuildspec,  "--src",
                                     src_,        "--json",
                                     "--env",     "SETTINGS_GIT_URL=" + daemon_->Url("settings.git"),
                                     "--env",     "CODE_GIT_URL=" + daemon_->Url("code.git"),
                                     "--env",     "RECORD=" + record_};
    args.insert(args.end(), extra.begin(), extra.end());
    return Slipway(args, tmp_.path(), {{"PATH", bin_ + ":" + std::string(std::getenv("PATH"))}});
  }

  std::vector<std::string> Record() const {
    std::vector<std::string> lines = Split(ReadTextFile(record_), '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
  }

  static std::string PhaseStatus(const json& record, const std::string& name) {
    for (const auto& p : record["phases"]) {
      if (p["name"] == name) return p["status"];
    }
    return "<missing>";
  }

  TempDir tmp_;
  std::string bin_, record_, src_;
  std::unique_ptr<GitDaemon> daemon_;
};

bool SlipwayHasBuildspecCommand() {
  TempDir dir;
  CommandResult r = Slipway({"buildspec", "run", "--help"}, dir.path());
  return r.exit_code == 0 && r.out.find("FILE") != std::string::npos;
}

TEST_F(BuildspecSpaE2E, TheRealBuildspecRunsUnchanged) {
  if (!SlipwayHasBuildspecCommand()) GTEST_SKIP() << "slipway buildspec run is not registered in this binary";
  // The file in the repository is the reference buildspec, unchanged.
  std::string reference = std::string(SLIPWAY_SOURCE_DIR) + "/../shared/reference/spa-deploy-buildspec.yaml";
  if (FileExists(reference)) {
    EXPECT_EQ(ReadTextFile(kBuildspec), ReadTextFile(reference));
  }

  CommandResult r = RunSpa();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json record = json::parse(r.out);
  EXPECT_EQ(record["status"], "SUCCEEDED");
  for (const char* phase : {"DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS"}) {
    EXPECT_EQ(PhaseStatus(record, phase), "SUCCEEDED") << phase;
  }

  // Settings cloned, code cloned, settings laid over the code.
  EXPECT_TRUE(FileExists(src_ + "/settings/environments/automation/variables.sh"));
  EXPECT_TRUE(FileExists(src_ + "/code/README.md"));
  EXPECT_EQ(ReadTextFile(src_ + "/code/settings.yaml"), "from-settings\n");
  EXPECT_TRUE(FileExists(src_ + "/code/variables.sh"));

  std::vector<std::string> seen = Record();
  ASSERT_EQ(seen.size(), 7u) << ReadTextFile(record_);
  EXPECT_EQ(seen[0], "pip install git-remote-codecommit");
  EXPECT_EQ(seen[1],
            "aws sts assume-role --role-arn arn:aws:iam::123456789012:role/Spa-ReadSettingsRole --role-session-name "
            "SettingsContext --query Credentials.[AccessKeyId,SecretAccessKey,SessionToken] --output text");
  // make setup runs in code/ (cd code from the previous entry holds), after the
  // settings were laid over, with the settings credentials already unset.
  EXPECT_EQ(seen[2],
            "setup pwd=code key=[] secret=[] token=[] env=[automation] account=[123456789012] venv=[] "
            "settings=[from-settings]");
  // pre_build: still in code/, venv active, variables.sh values present, no credentials.
  EXPECT_EQ(seen[3],
            "lint pwd=code key=[] secret=[] token=[] env=[automation] account=[123456789012] venv=[venv] "
            "settings=[from-settings]");
  EXPECT_EQ(seen[4],
            "all-tests pwd=code key=[] secret=[] token=[] env=[automation] account=[123456789012] venv=[venv] "
            "settings=[from-settings]");
  EXPECT_EQ(seen[5],
            "aws sts assume-role --role-arn arn:aws:iam::456789012345:role/Spa-DeployEnvironmentRole "
            "--role-session-name TargetUpdateContext --query Credentials.[AccessKeyId,SecretAccessKey,SessionToken] "
            "--output text");
  // build: make deploy sees the deploy credentials, in code/, with the venv's python.
  EXPECT_EQ(seen[6],
            "deploy pwd=code key=[AKIADEPLOY] secret=[deploy-secret] token=[deploy-token] env=[automation] "
            "account=[123456789012] venv=[venv] settings=[from-settings] python=[Python 3.12.0 (stand-in)]");

  // The log is CodeBuild's, on stderr with --json.
  EXPECT_NE(r.err.find("Running command echo \"Installing dependencies...\"\npip install git-remote-codecommit\n"),
            std::string::npos);
  EXPECT_NE(r.err.find("Phases found in YAML: 3\n"), std::string::npos);
  EXPECT_NE(r.err.find(" INSTALL: 8 commands\n"), std::string::npos);
  EXPECT_NE(r.err.find("Python 3.12.0 (stand-in)\n"), std::string::npos);
  EXPECT_NE(r.err.find("Phase complete: BUILD State: SUCCEEDED\n"), std::string::npos);
}

TEST_F(BuildspecSpaE2E, FailingTestsMeanNoDeploy) {
  if (!SlipwayHasBuildspecCommand()) GTEST_SKIP() << "slipway buildspec run is not registered in this binary";
  CommandResult r = RunSpa({"--env", "CODE_GIT_BRANCH=broken"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  json record = json::parse(r.out);
  EXPECT_EQ(record["status"], "FAILED");
  EXPECT_EQ(PhaseStatus(record, "INSTALL"), "SUCCEEDED");
  EXPECT_EQ(PhaseStatus(record, "PRE_BUILD"), "FAILED");
  EXPECT_EQ(PhaseStatus(record, "BUILD"), "SKIPPED");
  EXPECT_EQ(PhaseStatus(record, "POST_BUILD"), "SKIPPED");
  std::string all = ReadTextFile(record_);
  EXPECT_NE(all.find("all-tests pwd=code"), std::string::npos) << all;
  EXPECT_EQ(all.find("deploy"), std::string::npos) << "make deploy ran after failing tests:\n" << all;
  EXPECT_EQ(all.find("TargetUpdateContext"), std::string::npos) << "the deploy role was assumed:\n" << all;
  EXPECT_NE(r.err.find("Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: "
                       "echo \"Testing the overall code base...\"\nmake lint\nmake all-tests\n. Reason: exit status 2"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace slipway
