// AWS Signature Version 4, on OpenSSL's libcrypto.
//
// The algorithm is the one of AWS's "Signature Version 4 signing process" and
// of botocore's SigV4Auth / S3SigV4Auth / SigV4QueryAuth, which the tests
// compare it with (tests/aws/botocore_sign.py):
//   canonical request = METHOD \n canonical URI \n canonical query \n
//                       canonical headers \n \n signed headers \n payload hash
//   string to sign    = "AWS4-HMAC-SHA256" \n amz-date \n scope \n hex(sha256(canonical request))
//   signing key       = HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request"
//
// Every function here is pure: the signing time is a parameter (callers pass
// their clock's NowMs()). The one piece of state is a small cache of derived
// signing keys; it is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws/credentials.h"
#include "aws/url.h"
#include "util/status.h"

namespace slipway::aws {

// Header name/value pairs in sending order; names in any case, may repeat.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// Hex SHA-256 of the empty string.
inline constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SigningRequest {
  std::string method;  // upper-cased when signing
  // "https://host[:port]/path[?query]". The path is taken as it goes on the
  // wire (percent-encoded where it needs to be). A query in the URL is
  // decoded and signed together with `query`.
  std::string url;
  QueryList query;     // decoded pairs; the signer encodes them
  HeaderList headers;  // headers that will be sent; all are signed except hop-by-hop ones
  std::string body;
};

enum class PayloadSigning {
  kSigned,    // the canonical request carries hex(sha256(body))
  kUnsigned,  // ... the literal UNSIGNED-PAYLOAD
};

struct SigningOptions {
  std::string region;   // "eu-west-1"
  std::string service;  // "sts", "ssm", "s3", ...
  int64_t time_ms = 0;  // the signing time, epoch ms
  PayloadSigning payload = PayloadSigning::kSigned;
  // Send and sign x-amz-content-sha256 (S3 wants it; others accept it).
  bool content_sha256_header = false;
  // S3's URI rules: the path is neither normalised nor encoded a second time.
  // Everything else (false) normalises the path (dot segments, repeated
  // slashes) and percent-encodes it again ("double encoding").
  bool s3_uri_rules = false;
};

struct SignedRequest {
  // The URL to send: scheme://authority/path?query, the query encoded and in
  // canonical order (plus the X-Amz-* parameters for a presigned URL).
  std::string url;
  // The headers to send: the request's own plus, as needed, Host,
  // X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-SHA256 and Authorization.
  HeaderList headers;
  // For debugging and tests; neither contains a secret.
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lower-case hex
};

// Signs with an Authorization header. Any Authorization, X-Amz-Date and
// (when credentials carry a token) X-Amz-Security-Token already in the request
// are replaced. Returns InvalidArgument for a bad URL, missing region or
// service, or empty credentials.
Result<SignedRequest> SignRequest(const SigningRequest& request, const Credentials& credentials,
                                  const SigningOptions& options);

// Signs in the query string (a presigned URL valid for expires_seconds):
// adds X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders and
// -Security-Token to the query, signs, and appends X-Amz-Signature. Only the
// request's headers (and Host) are signed; none is added. Same errors as
// SignRequest, and InvalidArgument when expires_seconds is not in 1..604800.
Result<SignedRequest> PresignRequest(const SigningRequest& request, const Credentials& credentials,
                                     const SigningOptions& options, int64_t expires_seconds);

// --- The pieces, exposed for tests and for CodeCommit's variant. ---

// "20150830T123600Z" (UTC) for an epoch-ms time.
std::string FormatAmzDate(int64_t time_ms);
// RFC 3986 "remove dot segments", also folding runs of '/' (what AWS and
// botocore do): "//a/./b/../c//" -> "/a/c/". An empty path is "/".
std::string NormalizePath(std::string_view path);
// The canonical URI of a wire path: UriEncode(NormalizePath(path), keep '/'),
// or the path unchanged under S3 rules (where empty is "/").
std::string CanonicalUri(std::string_view path, bool s3_uri_rules);
// Keys and values UriEncode'd, pairs sorted by encoded key then encoded value,
// joined "k=v&k=v"; a key without value gives "k=".
std::string CanonicalQueryString(const QueryList& query);
// Header names lower-cased and sorted; values of one name joined with ',' in
// order, each trimmed with inner whitespace runs collapsed to one space.
// Returns {canonical headers block (each line ending "\n"), signed headers}.
std::pair<std::string, std::string> CanonicalHeaders(const HeaderList& headers);
// "date/region/service/aws4_request" (date is YYYYMMDD).
std::string CredentialScope(std::string_view date, std::string_view region, std::string_view service);
std::string StringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request);

std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA256.
std::string HmacSha256(std::string_view key, std::string_view data);
// The raw signing key; served from a small cache keyed by (secret, date,
// region, service) when it was derived before. The cache keeps a hash of the
// secret, never the secret itself.
std::string DeriveSigningKey(std::string_view secret, std::string_view date, std::string_view region,
                             std::string_view service);
// For tests: how many DeriveSigningKey calls the cache has answered.
uint64_t TEST_SigningKeyCacheHits();

}  // namespace slipway::aws
