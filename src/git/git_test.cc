// Tests of the git module against real repositories served by a real
// `git daemon` on 127.0.0.1.
#include "git/git.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "testing/testing.h"
#include "util/fs.h"

namespace slipway {
namespace {

using ::slipway::testing::FileExists;
using ::slipway::testing::GitDaemon;
using ::slipway::testing::GitRepo;
using ::slipway::testing::ReadTextFile;
using ::slipway::testing::Sh;
using ::slipway::testing::TempDir;
using ::slipway::testing::WriteTextFile;
using ::testing::HasSubstr;

std::string Trimmed(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

// A TCP listener on 127.0.0.1 that accepts connections and never answers, to
// make git wait until our timeout fires.
class SilentListener {
 public:
  // port 0: any free port.
  explicit SilentListener(int port = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(listen(fd_, 16), 0);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) {
          int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (c >= 0) accepted_.push_back(c);
        }
      }
    });
  }
  ~SilentListener() {
    stop_.store(true);
    thread_.join();
    for (int c : accepted_) close(c);
    close(fd_);
  }
  std::string Url(const std::string& name) const { return "git://127.0.0.1:" + std::to_string(port_) + "/" + name; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> accepted_;
  std::thread thread_;
};

// Appends to the test HOME's ~/.gitconfig and restores it afterwards.
class UserGitConfig {
 public:
  explicit UserGitConfig(const std::string& extra) : path_(std::string(std::getenv("HOME")) + "/.gitconfig") {
    saved_ = ReadTextFile(path_);
    WriteTextFile(path_, saved_ + extra);
  }
  ~UserGitConfig() { WriteTextFile(path_, saved_); }

 private:
  std::string path_;
  std::string saved_;
};

class GitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = std::make_unique<GitRepo>(tmp_.Sub("work"));
    repo_->Write("README", "v1\n");
    c1_ = repo_->Commit("first");
    repo_->Tag("v1.0.0");
    repo_->Write("README", "v2\n");
    repo_->Write("src/app.txt", "app v2\n");
    repo_->Write("docs/guide.md", "guide\n");
    c2_ = repo_->Commit("second");
    repo_->Tag("v2.0.0", /*annotated=*/true);
    Sh("git branch feature " + c1_, repo_->dir());
    Publish();
    daemon_ = std::make_unique<GitDaemon>(tmp_.Sub("served"));
    url_ = daemon_->Url("code.git");
  }

  void Publish() { repo_->PushTo(tmp_.Sub("served/code.git")); }

  GitOptions Options() {
    GitOptions o;
    o.mirrors_dir = tmp_.Sub("mirrors");
    o.timeout_ms = 60'000;
    return o;
  }

  TempDir tmp_;
  std::unique_ptr<GitRepo> repo_;
  std::unique_ptr<GitDaemon> daemon_;
  std::string url_;
  std::string c1_, c2_;
};

// --- Validation (no git runs) ----------------------------------------------

TEST(GitValidateTest, AcceptsPlausibleRefs) {
  for (const char* ref :
       {"v1.0.0", "main", "release/2024-01", "v23.9.22", "0123456789abcdef0123456789abcdef01234567"}) {
    EXPECT_TRUE(ValidateRef(ref).ok()) << ref << ": " << ValidateRef(ref).ToString();
  }
}

TEST(GitValidateTest, RefusesRefsThatCouldBeOptionsOrRevisionSyntax) {
  EXPECT_EQ(ValidateRef("-x").message(), "ref '-x' is not allowed: it begins with '-'");
  EXPECT_EQ(ValidateRef("--upload-pack=touch /tmp/pwned").code(), StatusCode::kInvalidArgument);
  for (const char* ref : {"", "a..b", "a b", "v1^{}", "HEAD~1", "a:b", "x.lock", ".hidden", "a/", "/a", "@", "a@{1}",
                          "a//b", "a*", "a\nb"}) {
    EXPECT_EQ(ValidateRef(ref).code(), StatusCode::kInvalidArgument) << ref;
  }
}

TEST(GitValidateTest, AcceptsAllowedTransports) {
  for (const char* url :
       {"https://example.com/org/repo.git", "http://example.com/r", "ssh://git@example.com/r.git",
        "git@github.com:org/repo.git", "example.com:repo", "git://127.0.0.1:9418/code", "file:///srv/git/code.git",
        "/srv/git/code.git", "codecommit::eu-west-1://my-repo", "codecommit://my-repo", "[::1]:repo"}) {
    EXPECT_TRUE(ValidateUrl(url).ok()) << url << ": " << ValidateUrl(url).ToString();
  }
}

