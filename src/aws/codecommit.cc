#include "aws/codecommit.h"

#include <map>

#include "aws/sigv4.h"
#include "util/strings.h"

namespace slipway::aws {

namespace {

bool IsRepoChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool IsRegionName(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

// The region in git-codecommit[-fips].REGION[.vpce].amazonaws.com, optionally
// behind a "vpce-....": the AWS CLI's pattern.
std::string RegionFromHost(std::string_view host) {
  std::string h = ToLower(host);
  size_t start = 0;
  if (StartsWith(h, "vpce-")) {
    start = h.find(".git-codecommit");
    if (start == std::string::npos) return std::string();
    ++start;
  }
  std::string_view rest = std::string_view(h).substr(start);
  if (StartsWith(rest, "git-codecommit-fips.")) {
    rest.remove_prefix(20);
  } else if (StartsWith(rest, "git-codecommit.")) {
    rest.remove_prefix(15);
  } else {
    return "";
  }
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  std::string region(rest.substr(0, dot));
  std::string_view tail = rest.substr(dot + 1);
  if (StartsWith(tail, "vpce.")) tail.remove_prefix(5);
  if (!StartsWith(tail, "amazonaws.com")) return "";
  return region;
}

}  // namespace

std::string CodeCommitUrl::HttpsUrl() const {
  std::string domain = StartsWith(region, "cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return "https://git-codecommit." + region + "." + domain + "/v1/repos/" + repository;
}

bool IsCodeCommitUrl(std::string_view url) { return StartsWith(url, "codecommit:"); }

Result<CodeCommitUrl> ParseCodeCommitUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid CodeCommit URL '" + std::string(url) + "': " + std::string(why) +
                           " (expected codecommit::REGION://[PROFILE@]REPO)");
  };
  if (!IsCodeCommitUrl(url)) return bad("not a codecommit: URL");
  std::string_view rest = url.substr(11);
  CodeCommitUrl out;
  if (StartsWith(rest, ":")) {
    rest.remove_prefix(1);
    size_t sep = rest.find("://");
    if (sep == std::string_view::npos) return bad("no '://'");
    out.region = std::string(rest.substr(0, sep));
    if (!IsRegionName(out.region)) return bad("bad region '" + out.region + "'");
    rest = rest.substr(sep + 3);
  } else if (StartsWith(rest, "//")) {
    rest.remove_prefix(2);
  } else {
    return bad("no '://'");
  }
  size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    out.profile = std::string(rest.substr(0, at));
    if (out.profile.empty()) return bad("empty profile");
    rest = rest.substr(at + 1);
  }
  out.repository = std::string(rest);
  if (out.repository.empty() || out.repository.size() > 100) return bad("bad repository name");
  for (char c : out.repository) {
    if (!IsRepoChar(c)) return bad("bad repository name '" + out.repository + "'");
  }
  return out;
}

Result<GitCredential> CodeCommitGitCredential(const Credentials& credentials, std::string_view host,
                                              std::string_view path, std::string_view default_region, int64_t time_ms) {
  if (credentials.empty()) return InvalidArgument("codecommit: no credentials to sign with");
  std::string region = RegionFromHost(host);
  if (region.empty()) region = std::string(default_region);
  if (region.empty()) {
    return InvalidArgument("codecommit: no region for host '" + std::string(host) + "' (set AWS_REGION)");
  }
  // The CLI signs the host without its port, and "/" + the path as git gave
  // it (git sends "v1/repos/x"; a leading slash would be doubled, as in the CLI).
  std::string hostname(host.substr(0, host.find(':')));
  std::string canonical_path = "/" + std::string(path);
  std::string canonical_request = "GIT\n" + canonical_path + "\n\nhost:" + hostname + "\n\nhost\n";
  // CodeCommit's variant: the time in the string to sign has no trailing 'Z'.
  std::string amz_date = FormatAmzDate(time_ms);
  amz_date.pop_back();
  std::string date = amz_date.substr(0, 8);
  std::string scope = CredentialScope(date, region, "codecommit");
  std::string string_to_sign = StringToSign(amz_date, scope, canonical_request);
  std::string key = DeriveSigningKey(credentials.secret_access_key, date, region, "codecommit");
  GitCredential out;
  out.username = credentials.access_key_id;
  if (!credentials.session_token.empty()) out.username += "%" + credentials.session_token;
  out.password = amz_date + "Z" + HexEncode(HmacSha256(key, string_to_sign));
  return out;
}

Result<std::string> AnswerGitCredentialRequest(std::string_view input, const Credentials& credentials,
                                               std::string_view default_region, int64_t time_ms) {
  std::map<std::string, std::string> fields;
  for (const std::string& raw : Split(input, '\n')) {
    std::string_view line = Trim(raw);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    fields[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  const std::string& host = fields["host"];
  if (host.empty()) return InvalidArgument("git credential request without host");
  if (host.find("amazonaws.com") == std::string::npos && host.find("amazon.com") == std::string::npos)
    return std::string();
  // Unlike the CLI, never hand a password to a plain-http remote.
  if (fields["protocol"] != "https") return std::string();
  // The password signs the path; git sends it only with credential.useHttpPath.
  if (fields["path"].empty()) {
    return InvalidArgument("git credential request for '" + host +
                           "' without path: run git with -c credential.useHttpPath=true");
  }
  SLIPWAY_ASSIGN_OR_RETURN(GitCredential credential,
                           CodeCommitGitCredential(credentials, host, fields["path"], default_region, time_ms));
  return "username=" + credential.username + "\npassword=" + credential.password + "\n";
}

}  // namespace slipway::aws
