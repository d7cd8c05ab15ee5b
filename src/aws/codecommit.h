// AWS CodeCommit over HTTPS: the git-remote-codecommit URL forms and the
// password of `aws codecommit credential-helper`, computed from credentials
// (normally the settings role's) with our own SigV4 code.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "aws/credentials.h"
#include "util/status.h"

namespace slipway::aws {

struct CodeCommitUrl {
  std::string region;   // "" when the URL names none (codecommit://REPO): use the default region
  std::string profile;  // "" when the URL names none
  std::string repository;

  // https://git-codecommit.REGION.amazonaws.com/v1/repos/REPO (".com.cn" in
  // China regions). Requires a region.
  std::string HttpsUrl() const;
};

// True for "codecommit:" URLs (the git-remote-codecommit forms).
bool IsCodeCommitUrl(std::string_view url);

// Parses codecommit::REGION://REPO, codecommit::REGION://PROFILE@REPO,
// codecommit://REPO and codecommit://PROFILE@REPO. Returns InvalidArgument
// quoting the URL for anything else, including repository names outside
// CodeCommit's [A-Za-z0-9._-]{1,100}.
Result<CodeCommitUrl> ParseCodeCommitUrl(std::string_view url);

struct GitCredential {
  std::string username;  // access key id, plus "%" + session token when there is one
  std::string password;  // "YYYYMMDDTHHMMSSZ" + hex signature; valid for a few minutes
};

// What `aws codecommit credential-helper get` answers for host and path:
// canonical request "GIT\n/PATH\n\nhost:HOST\n\nhost\n" (HOST without a port;
// PATH as git sends it, "v1/repos/REPO"),
// signed for service "codecommit" in the region taken from the host
// (git-codecommit[-fips].REGION[.vpce].amazonaws.com) or else
// `default_region`. Returns InvalidArgument when neither gives a region.
Result<GitCredential> CodeCommitGitCredential(const Credentials& credentials, std::string_view host,
                                              std::string_view path, std::string_view default_region, int64_t time_ms);

// Answers one `git credential` "get" request (key=value lines: protocol,
// host, path) the way the AWS CLI's helper does: "username=...\npassword=...\n"
// for https hosts under amazonaws.com / amazon.com, "" for any other host
// (git then tries its next helper). InvalidArgument for input without host,
// or without path: git must run with credential.useHttpPath=true.
// The answer holds secrets (session token, password): see SecretStrings.
Result<std::string> AnswerGitCredentialRequest(std::string_view input, const Credentials& credentials,
                                               std::string_view default_region, int64_t time_ms);

}  // namespace slipway::aws