TEST(GitValidateTest, RefusesOtherTransportsAndOptionLikeUrls) {
  EXPECT_EQ(ValidateUrl("ext::sh -c touch% /tmp/pwned").message(),
            "url 'ext::sh -c touch% /tmp/pwned' uses the 'ext' transport, which is not allowed (use https, http, ssh, "
            "git, file or an absolute path)");
  EXPECT_EQ(ValidateUrl("-oProxyCommand=touch /tmp/pwned").message(),
            "url '-oProxyCommand=touch /tmp/pwned' is not allowed: it begins with '-'");
  EXPECT_THAT(ValidateUrl("ssh://-oProxyCommand=touch%20x/repo").message(), HasSubstr("host beginning with '-'"));
  EXPECT_THAT(ValidateUrl("git@-oProxyCommand=x:repo").message(), HasSubstr("host beginning with '-'"));
  EXPECT_THAT(ValidateUrl("ssh://-u@host/repo").message(), HasSubstr("user beginning with '-'"));
  EXPECT_THAT(ValidateUrl("fd::17").message(), HasSubstr("'fd' transport"));
  EXPECT_THAT(ValidateUrl("ftp://example.com/r").message(), HasSubstr("'ftp' transport"));
  EXPECT_THAT(ValidateUrl("relative/path").message(), HasSubstr("relative path"));
  EXPECT_EQ(ValidateUrl("https://h/x\n").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateUrl("").code(), StatusCode::kInvalidArgument);
}

