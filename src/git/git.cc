#include "git/git.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "git/mirror_objects.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

// The only transports git may use, as an allow-list in the environment.
// GIT_ALLOW_PROTOCOL overrides every protocol.* setting, including a user's
// protocol.ext.allow=always, and applies to URLs rewritten by insteadOf.
constexpr const char* kAllowedProtocols = "https:http:ssh:git:file";

// Passed as -c to every call, after GitOptions::extra_config so they win.
// The protocol flags repeat GIT_ALLOW_PROTOCOL for anyone reading a process
// list; the rest keep git from running code or touching the network behind our
// back (hooks, fsmonitor, submodules) and keep auto-gc in the foreground, where
// our timeout and process-group kill can see it.
const std::vector<std::string>& HardeningConfig() {
  static const std::vector<std::string> kConfig = {
      "protocol.allow=never",      "protocol.https.allow=always", "protocol.http.allow=always",
      "protocol.ssh.allow=always", "protocol.git.allow=always",   "protocol.file.allow=always",
      "protocol.ext.allow=never",  "protocol.fd.allow=never",     "core.hooksPath=/dev/null",
      "core.fsmonitor=false",      "submodule.recurse=false",     "fetch.recurseSubmodules=false",
      "gc.autoDetach=false",       "advice.detachedHead=false",
  };
  return kConfig;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool AllHex(const std::string& s) {
  for (char c : s) {
    if (!IsLowerHex(c) && !(c >= 'A' && c <= 'F')) return false;
  }
  return true;
}

bool LooksAbbreviated(const std::string& ref) { return ref.size() >= 4 && ref.size() < 40 && AllHex(ref); }

// Control characters are replaced so an error message stays one line.
std::string Printable(const std::string& s) {
  std::string out;
  for (char c : s) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out;
}

std::string DurationText(int64_t ms) {
  if (ms >= 1000 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return FormatDurationMs(ms);
}

uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The mirror at `mirror` opened for reads in-process (mirror_objects.h):
// NotFound when there is none yet, else libgit2's error after `what`.
Result<MirrorObjects> OpenObjects(const std::string& mirror, const std::string& shown_url, const std::string& what) {
  if (!IsDirectory(mirror)) return NotFound("no mirror of " + shown_url + " yet (fetch it first)");
  Result<MirrorObjects> objects = MirrorObjects::Open(mirror);
  if (!objects.ok()) return Failed(what + ": " + objects.status().message());
  return objects;
}

// Whether `git maintenance run --auto` would do anything in `mirror`, by the
// checks git makes for its one default task, `gc --auto` (git-gc(1)): more
// loose objects than gc.auto (default 6700), estimated as git does from the
// folder objects/17 (more than gc.auto/256 there, rounded up), or more packs
// without a .keep than gc.autoPackLimit (default 50). Made here so that the
// usual answer, nothing to do, starts no process. When any maintenance.*
// setting is present (a strategy, more tasks), or the mirror cannot be read,
// git decides.
bool MaintenanceDue(const std::string& mirror) {
  Result<MirrorObjects> objects = MirrorObjects::Open(mirror);
  if (!objects.ok()) return true;
  Result<bool> configured = objects->HasConfigPrefix("maintenance.");
  Result<std::optional<int64_t>> gc_auto = objects->ConfigInt("gc.auto");
  Result<std::optional<int64_t>> pack_limit = objects->ConfigInt("gc.autopacklimit");
  if (!configured.ok() || *configured || !gc_auto.ok() || !pack_limit.ok()) return true;
  const int64_t loose_limit = gc_auto->value_or(6700);
  if (loose_limit <= 0) return false;  // gc.auto=0 turns automatic gc off
  auto count = [](const std::string& dir, auto&& counts) {
    Result<std::vector<std::string>> names = ListDir(dir);
    return names.ok() ? std::count_if(names->begin(), names->end(), counts) : 0;
  };
  const auto loose = count(JoinPath(mirror, "objects/17"), [](const std::string& name) {
    return name.size() == 38 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
  });
  if (loose > (loose_limit + 255) / 256) return true;
  const int64_t packs_limit = pack_limit->value_or(50);
  const std::string pack_dir = JoinPath(mirror, "objects/pack");
  const auto packs = count(pack_dir, [&](const std::string& name) {
    return EndsWith(name, ".pack") && !PathExists(JoinPath(pack_dir, name.substr(0, name.size() - 5) + ".keep"));
  });
  return packs_limit > 0 && packs > packs_limit;
}

// A readable, file-name-safe name for the mirror: the last path component of
// the URL without ".git".
std::string MirrorBaseName(const std::string& url) {
  std::string u = url;
  while (!u.empty() && u.back() == '/') u.pop_back();
  size_t cut = u.find_last_of("/:");
  std::string name = cut == std::string::npos ? u : u.substr(cut + 1);
  if (EndsWith(name, ".git")) name.resize(name.size() - 4);
  std::string safe;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    safe += ok ? c : '_';
  }
  while (!safe.empty() && (safe[0] == '.' || safe[0] == '-')) safe.erase(0, 1);
  if (safe.size() > 40) safe.resize(40);
  return safe.empty() ? "repo" : safe;
}

std::string TrimmedLine(const std::string& s) { return std::string(Trim(s)); }

std::string LowerFirst(std::string s) {
  if (s.size() >= 2 && s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z')) s[0] = static_cast<char>(s[0] + 32);
  return s;
}

bool Contains(const std::string& haystack_lower, const char* needle) {
  return haystack_lower.find(needle) != std::string::npos;
}

// RedactUrl applied to every "scheme://..." inside free text (git's own
// messages may quote a URL).
std::string RedactUrlsIn(const std::string& text) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t scheme = text.find("://", pos);
    if (scheme == std::string::npos) break;
    size_t end = text.find_first_of(" \t'\"", scheme + 3);
    if (end == std::string::npos) end = text.size();
    size_t start = scheme;
    while (start > pos && std::isalpha(static_cast<unsigned char>(text[start - 1]))) --start;
    out += text.substr(pos, start - pos) + RedactUrl(text.substr(start, end - start));
    pos = end;
  }
  return out + text.substr(pos);
}

