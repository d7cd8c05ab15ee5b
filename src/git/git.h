// Git through the `git` CLI with argv vectors (STYLE.md), except reads of a
// mirror's refs and objects (resolving a ref, reading a file, writing out a
// folder), which run in-process through libgit2 (mirror_objects.h): they are
// on every run's path, and a process each cost ~10 ms. The why of mirrors,
// pins and hardening: doc/git.md.
//
// Hardening applied to every call: user-supplied refs, URLs and paths that
// begin with '-' are refused before git runs; `--` separates options from user
// values; GIT_TERMINAL_PROMPT=0; protocol.allow=never with only https, http,
// ssh, git and file allowed (so `ext::` and friends are refused) — plus the
// `codecommit` form handled by the aws layer; core.hooksPath=/dev/null so
// repository hooks never run; a timeout on every call. Apart from that, the
// user's own git configuration (~/.gitconfig: credential helpers,
// url.*.insteadOf, proxies) is honoured.
//
// Child environment: AllowedBaseEnvironment() (so HOME and the user's
// ~/.gitconfig apply), then GitOptions::extra_env, then the hardening below,
// which extra_env cannot override: GIT_TERMINAL_PROMPT=0,
// GIT_ALLOW_PROTOCOL=https:http:ssh:git:file (stronger than the -c flags: it
// also beats a user's protocol.<name>.allow and url.*.insteadOf rewriting to
// `ext::`), GIT_PROTOCOL_FROM_USER=0 and LC_ALL=C (git's messages are parsed).
//
// Errors: a git call that fails returns a Status whose message names the
// operation and the URL (credentials redacted) and summarises git's stderr in
// one sentence, e.g. "fetch 'git://127.0.0.1:1234/code': could not connect:
// Connection refused". Codes: kNetwork (unreachable), kTimeout, kCancelled,
// kPermissionDenied (authentication), kNotFound (no such repository, ref,
// commit or file), kInvalidArgument (refused input), kFailed (anything else).
//
// Mirrors: one bare mirror per URL at
// `<mirrors_dir>/<name>-<16 hex of FNV-1a(url without password)>.git`, created
// in a temporary directory, fetched once and only then renamed into place, so
// a mirror that exists has completed at least one fetch. Later fetches are
// incremental. Checkouts share the mirror's objects (clone --shared), so a
// mirror must not be deleted while checkouts made from it are in use.
//
// Thread-safety: a Git object may be shared between threads; calls on the
// same mirror must be serialised by the caller.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "proc/process.h"
#include "util/status.h"

namespace slipway {

// Refuses refs that could become options or are not plausible ref names
// (the rules of `git check-ref-format`: no "..", "@{", control characters,
// space, ~ ^ : ? * [ \, no component starting with '.' or ending in ".lock").
// Error: "ref '-x' is not allowed: it begins with '-'".
Status ValidateRef(const std::string& ref);
// Refuses URLs that begin with '-' or use a transport other than https, http,
// ssh (scp-like user@host:path too), git, file or an absolute local path;
// names the offending URL and transport (e.g. "url 'ext::sh -c ...' uses the
// 'ext' transport, which is not allowed"). Also refused: control characters,
// a host or user beginning with '-', relative local paths (git runs inside the
// mirror, so they would not mean what they seem). Accepted too:
// `codecommit::REGION://REPO` and `codecommit://REPO`, which the aws layer
// translates to https before git sees them (git itself refuses them).
Status ValidateUrl(const std::string& url);
bool IsFullCommitHash(const std::string& ref);  // 40 hex digits
// url with the password of its user-info (scheme://user:secret@host) replaced
// by "***"; for messages and logs.
std::string RedactUrl(const std::string& url);

// For tests: the one-sentence summary of a failed git call's stderr that
// every error of this module carries ("<what>: could not connect: ...").
Status TEST_SummariseGitFailure(const std::string& what, const CapturedOutput& out);

enum class RefKind { kTag, kCommit, kBranch };
const char* RefKindName(RefKind kind);  // "tag", "commit", "branch"

struct ResolvedRef {
  std::string ref;  // as asked
  RefKind kind = RefKind::kCommit;
  std::string commit;  // 40-hex commit (annotated tags peeled)
};

struct RemoteRef {
  std::string name;    // "refs/heads/main", "refs/tags/v1.0.0"
  std::string object;  // 40-hex (for annotated tags, the tag object)
  std::string peeled;  // for annotated tags: the commit ("^{}" line); else ""
};

struct GitOptions {
  std::string mirrors_dir;                // where bare mirrors live
  int64_t timeout_ms = 10 * 60'000;       // per git call
  EnvMap extra_env;                       // e.g. credentials for a codecommit helper
  std::vector<std::string> extra_config;  // "-c" values, e.g. "credential.helper=..."
  const CancelToken* cancel = nullptr;
  // Fetch() does not go to the remote again when the mirror completed a
  // fetch less than this long ago (0: always fetch). For a run whose trigger
  // has just fetched: the head it resolves is then at most this old, which
  // is no worse than a push landing just after a fetch.
  int64_t reuse_fetch_ms = 0;
};

class Git {
 public:
  explicit Git(GitOptions options);