TEST(GitValidateTest, FullCommitHash) {
  EXPECT_TRUE(IsFullCommitHash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_TRUE(IsFullCommitHash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_FALSE(IsFullCommitHash("0123456789abcdef0123456789abcdef0123456"));
  EXPECT_FALSE(IsFullCommitHash("g123456789abcdef0123456789abcdef01234567"));
}

TEST(GitValidateTest, RedactUrlHidesPasswords) {
  EXPECT_EQ(RedactUrl("https://user:s3cret@example.com/r.git"), "https://user:***@example.com/r.git");
  EXPECT_EQ(RedactUrl("https://user@example.com/r.git"), "https://user@example.com/r.git");
  EXPECT_EQ(RedactUrl("git@github.com:org/r.git"), "git@github.com:org/r.git");
  EXPECT_EQ(RedactUrl("https://example.com/a@b"), "https://example.com/a@b");
}

TEST(GitValidateTest, FailureMessagesNeverShowPasswords) {
  CapturedOutput out;
  out.result.exit.code = 128;
  out.err = "fatal: something odd about 'https://me:hunter2@example.com/r.git/' happened\n";
  Status s = TEST_SummariseGitFailure("fetch 'https://me:***@example.com/r.git'", out);
  EXPECT_EQ(s.code(), StatusCode::kFailed);
  EXPECT_EQ(
      s.message(),
      "fetch 'https://me:***@example.com/r.git': something odd about 'https://me:***@example.com/r.git/' happened");
}

TEST(GitValidateTest, FailureSummaries) {
  auto summary = [](const std::string& err) {
    CapturedOutput out;
    out.result.exit.code = 128;
    out.err = err;
    return TEST_SummariseGitFailure("fetch 'u'", out);
  };
  EXPECT_EQ(summary("ssh: connect to host h port 22: Connection refused\nfatal: Could not read from remote "
                    "repository.\n\nPlease make sure you have the correct access rights\n")
                .message(),
            "fetch 'u': could not connect: Connection refused");
  EXPECT_EQ(summary("fatal: unable to access 'https://nope.invalid/x/': Could not resolve host: nope.invalid\n").code(),
            StatusCode::kNetwork);
  Status auth = summary("fatal: could not read Username for 'https://h': terminal prompts disabled\n");
  EXPECT_EQ(auth.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(auth.message(), HasSubstr("configure a credential helper"));
  EXPECT_EQ(summary("git@h: Permission denied (publickey).\nfatal: Could not read from remote repository.\n").code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(summary("remote: Repository not found.\nfatal: repository 'https://h/x/' not found\n").code(),
            StatusCode::kNotFound);
  EXPECT_EQ(summary("error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502\nfatal: expected "
                    "flush after ref listing\n")
                .code(),
            StatusCode::kNetwork);
  EXPECT_EQ(summary("").message(), "fetch 'u': git failed with exit status 128");
}

TEST(GitValidateTest, MirrorPathIsStableReadableAndIgnoresPasswords) {
  GitOptions o;
  o.mirrors_dir = "/var/lib/slipway/mirrors";
  Git git(o);
  std::string a = git.MirrorPath("https://example.com/org/code.git");
  EXPECT_EQ(a, git.MirrorPath("https://example.com/org/code.git"));
  EXPECT_TRUE(a.starts_with("/var/lib/slipway/mirrors/code-")) << a;
  EXPECT_TRUE(a.ends_with(".git")) << a;
  EXPECT_EQ(a.size(), std::string("/var/lib/slipway/mirrors/code-").size() + 16 + 4) << a;
  EXPECT_NE(a, git.MirrorPath("https://example.com/other/code.git"));
  EXPECT_EQ(git.MirrorPath("https://u:one@example.com/code.git"), git.MirrorPath("https://u:two@example.com/code.git"));
}

// --- Resolve -------------------------------------------------------------

TEST_F(GitTest, ResolvesLightweightTag) {
  Git git(Options());
  std::string warning = "stale";
  auto r = git.Resolve(url_, "v1.0.0", &warning);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, RefKind::kTag);
  EXPECT_EQ(r->commit, c1_);
  EXPECT_EQ(r->ref, "v1.0.0");
  EXPECT_EQ(warning, "");
  EXPECT_EQ(git.network_calls(), 1);
}

TEST_F(GitTest, ResolvesAnnotatedTagToThePeeledCommit) {
  Git git(Options());
  auto r = git.Resolve(url_, "v2.0.0", nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, RefKind::kTag);
  EXPECT_EQ(r->commit, c2_);
  std::string tag_object = Trimmed(Sh("git rev-parse v2.0.0", repo_->dir()).out);
  EXPECT_NE(tag_object, c2_);
}

TEST_F(GitTest, ResolvesFullCommit) {
  Git git(Options());
  auto r = git.Resolve(url_, c1_, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, RefKind::kCommit);
  EXPECT_EQ(r->commit, c1_);
  EXPECT_STREQ(RefKindName(r->kind), "commit");
}

TEST_F(GitTest, ResolvesBranchAsKindBranch) {
  Git git(Options());
  auto r = git.Resolve(url_, "feature", nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, RefKind::kBranch);
  EXPECT_EQ(r->commit, c1_);
  EXPECT_STREQ(RefKindName(r->kind), "branch");
}

TEST_F(GitTest, TagWinsOverBranchOfTheSameName) {
  Sh("git branch v1.0.0 " + c2_, repo_->dir());
  Publish();
  Git git(Options());
  auto r = git.Resolve(url_, "v1.0.0", nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, RefKind::kTag);
  EXPECT_EQ(r->commit, c1_);
}

TEST_F(GitTest, RefusesAbbreviatedHash) {
  Git git(Options());
  std::string abbrev = c1_.substr(0, 7);
  auto r = git.Resolve(url_, abbrev, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "ref '" + abbrev + "' looks like an abbreviated commit hash; pin the full 40-character hash");
}

TEST_F(GitTest, HexLookingTagNameIsStillATag) {
  repo_->Tag("20230922", false, c1_);
  Publish();
  Git git(Options());
  auto r = git.Resolve(url_, "20230922", nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, RefKind::kTag);
  EXPECT_EQ(r->commit, c1_);
}

TEST_F(GitTest, MissingTagIsNotFoundNamingRefAndUrl) {
  Git git(Options());
  auto r = git.Resolve(url_, "v9", nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "ref 'v9' not found in '" + url_ + "' (no such tag, branch or commit)");
}

TEST_F(GitTest, MissingFullCommitIsNotFound) {
  Git git(Options());
  std::string missing(40, 'e');
  auto r = git.Resolve(url_, missing, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "commit '" + missing + "' not found in '" + url_ + "'");
}

TEST_F(GitTest, HostileRefsAreRefusedBeforeGitRuns) {
  Git git(Options());
  const std::string pwned = tmp_.Sub("pwned");
  for (const std::string& ref : {"--upload-pack=touch " + pwned, "-oProxyCommand=touch " + pwned}) {
    auto r = git.Resolve(url_, ref, nullptr);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("begins with '-'"));
    EXPECT_FALSE(git.FetchBranchHead(url_, ref).ok());
    EXPECT_FALSE(git.Checkout(url_, ref, tmp_.Sub("ws")).ok());
    EXPECT_FALSE(git.ReadFile(url_, ref, "README").ok());
    EXPECT_FALSE(git.ChangedPaths(url_, ref, "main", "").ok());
    EXPECT_FALSE(git.Log(url_, "", ref, "", 0).ok());
    // As a URL too.
    EXPECT_EQ(git.Fetch(ref).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(git.LsRemote(ref).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(git.calls(), 0);
  EXPECT_FALSE(FileExists(pwned));
}

TEST_F(GitTest, ExtUrlIsRefusedByUsAndByGitEvenWhenUserConfigAllowsIt) {
  const std::string pwned = tmp_.Sub("pwned");
  const std::string ext_url = "ext::sh -c touch% " + pwned;
  // The attack is real: plain git with protocol.ext.allow=always runs it.
  const std::string hostile_config = tmp_.Sub("hostile.gitconfig");
  WriteTextFile(hostile_config, "[protocol \"ext\"]\n\tallow = always\n");
  Sh("GIT_CONFIG_GLOBAL='" + hostile_config + "' git ls-remote '" + ext_url + "'", "", /*allow_failure=*/true);
  ASSERT_TRUE(FileExists(pwned)) << "control: ext:: should work in plain git with that config";
  Sh("rm -f '" + pwned + "'");

  GitOptions o = Options();
  o.extra_env["GIT_CONFIG_GLOBAL"] = hostile_config;
  Git git(o);
  EXPECT_THAT(git.Fetch(ext_url).message(), HasSubstr("uses the 'ext' transport, which is not allowed"));
  EXPECT_THAT(git.Resolve(ext_url, "v1.0.0", nullptr).status().message(), HasSubstr("'ext' transport"));
  EXPECT_EQ(git.calls(), 0);

  // Bypassing ValidateUrl: git itself refuses, despite the user's config.
  auto raw = git.TEST_RunGit({"ls-remote", "--", ext_url}, tmp_.path());
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_FALSE(raw->result.exit.success());
  EXPECT_THAT(raw->err, HasSubstr("transport 'ext' not allowed"));
  EXPECT_FALSE(FileExists(pwned));
}

TEST_F(GitTest, UserConfigIsHonouredButCannotRewriteToExt) {
  const std::string pwned = tmp_.Sub("pwned");
  UserGitConfig config("[url \"git://127.0.0.1:" + std::to_string(daemon_->port()) +
                       "/\"]\n\tinsteadOf = slipway-test:\n"
                       "[url \"ext::sh -c touch% " +
                       pwned + "% \"]\n\tinsteadOf = evil:\n[protocol \"ext\"]\n\tallow = always\n");
  Git git(Options());
  auto r = git.Resolve("slipway-test:code.git", "v1.0.0", nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->commit, c1_);

  Status s = git.Fetch("evil:x");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("transport 'ext' is not allowed"));
  EXPECT_FALSE(FileExists(pwned));
}

TEST_F(GitTest, UrlStartingWithDashIsRefused) {
  Git git(Options());
  auto r = git.Resolve("--upload-pack=touch " + tmp_.Sub("pwned"), "v1.0.0", nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("it begins with '-'"));
  EXPECT_EQ(git.calls(), 0);
}

// --- Network rule and the cache -------------------------------------------

TEST_F(GitTest, WarmMirrorAndFullCommitNeedNoNetwork) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  daemon_->Stop();
  int64_t before = git.network_calls();
  std::string warning;
  auto r = git.Resolve(url_, c1_, &warning);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->commit, c1_);
  EXPECT_EQ(r->kind, RefKind::kCommit);
  EXPECT_EQ(warning, "");
  EXPECT_EQ(git.network_calls(), before);
  EXPECT_TRUE(git.HasCommit(url_, c2_));
  EXPECT_FALSE(git.HasCommit(url_, std::string(40, 'e')));
  EXPECT_EQ(git.network_calls(), before);
}

TEST_F(GitTest, CachedTagIsUsedWithAWarningWhenTheRemoteIsDown) {
  Git git(Options());
  ASSERT_TRUE(git.Resolve(url_, "v1.0.0", nullptr).ok());
  daemon_->Stop();
  std::string warning;
  auto r = git.Resolve(url_, "v1.0.0", &warning);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, RefKind::kTag);
  EXPECT_EQ(r->commit, c1_);
  EXPECT_EQ(warning, "could not reach '" + url_ +
                         "' (could not connect: Connection refused); using the cached tag v1.0.0 → " + c1_);

  // Branches move, unknown refs are unknown: neither is served from the cache.
  auto branch = git.Resolve(url_, "feature", &warning);
  ASSERT_FALSE(branch.ok());
  EXPECT_EQ(branch.status().code(), StatusCode::kNetwork);
  auto missing = git.Resolve(url_, "v9", &warning);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNetwork);
  EXPECT_EQ(warning, "");
}

