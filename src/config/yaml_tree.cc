#include "config/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <sstream>

#include "util/strings.h"

namespace slipway {

const char* YamlNode::KindName() const {
  switch (kind) {
    case Kind::kNull:
      return "nothing";
    case Kind::kScalar:
      return "a string";
    case Kind::kSequence:
      return "a list";
    case Kind::kMap:
      return "a mapping";
  }
  return "?";
}

namespace {

// Thrown by the handler to stop the parser; caught in ParseYamlDocument, so
// it never leaves this file.
struct TreeError {
  int line;
  int column;
  std::string message;
};

// Builds the YamlNode tree from yaml-cpp's events, expanding aliases by copy
// while keeping count of what they cost.
class TreeBuilder : public YAML::EventHandler {
 public:
  explicit TreeBuilder(const YamlLimits& limits) : limits_(limits) {}

  std::optional<YamlNode>& root() { return root_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      throw TreeError{mark.line + 1, mark.column + 1,
                      "a second YAML document ('---') is not allowed; the file must hold one document"};
    }
  }
  void OnDocumentEnd() override {}

  void OnAnchor(const YAML::Mark& /*mark*/, const std::string& name) override { pending_anchor_name_ = name; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YamlNode n = Leaf(mark);
    Count(mark, 1, 0);
    Finish(std::move(n), anchor, 1, 0, 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YamlNode n = Leaf(mark);
    // yaml-cpp reports a plain `~` or `null` as a scalar in some cases; a
    // quoted "null" has the tag "!" and stays a string.
    if (tag == "?" && (value == "~" || value == "null" || value == "Null" || value == "NULL")) {
      Count(mark, 1, 0);
      Finish(std::move(n), anchor, 1, 0, 0);
      return;
    }
    n.kind = YamlNode::Kind::kScalar;
    n.scalar = value;
    Count(mark, 1, value.size());
    Finish(std::move(n), anchor, 1, value.size(), 0);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end() || !it->second.complete) {
      std::string name = it == anchors_.end() ? std::string("?") : it->second.name;
      throw TreeError{mark.line + 1, mark.column + 1,
                      "alias '*" + name + "' is used inside its own anchor '&" + name + "'"};
    }
    const Anchored& a = it->second;
    if (static_cast<int>(stack_.size()) + a.height > limits_.max_depth) {
      throw TreeError{
          mark.line + 1, mark.column + 1,
          "alias '*" + a.name + "' nests the document deeper than " + std::to_string(limits_.max_depth) + " levels"};
    }
    if (nodes_ + a.nodes > limits_.max_nodes || scalar_bytes_ + a.bytes > limits_.max_scalar_bytes) {
      throw TreeError{mark.line + 1, mark.column + 1,
                      "alias '*" + a.name + "' expands the document beyond " + std::to_string(limits_.max_nodes) +
                          " nodes or " + std::to_string(limits_.max_scalar_bytes >> 20) +
                          " MiB of text (a YAML bomb?); write the values out instead"};
    }
    nodes_ += a.nodes;
    scalar_bytes_ += a.bytes;
    Finish(YamlNode(a.node), YAML::NullAnchor, a.nodes, a.bytes, a.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(mark, anchor, YamlNode::Kind::kSequence);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(mark, anchor, YamlNode::Kind::kMap);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    YamlNode node;
    YAML::anchor_t anchor;
    size_t start_nodes;
    size_t start_bytes;
    int max_child_height = 0;
    std::optional<YamlNode> pending_key;
  };
  struct Anchored {
    std::string name;
    bool complete = false;
    YamlNode node;
    size_t nodes = 0;
    size_t bytes = 0;
    int height = 0;
  };

  static YamlNode Leaf(const YAML::Mark& mark) {
    YamlNode n;
    n.line = mark.line + 1;
    n.column = mark.column + 1;
    return n;
  }

  void Count(const YAML::Mark& mark, size_t nodes, size_t bytes) {
    nodes_ += nodes;
    scalar_bytes_ += bytes;
    if (nodes_ > limits_.max_nodes || scalar_bytes_ > limits_.max_scalar_bytes) {
      throw TreeError{mark.line + 1, mark.column + 1,
                      "the document has more than " + std::to_string(limits_.max_nodes) + " nodes or " +
                          std::to_string(limits_.max_scalar_bytes >> 20) + " MiB of text"};
    }
  }

  void Register(YAML::anchor_t anchor) {
    if (anchor == YAML::NullAnchor) return;
    Anchored& a = anchors_[anchor];
    a = Anchored{};
    a.name = pending_anchor_name_;
    pending_anchor_name_.clear();
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, YamlNode::Kind kind) {
    if (static_cast<int>(stack_.size()) + 1 > limits_.max_depth) {
      throw TreeError{mark.line + 1, mark.column + 1,
                      "the document is nested deeper than " + std::to_string(limits_.max_depth) + " levels"};
    }
    Count(mark, 1, 0);
    Register(anchor);
    Frame f{Leaf(mark), anchor, nodes_ - 1, scalar_bytes_, 0, std::nullopt};
    f.node.kind = kind;
    stack_.push_back(std::move(f));
  }

  void Close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    Finish(std::move(f.node), f.anchor, nodes_ - f.start_nodes, scalar_bytes_ - f.start_bytes, f.max_child_height + 1,
           /*registered=*/true);
  }