  // The mirror directory that belongs to url (does not create it).
  std::string MirrorPath(const std::string& url) const;

  // Lists the remote's refs without fetching (git ls-remote).
  Result<std::vector<RemoteRef>> LsRemote(const std::string& url);

  // Creates the mirror when missing (git init --bare in a temporary directory,
  // first fetch, rename) and fetches all branches and tags into it
  // ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", pruned). Only
  // new objects travel. The URL is given to git on every fetch, never stored
  // as a remote.
  Status Fetch(const std::string& url);

  // Git's housekeeping of the mirror of url when it needs some (`git
  // maintenance run --auto`: packs loose objects, and so on); nothing when
  // there is no mirror. Fetch leaves it out, so that nothing waits for it on
  // a run's path: callers run it afterwards.
  Status Maintain(const std::string& url);

  // Resolves ref exactly in the mirror of url (DESIGN.md §4): a tag to its
  // commit (annotated tags peeled), a 40-hex commit verified to exist, a
  // branch to its head. Abbreviated hashes are refused with a message saying
  // to use the full 40-character hash. A ref that is not found is a NotFound
  // error naming the ref and the URL.
  // Network: none when ref is a 40-hex commit already in the mirror;
  // otherwise the mirror is fetched first. When the remote cannot be reached
  // (kNetwork or kTimeout) and the mirror already knows the tag, the cached
  // value is used and `*warning` (may be null; cleared otherwise) says so;
  // branches and unknown commits are never served from the cache.
  // Precedence: a 40-hex ref is a commit; otherwise a tag, then a branch.
  // `fetched`, when given, is the outcome of a Fetch(url) the caller has
  // just made (Pipeline fetches the code while it fetches the settings);
  // Resolve then makes none and treats that outcome as its own.
  Result<ResolvedRef> Resolve(const std::string& url, const std::string& ref, std::string* warning,
                              const Status* fetched = nullptr);

  // Resolves the head of branch in the remote (fetching into the mirror).
  Result<std::string> FetchBranchHead(const std::string& url, const std::string& branch);

  // Fetches one ref of the remote that Fetch does not (a pull request's
  // "refs/pull/12/head") into the mirror of url under the same name, forced,
  // and returns the commit it names. The mirror is created when missing. Fetch
  // prunes only refs/heads and refs/tags, so the ref keeps its commit in the
  // mirror for later runs. NotFound when the remote has no such ref;
  // InvalidArgument for a ref under refs/heads or refs/tags.
  Result<std::string> FetchRef(const std::string& url, const std::string& ref);

  // Materialises a working tree of `commit` from the mirror of url into dest
  // (which must not exist): a clone sharing the mirror's objects, detached at
  // commit, with a `.git` (tags and branches of the mirror included, so `git
  // describe` works in the workspace). No network, no hooks. commit must be
  // a full 40-hex hash. On failure dest is removed.
  Status Checkout(const std::string& url, const std::string& commit, const std::string& dest);

  // Writes the folder `folder` ("" for the root; relative to the repository
  // root) of `commit` (a full 40-hex hash) from the mirror of url to
  // dest/folder, as a checkout would write it (modes, links), without a
  // `.git`; dest must not exist. A component of `folder` that is not a
  // folder in the repository is written as what it is (a link, a file) and
  // nothing below it; a missing one, nothing. In-process: no git process.
  // On failure dest is removed.
  Status ExportFolder(const std::string& url, const std::string& commit, const std::string& folder,
                      const std::string& dest);