TEST_F(GitTest, CachedTagIsUsedWithAWarningWhenTheRemoteHangs) {
  GitOptions o = Options();
  o.timeout_ms = 1000;
  Git git(o);
  ASSERT_TRUE(git.Fetch(url_).ok());
  daemon_->Stop();
  SilentListener listener(daemon_->port());
  std::string warning;
  auto r = git.Resolve(url_, "v2.0.0", &warning);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->commit, c2_);
  EXPECT_EQ(warning, "could not reach '" + url_ + "' (timed out after 1s); using the cached tag v2.0.0 → " + c2_);
}

TEST_F(GitTest, StaleLockLeftByAKilledFetchIsRemoved) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  const std::string mirror = git.MirrorPath(url_);
  // What a fetch killed with SIGKILL while updating main leaves behind.
  Sh("git --git-dir='" + mirror + "' pack-refs --all");
  WriteTextFile(mirror + "/refs/heads/main.lock", "");
  WriteTextFile(mirror + "/packed-refs.lock", "");
  repo_->Write("README", "v3\n");
  std::string c3 = repo_->Commit("third");
  Sh("git branch -D feature && git push -q '" + tmp_.Sub("served/code.git") + "' :refs/heads/feature", repo_->dir());
  Publish();
  int64_t before = git.network_calls();
  Status s = git.Fetch(url_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(git.network_calls() - before, 2) << "the locks should have made the first attempt fail";
  auto head = git.Resolve(url_, "main", nullptr);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->commit, c3);
  EXPECT_FALSE(FileExists(mirror + "/refs/heads/main.lock"));
}