// Turns git's stderr into one sentence and a code. Matching is on the English
// messages (LC_ALL=C), most specific first.
Status SummariseFailure(const std::string& what, const CapturedOutput& out) {
  const std::string lower = ToLower(out.err);
  auto make = [&](StatusCode code, const std::string& detail) { return Status(code, what + ": " + detail); };

  static const char* kConnectErrors[] = {"connection refused", "connection timed out", "no route to host",
                                         "network is unreachable"};
  for (const char* e : kConnectErrors) {
    size_t at = lower.find(e);
    if (at != std::string::npos) {
      std::string text = out.err.substr(at, std::string(e).size());
      text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
      return make(StatusCode::kNetwork, "could not connect: " + text);
    }
  }
  // curl (https) reports a refused connection this way.
  if (Contains(lower, "couldn't connect to server") || Contains(lower, "failed to connect to")) {
    return make(StatusCode::kNetwork, "could not connect to the server");
  }
  if (Contains(lower, "could not resolve host") || Contains(lower, "unable to look up") ||
      Contains(lower, "name or service not known") || Contains(lower, "temporary failure in name resolution")) {
    return make(StatusCode::kNetwork, "could not resolve the host name");
  }
  if (Contains(lower, "terminal prompts disabled")) {
    return make(StatusCode::kPermissionDenied,
                "authentication required but no credentials are available (terminal prompts are disabled; configure "
                "a credential helper)");
  }
  if (Contains(lower, "permission denied (publickey")) {
    return make(StatusCode::kPermissionDenied, "ssh authentication failed: Permission denied (publickey)");
  }
  if (Contains(lower, "host key verification failed")) {
    return make(StatusCode::kPermissionDenied, "ssh host key verification failed (add the host to known_hosts)");
  }
  if (Contains(lower, "authentication failed") || Contains(lower, "returned error: 401") ||
      Contains(lower, "returned error: 403")) {
    return make(StatusCode::kPermissionDenied, "authentication failed");
  }
  if (Contains(lower, "repository not exported") || Contains(lower, "repository not found") ||
      (Contains(lower, "repository '") && Contains(lower, "' not found")) ||
      Contains(lower, "does not appear to be a git repository") || Contains(lower, "returned error: 404")) {
    return make(StatusCode::kNotFound, "repository not found (or access denied)");
  }
  size_t transport = lower.find("transport '");
  if (transport != std::string::npos && Contains(lower, "not allowed")) {
    size_t end = out.err.find('\'', transport + 11);
    std::string name = out.err.substr(transport + 11, end == std::string::npos ? 0 : end - transport - 11);
    return make(StatusCode::kInvalidArgument, "transport '" + name + "' is not allowed");
  }
  bool network_trouble = Contains(lower, "the remote end hung up") || Contains(lower, "early eof") ||
                         Contains(lower, "rpc failed") || Contains(lower, "returned error: 5") ||
                         Contains(lower, "connection reset") || Contains(lower, "ssl") || Contains(lower, "gnutls") ||
                         Contains(lower, "certificate");

  // The first "fatal:"/"error:" line that says something specific.
  std::string detail;
  for (const std::string& raw : Split(out.err, '\n')) {
    std::string line = TrimmedLine(raw);
    std::string l = ToLower(line);
    std::string body;
    if (StartsWith(l, "fatal: ")) {
      body = line.substr(7);
    } else if (StartsWith(l, "error: ")) {
      body = line.substr(7);
    } else {
      continue;
    }
    if (StartsWith(ToLower(body), "could not read from remote repository")) continue;
    detail = body;
    break;
  }
  if (detail.empty()) {
    for (const std::string& raw : Split(out.err, '\n')) {
      std::string line = TrimmedLine(raw);
      if (!line.empty()) detail = line;
    }
  }
  if (detail.empty()) detail = "git failed with " + out.result.exit.Describe();
  while (!detail.empty() && detail.back() == '.') detail.pop_back();
  return make(network_trouble ? StatusCode::kNetwork : StatusCode::kFailed,
              LowerFirst(Printable(RedactUrlsIn(detail))));
}

Status RefusedDash(const char* what, const std::string& value) {
  return InvalidArgument(std::string(what) + " '" + Printable(value) + "' is not allowed: it begins with '-'");
}

// Paths inside a repository: relative to the root, never an option.
Result<std::string> CleanRepoPath(const std::string& path, bool allow_empty) {
  if (!path.empty() && path[0] == '-') return RefusedDash("path", path);
  std::string p = path;
  while (StartsWith(p, "./")) p.erase(0, 2);
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p == ".") p.clear();
  for (char c : p) {
    if (c == '\0' || c == '\n') return InvalidArgument("path '" + Printable(path) + "' contains a control character");
  }
  for (const std::string& part : Split(p, '/')) {
    if (part == "..") return InvalidArgument("path '" + Printable(path) + "' is not allowed: it contains '..'");
  }
  if (p.empty() && !allow_empty) return InvalidArgument("path is empty");
  return p;
}

// A revision argument for local commands (diff, log, cat-file): a ref or
// commit that passed ValidateRef.
Status ValidateRevision(const std::string& rev) { return ValidateRef(rev); }

// Splits NUL-terminated output.
std::vector<std::string> SplitZ(const std::string& out) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\0', start);
    if (end == std::string::npos) end = out.size();
    if (end > start) items.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

