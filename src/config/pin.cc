#include "config/pin.h"

#include <algorithm>
#include <optional>

#include "config/values.h"
#include "config/yaml_tree.h"
#include "util/strings.h"

namespace slipway {

namespace {

const std::vector<std::string> kPinKeys = {"code", "variables"};
const std::vector<std::string> kPinCodeKeys = {"ref", "url"};
constexpr std::string_view kReservedPrefix = "SLIPWAY_";

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// "abc1234" cannot be resolved exactly: git refs are looked up by name, and
// an abbreviated commit is not a name.
void WarnAbbreviatedCommit(const std::string& where_line, const std::string& ref, std::vector<std::string>* warnings) {
  if (ref.size() >= 7 && ref.size() < 40 && IsHex(ref) &&
      std::any_of(ref.begin(), ref.end(), [](char c) { return c >= 'a' && c <= 'f'; })) {
    warnings->push_back(where_line + ": code ref '" + ref +
                        "' looks like an abbreviated commit; give the full 40-hex commit or a tag");
  }
}

}  // namespace

Result<Pin> ParseDeployYaml(const std::string& text, const std::string& where) {
  SLIPWAY_ASSIGN_OR_RETURN(YamlNode root, ParseYamlDocument(text, where));
  Pin pin;
  pin.source = "deploy.yaml";
  if (root.IsNull()) {
    pin.warnings.push_back(where + ": the file is empty; it pins nothing");
    return pin;
  }
  Diagnostics diag(where);
  if (!root.IsMap()) {
    diag.Add(root,
             std::string("expected a mapping at the top level, like 'code: { ref: v1.2.3 }', got ") + root.KindName());
    return diag.ToStatus();
  }
  VisitMap(root, kPinKeys, "at the top level", &diag, [&](const YamlField& f) {
    if (f.name == "code") {
      if (!ExpectMap(f, &diag)) return;
      VisitMap(f.value, kPinCodeKeys, "in 'code'", &diag, [&](const YamlField& k) {
        std::string value;
        if (!ReadString(k, &diag, &value)) return;
        std::string problem = k.name == "ref" ? RefProblem(value) : UrlProblem(value);
        if (!problem.empty()) {
          diag.Add(k.at(), "'code." + k.name + "' " + problem);
          return;
        }
        if (k.name == "ref") {
          pin.code_ref = value;
          WarnAbbreviatedCommit(where + ":" + std::to_string(k.value.line) + ":" + std::to_string(k.value.column),
                                value, &pin.warnings);
        } else {
          pin.code_url = value;
        }
      });
    } else if (f.name == "variables") {
      std::vector<std::pair<std::string, std::string>> vars;
      ReadVariables(f, &diag, &vars);
      for (auto& [name, value] : vars) {
        if (StartsWith(name, kReservedPrefix)) {
          const YamlNode* key = nullptr;
          for (const auto& [k, v] : f.value.entries) {
            if (k.IsScalar() && k.scalar == name) key = &k;
          }
          diag.Add(key != nullptr ? *key : f.key,
                   "variable " + Quote(name) + " is reserved: names beginning with SLIPWAY_ are set by the engine");
          continue;
        }
        pin.variables[name] = std::move(value);
      }
    }
  });
  if (!diag.empty()) return diag.ToStatus();
  return pin;
}

namespace {

// One shell word of a statement, with what we need to know about it.
struct Word {
  std::string text;
  // Length of the unquoted NAME before the first unquoted '=' when the word
  // looks like an assignment NAME=..., else npos.
  size_t assign_at = std::string::npos;
  bool unquoted_plain = true;  // no quoting or escapes at all (for `export`)
};

// Why a statement cannot be taken as plain assignments; "" when it can.
struct Statement {
  int line = 1;
  std::string first_line;  // for warnings
  std::vector<Word> words;
  std::string problem;
};

bool IsNameChar(char c) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Reads variables.sh statement by statement. Quoting follows POSIX sh, but
// anything that would make the shell expand, run or redirect something
// turns the statement into a `problem`: we take only what we can read
// without executing.
class ShellReader {
 public:
  explicit ShellReader(const std::string& text) : s_(text) {}

  bool AtEnd() const { return i_ >= s_.size(); }
  // A syntax problem that makes the rest unreadable (an unclosed quote).
  const std::optional<std::pair<int, int>>& fatal_at() const { return fatal_at_; }
  const std::string& fatal() const { return fatal_; }