TEST_F(GitTest, IncrementalFetchAddsNewRefsAndPrunesDeletedOnes) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  const std::string mirror = git.MirrorPath(url_);
  WriteTextFile(mirror + "/slipway-test-marker", "x");
  repo_->Write("README", "v3\n");
  std::string c3 = repo_->Commit("third");
  repo_->Tag("v3.0.0");
  Sh("git branch -D feature && git push -q '" + tmp_.Sub("served/code.git") + "' :refs/heads/feature", repo_->dir());
  Publish();

  ASSERT_TRUE(git.Fetch(url_).ok());
  EXPECT_TRUE(FileExists(mirror + "/slipway-test-marker")) << "the mirror was recreated instead of updated";
  auto r = git.Resolve(url_, "v3.0.0", nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->commit, c3);
  auto head = git.FetchBranchHead(url_, "main");
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(*head, c3);
  auto gone = git.FetchBranchHead(url_, "feature");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(gone.status().message(), "branch 'feature' not found in '" + url_ + "'");
}

TEST_F(GitTest, ReuseFetchSkipsTheRemoteOnlyRightAfterAFetch) {
  Git plain(Options());
  ASSERT_TRUE(plain.Fetch(url_).ok());
  repo_->Write("README", "v3\n");
  std::string c3 = repo_->Commit("third");
  Publish();

  // Within the window, the mirror's view is reused: the new commit is not seen.
  GitOptions reuse = Options();
  reuse.reuse_fetch_ms = 60'000;
  Git reusing(reuse);
  auto stale = reusing.FetchBranchHead(url_, "main");
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  EXPECT_EQ(*stale, c2_);
  // Without it, the remote is asked.
  auto fresh = plain.FetchBranchHead(url_, "main");
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(*fresh, c3);

  // Once the window has passed, the remote is asked again.
  repo_->Write("README", "v4\n");
  std::string c4 = repo_->Commit("fourth");
  Publish();
  GitOptions short_window = Options();
  short_window.reuse_fetch_ms = 1;
  usleep(5'000);
  auto later = Git(short_window).FetchBranchHead(url_, "main");
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_EQ(*later, c4);
}

TEST_F(GitTest, FailedFirstFetchLeavesNoMirror) {
  Git git(Options());
  const std::string url = daemon_->Url("nope.git");
  Status s = git.Fetch(url);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_EQ(s.message(), "fetch '" + url + "': repository not found (or access denied)");
  EXPECT_FALSE(FileExists(git.MirrorPath(url)));
  EXPECT_EQ(Sh("ls -A '" + tmp_.Sub("mirrors") + "'").out, "");
}

TEST_F(GitTest, LeftoversOfACrashedMirrorCreationAreNotReused) {
  Git git(Options());
  const std::string mirror = git.MirrorPath(url_);
  const std::string stale = tmp_.Sub("mirrors/.tmp-" + mirror.substr(mirror.rfind('/') + 1) + "-abc123");
  Sh("mkdir -p '" + stale + "' && echo garbage > '" + stale + "/HEAD'");
  ASSERT_TRUE(git.Fetch(url_).ok());
  EXPECT_FALSE(FileExists(stale));
  EXPECT_TRUE(git.HasCommit(url_, c2_));
  EXPECT_EQ(Sh("ls -A '" + tmp_.Sub("mirrors") + "'").out, mirror.substr(mirror.rfind('/') + 1) + "\n");
}

// --- Errors from the network ------------------------------------------------

TEST_F(GitTest, RefusedConnectionIsANetworkErrorNamingTheUrl) {
  Git git(Options());
  const std::string url = "git://127.0.0.1:" + std::to_string(::slipway::testing::FreePort()) + "/code";
  Status s = git.Fetch(url);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNetwork);
  EXPECT_EQ(s.message(), "fetch '" + url + "': could not connect: Connection refused");
  auto ls = git.LsRemote(url);
  ASSERT_FALSE(ls.ok());
  EXPECT_EQ(ls.status().message(), "ls-remote '" + url + "': could not connect: Connection refused");
}

TEST_F(GitTest, PasswordsInUrlsNeverReachMessages) {
  Git git(Options());
  const std::string url = "https://user:s3cret@127.0.0.1:" + std::to_string(::slipway::testing::FreePort()) + "/r.git";
  Status s = git.Fetch(url);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNetwork) << s.ToString();
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("s3cret")));
  EXPECT_THAT(s.message(), HasSubstr("user:***@127.0.0.1"));
}

TEST_F(GitTest, SilentRemoteTimesOutNamingTheUrl) {
  SilentListener listener;
  GitOptions o = Options();
  o.timeout_ms = 1500;
  Git git(o);
  const std::string url = listener.Url("code");
  auto start = std::chrono::steady_clock::now();
  Status s = git.Fetch(url);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kTimeout);
  EXPECT_EQ(s.message(), "fetch '" + url + "' timed out after 1.5s");
  EXPECT_GE(elapsed, std::chrono::milliseconds(1400));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500 + 4000));
  EXPECT_FALSE(FileExists(git.MirrorPath(url)));

  auto ls = git.LsRemote(url);
  ASSERT_FALSE(ls.ok());
  EXPECT_EQ(ls.status().code(), StatusCode::kTimeout);
  EXPECT_EQ(ls.status().message(), "ls-remote '" + url + "' timed out after 1.5s");
}

