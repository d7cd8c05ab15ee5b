// Git, always through the `git` CLI with argv vectors (STYLE.md).
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
// Mirrors: one bare mirror per URL under `<state_dir>/mirrors/<hash>.git`,
// fetched incrementally.
//
// Thread-safety: a Git object may be shared; calls on the same mirror must be
// serialised by the caller.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proc/process.h"
#include "util/status.h"

namespace slipway {

// Refuses refs that could become options or are not plausible ref names.
// Error: "ref '-x' is not allowed: it begins with '-'".
Status ValidateRef(const std::string& ref);
// Refuses URLs that begin with '-' or use a transport other than https, http,
// ssh (scp-like user@host:path too), git, file or a local path; names the
// offending URL and transport (e.g. "url 'ext::sh -c ...' uses the 'ext'
// transport, which is not allowed").
Status ValidateUrl(const std::string& url);
bool IsFullCommitHash(const std::string& ref);  // 40 hex digits

enum class RefKind { kTag, kCommit, kBranch };
const char* RefKindName(RefKind kind);  // "tag", "commit", "branch"

struct ResolvedRef {
  std::string ref;     // as asked
  RefKind kind = RefKind::kCommit;
  std::string commit;  // 40-hex commit (annotated tags peeled)
};

struct RemoteRef {
  std::string name;    // "refs/heads/main", "refs/tags/v1.0.0"
  std::string object;  // 40-hex (for annotated tags, the tag object)
  std::string peeled;  // for annotated tags: the commit ("^{}" line); else ""
};

struct GitOptions {
  std::string mirrors_dir;            // where bare mirrors live
  int64_t timeout_ms = 10 * 60'000;   // per git call
  EnvMap extra_env;                   // e.g. credentials for a codecommit helper
  std::vector<std::string> extra_config;  // "-c" values, e.g. "credential.helper=..."
  const CancelToken* cancel = nullptr;
};

class Git {
 public:
  explicit Git(GitOptions options);

  // The mirror directory that belongs to url (does not create it).
  std::string MirrorPath(const std::string& url) const;

  // Lists the remote's refs without fetching (git ls-remote).
  Result<std::vector<RemoteRef>> LsRemote(const std::string& url);

  // Creates the mirror when missing (git init --bare + remote) and fetches all
  // branches and tags into it ("+refs/heads/*:refs/heads/*",
  // "+refs/tags/*:refs/tags/*", pruned). Only new objects travel.
  Status Fetch(const std::string& url);

  // Resolves ref exactly in the mirror of url (DESIGN.md §4): a tag to its
  // commit (annotated tags peeled), a 40-hex commit verified to exist, a
  // branch to its head. Abbreviated hashes are refused with a message saying
  // to use the full 40-character hash. A ref that is not found is a NotFound
  // error naming the ref and the URL.
  // Network: none when ref is a 40-hex commit already in the mirror;
  // otherwise the mirror is fetched first. When the remote cannot be reached
  // and the mirror already knows the tag, the cached value is used and
  // `*warning` says so.
  Result<ResolvedRef> Resolve(const std::string& url, const std::string& ref, std::string* warning);

  // Resolves the head of branch in the remote (fetching into the mirror).
  Result<std::string> FetchBranchHead(const std::string& url, const std::string& branch);

  // Materialises a working tree of `commit` from the mirror of url into dest
  // (which must not exist): a clone sharing the mirror's objects, detached at
  // commit. No network.
  Status Checkout(const std::string& url, const std::string& commit, const std::string& dest);

  // Content of `path` at `commit` in the mirror of url; NotFound when absent.
  Result<std::string> ReadFile(const std::string& url, const std::string& commit, const std::string& path);

  // True when `commit` exists in the mirror of url.
  bool HasCommit(const std::string& url, const std::string& commit);

  // Paths (relative to the repository root) changed between two commits,
  // limited to `under` ("" for everywhere).
  Result<std::vector<std::string>> ChangedPaths(const std::string& url, const std::string& from,
                                                const std::string& to, const std::string& under);

  // Commit subject lines from..to (exclusive..inclusive), newest first.
  struct LogEntry {
    std::string commit;
    std::string subject;
    std::string author;
    int64_t time_ms = 0;
  };
  Result<std::vector<LogEntry>> Log(const std::string& url, const std::string& from, const std::string& to,
                                    const std::string& under, int limit);

  // Number of git processes started so far (for tests and benchmarks).
  int64_t calls() const { return calls_; }
  // Number of calls that talked to a remote (ls-remote, fetch).
  int64_t network_calls() const { return network_calls_; }

 private:
  Result<CapturedOutput> RunGit(const std::vector<std::string>& args, const std::string& cwd, bool network);

  GitOptions options_;
  int64_t calls_ = 0;
  int64_t network_calls_ = 0;
};

}  // namespace slipway