  // Reads the next statement; returns false at the end of the text.
  bool Next(Statement* st) {
    *st = Statement{};
    // Skip blank lines and comments.
    for (;;) {
      while (!AtEnd() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
      if (AtEnd()) return false;
      if (s_[i_] == '\n') {
        NewLine();
        continue;
      }
      if (s_[i_] == '#') {
        while (!AtEnd() && s_[i_] != '\n') ++i_;
        continue;
      }
      if (s_[i_] == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == '\n') {
        i_ += 2;
        ++line_;
        line_start_ = i_;
        continue;
      }
      break;
    }
    st->line = line_;
    size_t eol = s_.find('\n', line_start_);
    st->first_line =
        std::string(Trim(s_.substr(line_start_, eol == std::string::npos ? std::string::npos : eol - line_start_)));
    for (;;) {
      while (!AtEnd() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
      if (AtEnd()) break;
      char c = s_[i_];
      if (c == '\n') {
        NewLine();
        break;
      }
      if (c == '#') {  // a comment at the start of a word ends the statement
        while (!AtEnd() && s_[i_] != '\n') ++i_;
        continue;
      }
      if (c == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == '\n') {
        i_ += 2;
        ++line_;
        line_start_ = i_;
        continue;
      }
      Word w;
      if (!ReadWord(&w, st)) return true;
      st->words.push_back(std::move(w));
    }
    return true;
  }

 private:
  void NewLine() {
    ++i_;
    ++line_;
    line_start_ = i_;
  }

  void Problem(Statement* st, const std::string& why) {
    if (st->problem.empty()) st->problem = why;
  }

  // Reads one word; false when the text ends inside a quote (fatal).
  bool ReadWord(Word* w, Statement* st) {
    bool in_name = true;  // still inside a possible NAME before '='
    while (!AtEnd()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\n') break;
      if (c == '=' && in_name && w->assign_at == std::string::npos) {
        w->assign_at = w->text.empty() ? std::string::npos : w->text.size();
        in_name = false;
        w->text += c;
        ++i_;
        continue;
      }
      if (in_name && !IsNameChar(c)) in_name = false;
      if (c == '\'') {
        w->unquoted_plain = false;
        in_name = false;
        int open_line = line_, open_col = static_cast<int>(i_ - line_start_) + 1;
        ++i_;
        while (!AtEnd() && s_[i_] != '\'') {
          if (s_[i_] == '\n') {
            ++line_;
            line_start_ = i_ + 1;
          }
          w->text += s_[i_++];
        }
        if (AtEnd()) return Fatal(open_line, open_col, "unterminated single quote");
        ++i_;
      } else if (c == '"') {
        w->unquoted_plain = false;
        in_name = false;
        int open_line = line_, open_col = static_cast<int>(i_ - line_start_) + 1;
        ++i_;
        while (!AtEnd() && s_[i_] != '"') {
          char d = s_[i_];
          if (d == '\\' && i_ + 1 < s_.size()) {
            char e = s_[i_ + 1];
            if (e == '\n') {
              i_ += 2;
              ++line_;
              line_start_ = i_;
              continue;
            }
            if (e == '$' || e == '`' || e == '"' || e == '\\') {
              w->text += e;
              i_ += 2;
              continue;
            }
          }
          if (d == '$') Problem(st, DollarProblem(i_));
          if (d == '`') Problem(st, "a command substitution `...`");
          if (d == '\n') {
            ++line_;
            line_start_ = i_ + 1;
          }
          w->text += d;
          ++i_;
        }
        if (AtEnd()) return Fatal(open_line, open_col, "unterminated double quote");
        ++i_;
      } else if (c == '\\') {
        w->unquoted_plain = false;
        in_name = false;
        if (i_ + 1 >= s_.size()) {
          ++i_;
          continue;
        }
        if (s_[i_ + 1] == '\n') {  // a line continuation inside a word
          i_ += 2;
          ++line_;
          line_start_ = i_;
          continue;
        }
        w->text += s_[i_ + 1];
        i_ += 2;
      } else {
        if (c == '$') Problem(st, DollarProblem(i_));
        if (c == '`') Problem(st, "a command substitution `...`");
        if (c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')') {
          Problem(st, "a command list, pipe or redirection ('" + std::string(1, c) + "')");
        }
        if (c == '~' && !in_name && (w->text.empty() || w->text.back() == '=' || w->text.back() == ':')) {
          Problem(st, "a '~' home directory expansion");
        }
        w->text += c;
        ++i_;
      }
    }
    return true;
  }

  std::string DollarProblem(size_t at) const {
    if (at + 1 < s_.size() && s_[at + 1] == '(') return "a command substitution $(...)";
    return "a variable expansion ($...)";
  }

  bool Fatal(int line, int column, std::string message) {
    fatal_at_ = std::make_pair(line, column);
    fatal_ = std::move(message);
    i_ = s_.size();
    return false;
  }

  const std::string& s_;
  size_t i_ = 0;
  size_t line_start_ = 0;
  int line_ = 1;
  std::optional<std::pair<int, int>> fatal_at_;
  std::string fatal_;
};

std::string Shorten(const std::string& s) { return s.size() <= 80 ? s : s.substr(0, 77) + "..."; }

}  // namespace

Result<Pin> ParseVariablesSh(const std::string& raw, const std::string& where) {
  YamlLimits limits;
  if (raw.size() > limits.max_bytes) {
    return InvalidArgument(where + ":1:1: the file is larger than " + std::to_string(limits.max_bytes >> 10) +
                           " KiB (" + std::to_string(raw.size()) + " bytes); refusing to read it");
  }
  // Files edited on Windows: "\r\n" reads as "\n".
  std::string text;
  text.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') continue;
    text += raw[i];
  }