// Lock files inside git_dir that git reported as already existing
// ("Unable to create '<path>.lock': File exists").
std::vector<std::string> StaleLocks(const std::string& err, const std::string& git_dir) {
  static const std::string kStart = "Unable to create '";
  static const std::string kEnd = "': File exists";
  std::vector<std::string> locks;
  size_t pos = 0;
  while ((pos = err.find(kStart, pos)) != std::string::npos) {
    pos += kStart.size();
    size_t end = err.find(kEnd, pos);
    if (end == std::string::npos) break;
    std::string path = err.substr(pos, end - pos);
    std::string dir = git_dir.ends_with('/') ? git_dir : git_dir + "/";
    if (path.starts_with(dir) && path.ends_with(".lock") && path.find("/../") == std::string::npos) {
      locks.push_back(path);
    }
    pos = end;
  }
  return locks;
}

}  // namespace

Status ValidateRef(const std::string& ref) {
  if (ref.empty()) return InvalidArgument("ref is empty");
  if (ref[0] == '-') return RefusedDash("ref", ref);
  auto bad = [&](const std::string& why) {
    return InvalidArgument("ref '" + Printable(ref) + "' is not a valid ref name: " + why);
  };
  if (ref.size() > 255) return bad("it is longer than 255 characters");
  for (char c : ref) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad("it contains a control character");
    if (c == ' ') return bad("it contains a space");
    if (c == '~' || c == '^' || c == ':' || c == '?' || c == '*' || c == '[' || c == '\\') {
      return bad(std::string("it contains '") + c + "'");
    }
  }
  if (ref.find("..") != std::string::npos) return bad("it contains '..'");
  if (ref.find("@{") != std::string::npos) return bad("it contains '@{'");
  if (ref == "@") return bad("it is '@'");
  if (ref.find("//") != std::string::npos) return bad("it contains '//'");
  if (ref[0] == '/' || ref.back() == '/') return bad("it begins or ends with '/'");
  if (ref.back() == '.') return bad("it ends with '.'");
  for (const std::string& part : Split(ref, '/')) {
    if (!part.empty() && part[0] == '.') return bad("a component begins with '.'");
    if (EndsWith(part, ".lock")) return bad("a component ends with '.lock'");
  }
  return Status::Ok();
}

std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t host = scheme + 3;
  size_t path = url.find('/', host);
  if (path == std::string::npos) path = url.size();
  size_t at = url.rfind('@', path);
  if (at == std::string::npos || at < host) return url;
  size_t colon = url.find(':', host);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

Status ValidateUrl(const std::string& url) {
  if (url.empty()) return InvalidArgument("url is empty");
  const std::string shown = Printable(RedactUrl(url));
  if (url[0] == '-') return RefusedDash("url", shown);
  for (char c : url) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return InvalidArgument("url '" + shown + "' contains a control character");
  }
  auto refuse_transport = [&](const std::string& transport) {
    return InvalidArgument("url '" + shown + "' uses the '" + Printable(transport) +
                           "' transport, which is not allowed (use https, http, ssh, git, file or an absolute path)");
  };
  auto check_user_host = [&](const std::string& authority) -> Status {
    // user@host:port — git refuses a user or host that begins with '-', and
    // so do we, before it gets that far.
    size_t at = authority.rfind('@');
    std::string user = at == std::string::npos ? "" : authority.substr(0, at);
    std::string host = at == std::string::npos ? authority : authority.substr(at + 1);
    if (!user.empty() && user[0] == '-') return InvalidArgument("url '" + shown + "' has a user beginning with '-'");
    if (host.empty()) return InvalidArgument("url '" + shown + "' has no host");
    if (host[0] == '-') return InvalidArgument("url '" + shown + "' has a host beginning with '-'");
    return Status::Ok();
  };

  // The scheme or remote-helper name, scanned as git does (is_urlschemechar).
  size_t i = 0;
  while (i < url.size()) {
    char c = url[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool ok = alpha || (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) break;
    ++i;
  }
  const std::string scheme = url.substr(0, i);
  const std::string rest = url.substr(i);
  if (i > 0 && StartsWith(rest, "::")) {
    // "helper::address": git would run git-remote-<helper>.
    if (scheme == "codecommit" && rest.size() > 2) return Status::Ok();
    return refuse_transport(scheme);
  }
  if (i > 0 && StartsWith(rest, "://")) {
    if (scheme == "codecommit")
      return rest.size() > 3 ? Status::Ok() : InvalidArgument("url '" + shown + "' has no repository");
    static const char* kAllowed[] = {"https", "http", "ssh", "git", "file", "git+ssh", "ssh+git"};
    bool allowed = false;
    for (const char* a : kAllowed) allowed = allowed || scheme == a;
    if (!allowed) return refuse_transport(scheme);
    if (scheme == "file") return Status::Ok();
    size_t start = i + 3;
    size_t end = url.find('/', start);
    return check_user_host(url.substr(start, end == std::string::npos ? std::string::npos : end - start));
  }
  // No scheme: git treats it as a local path when there is no ':' or a '/'
  // comes before the first ':'; otherwise as scp-like ssh "[user@]host:path".
  size_t colon = url.find(':');
  size_t slash = url.find('/');
  bool local = colon == std::string::npos || (slash != std::string::npos && slash < colon);
  if (local) {
    if (url[0] != '/') {
      return InvalidArgument("url '" + shown + "' is a relative path; use an absolute path or a URL");
    }
    return Status::Ok();
  }
  std::string authority = url.substr(0, colon);
  if (!authority.empty() && authority[0] == '[') {  // [user@]host with brackets, e.g. [::1]:path
    size_t close = url.find(']');
    if (close == std::string::npos) return InvalidArgument("url '" + shown + "' has an unclosed '['");
    authority = url.substr(1, close - 1);
  }
  return check_user_host(authority);
}