  // A node is complete: remember it when anchored, and hand it to its parent.
  void Finish(YamlNode n, YAML::anchor_t anchor, size_t nodes, size_t bytes, int height, bool registered = false) {
    if (anchor != YAML::NullAnchor) {
      if (!registered) Register(anchor);
      // Each anchor keeps a copy of its node for later aliases; nested
      // anchors would otherwise copy the same nodes once per level.
      anchor_copies_ += nodes;
      if (anchor_copies_ > limits_.max_nodes) {
        throw TreeError{n.line, n.column,
                        "anchors ('&name') hold more than " + std::to_string(limits_.max_nodes) +
                            " nodes in all; use fewer or smaller anchors"};
      }
      Anchored& a = anchors_[anchor];
      a.complete = true;
      a.node = n;
      a.nodes = nodes;
      a.bytes = bytes;
      a.height = height;
    }
    if (stack_.empty()) {
      root_ = std::move(n);
      return;
    }
    Frame& parent = stack_.back();
    parent.max_child_height = std::max(parent.max_child_height, height);
    if (parent.node.kind == YamlNode::Kind::kSequence) {
      parent.node.items.push_back(std::move(n));
    } else if (!parent.pending_key) {
      parent.pending_key = std::move(n);
    } else {
      parent.node.entries.push_back(YamlEntry{std::move(*parent.pending_key), std::move(n)});
      parent.pending_key.reset();
    }
  }

  const YamlLimits& limits_;
  std::optional<YamlNode> root_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  std::string pending_anchor_name_;
  size_t nodes_ = 0;
  size_t scalar_bytes_ = 0;
  size_t anchor_copies_ = 0;
  int documents_ = 0;
};

std::string At(const std::string& where, int line, int column) {
  return where + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
}

}  // namespace

Result<YamlNode> ParseYamlDocument(const std::string& text, const std::string& where, const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return InvalidArgument(At(where, 1, 1) + "the file is larger than " + std::to_string(limits.max_bytes >> 10) +
                           " KiB (" + std::to_string(text.size()) + " bytes); refusing to parse it");
  }
  std::istringstream in(text);
  TreeBuilder builder(limits);
  try {
    YAML::Parser parser(in);
    // The second call only finds out whether another document follows (and
    // then throws from OnDocumentStart).
    if (parser.HandleNextDocument(builder)) parser.HandleNextDocument(builder);
  } catch (const TreeError& e) {
    return InvalidArgument(At(where, e.line, e.column) + e.message);
  } catch (const YAML::Exception& e) {
    int line = e.mark.is_null() ? 1 : e.mark.line + 1;
    int column = e.mark.is_null() ? 1 : e.mark.column + 1;
    return InvalidArgument(At(where, line, column) + "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(At(where, 1, 1) + "invalid YAML: " + e.what());
  }
  if (!builder.root()) return YamlNode{};
  return std::move(*builder.root());
}

