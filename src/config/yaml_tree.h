// A small, guarded YAML reader shared by slipway.yaml (config.cc) and
// deploy.yaml (pin.cc). Internal to src/config: other modules use config.h
// and pin.h.
//
// yaml-cpp is used only as an event parser (in yaml_tree.cc); the document is
// built into a plain tree of YamlNode that keeps the 1-based line and column
// of every node, so that every error can be reported as
// "FILE:LINE:COLUMN: message". yaml-cpp stays out of this header on purpose.
//
// Why not YAML::Load: yaml-cpp shares aliased nodes, so a small file in the
// "billion laughs" shape is cheap to load but exponential to walk. Building
// the tree ourselves lets us count every node an alias expands to, and refuse
// the document as soon as it grows past the limits, before any of it is
// walked or copied.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace slipway {

struct YamlEntry;

struct YamlNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };

  Kind kind = Kind::kNull;
  std::string scalar;              // kScalar: the text, quotes removed
  std::vector<YamlNode> items;     // kSequence
  std::vector<YamlEntry> entries;  // kMap, in file order, duplicates kept
  int line = 1;                    // 1-based
  int column = 1;                  // 1-based

  bool IsNull() const { return kind == Kind::kNull; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsSequence() const { return kind == Kind::kSequence; }
  bool IsMap() const { return kind == Kind::kMap; }
  // "a string", "a list", "a mapping", "nothing": for "got ..." in messages.
  const char* KindName() const;
};

struct YamlEntry {
  YamlNode key;
  YamlNode value;
};

struct YamlLimits {
  size_t max_bytes = 1 << 20;           // size of the text, checked before parsing
  int max_depth = 64;                   // nested lists and mappings, aliases expanded
  size_t max_nodes = 100'000;           // nodes after alias expansion
  size_t max_scalar_bytes = 16u << 20;  // scalar text after alias expansion
};

// Parses `text`, which must hold at most one YAML document; an empty text
// gives a kNull root. On error returns InvalidArgument with one message
// "WHERE:LINE:COLUMN: ..." (a syntax error, the size limit at 1:1, too deep a
// nesting, too large an alias expansion, an alias used inside its own anchor,
// or a second document). Never throws.
Result<YamlNode> ParseYamlDocument(const std::string& text, const std::string& where, const YamlLimits& limits = {});

// Collects problems; reports them all at once, sorted by position.
class Diagnostics {
 public:
  explicit Diagnostics(std::string where) : where_(std::move(where)) {}

  void Add(int line, int column, std::string message);
  void Add(const YamlNode& at, std::string message) { Add(at.line, at.column, std::move(message)); }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  const std::string& where() const { return where_; }
  // InvalidArgument holding every problem "WHERE:LINE:COLUMN: message", one
  // per line, in file order. Must not be called when empty().
  Status ToStatus() const;

 private:
  struct Entry {
    int line;
    int column;
    std::string message;
  };
  std::string where_;
  std::vector<Entry> entries_;
};

// One key/value pair of a mapping. `at()` is where to point for a problem
// with the value: the value itself, or its key when the value is empty.
struct YamlField {
  const std::string& name;
  const YamlNode& key;
  const YamlNode& value;
  const YamlNode& at() const { return value.IsNull() ? key : value; }
};

// Calls `visit` for every entry of `map` (which must be a kMap) whose key is
// one of `known`, in file order. Reports, and does not visit: keys that are
// not plain strings, duplicate keys ("duplicate key 'x', first given at 3:5")
// and unknown keys ("unknown key 'x' CONTEXT, did you mean 'y'?").
// `context` reads like "in environment 'prod'" or "at the top level".
void VisitMap(const YamlNode& map, const std::vector<std::string>& known, const std::string& context, Diagnostics* diag,
              const std::function<void(const YamlField&)>& visit);

// Type checks that report "expected a mapping for 'NAME'" (a list, a string)
// and return false when the value has another kind.
bool ExpectMap(const YamlField& f, Diagnostics* diag);
bool ExpectList(const YamlField& f, Diagnostics* diag);
// The scalar's text ("NO" stays "NO", 0755 stays "0755"); reports "expected a
// string for 'NAME'" and returns false for anything else, including an empty
// value.
bool ReadString(const YamlField& f, Diagnostics* diag, std::string* out);

// [A-Za-z_][A-Za-z0-9_]*: a name a POSIX shell can export.
bool IsShellIdentifier(std::string_view name);

// Reads a mapping of environment variables: names must be shell identifiers,
// values strings (numbers and booleans are taken as written). Reports
// problems; returns the valid pairs.
void ReadVariables(const YamlField& f, Diagnostics* diag, std::vector<std::pair<std::string, std::string>>* out);

}  // namespace slipway