Status TEST_SummariseGitFailure(const std::string& what, const CapturedOutput& out) {
  return SummariseFailure(what, out);
}

bool IsFullCommitHash(const std::string& ref) { return ref.size() == 40 && AllHex(ref); }

const char* RefKindName(RefKind kind) {
  switch (kind) {
    case RefKind::kTag:
      return "tag";
    case RefKind::kCommit:
      return "commit";
    case RefKind::kBranch:
      return "branch";
  }
  return "unknown";
}

Git::Git(GitOptions options) : options_(std::move(options)) {}

std::string Git::MirrorPath(const std::string& url) const {
  const std::string key = RedactUrl(url);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(Fnv1a64(key)));
  return JoinPath(options_.mirrors_dir, MirrorBaseName(key) + "-" + hash + ".git");
}

Result<CapturedOutput> Git::RunGit(const std::vector<std::string>& args, const std::string& cwd, bool network,
                                   const std::string& what, size_t max_bytes) {
  ProcessOptions po;
  po.argv = {"git"};
  for (const std::string& c : options_.extra_config) {
    po.argv.push_back("-c");
    po.argv.push_back(c);
  }
  for (const std::string& c : HardeningConfig()) {
    po.argv.push_back("-c");
    po.argv.push_back(c);
  }
  po.argv.insert(po.argv.end(), args.begin(), args.end());

  po.env = AllowedBaseEnvironment();
  for (const auto& [k, v] : options_.extra_env) po.env[k] = v;
  // Variables that would point git at another repository than the one we
  // name explicitly.
  for (const char* k : {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE"}) {
    po.env.erase(k);
  }
  po.env["GIT_TERMINAL_PROMPT"] = "0";
  po.env["GIT_ALLOW_PROTOCOL"] = kAllowedProtocols;
  po.env["GIT_PROTOCOL_FROM_USER"] = "0";
  po.env["LC_ALL"] = "C";

  po.cwd = cwd;
  po.timeout_ms = options_.timeout_ms;
  po.grace_ms = 3000;
  po.cancel = options_.cancel;

  calls_.value.fetch_add(1);
  if (network) network_calls_.value.fetch_add(1);
  Result<CapturedOutput> r = RunCapture(po, max_bytes);
  if (!r.ok()) return r.status().WithContext(what);
  if (r->result.timed_out) return Timeout(what + " timed out after " + DurationText(options_.timeout_ms));
  if (r->result.cancelled) return Cancelled(what + " was cancelled");
  return r;
}

Result<CapturedOutput> Git::TEST_RunGit(const std::vector<std::string>& args, const std::string& cwd) {
  return RunGit(args, cwd, /*network=*/true, "git");
}

Result<std::vector<RemoteRef>> Git::LsRemote(const std::string& url) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  const std::string what = "ls-remote " + Quote(RedactUrl(url));
  // cwd "/" so that no repository around the engine lends its config.
  SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput out, RunGit({"ls-remote", "--", url}, "/", /*network=*/true, what));
  if (!out.result.exit.success()) return SummariseFailure(what, out);
  std::vector<RemoteRef> refs;
  for (const std::string& raw : Split(out.out, '\n')) {
    if (raw.empty()) continue;
    size_t tab = raw.find('\t');
    if (tab == std::string::npos) return Failed(what + ": unexpected output line '" + Printable(raw) + "'");
    std::string object = raw.substr(0, tab);
    std::string name = raw.substr(tab + 1);
    if (EndsWith(name, "^{}")) {
      name.resize(name.size() - 3);
      for (auto it = refs.rbegin(); it != refs.rend(); ++it) {
        if (it->name == name) {
          it->peeled = object;
          break;
        }
      }
      continue;
    }
    refs.push_back(RemoteRef{name, object, ""});
  }
  return refs;
}

Status Git::FetchInto(const std::string& git_dir, const std::string& url) {
  const std::string what = "fetch " + Quote(RedactUrl(url));
  // A git killed with SIGKILL (timeout grace expired, engine crash) leaves its
  // lock files behind, and every later fetch would fail on them. Calls on one
  // mirror are serialised by the caller, so a lock we meet is stale: remove it
  // and try again, a bounded number of times.
  for (int attempt = 0;; ++attempt) {
    SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput out, RunGit({"--git-dir=" + git_dir, "-c", "maintenance.auto=false",
                                                         "fetch", "--quiet", "--prune", "--no-write-fetch-head", "--",
                                                         url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
                                                        git_dir, /*network=*/true, what));
    if (out.result.exit.success()) return Status::Ok();
    std::vector<std::string> stale = StaleLocks(out.err, git_dir);
    if (stale.empty() || attempt >= 2) return SummariseFailure(what, out);
    for (const std::string& lock : stale) {
      if (::unlink(lock.c_str()) != 0 && errno != ENOENT) return PosixError("remove stale lock " + Quote(lock), errno);
    }
  }
}

Status Git::Maintain(const std::string& url) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  const std::string mirror = MirrorPath(url);
  if (!IsDirectory(mirror) || !MaintenanceDue(mirror)) return Status::Ok();
  const std::string what = "maintenance of the mirror of " + Quote(RedactUrl(url));
  SLIPWAY_ASSIGN_OR_RETURN(
      CapturedOutput out,
      RunGit({"--git-dir=" + mirror, "maintenance", "run", "--auto", "--quiet"}, mirror, false, what));
  if (!out.result.exit.success()) return SummariseFailure(what, out);
  return Status::Ok();
}