  // A digest (16 hex) of the mirror of url and its refs (names and
  // targets): two checkouts of one commit made while the digest is the same
  // are the same, `.git` included. NotFound when there is no mirror.
  Result<std::string> RefsDigest(const std::string& url);

  // Content of `path` (relative to the repository root) at `commit` in the
  // mirror of url; NotFound when the file or the commit is absent,
  // InvalidArgument when path is a directory or larger than 64 MiB. A symbolic
  // link yields its target text.
  Result<std::string> ReadFile(const std::string& url, const std::string& commit, const std::string& path);

  // True when `commit` exists in the mirror of url.
  bool HasCommit(const std::string& url, const std::string& commit);

  // Paths (relative to the repository root) changed between two commits,
  // limited to `under` ("" for everywhere; a literal path, not a pattern).
  // Renames count as a deletion plus an addition. An empty `from` lists every
  // file under `under` at `to`.
  Result<std::vector<std::string>> ChangedPaths(const std::string& url, const std::string& from, const std::string& to,
                                                const std::string& under);

  // Whether anything under `under` ("" for everywhere; a literal path)
  // differs between two commits: the same answer as a non-empty
  // ChangedPaths, in-process and without listing the files.
  Result<bool> FolderChanged(const std::string& url, const std::string& from, const std::string& to,
                             const std::string& under);

  // Commit subject lines from..to (exclusive..inclusive), newest first; an
  // empty `from` means all history up to `to`; limit <= 0 means no limit.
  // time_ms is the author time.
  struct LogEntry {
    std::string commit;
    std::string subject;
    std::string author;
    int64_t time_ms = 0;
  };
  Result<std::vector<LogEntry>> Log(const std::string& url, const std::string& from, const std::string& to,
                                    const std::string& under, int limit);

  // Checks the signature of a commit (`tag` false: `object` is a 40-hex
  // commit; git verify-commit --raw) or of an annotated tag (`tag` true:
  // `object` is the tag's name; git verify-tag --raw) in the mirror of url,
  // which must exist. Which keys count comes from GitOptions: extra_env
  // (GNUPGHOME) and extra_config (gpg.ssh.allowedSignersFile); see
  // src/verify. Returns git's exit status and output, whatever they say (the
  // caller judges); an error only for refused input, a missing mirror or a
  // git that could not run. No network.
  Result<CapturedOutput> VerifySignature(const std::string& url, const std::string& object, bool tag);
  // The best common ancestor of two commits in the mirror of url (git
  // merge-base); NotFound when they share no history. No network.
  Result<std::string> MergeBase(const std::string& url, const std::string& a, const std::string& b);
  // The commit a tag of the mirror of url points to (peeled), "" when the
  // mirror has no such tag. No network.
  Result<std::string> TagCommit(const std::string& url, const std::string& tag);

  // Number of git processes started so far (for tests and benchmarks).
  int64_t calls() const { return calls_.value.load(); }
  // Number of calls that talked to a remote (ls-remote, fetch).
  int64_t network_calls() const { return network_calls_.value.load(); }

  // For tests: runs `git <hardening> args` in cwd with none of the input
  // validation, to show that git itself refuses what ValidateUrl refuses.
  Result<CapturedOutput> TEST_RunGit(const std::vector<std::string>& args, const std::string& cwd);

 private:
  // A copyable atomic counter, so that Git stays copyable and movable.
  struct Counter {
    std::atomic<int64_t> value{0};
    Counter() = default;
    Counter(const Counter& other) : value(other.value.load()) {}
    Counter& operator=(const Counter& other) {
      value.store(other.value.load());
      return *this;
    }
  };

  // Runs git with the hardening flags and environment. `what` names the
  // operation and URL for errors ("fetch 'git://...'"). Returns an error only
  // when git could not be started, timed out or was cancelled; a git that ran
  // and failed is an OK result with its exit status.
  Result<CapturedOutput> RunGit(const std::vector<std::string>& args, const std::string& cwd, bool network,
                                const std::string& what, size_t max_bytes = 64 << 20);
  Status FetchInto(const std::string& git_dir, const std::string& url);
  Status CreateMirror(const std::string& mirror, const std::string& url);
  // `spec`^{commit} in the mirror: the commit, "" when it does not resolve.
  Result<std::string> PeelToCommit(const std::string& mirror, const std::string& url, const std::string& spec);

  GitOptions options_;
  Counter calls_;
  Counter network_calls_;
};

}  // namespace slipway
