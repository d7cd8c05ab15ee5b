// Webhook verification and parsing. The signature is checked before a single
// byte of the body is interpreted; nlohmann::json exceptions stop here.
#include "triggers/webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "util/strings.h"

namespace slipway {

namespace {

using nlohmann::json;

constexpr int kMaxDepth = 64;

Status Unauthenticated(std::string message) { return Status(StatusCode::kPermissionDenied, std::move(message)); }
Status BadRequest(std::string message) { return InvalidArgument(std::move(message)); }

std::optional<std::string> Header(const std::map<std::string, std::string>& headers, const char* name) {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return std::string(Trim(it->second));
}

std::string HmacSha256(std::string_view secret, std::string_view body) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const unsigned char* key = secret.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(secret.data());
  const unsigned char* data = body.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(body.data());
  HMAC(EVP_sha256(), key, static_cast<int>(secret.size()), data, body.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Checks `value` (HEX, after an optional required prefix) against the HMAC of
// the body, in constant time.
Status CheckHmac(const std::map<std::string, std::string>& headers, const char* header, std::string_view prefix,
                 std::string_view secret, std::string_view body) {
  auto value = Header(headers, header);
  if (!value) return Unauthenticated(std::string("missing signature header '") + header + "'");
  std::string_view hex = *value;
  if (!prefix.empty()) {
    if (!StartsWith(hex, prefix)) {
      return Unauthenticated(std::string("malformed signature header '") + header + "' (expected " +
                             std::string(prefix) + "HEX)");
    }
    hex.remove_prefix(prefix.size());
  }
  if (hex.size() != 2 * SHA256_DIGEST_LENGTH) {
    return Unauthenticated(std::string("malformed signature header '") + header + "' (expected " + std::string(prefix) +
                           "HEX with 64 hex digits)");
  }
  unsigned char given[SHA256_DIGEST_LENGTH];
  for (size_t i = 0; i < sizeof given; ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Unauthenticated(std::string("malformed signature header '") + header + "' (not hexadecimal)");
    }
    given[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  std::string expected = HmacSha256(secret, body);
  if (CRYPTO_memcmp(given, expected.data(), sizeof given) != 0) {
    return Unauthenticated(std::string("signature in '") + header +
                           "' does not match the body (check the webhook secret)");
  }
  return Status::Ok();
}

// Compares a token with the secret without leaking either's length or
// content through timing: both are hashed, the digests compared.
bool TokenEquals(std::string_view token, std::string_view secret) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

// Rejects bodies nested deeper than kMaxDepth before the parser sees them.
bool NestedTooDeep(std::string_view body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return false;
}

Result<json> ParseBody(std::string_view body) {
  if (Trim(body).empty()) return BadRequest("the body is empty (expected a JSON object)");
  if (NestedTooDeep(body)) {
    return BadRequest("the body is nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  try {
    json j = json::parse(body.begin(), body.end());
    if (!j.is_object()) return BadRequest("the body is not a JSON object");
    return j;
  } catch (const json::parse_error& e) {
    return BadRequest("the body is not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const std::exception& e) {
    return BadRequest("the body is not valid JSON");
  }
}

// Typed access that names the field in its errors.
class Fields {
 public:
  Fields(const json& j, std::string prefix) : j_(j), prefix_(std::move(prefix)) {}

  // Required string.
  Status String(const char* key, std::string* out) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return BadRequest("missing field '" + Name(key) + "'");
    if (!it->is_string()) return BadRequest("field '" + Name(key) + "' must be a string");
    *out = it->get<std::string>();
    return Status::Ok();
  }
  // Optional string: absent or null leaves *out empty.
  Status OptionalString(const char* key, std::string* out) const {
    out->clear();
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return Status::Ok();
    if (!it->is_string()) return BadRequest("field '" + Name(key) + "' must be a string");
    *out = it->get<std::string>();
    return Status::Ok();
  }
  // Optional object; null when absent.
  Result<const json*> OptionalObject(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return static_cast<const json*>(nullptr);
    if (!it->is_object()) return BadRequest("field '" + Name(key) + "' must be an object");
    return &*it;
  }
  Result<const json*> Object(const char* key) const {
    SLIPWAY_ASSIGN_OR_RETURN(const json* o, OptionalObject(key));
    if (o == nullptr) return BadRequest("missing field '" + Name(key) + "'");
    return o;
  }
  Result<const json*> OptionalArray(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return static_cast<const json*>(nullptr);
    if (!it->is_array()) return BadRequest("field '" + Name(key) + "' must be an array");
    return &*it;
  }
  Status OptionalBool(const char* key, bool* out) const {
    *out = false;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return Status::Ok();
    if (!it->is_boolean()) return BadRequest("field '" + Name(key) + "' must be true or false");
    *out = it->get<bool>();
    return Status::Ok();
  }
  // Optional non-negative integer; -1 when absent.
  Status OptionalCount(const char* key, int64_t* out) const {
    *out = -1;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return Status::Ok();
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
      return BadRequest("field '" + Name(key) + "' must be a non-negative integer");
    }
    uint64_t v = it->get<uint64_t>();
    *out = v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v);
    return Status::Ok();
  }
  std::string Name(const char* key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

 private:
  const json& j_;
  std::string prefix_;
};

bool IsCommitHash(std::string_view s) { return (s.size() == 40 || s.size() == 64) && IsHex(s); }
bool IsZeroHash(std::string_view s) { return !s.empty() && s.find_first_not_of('0') == std::string_view::npos; }

// Adds the string fields `keys` of object `o` (named `where`) to urls.
Status CollectUrls(const json* o, const std::string& where, std::initializer_list<const char*> keys,
                   std::vector<std::string>* urls) {
  if (o == nullptr) return Status::Ok();
  Fields f(*o, where);
  for (const char* key : keys) {
    std::string url;
    SLIPWAY_RETURN_IF_ERROR(f.OptionalString(key, &url));
    url = std::string(Trim(url));
    if (!url.empty() && std::find(urls->begin(), urls->end(), url) == urls->end()) urls->push_back(url);
  }
  return Status::Ok();
}

// commits[].added/modified/removed into event->changed_paths.
Status CollectChangedPaths(const Fields& top, WebhookEvent* event, bool* listed, size_t* count) {
  *listed = false;
  *count = 0;
  SLIPWAY_ASSIGN_OR_RETURN(const json* commits, top.OptionalArray("commits"));
  if (commits == nullptr) return Status::Ok();
  *listed = true;
  *count = commits->size();
  std::set<std::string> paths;
  for (size_t i = 0; i < commits->size(); ++i) {
    const json& c = (*commits)[i];
    std::string where = "commits[" + std::to_string(i) + "]";
    if (!c.is_object()) return BadRequest("field '" + where + "' must be an object");
    Fields f(c, where);
    for (const char* key : {"added", "modified", "removed"}) {
      SLIPWAY_ASSIGN_OR_RETURN(const json* list, f.OptionalArray(key));
      if (list == nullptr) continue;
      for (const json& p : *list) {
        if (!p.is_string()) return BadRequest("field '" + f.Name(key) + "' must be an array of strings");
        paths.insert(p.get<std::string>());
      }
    }
  }
  event->changed_paths.assign(paths.begin(), paths.end());
  return Status::Ok();
}

// ref/before/after into the event: branch pushes become kPush, the rest kIgnored.
Status ReadRefUpdate(const Fields& f, WebhookEvent* event) {
  std::string ref;
  SLIPWAY_RETURN_IF_ERROR(f.String("ref", &ref));
  SLIPWAY_RETURN_IF_ERROR(f.String("after", &event->commit));
  SLIPWAY_RETURN_IF_ERROR(f.OptionalString("before", &event->before));
  if (!IsCommitHash(event->commit)) return BadRequest("field 'after' is not a commit hash");
  if (!event->before.empty() && !IsCommitHash(event->before)) {
    return BadRequest("field 'before' is not a commit hash");
  }
  if (StartsWith(ref, "refs/tags/")) {
    event->kind = WebhookKind::kIgnored;
    event->ignored_reason = "tag push '" + ref + "'";
  } else if (!StartsWith(ref, "refs/heads/") || ref.size() == std::string_view("refs/heads/").size()) {
    event->kind = WebhookKind::kIgnored;
    event->ignored_reason = "push to '" + ref + "' (not a branch)";
  } else if (IsZeroHash(event->commit)) {
    event->kind = WebhookKind::kIgnored;
    event->ignored_reason = "branch '" + ref.substr(11) + "' deleted";
  } else {
    event->kind = WebhookKind::kPush;
    event->branch = ref.substr(11);
  }
  return Status::Ok();
}

Status RequireUrls(const WebhookEvent& event) {
  if (event.kind == WebhookKind::kPush && event.repository_urls.empty()) {
    return BadRequest("the payload names no repository URL");
  }
  return Status::Ok();
}

void ClearPushFields(WebhookEvent* e) {
  e->branch.clear();
  e->changed_paths.clear();
  e->changed_paths_complete = false;
}

// GitHub and Gitea "pull_request": {action, number, pull_request: {head:
// {sha, ref}, base: {sha, ref}, title}, repository: {full_name, clone_url, ...}}.
Result<WebhookEvent> ParseGithubPullRequest(const std::string& event_name, std::string_view body) {
  WebhookEvent event;
  event.event = event_name;
  SLIPWAY_ASSIGN_OR_RETURN(json j, ParseBody(body));
  Fields f(j, "");
  PullRequestInfo& pr = event.pull_request;
  SLIPWAY_RETURN_IF_ERROR(f.String("action", &pr.action));
  if (pr.action != "opened" && pr.action != "synchronize" && pr.action != "synchronized" && pr.action != "reopened") {
    event.kind = WebhookKind::kIgnored;
    event.ignored_reason = "pull request action '" + pr.action + "'";
    return event;
  }
  SLIPWAY_RETURN_IF_ERROR(f.OptionalCount("number", &pr.number));
  SLIPWAY_ASSIGN_OR_RETURN(const json* pull, f.Object("pull_request"));
  Fields p(*pull, "pull_request");
  if (pr.number < 0) SLIPWAY_RETURN_IF_ERROR(p.OptionalCount("number", &pr.number));
  if (pr.number < 0) return BadRequest("missing field 'number'");
  SLIPWAY_RETURN_IF_ERROR(p.OptionalString("title", &pr.title));
  SLIPWAY_ASSIGN_OR_RETURN(const json* head, p.Object("head"));
  SLIPWAY_ASSIGN_OR_RETURN(const json* base, p.Object("base"));
  Fields h(*head, "pull_request.head");
  Fields b(*base, "pull_request.base");
  SLIPWAY_RETURN_IF_ERROR(h.String("sha", &pr.head_commit));
  SLIPWAY_RETURN_IF_ERROR(h.String("ref", &pr.head_branch));
  SLIPWAY_RETURN_IF_ERROR(b.String("ref", &pr.base_branch));
  SLIPWAY_RETURN_IF_ERROR(b.OptionalString("sha", &pr.base_commit));
  if (!IsCommitHash(pr.head_commit)) return BadRequest("field 'pull_request.head.sha' is not a commit hash");
  if (!pr.base_commit.empty() && !IsCommitHash(pr.base_commit)) {
    return BadRequest("field 'pull_request.base.sha' is not a commit hash");
  }
  // A request from a fork: the head's repository is not the base's (GitHub
  // sends head.repo null when the fork was deleted).
  SLIPWAY_ASSIGN_OR_RETURN(const json* head_repo, h.OptionalObject("repo"));
  SLIPWAY_ASSIGN_OR_RETURN(const json* base_repo, b.OptionalObject("repo"));
  if (head_repo != nullptr && base_repo != nullptr) {
    std::string head_name;
    std::string base_name;
    SLIPWAY_RETURN_IF_ERROR(Fields(*head_repo, "pull_request.head.repo").OptionalString("full_name", &head_name));
    SLIPWAY_RETURN_IF_ERROR(Fields(*base_repo, "pull_request.base.repo").OptionalString("full_name", &base_name));
    pr.from_fork = !head_name.empty() && !base_name.empty() && head_name != base_name;
  } else if (head_repo == nullptr && base_repo != nullptr && head->contains("repo")) {
    pr.from_fork = true;
  }
  SLIPWAY_ASSIGN_OR_RETURN(const json* repo, f.Object("repository"));
  Fields r(*repo, "repository");
  SLIPWAY_RETURN_IF_ERROR(r.String("full_name", &pr.repo));
  SLIPWAY_RETURN_IF_ERROR(
      CollectUrls(repo, "repository", {"clone_url", "ssh_url", "git_url", "html_url"}, &event.repository_urls));
  if (event.repository_urls.empty()) return BadRequest("the payload names no repository URL");
  event.kind = WebhookKind::kPullRequest;
  event.branch = pr.base_branch;
  event.commit = pr.head_commit;
  return event;
}

// GitLab "Merge Request Hook": {object_attributes: {iid, action, oldrev,
// source_branch, target_branch, last_commit: {id}, title}, project: {id, ...}}.
Result<WebhookEvent> ParseGitlabMergeRequest(const std::string& event_name, std::string_view body) {
  WebhookEvent event;
  event.event = event_name;
  SLIPWAY_ASSIGN_OR_RETURN(json j, ParseBody(body));
  Fields f(j, "");
  SLIPWAY_ASSIGN_OR_RETURN(const json* attrs, f.OptionalObject("object_attributes"));
  if (attrs == nullptr) {  // nothing to preview (and nothing GitLab sends for a real request)
    event.kind = WebhookKind::kIgnored;
    event.ignored_reason = "merge request hook without 'object_attributes'";
    return event;
  }
  Fields a(*attrs, "object_attributes");
  PullRequestInfo& pr = event.pull_request;
  SLIPWAY_RETURN_IF_ERROR(a.OptionalString("action", &pr.action));
  std::string oldrev;
  SLIPWAY_RETURN_IF_ERROR(a.OptionalString("oldrev", &oldrev));
  // "update" without oldrev: a title or label change, no new commit.
  if (pr.action != "open" && pr.action != "reopen" && !(pr.action == "update" && !oldrev.empty())) {
    event.kind = WebhookKind::kIgnored;
    event.ignored_reason =
        "merge request action '" + pr.action + "'" + (pr.action == "update" ? " without new commits" : "");
    return event;
  }
  SLIPWAY_RETURN_IF_ERROR(a.OptionalCount("iid", &pr.number));
  if (pr.number < 0) return BadRequest("missing field 'object_attributes.iid'");
  SLIPWAY_RETURN_IF_ERROR(a.OptionalString("title", &pr.title));
  SLIPWAY_RETURN_IF_ERROR(a.String("source_branch", &pr.head_branch));
  SLIPWAY_RETURN_IF_ERROR(a.String("target_branch", &pr.base_branch));
  int64_t source_project = -1;
  int64_t target_project = -1;
  SLIPWAY_RETURN_IF_ERROR(a.OptionalCount("source_project_id", &source_project));
  SLIPWAY_RETURN_IF_ERROR(a.OptionalCount("target_project_id", &target_project));
  pr.from_fork = source_project >= 0 && target_project >= 0 && source_project != target_project;
  SLIPWAY_ASSIGN_OR_RETURN(const json* last, a.Object("last_commit"));
  SLIPWAY_RETURN_IF_ERROR(Fields(*last, "object_attributes.last_commit").String("id", &pr.head_commit));
  if (!IsCommitHash(pr.head_commit)) return BadRequest("field 'object_attributes.last_commit.id' is not a commit hash");
  SLIPWAY_ASSIGN_OR_RETURN(const json* project, f.Object("project"));
  int64_t id = -1;
  SLIPWAY_RETURN_IF_ERROR(Fields(*project, "project").OptionalCount("id", &id));
  if (id < 0) return BadRequest("missing field 'project.id'");
  pr.repo = std::to_string(id);
  SLIPWAY_RETURN_IF_ERROR(CollectUrls(
      project, "project", {"git_http_url", "git_ssh_url", "http_url", "ssh_url", "web_url"}, &event.repository_urls));
  if (event.repository_urls.empty()) return BadRequest("the payload names no repository URL");
  event.kind = WebhookKind::kPullRequest;
  event.branch = pr.base_branch;
  event.commit = pr.head_commit;
  return event;
}

Result<WebhookEvent> ParseGithubLike(WebhookProvider provider, const std::string& event_name, std::string_view body) {
  if (event_name == "pull_request") return ParseGithubPullRequest(event_name, body);
  WebhookEvent event;
  event.event = event_name;
  if (provider == WebhookProvider::kGithub && event_name == "ping") {
    SLIPWAY_ASSIGN_OR_RETURN(json j, ParseBody(body));
    Fields f(j, "");
    SLIPWAY_ASSIGN_OR_RETURN(const json* repo, f.OptionalObject("repository"));
    SLIPWAY_RETURN_IF_ERROR(
        CollectUrls(repo, "repository", {"clone_url", "ssh_url", "git_url", "html_url"}, &event.repository_urls));
    event.kind = WebhookKind::kPing;
    return event;
  }
  if (event_name != "push") {
    event.kind = WebhookKind::kIgnored;
    event.ignored_reason = "event '" + event_name + "'";
    return event;
  }
  SLIPWAY_ASSIGN_OR_RETURN(json j, ParseBody(body));
  Fields f(j, "");
  SLIPWAY_RETURN_IF_ERROR(ReadRefUpdate(f, &event));
  SLIPWAY_ASSIGN_OR_RETURN(const json* repo, f.Object("repository"));
  // Not "url": GitHub sends the web address there, Gitea its API address.
  SLIPWAY_RETURN_IF_ERROR(
      CollectUrls(repo, "repository", {"clone_url", "ssh_url", "git_url", "html_url"}, &event.repository_urls));
  bool listed;
  size_t count;
  SLIPWAY_RETURN_IF_ERROR(CollectChangedPaths(f, &event, &listed, &count));
  bool forced, created;
  SLIPWAY_RETURN_IF_ERROR(f.OptionalBool("forced", &forced));
  SLIPWAY_RETURN_IF_ERROR(f.OptionalBool("created", &created));
  int64_t total;
  SLIPWAY_RETURN_IF_ERROR(f.OptionalCount("total_commits", &total));  // Gitea
  // GitHub lists at most 2048 commits, Gitea at most its configured number
  // (total_commits says how many there were). A forced or new branch lists
  // commits that do not describe before..after.
  event.changed_paths_complete = listed && !forced && !created && !IsZeroHash(event.before) && !event.before.empty() &&
                                 count < 2048 && (total < 0 || static_cast<size_t>(total) == count);
  if (event.kind != WebhookKind::kPush) ClearPushFields(&event);
  SLIPWAY_RETURN_IF_ERROR(RequireUrls(event));
  return event;
}

Result<WebhookEvent> ParseGitlab(const std::string& event_name, std::string_view body) {
  if (event_name == "Merge Request Hook") return ParseGitlabMergeRequest(event_name, body);
  WebhookEvent event;
  event.event = event_name;
  if (event_name != "Push Hook") {
    event.kind = WebhookKind::kIgnored;
    event.ignored_reason = "event '" + event_name + "'";
    return event;
  }
  SLIPWAY_ASSIGN_OR_RETURN(json j, ParseBody(body));
  Fields f(j, "");
  SLIPWAY_RETURN_IF_ERROR(ReadRefUpdate(f, &event));
  SLIPWAY_ASSIGN_OR_RETURN(const json* project, f.OptionalObject("project"));
  SLIPWAY_ASSIGN_OR_RETURN(const json* repo, f.OptionalObject("repository"));
  if (project == nullptr && repo == nullptr) return BadRequest("missing field 'project'");
  SLIPWAY_RETURN_IF_ERROR(CollectUrls(
      project, "project", {"git_http_url", "git_ssh_url", "http_url", "ssh_url", "web_url"}, &event.repository_urls));
  SLIPWAY_RETURN_IF_ERROR(
      CollectUrls(repo, "repository", {"git_http_url", "git_ssh_url", "url", "homepage"}, &event.repository_urls));
  bool listed;
  size_t count;
  SLIPWAY_RETURN_IF_ERROR(CollectChangedPaths(f, &event, &listed, &count));
  int64_t total;
  SLIPWAY_RETURN_IF_ERROR(f.OptionalCount("total_commits_count", &total));
  // GitLab lists at most 20 commits; total_commits_count says how many there were.
  event.changed_paths_complete =
      listed && total >= 0 && static_cast<size_t>(total) == count && !event.before.empty() && !IsZeroHash(event.before);
  if (event.kind != WebhookKind::kPush) ClearPushFields(&event);
  SLIPWAY_RETURN_IF_ERROR(RequireUrls(event));
  return event;
}

Result<WebhookEvent> ParseGeneric(std::string_view body) {
  SLIPWAY_ASSIGN_OR_RETURN(json j, ParseBody(body));
  Fields f(j, "");
  WebhookEvent event;
  SLIPWAY_RETURN_IF_ERROR(f.OptionalString("event", &event.event));
  if (event.event.empty()) event.event = "push";
  if (event.event == "ping") {
    event.kind = WebhookKind::kPing;
    return event;
  }
  if (event.event != "push") {
    return BadRequest("field 'event' must be \"push\" or \"ping\", not '" + event.event + "'");
  }
  std::string repository, branch;
  SLIPWAY_RETURN_IF_ERROR(f.String("repository", &repository));
  SLIPWAY_RETURN_IF_ERROR(f.String("branch", &branch));
  SLIPWAY_RETURN_IF_ERROR(f.OptionalString("commit", &event.commit));
  repository = std::string(Trim(repository));
  if (repository.empty()) return BadRequest("field 'repository' is empty");
  event.repository_urls.push_back(repository);
  if (!event.commit.empty() && !IsCommitHash(event.commit)) {
    return BadRequest("field 'commit' is not a full commit hash (40 or 64 hex digits)");
  }
  if (StartsWith(branch, "refs/tags/")) {
    event.kind = WebhookKind::kIgnored;
    event.ignored_reason = "tag push '" + branch + "'";
    event.commit.clear();
    return event;
  }
  if (StartsWith(branch, "refs/heads/")) branch = branch.substr(11);
  if (branch.empty() || StartsWith(branch, "refs/") || StartsWith(branch, "-")) {
    return BadRequest("field 'branch' must name a branch ('main' or 'refs/heads/main')");
  }
  event.kind = WebhookKind::kPush;
  event.branch = branch;
  return event;
}

}  // namespace

const char* WebhookProviderName(WebhookProvider provider) {
  switch (provider) {
    case WebhookProvider::kGithub:
      return "github";
    case WebhookProvider::kGitlab:
      return "gitlab";
    case WebhookProvider::kGitea:
      return "gitea";
    case WebhookProvider::kGeneric:
      return "generic";
  }
  return "unknown";
}

Result<WebhookProvider> ParseWebhookProvider(std::string_view name) {
  const WebhookProvider all[] = {WebhookProvider::kGithub, WebhookProvider::kGitlab, WebhookProvider::kGitea,
                                 WebhookProvider::kGeneric};
  std::vector<std::string> names;
  for (WebhookProvider p : all) {
    if (name == WebhookProviderName(p)) return p;
    names.emplace_back(WebhookProviderName(p));
  }
  return NotFound("unknown webhook provider '" + std::string(name) + "'" + DidYouMeanHint(name, names));
}

const char* WebhookKindName(WebhookKind kind) {
  switch (kind) {
    case WebhookKind::kPush:
      return "push";
    case WebhookKind::kPing:
      return "ping";
    case WebhookKind::kIgnored:
      return "ignored";
    case WebhookKind::kPullRequest:
      return "pull_request";
  }
  return "unknown";
}

std::string HmacSha256Hex(std::string_view secret, std::string_view body) {
  return HexEncode(HmacSha256(secret, body));
}

Result<WebhookEvent> ParseWebhook(WebhookProvider provider, const std::map<std::string, std::string>& headers,
                                  std::string_view body, std::string_view secret) {
  const char* name = WebhookProviderName(provider);
  if (secret.empty()) {
    return Unauthenticated(std::string("the ") + name + " webhook has no secret configured");
  }
  Result<WebhookEvent> event = Internal("unreachable");
  switch (provider) {
    case WebhookProvider::kGithub: {
      SLIPWAY_RETURN_IF_ERROR(CheckHmac(headers, "x-hub-signature-256", "sha256=", secret, body));
      auto kind = Header(headers, "x-github-event");
      if (!kind || kind->empty()) return BadRequest("missing header 'x-github-event'");
      event = ParseGithubLike(provider, *kind, body);
      if (event.ok()) event->delivery_id = Header(headers, "x-github-delivery").value_or("");
      break;
    }
    case WebhookProvider::kGitea: {
      const bool forgejo = !headers.count("x-gitea-signature") && headers.count("x-forgejo-signature");
      SLIPWAY_RETURN_IF_ERROR(
          CheckHmac(headers, forgejo ? "x-forgejo-signature" : "x-gitea-signature", "", secret, body));
      auto kind = Header(headers, "x-gitea-event");
      if (!kind) kind = Header(headers, "x-forgejo-event");
      if (!kind || kind->empty()) return BadRequest("missing header 'x-gitea-event'");
      event = ParseGithubLike(provider, *kind, body);
      if (event.ok()) {
        event->delivery_id =
            Header(headers, "x-gitea-delivery").value_or(Header(headers, "x-forgejo-delivery").value_or(""));
      }
      break;
    }
    case WebhookProvider::kGitlab: {
      auto token = Header(headers, "x-gitlab-token");
      if (!token) return Unauthenticated("missing token header 'x-gitlab-token'");
      if (!TokenEquals(*token, secret)) {
        return Unauthenticated("token in 'x-gitlab-token' does not match (check the webhook secret)");
      }
      auto kind = Header(headers, "x-gitlab-event");
      if (!kind || kind->empty()) return BadRequest("missing header 'x-gitlab-event'");
      event = ParseGitlab(*kind, body);
      if (event.ok()) event->delivery_id = Header(headers, "x-gitlab-event-uuid").value_or("");
      break;
    }
    case WebhookProvider::kGeneric: {
      SLIPWAY_RETURN_IF_ERROR(CheckHmac(headers, "x-slipway-signature", "sha256=", secret, body));
      event = ParseGeneric(body);
      if (event.ok()) event->delivery_id = Header(headers, "x-slipway-delivery").value_or("");
      break;
    }
  }
  return event;
}

int WebhookHttpStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kPermissionDenied:
      return 401;
    case StatusCode::kInvalidArgument:
      return 400;
    default:
      return 500;
  }
}

// ---------------------------------------------------------------------------
// Repository URLs

namespace {

std::string NormalisePath(std::string_view path, bool lower) {
  std::string p(path);
  // Collapse repeated slashes, drop leading and trailing ones and ".git".
  std::string out;
  for (char c : p) {
    if (c == '/' && (out.empty() || out.back() == '/')) continue;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (EndsWith(out, ".git")) out.resize(out.size() - 4);
  while (!out.empty() && out.back() == '/') out.pop_back();
  return lower ? ToLower(out) : out;
}

// "user:pass@host:port" -> "host" (lower-case).
std::string HostOf(std::string_view authority) {
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    return ToLower(authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1));
  }
  if (size_t colon = authority.find(':'); colon != std::string_view::npos) authority = authority.substr(0, colon);
  return ToLower(authority);
}

}  // namespace

