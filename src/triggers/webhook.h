// Webhook verification and parsing for the push trigger (DESIGN.md §6,
// doc/triggers.md). Pure functions: no HTTP, no clock, no I/O. The server
// (src/server/) reads the request, looks up the hook's secret, enforces the
// body size limit (413), calls ParseWebhook, answers with WebhookHttpStatus,
// drops duplicate delivery ids, and hands a kPush event to the daemon.
//
// All functions are thread-safe (no shared state).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace slipway {

enum class WebhookProvider { kGithub, kGitlab, kGitea, kGeneric };

// "github", "gitlab", "gitea", "generic" — the last segment of /hooks/NAME and
// the key of server.webhooks in slipway.yaml.
const char* WebhookProviderName(WebhookProvider provider);
// The inverse; NotFound "unknown webhook provider 'x', did you mean 'y'?"
// (the server answers 404).
Result<WebhookProvider> ParseWebhookProvider(std::string_view name);

enum class WebhookKind {
  kPush,     // a commit on a branch: consider every environment watching it
  kPing,     // GitHub's "ping" (or generic {"event":"ping"}): answer 200, start nothing
  kIgnored,  // authentic but not for us (tag push, branch deletion, other event): 200/202, start nothing
  // A pull (merge) request opened, updated with new commits or reopened
  // (issue 8; doc/previews.md): preview the environments whose folder it touches.
  kPullRequest,
};
const char* WebhookKindName(WebhookKind kind);  // "push", "ping", "ignored", "pull_request"

// kPullRequest's details.
struct PullRequestInfo {
  int64_t number = 0;       // GitHub/Gitea number, GitLab iid
  std::string action;       // as sent: "opened", "synchronize", "reopened", "open", "update", ...
  std::string head_commit;  // 40 hex
  std::string head_branch;  // source branch
  std::string base_branch;  // target branch (compared with settings.branch)
  std::string base_commit;  // "" when the payload has none (GitLab)
  std::string repo;         // "owner/name" (GitHub, Gitea); GitLab: the numeric project id
  std::string title;
  // The payload says the head lives in another repository (GitHub/Gitea
  // head.repo != base.repo, GitLab source_project_id != target_project_id).
  // Payloads that do not say leave it false; the daemon also treats a head
  // found only under the request's ref as a fork's (doc/previews.md).
  bool from_fork = false;
};

struct WebhookEvent {
  WebhookKind kind = WebhookKind::kIgnored;
  std::string event;           // the provider's event name as sent ("push", "Push Hook", "ping")
  std::string ignored_reason;  // kIgnored only, e.g. "tag push 'refs/tags/v1.2'", "event 'issues'"
  std::string delivery_id;     // provider's delivery id; "" when the request has none

  // Every repository URL the payload gives (clone_url, ssh_url, git_url,
  // html_url, GitLab's git_http_url/git_ssh_url/web_url, …), de-duplicated,
  // in payload order. Match them against settings URLs with SameRepository.
  // May be empty for kPing/kIgnored.
  std::vector<std::string> repository_urls;
  std::string branch;  // kPush: "main" (from "refs/heads/main")
  std::string before;  // kPush: previous head as the payload gives it ("" when absent)
  std::string commit;  // kPush: the new head ("after"); 40 (or 64) hex; "" only for generic hooks that omit it
                       // (then the daemon resolves the branch head itself)

  // A hint only: paths added, modified or removed by the pushed commits
  // (commits[].added/modified/removed), sorted, de-duplicated. When
  // changed_paths_complete is false the list may be partial (providers cap the
  // commits they list) or absent; the daemon must then ask git. Even when
  // complete, a forced push can change paths no listed commit names, so the
  // daemon treats the list as "at least these changed".
  std::vector<std::string> changed_paths;
  bool changed_paths_complete = false;

  PullRequestInfo pull_request;  // kPullRequest only
};

// Verifies and parses one delivery.
//   headers: request headers with lower-cased names ("x-hub-signature-256").
//   body:    the raw request body, exactly as received (the signature covers it).
//   secret:  the hook's secret (from secret_file / secret_env). An empty
//            secret authenticates nothing: every call is refused.
// The signature is checked before the body is parsed, in constant time
// (CRYPTO_memcmp). Per provider:
//   github:  x-hub-signature-256 "sha256=HEX" = HMAC-SHA256(secret, body);
//            x-github-event "push" | "ping" | "pull_request" (opened,
//            synchronize, reopened; other actions and events ignored);
//            x-github-delivery.
//   gitlab:  x-gitlab-token == secret; x-gitlab-event "Push Hook" |
//            "Merge Request Hook" (open, reopen, update with new commits)
//            (others, incl. "Tag Push Hook", ignored); x-gitlab-event-uuid.
//   gitea:   x-gitea-signature (or x-forgejo-signature) HEX HMAC-SHA256;
//            x-gitea-event (or x-forgejo-event) "push" | "pull_request"
//            (opened, synchronized, reopened); x-gitea-delivery
//            (or x-forgejo-delivery).
//   generic: x-slipway-signature "sha256=HEX" HMAC-SHA256; body JSON
//            {"repository": URL, "branch": "main" | "refs/heads/main",
//             "commit": HEX (optional), "event": "push" | "ping" (optional)};
//            x-slipway-delivery (optional).
// Errors (the Status code is the contract; messages are one lower-case
// sentence safe to return to the caller — they never contain the secret or
// the expected signature):
//   kPermissionDenied: missing, malformed or wrong signature/token, or empty
//                      secret → 401, nothing started.
//   kInvalidArgument:  authentic but not parseable: not JSON, nested deeper
//                      than 64 levels, missing fields, wrong types → 400.
// Never throws.
Result<WebhookEvent> ParseWebhook(WebhookProvider provider, const std::map<std::string, std::string>& headers,
                                  std::string_view body, std::string_view secret);

// The HTTP status for a ParseWebhook outcome: 200 for OK, 401 for
// kPermissionDenied, 400 for kInvalidArgument, 500 otherwise.
int WebhookHttpStatus(const Status& status);

// HMAC-SHA256(secret, body) as lower-case hex. For tests and for clients
// (`curl` examples in doc/triggers.md compute the same with openssl).
std::string HmacSha256Hex(std::string_view secret, std::string_view body);

// A canonical key for a repository URL, so that the forms a provider and a
// user write for one repository compare equal:
//   https://Host/org/repo(.git)(/)   http://…   ssh://git@host(:port)/org/repo(.git)
//   git@host:org/repo.git            git://host/org/repo
//   codecommit::REGION://[profile@]REPO  (= git-codecommit.REGION.amazonaws.com/v1/repos/REPO)
// all become "host/org/repo": user, password and port dropped, host and path
// lower-cased (GitHub, GitLab and Gitea treat owner/repo case-insensitively),
// ".git" and trailing slashes removed. Local paths and file:// URLs become
// "file:/abs/path" (case kept, ".git" and trailing slashes removed). Anything
// else is returned trimmed, unchanged.
std::string RepositoryKey(std::string_view url);
// RepositoryKey(a) == RepositoryKey(b), and neither is empty.
bool SameRepository(std::string_view a, std::string_view b);

}  // namespace slipway