TEST_F(GitTest, CancelStopsAHangingFetch) {
  SilentListener listener;
  CancelToken cancel;
  GitOptions o = Options();
  o.cancel = &cancel;
  Git git(o);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel.Cancel();
  });
  auto start = std::chrono::steady_clock::now();
  Status s = git.Fetch(listener.Url("code"));
  auto elapsed = std::chrono::steady_clock::now() - start;
  canceller.join();
  EXPECT_EQ(s.code(), StatusCode::kCancelled) << s.ToString();
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

// --- Checkout -----------------------------------------------------------------

TEST_F(GitTest, CheckoutProducesTheTreeOfThatCommit) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  daemon_->Stop();  // no network needed
  int64_t network = git.network_calls();
  const std::string ws = tmp_.Sub("ws/one");
  Status s = git.Checkout(url_, c1_, ws);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(git.network_calls(), network);
  EXPECT_EQ(ReadTextFile(ws + "/README"), "v1\n");
  EXPECT_FALSE(FileExists(ws + "/src/app.txt"));
  EXPECT_EQ(Trimmed(Sh("git rev-parse HEAD", ws).out), c1_);
  EXPECT_EQ(Trimmed(Sh("git describe --tags", ws).out), "v1.0.0");
  EXPECT_EQ(Sh("git status --porcelain", ws).out, "");

  Status again = git.Checkout(url_, c2_, ws);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadTextFile(ws + "/README"), "v1\n");
}

TEST_F(GitTest, CheckoutOfUnknownCommitFailsAndLeavesNothing) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  const std::string ws = tmp_.Sub("ws");
  Status s = git.Checkout(url_, std::string(40, 'e'), ws);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_FALSE(FileExists(ws));
  EXPECT_EQ(git.Checkout(url_, c1_.substr(0, 12), ws).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(git.Checkout(daemon_->Url("other.git"), c1_, ws).code(), StatusCode::kNotFound);
}

TEST_F(GitTest, HooksNeverRun) {
  const std::string marker = tmp_.Sub("hook-ran");
  const std::string hook = "#!/bin/sh\necho \"$0\" >> '" + marker + "'\n";
  // A template directory (as a user's init.templateDir would be) puts hooks
  // into every repository git creates, including our workspaces.
  const std::string templ = tmp_.Sub("template");
  WriteTextFile(templ + "/hooks/post-checkout", hook, 0755);
  GitOptions o = Options();
  o.extra_env["GIT_TEMPLATE_DIR"] = templ;
  Git git(o);
  ASSERT_TRUE(git.Fetch(url_).ok());
  // Hooks installed in the mirror: fetches update refs there.
  const std::string mirror = git.MirrorPath(url_);
  WriteTextFile(mirror + "/hooks/reference-transaction", hook, 0755);
  repo_->Write("README", "v3\n");
  repo_->Commit("third");
  Publish();
  ASSERT_TRUE(git.Fetch(url_).ok());

  const std::string ws = tmp_.Sub("ws");
  ASSERT_TRUE(git.Checkout(url_, c2_, ws).ok());
  EXPECT_TRUE(FileExists(ws + "/.git/hooks/post-checkout")) << "the template should have installed the hook";
  EXPECT_FALSE(FileExists(marker)) << ReadTextFile(marker);

  // Control: plain git does run both hooks.
  Sh("git checkout -q --detach " + c1_, ws);
  Sh("git --git-dir='" + mirror + "' update-ref refs/heads/x " + c1_);
  EXPECT_THAT(ReadTextFile(marker), HasSubstr("post-checkout"));
  EXPECT_THAT(ReadTextFile(marker), HasSubstr("reference-transaction"));
}

TEST_F(GitTest, CheckoutTiming) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  constexpr int kRuns = 5;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) {
    ASSERT_TRUE(git.Checkout(url_, c2_, tmp_.Sub("ws" + std::to_string(i))).ok());
  }
  auto ms = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count() /
            1000.0 / kRuns;
  std::cout << "[ timing ] Checkout of a 3-file repository: " << ms << " ms per checkout\n";
}

// --- Reading the mirror -------------------------------------------------------

