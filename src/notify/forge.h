// Commit statuses and pull-request comments on GitHub, GitLab and Gitea, for
// preview runs (issue 8; doc/previews.md). One HTTP call each, through
// libcurl, with the forge's token from token_file / token_env (never logged).
#pragma once

#include <cstdint>
#include <string>

#include "config/trust_config.h"
#include "util/status.h"

namespace slipway {

// What a preview run remembers of its pull request (RunRecord::context_json).
struct PreviewContext {
  std::string forge;  // "github", "gitlab", "gitea"
  std::string repo;   // "owner/name", or GitLab's project id
  int64_t number = 0;
  std::string head;  // the commit previewed
  std::string head_branch;
  std::string base_branch;
  std::string title;
  // A fork's request: the base repository's ref its head was fetched from
  // ("refs/pull/12/head"), so a run on any node can fetch it too; "" otherwise.
  std::string fetch_ref;
};
std::string EncodePreviewContext(const PreviewContext& c);
// kInvalidArgument when `json` is not a preview context.
Result<PreviewContext> ParsePreviewContext(const std::string& json);

// state: "pending", "success", "failure" or "error" (GitLab's "failed" and
// "canceled" are mapped). `context` names the check ("slipway/prod").
// Errors: kNetwork (unreachable, or HTTP 429 / 5xx: worth another attempt,
// see IsRetryable in notify/notify.h), kFailed ("HTTP 401 from https://..."),
// the token's file or variable missing. One attempt: the daemon queues these
// on its Notifier, which retries.
Status PostCommitStatus(const ForgeConfig& forge, const PreviewContext& pr, const std::string& state,
                        const std::string& target_url, const std::string& description, const std::string& context,
                        int64_t timeout_ms);
// A comment on the pull (merge) request.
Status PostPullRequestComment(const ForgeConfig& forge, const PreviewContext& pr, const std::string& body,
                              int64_t timeout_ms);

}  // namespace slipway