  Pin pin;
  pin.source = "variables.sh";
  Diagnostics diag(where);
  ShellReader reader(text);
  Statement st;
  while (reader.Next(&st)) {
    if (reader.fatal_at()) break;
    const std::string skipped = where + ":" + std::to_string(st.line) + ": skipped '" + Shorten(st.first_line) + "': ";
    const char* kNever = " (variables.sh is read, never executed)";
    size_t first = 0;
    if (!st.words.empty() && st.words[0].unquoted_plain && st.words[0].text == "export") first = 1;
    if (!st.problem.empty()) {
      pin.warnings.push_back(skipped + st.problem + kNever);
      continue;
    }
    if (first == st.words.size()) {
      pin.warnings.push_back(skipped + "'export' without an assignment" + kNever);
      continue;
    }
    // `export NAME` alone marks an existing variable: every variable read
    // here is exported anyway, so it changes nothing.
    auto export_only = [&](const Word& w) {
      return first == 1 && w.assign_at == std::string::npos && w.unquoted_plain && IsShellIdentifier(w.text);
    };
    bool plain = true;
    for (size_t i = first; i < st.words.size(); ++i) {
      if (st.words[i].assign_at == std::string::npos && !export_only(st.words[i])) {
        plain = false;
        break;
      }
    }
    if (!plain) {
      bool command_after = st.words[first].assign_at != std::string::npos;
      pin.warnings.push_back(
          skipped + (command_after ? "assignments followed by a command" : "a command, not an assignment") + kNever);
      continue;
    }
    for (size_t i = first; i < st.words.size(); ++i) {
      const Word& w = st.words[i];
      if (export_only(w)) continue;
      std::string name = w.text.substr(0, w.assign_at);
      std::string value = w.text.substr(w.assign_at + 1);
      if (!IsShellIdentifier(name)) {
        pin.warnings.push_back(skipped + Quote(name) + " is not a variable name" + kNever);
        continue;
      }
      if (name == "CODE_GIT_URL" || name == "CODE_GIT_BRANCH") {
        bool is_url = name == "CODE_GIT_URL";
        std::string problem = is_url ? UrlProblem(value) : RefProblem(value);
        if (!problem.empty()) {
          diag.Add(st.line, 1, name + " " + problem);
          continue;
        }
        (is_url ? pin.code_url : pin.code_ref) = value;
        if (!is_url) {
          WarnAbbreviatedCommit(where + ":" + std::to_string(st.line), value, &pin.warnings);
        }
        continue;
      }
      if (StartsWith(name, kReservedPrefix)) {
        pin.warnings.push_back(skipped + Quote(name) +
                               " is reserved: names beginning with SLIPWAY_ are set by the engine");
        continue;
      }
      pin.variables[name] = value;
    }
  }
  if (reader.fatal_at()) {
    diag.Add(reader.fatal_at()->first, reader.fatal_at()->second, reader.fatal());
  }
  if (!diag.empty()) return diag.ToStatus();
  return pin;
}

}  // namespace slipway
