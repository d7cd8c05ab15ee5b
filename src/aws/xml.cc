#include "aws/xml.h"

#include <cstdint>

#include "util/strings.h"

namespace slipway::aws {

namespace {

constexpr int kMaxDepth = 64;

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view doc) : doc_(doc) {}

  Result<XmlElement> Document() {
    SLIPWAY_RETURN_IF_ERROR(SkipMisc());
    if (pos_ >= doc_.size() || doc_[pos_] != '<') return Error("expected a root element");
    XmlElement root;
    SLIPWAY_RETURN_IF_ERROR(Element(&root, 0));
    SLIPWAY_RETURN_IF_ERROR(SkipMisc());
    if (pos_ != doc_.size()) return Error("junk after the root element");
    return root;
  }

 private:
  Status Error(std::string_view what) const {
    return InvalidArgument("xml: " + std::string(what) + " at offset " + std::to_string(pos_));
  }

  bool Consume(std::string_view s) {
    if (doc_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }

  Status SkipUntil(std::string_view end) {
    size_t found = doc_.find(end, pos_);
    if (found == std::string_view::npos) return Error("unterminated construct");
    pos_ = found + end.size();
    return Status::Ok();
  }

  // Whitespace, comments and processing instructions between elements.
  Status SkipMisc() {
    for (;;) {
      while (pos_ < doc_.size() && std::isspace(static_cast<unsigned char>(doc_[pos_]))) ++pos_;
      if (Consume("<?")) {
        SLIPWAY_RETURN_IF_ERROR(SkipUntil("?>"));
      } else if (Consume("<!--")) {
        SLIPWAY_RETURN_IF_ERROR(SkipUntil("-->"));
      } else if (doc_.substr(pos_, 9) == "<!DOCTYPE") {
        return Error("DOCTYPE is not accepted");
      } else {
        return Status::Ok();
      }
    }
  }

  std::string_view Name() {
    size_t start = pos_;
    while (pos_ < doc_.size()) {
      char c = doc_[pos_];
      if (std::isspace(static_cast<unsigned char>(c)) || c == '>' || c == '/' || c == '=') break;
      ++pos_;
    }
    return doc_.substr(start, pos_ - start);
  }

  static std::string LocalName(std::string_view name) {
    size_t colon = name.find(':');
    return std::string(colon == std::string_view::npos ? name : name.substr(colon + 1));
  }

  Status Entity(std::string* out) {
    size_t semi = doc_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) return Error("bad entity");
    std::string_view name = doc_.substr(pos_ + 1, semi - pos_ - 1);
    if (name == "amp") {
      out->push_back('&');
    } else if (name == "lt") {
      out->push_back('<');
    } else if (name == "gt") {
      out->push_back('>');
    } else if (name == "quot") {
      out->push_back('"');
    } else if (name == "apos") {
      out->push_back('\'');
    } else if (StartsWith(name, "#")) {
      bool hex = StartsWith(name, "#x") || StartsWith(name, "#X");
      std::string_view digits = name.substr(hex ? 2 : 1);
      if (digits.empty()) return Error("bad character reference");
      uint32_t cp = 0;
      for (char c : digits) {
        int v = (c >= '0' && c <= '9')          ? c - '0'
                : hex && (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : hex && (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                : -1;
        if (v < 0 || cp > 0x10FFFF) return Error("bad character reference");
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
      }
      if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return Error("bad character reference");
      AppendUtf8(cp, out);
    } else {
      return Error("unknown entity '&" + std::string(name) + ";'");
    }
    pos_ = semi + 1;
    return Status::Ok();
  }

  Status Element(XmlElement* element, int depth) {
    if (depth >= kMaxDepth) return Error("elements nested too deeply");
    ++pos_;  // '<'
    std::string_view name = Name();
    if (name.empty()) return Error("element without a name");
    element->name = LocalName(name);
    // Attributes: skipped, but quoted values may contain '>' or '/'.
    for (;;) {
      while (pos_ < doc_.size() && std::isspace(static_cast<unsigned char>(doc_[pos_]))) ++pos_;
      if (pos_ >= doc_.size()) return Error("unterminated start tag");
      if (Consume("/>")) return Status::Ok();
      if (Consume(">")) break;
      if (Name().empty()) return Error("bad attribute");
      if (!Consume("=")) return Error("attribute without a value");
      if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) return Error("unquoted attribute");
      char quote = doc_[pos_++];
      size_t end = doc_.find(quote, pos_);
      if (end == std::string_view::npos) return Error("unterminated attribute value");
      pos_ = end + 1;
    }
    for (;;) {
      if (pos_ >= doc_.size()) return Error("unterminated element '" + element->name + "'");
      char c = doc_[pos_];
      if (c == '&') {
        SLIPWAY_RETURN_IF_ERROR(Entity(&element->text));
      } else if (c != '<') {
        element->text.push_back(c);
        ++pos_;
      } else if (Consume("<![CDATA[")) {
        size_t end = doc_.find("]]>", pos_);
        if (end == std::string_view::npos) return Error("unterminated CDATA");
        element->text.append(doc_.substr(pos_, end - pos_));
        pos_ = end + 3;
      } else if (Consume("<!--")) {
        SLIPWAY_RETURN_IF_ERROR(SkipUntil("-->"));
      } else if (Consume("<?")) {
        SLIPWAY_RETURN_IF_ERROR(SkipUntil("?>"));
      } else if (Consume("</")) {
        std::string_view end_name = Name();
        while (pos_ < doc_.size() && std::isspace(static_cast<unsigned char>(doc_[pos_]))) ++pos_;
        if (end_name != name) return Error("'</" + std::string(end_name) + ">' closes '<" + std::string(name) + ">'");
        if (!Consume(">")) return Error("unterminated end tag");
        return Status::Ok();
      } else {
        element->children.emplace_back();
        SLIPWAY_RETURN_IF_ERROR(Element(&element->children.back(), depth + 1));
      }
    }
  }

  std::string_view doc_;
  size_t pos_ = 0;
};

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

const XmlElement* XmlElement::Find(std::initializer_list<std::string_view> path) const {
  const XmlElement* e = this;
  for (std::string_view step : path) {
    e = e->Child(step);
    if (e == nullptr) return nullptr;
  }
  return e;
}

std::string XmlElement::TextAt(std::initializer_list<std::string_view> path) const {
  const XmlElement* e = Find(path);
  return e == nullptr ? "" : e->text;
}

Result<XmlElement> ParseXml(std::string_view document) { return Parser(document).Document(); }

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace slipway::aws