std::string RepositoryKey(std::string_view input) {
  std::string_view url = Trim(input);
  if (url.empty()) return "";
  // codecommit::REGION://[profile@]REPO (git-remote-codecommit).
  if (StartsWith(url, "codecommit::")) {
    std::string_view rest = url.substr(12);
    size_t sep = rest.find("://");
    if (sep != std::string_view::npos) {
      std::string region = ToLower(rest.substr(0, sep));
      std::string_view repo = rest.substr(sep + 3);
      if (size_t at = repo.find('@'); at != std::string_view::npos) repo.remove_prefix(at + 1);
      return "git-codecommit." + region + ".amazonaws.com/v1/repos/" + NormalisePath(repo, true);
    }
  }
  size_t scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos) {
    std::string scheme = ToLower(url.substr(0, scheme_end));
    std::string_view rest = url.substr(scheme_end + 3);
    if (scheme == "file") return "file:/" + NormalisePath(rest, false);
    if (scheme == "http" || scheme == "https" || scheme == "ssh" || scheme == "git" || scheme == "git+ssh" ||
        scheme == "ssh+git") {
      size_t slash = rest.find('/');
      std::string host = HostOf(rest.substr(0, slash));
      std::string path = slash == std::string_view::npos ? "" : NormalisePath(rest.substr(slash), true);
      return path.empty() ? host : host + "/" + path;
    }
    return std::string(url);
  }
  if (StartsWith(url, "/")) return "file:/" + NormalisePath(url, false);
  // scp-like: [user@]host:path, where no slash comes before the colon.
  size_t colon = url.find(':');
  size_t slash = url.find('/');
  if (colon != std::string_view::npos && colon > 0 && (slash == std::string_view::npos || slash > colon)) {
    std::string host = HostOf(url.substr(0, colon));
    std::string path = NormalisePath(url.substr(colon + 1), true);
    return path.empty() ? host : host + "/" + path;
  }
  return std::string(url);
}

bool SameRepository(std::string_view a, std::string_view b) {
  std::string ka = RepositoryKey(a);
  return !ka.empty() && ka == RepositoryKey(b);
}

}  // namespace slipway
