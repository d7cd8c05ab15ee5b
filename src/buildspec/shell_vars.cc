#include "buildspec/shell_vars.h"

#include <algorithm>
#include <cctype>

#include "util/strings.h"

namespace slipway {

namespace {

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the body of a $'...' word starting at text[*i] (just after the
// opening quote); leaves *i after the closing quote.
bool DecodeAnsiC(std::string_view text, size_t* i, std::string* out) {
  while (*i < text.size()) {
    char c = text[(*i)++];
    if (c == '\'') return true;
    if (c != '\\' || *i >= text.size()) {
      *out += c;
      continue;
    }
    char e = text[(*i)++];
    switch (e) {
      case 'a':
        *out += '\a';
        break;
      case 'b':
        *out += '\b';
        break;
      case 'e':
      case 'E':
        *out += '\x1b';
        break;
      case 'f':
        *out += '\f';
        break;
      case 'n':
        *out += '\n';
        break;
      case 'r':
        *out += '\r';
        break;
      case 't':
        *out += '\t';
        break;
      case 'v':
        *out += '\v';
        break;
      case '\\':
        *out += '\\';
        break;
      case '\'':
        *out += '\'';
        break;
      case '"':
        *out += '"';
        break;
      case '?':
        *out += '?';
        break;
      case 'c':
        if (*i < text.size()) *out += static_cast<char>(text[(*i)++] & 0x1F);
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t max = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        uint32_t v = 0;
        size_t n = 0;
        while (n < max && *i < text.size() && HexValue(text[*i]) >= 0) {
          v = v * 16 + static_cast<uint32_t>(HexValue(text[(*i)++]));
          ++n;
        }
        if (n == 0) {
          *out += '\\';
          *out += e;
        } else if (e == 'x') {
          *out += static_cast<char>(v);
        } else {
          AppendUtf8(v, out);
        }
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = static_cast<uint32_t>(e - '0');
          for (int n = 1; n < 3 && *i < text.size() && text[*i] >= '0' && text[*i] <= '7'; ++n) {
            v = v * 8 + static_cast<uint32_t>(text[(*i)++] - '0');
          }
          *out += static_cast<char>(v);
        } else {
          *out += '\\';
          *out += e;
        }
    }
  }
  return false;
}

// Reads one shell word (a value) starting at text[*i], up to an unquoted
// newline or the end. Returns false on an unterminated quote.
bool ReadWord(std::string_view text, size_t* i, std::string* out) {
  while (*i < text.size()) {
    char c = text[*i];
    if (c == '\n') return true;
    if (c == '\'') {
      size_t end = text.find('\'', *i + 1);
      if (end == std::string_view::npos) return false;
      out->append(text.substr(*i + 1, end - *i - 1));
      *i = end + 1;
    } else if (c == '$' && *i + 1 < text.size() && text[*i + 1] == '\'') {
      *i += 2;
      if (!DecodeAnsiC(text, i, out)) return false;
    } else if (c == '"') {
      ++*i;
      bool closed = false;
      while (*i < text.size()) {
        char d = text[(*i)++];
        if (d == '"') {
          closed = true;
          break;
        }
        if (d == '\\' && *i < text.size() &&
            (text[*i] == '$' || text[*i] == '`' || text[*i] == '"' || text[*i] == '\\' || text[*i] == '\n')) {
          if (text[*i] != '\n') *out += text[*i];
          ++*i;
        } else {
          *out += d;
        }
      }
      if (!closed) return false;
    } else if (c == '\\' && *i + 1 < text.size()) {
      if (text[*i + 1] != '\n') *out += text[*i + 1];
      *i += 2;
    } else {
      *out += c;
      ++*i;
    }
  }
  return true;
}

// Skips an array value "(...)" starting at text[*i] (the '('), honouring quotes.
bool SkipArray(std::string_view text, size_t* i) {
  ++*i;
  while (*i < text.size()) {
    char c = text[*i];
    if (c == ')') {
      ++*i;
      return true;
    }
    if (c == '\'' || c == '"' || c == '\\' || (c == '$' && *i + 1 < text.size() && text[*i + 1] == '\'')) {
      std::string ignored;
      // ReadWord stops at a newline; elements are separated by spaces, so
      // read quoted pieces one at a time.
      size_t before = *i;
      if (c == '\'') {
        size_t end = text.find('\'', *i + 1);
        if (end == std::string_view::npos) return false;
        *i = end + 1;
      } else if (c == '$') {
        *i += 2;
        if (!DecodeAnsiC(text, i, &ignored)) return false;
      } else if (c == '"') {
        ++*i;
        bool closed = false;
        while (*i < text.size()) {
          char d = text[(*i)++];
          if (d == '\\' && *i < text.size()) {
            ++*i;
          } else if (d == '"') {
            closed = true;
            break;
          }
        }
        if (!closed) return false;
      } else {
        *i += 2;
      }
      if (*i == before) return false;
    } else {
      ++*i;
    }
  }
  return false;
}

}  // namespace

Result<std::vector<ShellVariable>> ParseSetOutput(std::string_view text) {
  std::vector<ShellVariable> vars;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '\n') {
      ++i;
      continue;
    }
    size_t start = i;
    if (!IsNameStart(text[i])) break;
    while (i < text.size() && IsNameChar(text[i])) ++i;
    if (i >= text.size() || text[i] != '=') break;  // bash functions: "name () ..."
    std::string name(text.substr(start, i - start));
    ++i;
    if (i < text.size() && text[i] == '(') {
      if (!SkipArray(text, &i)) return InvalidArgument("unterminated array value of '" + name + "' in shell state");
      continue;
    }
    std::string value;
    if (!ReadWord(text, &i, &value)) {
      return InvalidArgument("unterminated quoted value of '" + name + "' in shell state");
    }
    vars.push_back({std::move(name), std::move(value)});
  }
  return vars;
}

bool IsShellManagedVariable(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "_",        "PPID",          "PWD",          "OLDPWD",   "SHLVL",    "IFS",          "OPTIND",    "OPTARG",
      "OPTERR",   "PS1",           "PS2",          "PS3",      "PS4",      "LINENO",       "RANDOM",    "SRANDOM",
      "SECONDS",  "EPOCHREALTIME", "EPOCHSECONDS", "HISTCMD",  "HISTFILE", "HISTFILESIZE", "HISTSIZE",  "UID",
      "EUID",     "GROUPS",        "PIPESTATUS",   "DIRSTACK", "FUNCNAME", "FUNCNEST",     "SHELLOPTS", "BASH",
      "BASHOPTS", "BASHPID",       "HOSTTYPE",     "MACHTYPE", "OSTYPE",   "COLUMNS",      "LINES",     "MAILCHECK",
      "COPROC"};
  if (std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames)) return true;
  return StartsWith(name, "BASH_") || StartsWith(name, "COMP_") || StartsWith(name, "READLINE_");
}

bool IsShellDefaultVariable(std::string_view name) { return name == "SHELL" || name == "TERM" || name == "HOSTNAME"; }

}  // namespace slipway
