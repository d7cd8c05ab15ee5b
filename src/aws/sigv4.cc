#include "aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <mutex>

#include "util/strings.h"

namespace slipway::aws {

namespace {

// Headers that a proxy or the HTTP library may add, drop or rewrite; signing
// them would break the signature on the way. The same list as botocore's.
constexpr std::array<std::string_view, 11> kUnsignedHeaders = {
    "connection",        "expect",  "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id"};

bool IsUnsignedHeader(std::string_view lower_name) {
  return std::find(kUnsignedHeaders.begin(), kUnsignedHeaders.end(), lower_name) != kUnsignedHeaders.end();
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// SigV4's "Trimall": strip both ends, collapse inner runs of whitespace.
std::string TrimAll(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

bool HasHeader(const HeaderList& headers, std::string_view lower_name) {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return ToLower(h.first) == lower_name; });
}

void RemoveHeader(HeaderList* headers, std::string_view lower_name) {
  std::erase_if(*headers, [&](const auto& h) { return ToLower(h.first) == lower_name; });
}

std::string FindHeader(const HeaderList& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (ToLower(name) == lower_name) return value;
  }
  return "";
}

HeaderList SignableHeaders(const HeaderList& headers) {
  HeaderList out;
  for (const auto& h : headers) {
    if (!IsUnsignedHeader(ToLower(h.first))) out.push_back(h);
  }
  return out;
}

Status CheckInputs(const Credentials& credentials, const SigningOptions& options) {
  if (options.region.empty()) return InvalidArgument("sigv4: no region to sign for");
  if (options.service.empty()) return InvalidArgument("sigv4: no service to sign for");
  if (credentials.empty()) return InvalidArgument("sigv4: no credentials to sign with");
  return Status::Ok();
}

std::string UpperMethod(std::string_view method) {
  std::string out(method);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string BuildCanonicalRequest(std::string_view method, std::string_view canonical_uri,
                                  std::string_view canonical_query, const std::string& canonical_headers,
                                  const std::string& signed_headers, std::string_view payload_hash) {
  std::string cr;
  cr.reserve(256 + canonical_headers.size() + canonical_query.size());
  cr.append(method).push_back('\n');
  cr.append(canonical_uri).push_back('\n');
  cr.append(canonical_query).push_back('\n');
  cr.append(canonical_headers).push_back('\n');
  cr.append(signed_headers).push_back('\n');
  cr.append(payload_hash);
  return cr;
}

// The derived-key cache: a handful of entries, replaced round-robin. An
// engine signs for a few (credentials, region, service) at a time and the key
// changes once a day, so this is plenty.
class SigningKeyCache {
 public:
  std::string Get(std::string_view secret, std::string_view date, std::string_view region, std::string_view service) {
    // Keep a digest of the secret as the cache key so the cache never holds
    // the secret itself.
    std::string secret_digest = Sha256Hex(secret);
    std::lock_guard<std::mutex> lock(mu_);
    for (const Entry& e : entries_) {
      if (e.secret_digest == secret_digest && e.date == date && e.region == region && e.service == service) {
        ++hits_;
        return e.key;
      }
    }
    std::string key = HmacSha256("AWS4" + std::string(secret), date);
    key = HmacSha256(key, region);
    key = HmacSha256(key, service);
    key = HmacSha256(key, "aws4_request");
    Entry& slot = entries_[next_];
    next_ = (next_ + 1) % entries_.size();
    slot = Entry{std::move(secret_digest), std::string(date), std::string(region), std::string(service), key};
    return key;
  }
  uint64_t hits() {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_;
  }

 private:
  struct Entry {
    std::string secret_digest, date, region, service, key;
  };
  std::mutex mu_;
  std::array<Entry, 16> entries_;
  size_t next_ = 0;
  uint64_t hits_ = 0;
};

SigningKeyCache& KeyCache() {
  static SigningKeyCache* cache = new SigningKeyCache();  // never destroyed: used from any thread until exit
  return *cache;
}

std::string Sign(const Credentials& credentials, const SigningOptions& options, std::string_view amz_date,
                 std::string_view string_to_sign) {
  std::string key =
      DeriveSigningKey(credentials.secret_access_key, amz_date.substr(0, 8), options.region, options.service);
  return HexEncode(HmacSha256(key, string_to_sign));
}

}  // namespace

std::string FormatAmzDate(int64_t time_ms) {
  time_t seconds = static_cast<time_t>(time_ms >= 0 ? time_ms / 1000 : (time_ms - 999) / 1000);
  struct tm tm {};
  gmtime_r(&seconds, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string NormalizePath(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(start, slash - start);
    if (segment == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!segment.empty() && segment != ".") {
      out.push_back(segment);
    }
    start = slash + 1;
  }
  std::string result;
  if (path.front() == '/') result.push_back('/');
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) result.push_back('/');
    result.append(out[i]);
  }
  if (path.back() == '/' && !out.empty()) result.push_back('/');
  return result;
}