TEST_F(GitTest, ReadFile) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  auto content = git.ReadFile(url_, c2_, "src/app.txt");
  ASSERT_TRUE(content.ok()) << content.status().ToString();
  EXPECT_EQ(*content, "app v2\n");
  EXPECT_EQ(*git.ReadFile(url_, c1_, "/README"), "v1\n");
  EXPECT_EQ(*git.ReadFile(url_, "v2.0.0", "./README"), "v2\n");

  auto missing = git.ReadFile(url_, c1_, "src/app.txt");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "'src/app.txt' not found at " + c1_ + " in '" + url_ + "'");

  auto dir = git.ReadFile(url_, c2_, "src");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(dir.status().message(), HasSubstr("is a directory"));

  auto no_commit = git.ReadFile(url_, std::string(40, 'e'), "README");
  ASSERT_FALSE(no_commit.ok());
  EXPECT_EQ(no_commit.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(no_commit.status().message(), HasSubstr("commit 'eeee"));

  EXPECT_EQ(git.ReadFile(url_, c2_, "-x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(git.ReadFile(url_, c2_, "../x").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(GitTest, ChangedPaths) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  auto all = git.ChangedPaths(url_, c1_, c2_, "");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, (std::vector<std::string>{"README", "docs/guide.md", "src/app.txt"}));
  auto src = git.ChangedPaths(url_, c1_, c2_, "src/");
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  EXPECT_EQ(*src, (std::vector<std::string>{"src/app.txt"}));
  auto everything = git.ChangedPaths(url_, "", c2_, "docs");
  ASSERT_TRUE(everything.ok()) << everything.status().ToString();
  EXPECT_EQ(*everything, (std::vector<std::string>{"docs/guide.md"}));
  auto whole_tree = git.ChangedPaths(url_, "", c2_, "");
  ASSERT_TRUE(whole_tree.ok());
  EXPECT_EQ(whole_tree->size(), 3u);
  // `under` is a literal path, not a pattern.
  auto pattern = git.ChangedPaths(url_, c1_, c2_, "s*");
  ASSERT_TRUE(pattern.ok()) << pattern.status().ToString();
  EXPECT_TRUE(pattern->empty());
  // A rename out of a folder counts for that folder.
  Sh("git mv src/app.txt app.txt", repo_->dir());
  std::string c3 = repo_->Commit("move");
  Publish();
  ASSERT_TRUE(git.Fetch(url_).ok());
  EXPECT_EQ(*git.ChangedPaths(url_, c2_, c3, "src"), (std::vector<std::string>{"src/app.txt"}));

  auto unknown = git.ChangedPaths(url_, std::string(40, 'e'), c2_, "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

TEST_F(GitTest, FolderChangedAgreesWithChangedPaths) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  Sh("chmod +x src/app.txt", repo_->dir());  // a mode change alone
  std::string c3 = repo_->Commit("mode");
  Publish();
  ASSERT_TRUE(git.Fetch(url_).ok());
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{c1_, c2_}, {c2_, c3}, {c2_, c2_}}) {
    for (const std::string under : {"", "src", "src/", "docs", "s*", "nothing-here", "README"}) {
      SCOPED_TRACE(from.substr(0, 7) + ".." + to.substr(0, 7) + " under '" + under + "'");
      auto listed = git.ChangedPaths(url_, from, to, under);
      auto changed = git.FolderChanged(url_, from, to, under);
      ASSERT_TRUE(listed.ok()) << listed.status().ToString();
      ASSERT_TRUE(changed.ok()) << changed.status().ToString();
      EXPECT_EQ(*changed, !listed->empty());
    }
  }
  EXPECT_TRUE(*git.FolderChanged(url_, c2_, c3, "src"));
  auto unknown = git.FolderChanged(url_, std::string(40, 'e'), c2_, "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(unknown.status().message(), HasSubstr("commit 'eeee"));
}

TEST_F(GitTest, ExportFolderWritesOnlyThatFolderAsACheckoutWould) {
  repo_->Write("settings/prod/app.yaml", "replicas: 3\n");
  repo_->Write("settings/prod/hooks/run.sh", "#!/bin/sh\necho hi\n");
  Sh("chmod +x settings/prod/hooks/run.sh && ln -s app.yaml settings/prod/current.yaml && ln -s prod settings/alias",
     repo_->dir());
  repo_->Write("settings/staging/app.yaml", "replicas: 1\n");
  std::string c = repo_->Commit("settings");
  Publish();
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());

  std::string dest = tmp_.Sub("export");
  ASSERT_TRUE(git.ExportFolder(url_, c, "settings/prod", dest).ok());
  EXPECT_EQ(ReadTextFile(dest + "/settings/prod/app.yaml"), "replicas: 3\n");
  struct stat st {};
  ASSERT_EQ(::stat((dest + "/settings/prod/hooks/run.sh").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR) << "the executable bit is kept";
  char target[64] = {};
  ASSERT_GT(::readlink((dest + "/settings/prod/current.yaml").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "app.yaml");
  EXPECT_FALSE(PathExists(dest + "/settings/staging")) << "only the environment's folder is written";
  EXPECT_FALSE(PathExists(dest + "/README"));
  EXPECT_FALSE(PathExists(dest + "/.git"));

  // A folder reached through a link of the repository is written as that
  // link, for the overlay to refuse; nothing is written through it.
  std::string through = tmp_.Sub("through-link");
  ASSERT_TRUE(git.ExportFolder(url_, c, "settings/alias", through).ok());
  ASSERT_EQ(::lstat((through + "/settings/alias").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));

  EXPECT_EQ(git.ExportFolder(url_, c, "settings/prod", dest).code(), StatusCode::kAlreadyExists);
  auto unknown = git.ExportFolder(url_, std::string(40, 'e'), "settings/prod", tmp_.Sub("unknown"));
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.ToString();
  EXPECT_FALSE(PathExists(tmp_.Sub("unknown")));
}

TEST_F(GitTest, Log) {
  Git git(Options());
  ASSERT_TRUE(git.Fetch(url_).ok());
  auto one = git.Log(url_, c1_, c2_, "", 0);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].commit, c2_);
  EXPECT_EQ((*one)[0].subject, "second");
  EXPECT_EQ((*one)[0].author, "Slipway Test");
  EXPECT_GT((*one)[0].time_ms, 1'600'000'000'000);
  EXPECT_EQ((*one)[0].time_ms % 1000, 0);

  auto all = git.Log(url_, "", c2_, "", 0);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].commit, c2_);
  EXPECT_EQ((*all)[1].commit, c1_);
  EXPECT_EQ(git.Log(url_, "", c2_, "", 1)->size(), 1u);
  EXPECT_EQ(git.Log(url_, "", c2_, "src", 0)->size(), 1u);
}