Status Git::CreateMirror(const std::string& mirror, const std::string& url) {
  const std::string dir = DirName(mirror);
  const std::string prefix = ".tmp-" + BaseName(mirror) + "-";
  SLIPWAY_RETURN_IF_ERROR(MakeDirs(dir));
  // Leftovers of a crash while this mirror was being created. Calls on one
  // mirror are serialised by the caller, so nobody else is using them.
  SLIPWAY_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir));
  for (const std::string& name : names) {
    if (StartsWith(name, prefix)) SLIPWAY_RETURN_IF_ERROR(RemoveTree(JoinPath(dir, name)));
  }
  SLIPWAY_ASSIGN_OR_RETURN(std::string tmp, MakeTempDir(dir, prefix));
  auto fail = [&](const Status& s) {
    (void)RemoveTree(tmp);
    return s;
  };
  const std::string what = "create mirror " + Quote(mirror);
  // --template= : the mirror needs no sample hooks or description, and a
  // user's init.templateDir must not put hooks into it.
  auto init = RunGit({"init", "--quiet", "--bare", "--template=", "--", tmp}, dir, false, what);
  if (!init.ok()) return fail(init.status());
  if (!init->result.exit.success()) return fail(SummariseFailure(what, *init));
  // For a human looking at the mirrors folder; git never reads it.
  auto config = ::slipway::ReadFile(JoinPath(tmp, "config"));
  if (!config.ok()) return fail(config.status());
  std::string escaped;
  for (char c : RedactUrl(url)) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += c;
  }
  Status wrote = WriteFile(JoinPath(tmp, "config"), *config + "[slipway]\n\turl = \"" + escaped + "\"\n");
  if (!wrote.ok()) return fail(wrote);
  Status fetched = FetchInto(tmp, url);
  if (!fetched.ok()) return fail(fetched);
  if (::rename(tmp.c_str(), mirror.c_str()) != 0) {
    int err = errno;
    if ((err == EEXIST || err == ENOTEMPTY) && IsDirectory(mirror)) return fail(FetchInto(mirror, url));
    return fail(PosixError("rename " + Quote(tmp) + " to " + Quote(mirror), err));
  }
  return Status::Ok();
}

Status Git::Fetch(const std::string& url) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  if (options_.mirrors_dir.empty()) return InvalidArgument("git: mirrors_dir is not set");
  const std::string mirror = MirrorPath(url);
  // When the last fetch completed (epoch ms): a stamp file in the mirror,
  // which git never touches.
  const std::string stamp = JoinPath(mirror, "slipway-fetched");
  if (IsDirectory(mirror)) {
    if (options_.reuse_fetch_ms > 0) {
      Result<std::string> text = slipway::ReadFile(stamp);
      int64_t fetched_ms = text.ok() ? std::atoll(text->c_str()) : 0;
      int64_t age = NowMs() - fetched_ms;
      if (fetched_ms > 0 && age >= 0 && age < options_.reuse_fetch_ms) return Status::Ok();
    }
    SLIPWAY_RETURN_IF_ERROR(FetchInto(mirror, url));
  } else {
    SLIPWAY_RETURN_IF_ERROR(CreateMirror(mirror, url));
  }
  // Best effort: without the stamp, the next fetch goes to the remote.
  (void)WriteFile(stamp, std::to_string(NowMs()) + "\n");
  return Status::Ok();
}

Result<std::string> Git::PeelToCommit(const std::string& mirror, const std::string& url, const std::string& spec) {
  const std::string what = "rev-parse " + Quote(spec) + " in the mirror of " + Quote(RedactUrl(url));
  Result<MirrorObjects> objects = MirrorObjects::Open(mirror);
  if (!objects.ok()) return Failed(what + ": " + objects.status().message());
  Result<std::string> commit = objects->PeelToCommit(spec);
  if (!commit.ok()) return Failed(what + ": " + commit.status().message());
  return commit;
}

Result<ResolvedRef> Git::Resolve(const std::string& url, const std::string& ref, std::string* warning,
                                 const Status* fetched_before) {
  if (warning != nullptr) warning->clear();
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  SLIPWAY_RETURN_IF_ERROR(ValidateRef(ref));
  const std::string shown_url = Quote(RedactUrl(url));
  const std::string mirror = MirrorPath(url);
  const bool full = IsFullCommitHash(ref);
  const std::string commit_ref = full ? ToLower(ref) : ref;

  // A full hash is immutable: when the mirror has it, the remote has nothing
  // to add.
  if (full && IsDirectory(mirror)) {
    SLIPWAY_ASSIGN_OR_RETURN(std::string commit, PeelToCommit(mirror, url, commit_ref));
    if (commit == commit_ref) return ResolvedRef{ref, RefKind::kCommit, commit};
  }

  Status fetched = fetched_before != nullptr ? *fetched_before : Fetch(url);
  if (!fetched.ok()) {
    bool unreachable = fetched.code() == StatusCode::kNetwork || fetched.code() == StatusCode::kTimeout;
    if (!unreachable || full || !IsDirectory(mirror)) return fetched;
    SLIPWAY_ASSIGN_OR_RETURN(std::string cached, PeelToCommit(mirror, url, "refs/tags/" + ref));
    if (cached.empty()) return fetched;
    if (warning != nullptr) {
      std::string reason = fetched.message();
      // "fetch 'URL': could not connect: ..." / "fetch 'URL' timed out after 10s"
      const std::string prefix = "fetch " + shown_url;
      if (StartsWith(reason, prefix + ": ")) {
        reason = reason.substr(prefix.size() + 2);
      } else if (StartsWith(reason, prefix + " ")) {
        reason = reason.substr(prefix.size() + 1);
      }
      *warning = "could not reach " + shown_url + " (" + reason + "); using the cached tag " + ref + " → " + cached;
    }
    return ResolvedRef{ref, RefKind::kTag, cached};
  }

  if (full) {
    SLIPWAY_ASSIGN_OR_RETURN(std::string commit, PeelToCommit(mirror, url, commit_ref));
    if (commit == commit_ref) return ResolvedRef{ref, RefKind::kCommit, commit};
    if (!commit.empty()) {
      return InvalidArgument("ref '" + ref + "' in " + shown_url + " is not a commit (it points to commit " + commit +
                             "); pin the commit");
    }
    return NotFound("commit '" + ref + "' not found in " + shown_url);
  }
  SLIPWAY_ASSIGN_OR_RETURN(std::string tag, PeelToCommit(mirror, url, "refs/tags/" + ref));
  if (!tag.empty()) return ResolvedRef{ref, RefKind::kTag, tag};
  SLIPWAY_ASSIGN_OR_RETURN(std::string branch, PeelToCommit(mirror, url, "refs/heads/" + ref));
  if (!branch.empty()) return ResolvedRef{ref, RefKind::kBranch, branch};
  if (LooksAbbreviated(ref)) {
    return InvalidArgument("ref '" + ref + "' looks like an abbreviated commit hash; pin the full 40-character hash");
  }
  return NotFound("ref '" + ref + "' not found in " + shown_url + " (no such tag, branch or commit)");
}

