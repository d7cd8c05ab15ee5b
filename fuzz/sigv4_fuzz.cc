// libFuzzer target: the SigV4 canonicaliser. Input lines: the URL, the
// method, then "name: value" headers (a line "?k=v" adds a query pair); the
// request is signed in header and presigned form, S3 and non-S3 rules, and
// the canonical pieces are checked for the invariants AWS relies on.
// See doc/reliability.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aws/sigv4.h"
#include "aws/url.h"

namespace aws = slipway::aws;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  aws::SigningRequest request;
  int line_no = 0;
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (line_no == 0) {
      request.url = std::string(line);
    } else if (line_no == 1) {
      request.method = std::string(line);
    } else if (!line.empty() && line[0] == '?') {
      size_t eq = line.find('=');
      request.query.emplace_back(std::string(line.substr(1, eq == std::string_view::npos ? line.npos : eq - 1)),
                                 eq == std::string_view::npos ? "" : std::string(line.substr(eq + 1)));
    } else if (line.starts_with("body:")) {
      request.body = std::string(line.substr(5));
    } else {
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      request.headers.emplace_back(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    }
    ++line_no;
  }

  // The pieces on their own.
  std::string normalized = aws::NormalizePath(request.url);
  if (normalized.empty()) __builtin_trap();
  if (request.url.starts_with("/") && normalized[0] != '/') __builtin_trap();
  if (normalized.find("//") != std::string::npos) __builtin_trap();
  (void)aws::CanonicalUri(request.url, false);
  (void)aws::CanonicalUri(request.url, true);
  (void)aws::CanonicalQueryString(request.query);
  (void)aws::CanonicalHeaders(request.headers);
  (void)aws::UriDecode(aws::UriEncode(request.url));
  if (aws::UriDecode(aws::UriEncode(request.url)) != request.url) __builtin_trap();
  (void)aws::ParseQuery(request.url);

  slipway::aws::Credentials creds;
  creds.access_key_id = "AKIDEXAMPLE";
  creds.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  creds.session_token = size % 2 ? "token" : "";
  aws::SigningOptions options;
  options.region = "eu-west-1";
  options.service = size % 3 ? "sts" : "s3";
  options.time_ms = 1440938160000;
  options.s3_uri_rules = size % 3 == 0;
  options.content_sha256_header = size % 5 == 0;
  auto signed_request = aws::SignRequest(request, creds, options);
  if (signed_request.ok()) {
    if (signed_request->signature.size() != 64) __builtin_trap();
    if (signed_request->canonical_request.find(creds.secret_access_key) != std::string::npos) __builtin_trap();
  }
  auto presigned = aws::PresignRequest(request, creds, options, 1 + static_cast<int64_t>(size % 604800));
  if (presigned.ok() && presigned->url.find("X-Amz-Signature=") == std::string::npos) __builtin_trap();
  return 0;
}