TEST_F(GitTest, LsRemoteListsRefsWithPeeledTags) {
  Git git(Options());
  auto refs = git.LsRemote(url_);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  std::map<std::string, RemoteRef> by_name;
  for (const RemoteRef& r : *refs) by_name[r.name] = r;
  ASSERT_TRUE(by_name.count("refs/heads/main"));
  EXPECT_EQ(by_name["refs/heads/main"].object, c2_);
  EXPECT_EQ(by_name["refs/heads/feature"].object, c1_);
  EXPECT_EQ(by_name["refs/tags/v1.0.0"].object, c1_);
  EXPECT_EQ(by_name["refs/tags/v1.0.0"].peeled, "");
  EXPECT_NE(by_name["refs/tags/v2.0.0"].object, c2_);
  EXPECT_EQ(by_name["refs/tags/v2.0.0"].peeled, c2_);
  EXPECT_EQ(by_name.count("refs/tags/v2.0.0^{}"), 0u);
  EXPECT_EQ(git.network_calls(), 1);
  EXPECT_FALSE(FileExists(git.MirrorPath(url_)));
}

}  // namespace
}  // namespace slipway

// --- Maintenance ---------------------------------------------------------------

namespace slipway {
namespace {

// Git::Maintain runs `git maintenance run --auto` only when git would do
// something; the usual answer, nothing to do, starts no process.
class GitMaintainTest : public GitTest {
 protected:
  // Options whose git is a wrapper that logs each call's arguments.
  GitOptions Logged() {
    const std::string bin = tmp_.Sub("bin");
    Sh("mkdir -p '" + bin + "'");
    WriteTextFile(bin + "/git", "#!/bin/sh\necho \"$*\" >> '" + log_ + "'\nexec /usr/bin/git \"$@\"\n");
    Sh("chmod +x '" + bin + "/git'");
    GitOptions o = Options();
    o.extra_env["PATH"] = bin + ":/usr/bin:/bin";
    return o;
  }
  bool RanMaintenance() { return ReadTextFile(log_).find("maintenance run --auto") != std::string::npos; }

  std::string log_ = tmp_.Sub("git-calls.log");
};

TEST_F(GitMaintainTest, AFreshMirrorIsLeftAloneWithoutStartingGit) {
  Git git(Logged());
  ASSERT_TRUE(git.Fetch(url_).ok());
  ASSERT_TRUE(git.Maintain(url_).ok());
  EXPECT_FALSE(RanMaintenance()) << ReadTextFile(log_);
}

TEST_F(GitMaintainTest, ManyLooseObjectsGetGitsMaintenance) {
  Git git(Logged());
  ASSERT_TRUE(git.Fetch(url_).ok());
  const std::string mirror = git.MirrorPath(url_);
  // gc.auto=1: more than one loose object in objects/17 is too many. 4,000
  // new objects put ~16 there (none at all: one chance in 10^6).
  Sh("git config gc.auto 1", mirror);
  Sh("mkdir blobs && for i in $(seq 4000); do echo $i > blobs/$i; done && ls -d blobs/* | "
     "git --git-dir='" +
         mirror + "' hash-object -w --stdin-paths > /dev/null",
     tmp_.path());
  ASSERT_TRUE(git.Maintain(url_).ok());
  EXPECT_TRUE(RanMaintenance()) << ReadTextFile(log_);
}

TEST_F(GitMaintainTest, AMaintenanceSettingLeavesTheDecisionToGit) {
  Git git(Logged());
  ASSERT_TRUE(git.Fetch(url_).ok());
  Sh("git config maintenance.commit-graph.enabled true", git.MirrorPath(url_));
  ASSERT_TRUE(git.Maintain(url_).ok());
  EXPECT_TRUE(RanMaintenance()) << ReadTextFile(log_);
}

}  // namespace
}  // namespace slipway