Result<std::string> Git::FetchBranchHead(const std::string& url, const std::string& branch) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  SLIPWAY_RETURN_IF_ERROR(ValidateRef(branch));
  SLIPWAY_RETURN_IF_ERROR(Fetch(url));
  SLIPWAY_ASSIGN_OR_RETURN(std::string commit, PeelToCommit(MirrorPath(url), url, "refs/heads/" + branch));
  if (commit.empty()) return NotFound("branch '" + branch + "' not found in " + Quote(RedactUrl(url)));
  return commit;
}

Result<std::string> Git::FetchRef(const std::string& url, const std::string& ref) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  SLIPWAY_RETURN_IF_ERROR(ValidateRef(ref));
  if (!StartsWith(ref, "refs/") || StartsWith(ref, "refs/heads/") || StartsWith(ref, "refs/tags/")) {
    return InvalidArgument("fetch of one ref needs a full ref outside refs/heads and refs/tags, not " + Quote(ref));
  }
  const std::string mirror = MirrorPath(url);
  if (!IsDirectory(mirror)) SLIPWAY_RETURN_IF_ERROR(Fetch(url));
  const std::string what = "fetch " + Quote(ref) + " from " + Quote(RedactUrl(url));
  // ref is validated and starts with "refs/": never an option.
  SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput out, RunGit({"--git-dir=" + mirror, "fetch", "--quiet",
                                                       "--no-write-fetch-head", "--", url, "+" + ref + ":" + ref},
                                                      mirror, /*network=*/true, what));
  if (!out.result.exit.success()) {
    if (out.err.find("couldn't find remote ref") != std::string::npos) {
      return NotFound(Quote(ref) + " not found in " + Quote(RedactUrl(url)));
    }
    return SummariseFailure(what, out);
  }
  SLIPWAY_ASSIGN_OR_RETURN(std::string commit, PeelToCommit(mirror, url, ref));
  if (commit.empty()) return NotFound(Quote(ref) + " of " + Quote(RedactUrl(url)) + " is not a commit");
  return commit;
}

Result<CapturedOutput> Git::VerifySignature(const std::string& url, const std::string& object, bool tag) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  const std::string mirror = MirrorPath(url);
  if (!IsDirectory(mirror)) return NotFound("no mirror of " + Quote(RedactUrl(url)) + " to verify " + Quote(object));
  std::string spec;
  if (tag) {
    SLIPWAY_RETURN_IF_ERROR(ValidateRef(object));
    spec = StartsWith(object, "refs/tags/") ? object : "refs/tags/" + object;
  } else {
    if (!IsFullCommitHash(object)) {
      return InvalidArgument("verify needs a full 40-character commit hash, not '" + Printable(object) + "'");
    }
    spec = ToLower(object);
  }
  const std::string what = std::string(tag ? "verify-tag " : "verify-commit ") + Quote(object) + " in the mirror of " +
                           Quote(RedactUrl(url));
  // spec is a full hash or "refs/tags/..." (validated): never an option.
  return RunGit({"--git-dir=" + mirror, tag ? "verify-tag" : "verify-commit", "--raw", spec}, mirror, false, what);
}

Result<std::string> Git::MergeBase(const std::string& url, const std::string& a, const std::string& b) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  for (const std::string& c : {a, b}) {
    if (!IsFullCommitHash(c)) {
      return InvalidArgument("merge-base needs full 40-character commit hashes, not '" + Printable(c) + "'");
    }
  }
  const std::string mirror = MirrorPath(url);
  const std::string what = "merge-base " + a.substr(0, 12) + " " + b.substr(0, 12) + " in " + Quote(RedactUrl(url));
  if (!IsDirectory(mirror)) return NotFound("no mirror of " + Quote(RedactUrl(url)) + " yet (fetch it first)");
  SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput out,
                           RunGit({"--git-dir=" + mirror, "merge-base", ToLower(a), ToLower(b)}, mirror, false, what));
  if (out.result.exit.kind == ExitStatus::Kind::kExited && out.result.exit.code == 1) {
    return NotFound(what + ": the commits share no history");
  }
  if (!out.result.exit.success()) return SummariseFailure(what, out);
  std::string commit = TrimmedLine(out.out);
  if (!IsFullCommitHash(commit)) return Failed(what + ": unexpected output '" + Printable(commit) + "'");
  return commit;
}

Result<std::string> Git::TagCommit(const std::string& url, const std::string& tag) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  SLIPWAY_RETURN_IF_ERROR(ValidateRef(tag));
  const std::string mirror = MirrorPath(url);
  if (!IsDirectory(mirror)) return std::string();
  return PeelToCommit(mirror, url, StartsWith(tag, "refs/tags/") ? tag : "refs/tags/" + tag);
}