std::string CanonicalUri(std::string_view path, bool s3_uri_rules) {
  if (s3_uri_rules) return path.empty() ? "/" : std::string(path);
  return UriEncode(NormalizePath(path), /*keep_slash=*/true);
}

std::string CanonicalQueryString(const QueryList& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [key, value] : query) encoded.emplace_back(UriEncode(key), UriEncode(value));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [key, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += key;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::pair<std::string, std::string> CanonicalHeaders(const HeaderList& headers) {
  // Stable sort by lower-case name keeps the values of one name in order.
  std::vector<std::pair<std::string, std::string>> lowered;
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) lowered.emplace_back(ToLower(Trim(name)), TrimAll(value));
  std::stable_sort(lowered.begin(), lowered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string block, signed_headers;
  for (size_t i = 0; i < lowered.size(); ++i) {
    if (i > 0 && lowered[i].first == lowered[i - 1].first) {
      block.push_back(',');
      block += lowered[i].second;
      continue;
    }
    if (i > 0) block.push_back('\n');
    block += lowered[i].first;
    block.push_back(':');
    block += lowered[i].second;
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += lowered[i].first;
  }
  if (!block.empty()) block.push_back('\n');
  return {block, signed_headers};
}

std::string CredentialScope(std::string_view date, std::string_view region, std::string_view service) {
  std::string scope(date);
  scope.push_back('/');
  scope.append(region).push_back('/');
  scope.append(service).append("/aws4_request");
  return scope;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request) {
  std::string sts = "AWS4-HMAC-SHA256\n";
  sts.append(amz_date).push_back('\n');
  sts.append(scope).push_back('\n');
  sts += Sha256Hex(canonical_request);
  return sts;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    // Only fails when libcrypto is broken or out of memory; nothing sensible to return.
    std::abort();
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), mac, &length) == nullptr) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string DeriveSigningKey(std::string_view secret, std::string_view date, std::string_view region,
                             std::string_view service) {
  return KeyCache().Get(secret, date, region, service);
}

uint64_t TEST_SigningKeyCacheHits() { return KeyCache().hits(); }

