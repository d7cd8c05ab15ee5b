// A small, strict-enough XML reader for the few AWS query-API answers Slipway
// reads (STS). It builds a tree of elements with their text; it skips the
// prolog, comments, processing instructions and attributes, understands
// CDATA and the five named entities plus numeric character references, and
// drops namespace prefixes. No DTDs, no external entities: nothing is ever
// fetched or expanded beyond those.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace slipway::aws {

struct XmlElement {
  std::string name;  // local name, without a namespace prefix
  std::string text;  // the element's own character data, entities decoded
  std::vector<XmlElement> children;

  // The first child with this name, or nullptr.
  const XmlElement* Child(std::string_view child_name) const;
  // Follows a path of child names ("Error", "Code"); nullptr when a step is missing.
  const XmlElement* Find(std::initializer_list<std::string_view> path) const;
  // The text at a path, or "" when the path is missing.
  std::string TextAt(std::initializer_list<std::string_view> path) const;
};

// Parses a document into its root element. Returns InvalidArgument
// ("xml: ... at offset N") for malformed input or nesting deeper than 64.
Result<XmlElement> ParseXml(std::string_view document);

// Escapes & < > " ' for use in XML text or attribute values.
std::string XmlEscape(std::string_view text);

}  // namespace slipway::aws