bool Git::HasCommit(const std::string& url, const std::string& commit) {
  if (!ValidateUrl(url).ok() || !IsFullCommitHash(commit)) return false;
  const std::string mirror = MirrorPath(url);
  if (!IsDirectory(mirror)) return false;
  Result<std::string> peeled = PeelToCommit(mirror, url, ToLower(commit));
  return peeled.ok() && *peeled == ToLower(commit);
}

Status Git::Checkout(const std::string& url, const std::string& commit, const std::string& dest) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  if (!IsFullCommitHash(commit)) {
    if (!commit.empty() && commit[0] == '-') return RefusedDash("commit", commit);
    return InvalidArgument("checkout needs a full 40-character commit hash, not '" + Printable(commit) + "'");
  }
  if (dest.empty()) return InvalidArgument("checkout destination is empty");
  if (PathExists(dest))
    return Status(StatusCode::kAlreadyExists, "checkout destination " + Quote(dest) + " already exists");
  const std::string mirror = MirrorPath(url);
  const std::string shown_url = Quote(RedactUrl(url));
  if (!IsDirectory(mirror)) return NotFound("no mirror of " + shown_url + " yet (fetch it first)");
  const std::string lower = ToLower(commit);
  const std::string what = "checkout of " + lower + " from " + shown_url + " into " + Quote(dest);
  // Absolute, so the clone's alternates and origin do not depend on our cwd.
  const std::string abs_dest = AbsolutePath(dest, CurrentDir());

  auto fail = [&](const Status& s) {
    (void)RemoveTree(abs_dest);
    return s;
  };
  // --shared: the workspace borrows the mirror's objects (objects/info/
  // alternates) instead of copying them; --no-checkout so that the only
  // checkout is the one at the pinned commit.
  auto clone = RunGit({"clone", "--quiet", "--shared", "--no-checkout", "--", mirror, abs_dest}, "/", false, what);
  if (!clone.ok()) return fail(clone.status());
  if (!clone->result.exit.success()) return fail(SummariseFailure(what, *clone));
  auto co = RunGit({"checkout", "--quiet", "--detach", lower, "--"}, abs_dest, false, what);
  if (!co.ok()) return fail(co.status());
  if (!co->result.exit.success()) {
    if (!HasCommit(url, lower)) return fail(NotFound("commit " + lower + " not found in the mirror of " + shown_url));
    return fail(SummariseFailure(what, *co));
  }
  return Status::Ok();
}

Result<std::string> Git::ReadFile(const std::string& url, const std::string& commit, const std::string& path) {
  constexpr size_t kMaxFile = 64 << 20;
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  SLIPWAY_RETURN_IF_ERROR(ValidateRevision(commit));
  SLIPWAY_ASSIGN_OR_RETURN(std::string rel, CleanRepoPath(path, /*allow_empty=*/false));
  const std::string shown_url = Quote(RedactUrl(url));
  const std::string what = "read " + Quote(rel) + " at " + commit + " in " + shown_url;
  SLIPWAY_ASSIGN_OR_RETURN(MirrorObjects objects, OpenObjects(MirrorPath(url), shown_url, what));
  Result<MirrorObjects::Entry> entry = objects.Read(commit, rel, kMaxFile);
  if (!entry.ok()) {
    if (entry.status().code() == StatusCode::kNotFound)
      return NotFound("commit '" + commit + "' not found in " + shown_url);
    return Failed(what + ": " + entry.status().message());
  }
  switch (entry->kind) {
    case MirrorObjects::EntryKind::kMissing:
      return NotFound(Quote(rel) + " not found at " + commit + " in " + shown_url);
    case MirrorObjects::EntryKind::kFolder:
      return InvalidArgument(what + ": " + Quote(rel) + " is a directory, not a file");
    case MirrorObjects::EntryKind::kSubmodule:
      return InvalidArgument(what + ": " + Quote(rel) + " is a submodule, not a file");
    case MirrorObjects::EntryKind::kFile:
    case MirrorObjects::EntryKind::kLink:
      break;
  }
  if (entry->size > kMaxFile) return InvalidArgument(what + ": the file is larger than 64 MiB");
  return std::move(entry->content);
}

Result<std::string> Git::RefsDigest(const std::string& url) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  const std::string mirror = MirrorPath(url);
  const std::string shown_url = Quote(RedactUrl(url));
  const std::string what = "list the refs of " + shown_url;
  SLIPWAY_ASSIGN_OR_RETURN(MirrorObjects objects, OpenObjects(mirror, shown_url, what));
  Result<std::string> refs = objects.RefList();
  if (!refs.ok()) return Failed(what + ": " + refs.status().message());
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(Fnv1a64(mirror + "\n" + *refs)));
  return std::string(hash);
}

Status Git::ExportFolder(const std::string& url, const std::string& commit, const std::string& folder,
                         const std::string& dest) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  if (!IsFullCommitHash(commit)) {
    return InvalidArgument("export needs a full 40-character commit hash, not '" + Printable(commit) + "'");
  }
  SLIPWAY_ASSIGN_OR_RETURN(std::string rel, CleanRepoPath(folder, /*allow_empty=*/true));
  if (PathExists(dest))
    return Status(StatusCode::kAlreadyExists, "export destination " + Quote(dest) + " already exists");
  const std::string shown_url = Quote(RedactUrl(url));
  const std::string what =
      "write " + Quote(rel.empty() ? "/" : rel) + " at " + commit + " of " + shown_url + " to " + Quote(dest);
  SLIPWAY_ASSIGN_OR_RETURN(MirrorObjects objects, OpenObjects(MirrorPath(url), shown_url, what));
  Status exported = objects.ExportFolder(ToLower(commit), rel, dest);
  if (exported.ok()) return exported;
  (void)RemoveTree(dest);
  if (exported.code() == StatusCode::kNotFound)
    return NotFound("commit " + ToLower(commit) + " not found in the mirror of " + shown_url);
  return Failed(what + ": " + exported.message());
}