Result<SignedRequest> SignRequest(const SigningRequest& request, const Credentials& credentials,
                                  const SigningOptions& options) {
  SLIPWAY_RETURN_IF_ERROR(CheckInputs(credentials, options));
  SLIPWAY_ASSIGN_OR_RETURN(Url url, ParseUrl(request.url));
  QueryList query = ParseQuery(url.query);
  query.insert(query.end(), request.query.begin(), request.query.end());

  std::string amz_date = FormatAmzDate(options.time_ms);
  HeaderList headers = request.headers;
  RemoveHeader(&headers, "authorization");
  RemoveHeader(&headers, "x-amz-date");
  if (!HasHeader(headers, "host")) headers.insert(headers.begin(), {"Host", url.Authority()});
  headers.emplace_back("X-Amz-Date", amz_date);
  if (!credentials.session_token.empty()) {
    RemoveHeader(&headers, "x-amz-security-token");
    headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  std::string payload_hash;
  if (options.payload == PayloadSigning::kUnsigned) {
    payload_hash = kUnsignedPayload;
  } else if (!options.content_sha256_header && HasHeader(headers, "x-amz-content-sha256")) {
    // The caller computed the payload hash itself (e.g. of a streamed body).
    payload_hash = FindHeader(headers, "x-amz-content-sha256");
  } else {
    payload_hash = Sha256Hex(request.body);
  }
  if (options.content_sha256_header || options.payload == PayloadSigning::kUnsigned) {
    RemoveHeader(&headers, "x-amz-content-sha256");
    headers.emplace_back("X-Amz-Content-SHA256", payload_hash);
  }

  SignedRequest out;
  auto [canonical_headers, signed_headers] = CanonicalHeaders(SignableHeaders(headers));
  std::string canonical_query = CanonicalQueryString(query);
  out.canonical_request =
      BuildCanonicalRequest(UpperMethod(request.method), CanonicalUri(url.path, options.s3_uri_rules), canonical_query,
                            canonical_headers, signed_headers, payload_hash);
  std::string scope = CredentialScope(std::string_view(amz_date).substr(0, 8), options.region, options.service);
  out.string_to_sign = StringToSign(amz_date, scope, out.canonical_request);
  out.signature = Sign(credentials, options, amz_date, out.string_to_sign);
  headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                                            ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature);
  out.headers = std::move(headers);
  out.url = url.Origin() + url.path + (canonical_query.empty() ? "" : "?" + canonical_query);
  return out;
}

Result<SignedRequest> PresignRequest(const SigningRequest& request, const Credentials& credentials,
                                     const SigningOptions& options, int64_t expires_seconds) {
  SLIPWAY_RETURN_IF_ERROR(CheckInputs(credentials, options));
  if (expires_seconds < 1 || expires_seconds > 604800) {
    return InvalidArgument("sigv4: presigned URL lifetime " + std::to_string(expires_seconds) + "s is outside 1s..7d");
  }
  SLIPWAY_ASSIGN_OR_RETURN(Url url, ParseUrl(request.url));
  QueryList query = ParseQuery(url.query);
  query.insert(query.end(), request.query.begin(), request.query.end());

  HeaderList headers = request.headers;
  RemoveHeader(&headers, "authorization");
  if (!HasHeader(headers, "host")) headers.insert(headers.begin(), {"Host", url.Authority()});
  auto [canonical_headers, signed_headers] = CanonicalHeaders(SignableHeaders(headers));

  std::string amz_date = FormatAmzDate(options.time_ms);
  std::string scope = CredentialScope(std::string_view(amz_date).substr(0, 8), options.region, options.service);
  query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  query.emplace_back("X-Amz-Credential", credentials.access_key_id + "/" + scope);
  query.emplace_back("X-Amz-Date", amz_date);
  query.emplace_back("X-Amz-Expires", std::to_string(expires_seconds));
  query.emplace_back("X-Amz-SignedHeaders", signed_headers);
  if (!credentials.session_token.empty()) query.emplace_back("X-Amz-Security-Token", credentials.session_token);

  std::string payload_hash =
      options.payload == PayloadSigning::kUnsigned ? std::string(kUnsignedPayload) : Sha256Hex(request.body);
  SignedRequest out;
  std::string canonical_query = CanonicalQueryString(query);
  out.canonical_request =
      BuildCanonicalRequest(UpperMethod(request.method), CanonicalUri(url.path, options.s3_uri_rules), canonical_query,
                            canonical_headers, signed_headers, payload_hash);
  out.string_to_sign = StringToSign(amz_date, scope, out.canonical_request);
  out.signature = Sign(credentials, options, amz_date, out.string_to_sign);
  out.headers = std::move(headers);
  out.url = url.Origin() + url.path + "?" + canonical_query + "&X-Amz-Signature=" + out.signature;
  return out;
}

}  // namespace slipway::aws
