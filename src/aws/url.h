// URLs as the AWS layer needs them: split into parts, percent-encoded and
// decoded by the RFC 3986 rules that SigV4 uses.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace slipway::aws {

// Decoded key/value pairs of a query string, in order; keys may repeat.
using QueryList = std::vector<std::pair<std::string, std::string>>;

struct Url {
  std::string scheme;  // lower-case: "https", "http"
  std::string host;    // lower-case; an IPv6 address keeps its brackets: "[::1]"
  int port = 0;        // 0 when the URL names none
  std::string path;    // as written (still percent-encoded); "/" when empty
  std::string query;   // as written, without '?'; "" when none

  // The port to connect to: port, or 443 / 80 for https / http.
  int EffectivePort() const;
  // "host" or "host:port" when the port is not the scheme's default; what
  // goes into a Host header.
  std::string Authority() const;
  // scheme://authority
  std::string Origin() const;
};

// Parses "scheme://[userinfo@]host[:port][/path][?query][#fragment]". The
// userinfo and fragment are dropped. Returns InvalidArgument naming the URL
// when it has no scheme or host, or a bad port.
Result<Url> ParseUrl(std::string_view text);

// Percent-encodes every byte except the RFC 3986 unreserved characters
// (A-Z a-z 0-9 - . _ ~) and, when keep_slash, '/'. Upper-case hex.
std::string UriEncode(std::string_view s, bool keep_slash = false);
// Decodes %XX escapes; a malformed escape is kept as it is. '+' stays '+'.
std::string UriDecode(std::string_view s);

// Splits "a=1&b&c=" into decoded pairs ({"a","1"}, {"b",""}, {"c",""}).
// Empty pieces ("a=1&&b=2") are skipped.
QueryList ParseQuery(std::string_view query);
// "k=v&k2=v2" with keys and values UriEncode'd, in the given order.
std::string EncodeQuery(const QueryList& query);

}  // namespace slipway::aws