Result<std::vector<std::string>> Git::ChangedPaths(const std::string& url, const std::string& from,
                                                   const std::string& to, const std::string& under) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  if (!from.empty()) SLIPWAY_RETURN_IF_ERROR(ValidateRevision(from));
  SLIPWAY_RETURN_IF_ERROR(ValidateRevision(to));
  SLIPWAY_ASSIGN_OR_RETURN(std::string rel, CleanRepoPath(under, /*allow_empty=*/true));
  const std::string mirror = MirrorPath(url);
  const std::string shown_url = Quote(RedactUrl(url));
  if (!IsDirectory(mirror)) return NotFound("no mirror of " + shown_url + " yet (fetch it first)");
  // --literal-pathspecs: `under` is a path, never a pattern or pathspec magic.
  std::vector<std::string> args = {"--literal-pathspecs", "--git-dir=" + mirror};
  std::string what;
  if (from.empty()) {
    what = "list files at " + to + " in " + shown_url;
    args.insert(args.end(), {"ls-tree", "-r", "--name-only", "-z", "--full-tree", to, "--"});
  } else {
    what = "diff " + from + ".." + to + " in " + shown_url;
    args.insert(args.end(),
                {"diff", "--name-only", "--no-renames", "--no-ext-diff", "--no-textconv", "-z", from, to, "--"});
  }
  if (!rel.empty()) args.push_back(rel);
  SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput out, RunGit(args, mirror, false, what));
  if (!out.result.exit.success()) {
    for (const std::string& rev : {from, to}) {
      if (rev.empty()) continue;
      SLIPWAY_ASSIGN_OR_RETURN(std::string c, PeelToCommit(mirror, url, rev));
      if (c.empty()) return NotFound("commit '" + rev + "' not found in " + shown_url);
    }
    return SummariseFailure(what, out);
  }
  return SplitZ(out.out);
}

Result<bool> Git::FolderChanged(const std::string& url, const std::string& from, const std::string& to,
                                const std::string& under) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  SLIPWAY_RETURN_IF_ERROR(ValidateRevision(from));
  SLIPWAY_RETURN_IF_ERROR(ValidateRevision(to));
  SLIPWAY_ASSIGN_OR_RETURN(std::string rel, CleanRepoPath(under, /*allow_empty=*/true));
  const std::string mirror = MirrorPath(url);
  const std::string shown_url = Quote(RedactUrl(url));
  const std::string what = "diff " + from + ".." + to + " in " + shown_url;
  SLIPWAY_ASSIGN_OR_RETURN(MirrorObjects objects, OpenObjects(mirror, shown_url, what));
  Result<bool> differs = objects.Differs(from, to, rel);
  if (differs.ok()) return differs;
  if (differs.status().code() == StatusCode::kNotFound) {
    for (const std::string& rev : {from, to}) {
      SLIPWAY_ASSIGN_OR_RETURN(std::string c, PeelToCommit(mirror, url, rev));
      if (c.empty()) return NotFound("commit '" + rev + "' not found in " + shown_url);
    }
  }
  return Failed(what + ": " + differs.status().message());
}

Result<std::vector<Git::LogEntry>> Git::Log(const std::string& url, const std::string& from, const std::string& to,
                                            const std::string& under, int limit) {
  SLIPWAY_RETURN_IF_ERROR(ValidateUrl(url));
  if (!from.empty()) SLIPWAY_RETURN_IF_ERROR(ValidateRevision(from));
  SLIPWAY_RETURN_IF_ERROR(ValidateRevision(to));
  SLIPWAY_ASSIGN_OR_RETURN(std::string rel, CleanRepoPath(under, /*allow_empty=*/true));
  const std::string mirror = MirrorPath(url);
  const std::string shown_url = Quote(RedactUrl(url));
  if (!IsDirectory(mirror)) return NotFound("no mirror of " + shown_url + " yet (fetch it first)");
  const std::string range = from.empty() ? to : from + ".." + to;
  const std::string what = "log " + range + " in " + shown_url;
  // --no-show-signature: a user's log.showSignature would mix gpg output in.
  std::vector<std::string> args = {
      "--literal-pathspecs", "--git-dir=" + mirror, "log", "--no-show-signature",
      "--no-decorate",       "--no-color",          "-z",  "--format=%H%x1f%an%x1f%at%x1f%s"};
  if (limit > 0) args.push_back("--max-count=" + std::to_string(limit));
  args.insert(args.end(), {"--end-of-options", range, "--"});
  if (!rel.empty()) args.push_back(rel);
  SLIPWAY_ASSIGN_OR_RETURN(CapturedOutput out, RunGit(args, mirror, false, what));
  if (!out.result.exit.success()) {
    for (const std::string& rev : {from, to}) {
      if (rev.empty()) continue;
      SLIPWAY_ASSIGN_OR_RETURN(std::string c, PeelToCommit(mirror, url, rev));
      if (c.empty()) return NotFound("commit '" + rev + "' not found in " + shown_url);
    }
    return SummariseFailure(what, out);
  }
  std::vector<LogEntry> entries;
  for (const std::string& record : SplitZ(out.out)) {
    std::vector<std::string> f = Split(record, '\x1f');
    if (f.size() < 4 || !IsFullCommitHash(f[0])) {
      return Failed(what + ": unexpected output '" + Printable(record.substr(0, 80)) + "'");
    }
    LogEntry e;
    e.commit = f[0];
    e.author = f[1];
    int64_t seconds = 0;
    std::from_chars(f[2].data(), f[2].data() + f[2].size(), seconds);
    e.time_ms = seconds * 1000;
    e.subject = f[3];
    for (size_t i = 4; i < f.size(); ++i) e.subject += "\x1f" + f[i];
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace slipway
