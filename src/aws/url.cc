#include "aws/url.h"

#include <charconv>

#include "util/strings.h"

namespace slipway::aws {

namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

int Url::EffectivePort() const {
  if (port != 0) return port;
  return scheme == "https" ? 443 : 80;
}

std::string Url::Authority() const {
  bool default_port = port == 0 || (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return default_port ? host : host + ":" + std::to_string(port);
}

std::string Url::Origin() const { return scheme + "://" + Authority(); }

Result<Url> ParseUrl(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid URL '" + std::string(text) + "': " + std::string(why));
  };
  Url url;
  size_t colon = text.find("://");
  if (colon == std::string_view::npos || colon == 0) return bad("expected scheme://host");
  url.scheme = ToLower(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 3);
  size_t fragment = rest.find('#');
  if (fragment != std::string_view::npos) rest = rest.substr(0, fragment);
  size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);
  std::string_view port_text;
  if (StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    url.host = ToLower(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    size_t port_colon = authority.rfind(':');
    url.host = ToLower(authority.substr(0, port_colon));
    if (port_colon != std::string_view::npos) port_text = authority.substr(port_colon + 1);
  }
  if (url.host.empty() || url.host == "[]") return bad("no host");
  if (!port_text.empty()) {
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port <= 0 || port > 65535) {
      return bad("bad port '" + std::string(port_text) + "'");
    }
    url.port = port;
  }
  size_t q = rest.find('?');
  url.path = std::string(rest.substr(0, q));
  if (url.path.empty()) url.path = "/";
  if (q != std::string_view::npos) url.query = std::string(rest.substr(q + 1));
  return url;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string UriDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

QueryList ParseQuery(std::string_view query) {
  QueryList out;
  for (const std::string& piece : Split(query, '&')) {
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    if (eq == std::string::npos) {
      out.emplace_back(UriDecode(piece), "");
    } else {
      out.emplace_back(UriDecode(std::string_view(piece).substr(0, eq)),
                       UriDecode(std::string_view(piece).substr(eq + 1)));
    }
  }
  return out;
}

std::string EncodeQuery(const QueryList& query) {
  std::string out;
  for (const auto& [key, value] : query) {
    if (!out.empty()) out.push_back('&');
    out += UriEncode(key);
    out.push_back('=');
    out += UriEncode(value);
  }
  return out;
}

}  // namespace slipway::aws