void Diagnostics::Add(int line, int column, std::string message) {
  entries_.push_back(Entry{line, column, std::move(message)});
}

Status Diagnostics::ToStatus() const {
  std::vector<const Entry*> sorted;
  for (const auto& e : entries_) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return a->line != b->line ? a->line < b->line : a->column < b->column;
  });
  std::string out;
  for (const Entry* e : sorted) {
    if (!out.empty()) out += '\n';
    out += At(where_, e->line, e->column) + e->message;
  }
  return InvalidArgument(std::move(out));
}

void VisitMap(const YamlNode& map, const std::vector<std::string>& known, const std::string& context, Diagnostics* diag,
              const std::function<void(const YamlField&)>& visit) {
  std::map<std::string, const YamlNode*> seen;
  for (const auto& [key, value] : map.entries) {
    if (!key.IsScalar()) {
      diag->Add(key, "expected a plain string as a key " + context + ", got " + key.KindName());
      continue;
    }
    auto [it, inserted] = seen.emplace(key.scalar, &key);
    if (!inserted) {
      diag->Add(key, "duplicate key '" + key.scalar + "' " + context + ", first given at " +
                         std::to_string(it->second->line) + ":" + std::to_string(it->second->column));
      continue;
    }
    if (key.scalar == "<<") {
      diag->Add(key, "YAML merge keys ('<<') are not supported " + context +
                         "; write the keys out, or use an alias ('*name') for the whole value");
      continue;
    }
    if (std::find(known.begin(), known.end(), key.scalar) == known.end()) {
      diag->Add(key, "unknown key '" + key.scalar + "' " + context + DidYouMeanHint(key.scalar, known));
      continue;
    }
    visit(YamlField{key.scalar, key, value});
  }
}

bool ExpectMap(const YamlField& f, Diagnostics* diag) {
  if (f.value.IsMap()) return true;
  diag->Add(f.at(), "expected a mapping for '" + f.name + "', got " + f.value.KindName());
  return false;
}

bool ExpectList(const YamlField& f, Diagnostics* diag) {
  if (f.value.IsSequence()) return true;
  diag->Add(f.at(), "expected a list for '" + f.name + "', got " + f.value.KindName());
  return false;
}

bool ReadString(const YamlField& f, Diagnostics* diag, std::string* out) {
  if (f.value.IsScalar()) {
    *out = f.value.scalar;
    return true;
  }
  std::string message = "expected a string for '" + f.name + "'";
  if (f.value.IsNull()) {
    message += " (write \"\" for an empty value)";
  } else {
    message += ", got " + std::string(f.value.KindName());
  }
  diag->Add(f.at(), std::move(message));
  return false;
}

bool IsShellIdentifier(std::string_view name) {
  if (name.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || (static_cast<unsigned char>(c) < 128 && std::isalnum(static_cast<unsigned char>(c)));
  });
}

void ReadVariables(const YamlField& f, Diagnostics* diag, std::vector<std::pair<std::string, std::string>>* out) {
  if (!ExpectMap(f, diag)) return;
  std::map<std::string, const YamlNode*> seen;
  for (const auto& [key, value] : f.value.entries) {
    if (!key.IsScalar()) {
      diag->Add(key, "expected a variable name in '" + f.name + "', got " + key.KindName());
      continue;
    }
    if (!IsShellIdentifier(key.scalar)) {
      diag->Add(key, "variable name '" + key.scalar + "' in '" + f.name +
                         "' is not valid: use letters, digits and '_', not starting with a digit");
      continue;
    }
    auto [it, inserted] = seen.emplace(key.scalar, &key);
    if (!inserted) {
      diag->Add(key, "duplicate variable '" + key.scalar + "' in '" + f.name + "', first given at " +
                         std::to_string(it->second->line) + ":" + std::to_string(it->second->column));
      continue;
    }
    std::string text;
    if (!ReadString(YamlField{key.scalar, key, value}, diag, &text)) continue;
    if (text.find('\0') != std::string::npos) {
      diag->Add(value, "variable '" + key.scalar + "' holds a NUL character, which cannot be exported");
      continue;
    }
    out->emplace_back(key.scalar, std::move(text));
  }
}

}  // namespace slipway
