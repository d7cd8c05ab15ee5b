#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>

#include "config/trust_config_reader.h"
#include "config/values.h"
#include "config/yaml_tree.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

const EnvironmentConfig* Config::Find(const std::string& name) const {
  for (const auto& env : environments) {
    if (env.name == name) return &env;
  }
  return nullptr;
}

std::vector<std::string> Config::EnvironmentNames() const {
  std::vector<std::string> names;
  names.reserve(environments.size());
  for (const auto& env : environments) names.push_back(env.name);
  return names;
}

std::vector<StepConfig> DefaultSteps() {
  std::vector<StepConfig> steps;
  for (const char* target : {"setup", "lint", "all-tests", "deploy"}) {
    StepConfig step;
    step.name = target;
    step.run = std::string("make ") + target;
    steps.push_back(std::move(step));
  }
  return steps;
}

std::string ResolveConfigPath(const std::string& flag_path) {
  if (!flag_path.empty()) return flag_path;
  const char* env = std::getenv("SLIPWAY_CONFIG");
  if (env != nullptr && *env != '\0') return env;
  return "slipway.yaml";
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto alnum = [](char c) {
    return static_cast<unsigned char>(c) < 128 && std::isalnum(static_cast<unsigned char>(c));
  };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

namespace {

const std::vector<std::string> kTopKeys = {"state_dir",    "database",           "keep_workspaces",
                                           "max_parallel", "log_retention_days", "git_timeout",
                                           "server",       "environments",       "notify"};
const std::vector<std::string> kServerKeys = {"listen", "webhooks", "public_url", "forges", "preview_forks"};
const std::vector<std::string> kWebhookKinds = {"github", "gitlab", "gitea", "generic"};
// "secret" is known only to be refused with a better message than "unknown key".
const std::vector<std::string> kWebhookKeys = {"secret_file", "secret_env", "secret"};
const std::vector<std::string> kEnvironmentKeys = {"settings", "code",     "steps", "buildspec",   "env",
                                                   "timeout",  "triggers", "role",  "external_id", "duration",
                                                   "verify",   "preview",  "notify"};
const std::vector<std::string> kSettingsKeys = {"url", "branch", "path", "role"};
const std::vector<std::string> kCodeKeys = {"url", "ref", "allow_urls"};
const std::vector<std::string> kStepKeys = {"name", "run",         "env",      "timeout", "when",
                                            "role", "external_id", "duration", "secrets"};
const std::vector<std::string> kSecretKinds = {"ssm", "secretsmanager", "file"};
const std::vector<std::string> kTriggerKeys = {"push", "schedule", "tz", "catch_up", "verify"};
const std::vector<std::string> kPushKeys = {"poll", "paths"};
const std::vector<std::string> kCronShorthands = {"@yearly", "@annually", "@monthly", "@weekly",
                                                  "@daily",  "@midnight", "@hourly"};

constexpr int64_t kMinRoleDurationS = 15 * 60;
constexpr int64_t kMaxRoleDurationS = 12 * 60 * 60;
constexpr int64_t kMinPollMs = 1000;

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool HasDotDotComponent(std::string_view path) {
  for (const auto& part : Split(path, '/')) {
    if (part == "..") return true;
  }
  return false;
}

// "a/./b/" -> "a/b"; "." and "" -> "".
std::string NormalizeRelative(std::string_view path) {
  std::string out;
  for (const auto& part : Split(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

// Reads one slipway.yaml into a Config, reporting every problem into diag_.
class ConfigReader {
 public:
  ConfigReader(const std::string& where, Config* config) : diag_(where), config_(config) {}

  Diagnostics& diag() { return diag_; }

  void ReadTop(const YamlNode& root) {
    if (root.IsNull()) {
      diag_.Add(root, "the file is empty; it needs at least 'environments' (see doc/config.md)");
      return;
    }
    if (!root.IsMap()) {
      diag_.Add(root, std::string("expected a mapping at the top level, got ") + root.KindName());
      return;
    }
    bool have_environments = false;
    // Top-level keys beginning with "x-" are the user's own (docker-compose
    // style), typically holding anchors for aliases further down.
    std::vector<std::string> known = kTopKeys;
    for (const auto& [key, value] : root.entries) {
      if (key.IsScalar() && StartsWith(key.scalar, "x-")) known.push_back(key.scalar);
    }
    VisitMap(root, known, "at the top level", &diag_, [&](const YamlField& f) {
      std::string text;
      if (f.name == "state_dir") {
        if (ReadPathString(f, &text)) config_->state_dir = AbsolutePath(text, config_->dir);
      } else if (f.name == "database") {
        if (ReadString(f, &diag_, &text)) {
          if (text == "sqlite" || StartsWith(text, "postgresql://") || StartsWith(text, "postgres://")) {
            config_->database = text;
          } else {
            diag_.Add(f.at(), "expected 'sqlite' or a postgresql:// URL for 'database', got " + Quote(text));
          }
        }
      } else if (f.name == "keep_workspaces") {
        ReadInt(f, 0, 10'000, &config_->keep_workspaces);
      } else if (f.name == "max_parallel") {
        ReadInt(f, 0, 1024, &config_->max_parallel);
      } else if (f.name == "log_retention_days") {
        ReadInt(f, 0, 36'500, &config_->log_retention_days);
      } else if (f.name == "git_timeout") {
        ReadDuration(f, &config_->git_timeout_ms);
      } else if (f.name == "server") {
        ReadServer(f);
      } else if (f.name == "environments") {
        have_environments = true;
        ReadEnvironments(f);
      } else if (f.name == "notify") {
        ReadNotifyConfig(f, config_->dir, "at the top level", &diag_, &config_->notify);
      }
    });
    if (!have_environments) {
      diag_.Add(root, "missing 'environments': the file must define at least one environment");
    }
  }

 private:
  // ---- scalar readers: each reports its own problem and returns false ----

  bool ReadInt(const YamlField& f, int min, int max, int* out) {
    std::string text;
    bool ok = f.value.IsScalar();
    if (ok) {
      text = f.value.scalar;
      ok = !text.empty() && text.size() <= 9 &&
           std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    }
    int64_t n = ok ? std::strtoll(text.c_str(), nullptr, 10) : 0;
    if (!ok || n < min || n > max) {
      diag_.Add(f.at(), "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) + " for " +
                            Quote(f.name) + ", got " + Got(f.value));
      return false;
    }
    *out = static_cast<int>(n);
    return true;
  }

  bool ReadDuration(const YamlField& f, int64_t* out_ms) {
    int64_t ms = 0;
    if (!f.value.IsScalar() || !ParseDuration(f.value.scalar, &ms) || ms <= 0) {
      diag_.Add(f.at(), "expected a duration like 90s, 5m or 1h for " + Quote(f.name) + ", got " + Got(f.value));
      return false;
    }
    *out_ms = ms;
    return true;
  }

  bool ReadBool(const YamlField& f, bool* out) {
    if (f.value.IsScalar()) {
      std::string lower = ToLower(f.value.scalar);
      if (lower == "true" || lower == "false") {
        *out = lower == "true";
        return true;
      }
    }
    diag_.Add(f.at(), "expected true or false for " + Quote(f.name) + ", got " + Got(f.value));
    return false;
  }

  // A value for "got ...": the text itself, or what kind of thing it is.
  static std::string Got(const YamlNode& value) { return value.IsScalar() ? Quote(value.scalar) : value.KindName(); }

  bool ReadNonEmpty(const YamlField& f, std::string* out) {
    if (!ReadString(f, &diag_, out)) return false;
    if (out->empty()) {
      diag_.Add(f.at(), "expected a non-empty string for " + Quote(f.name));
      return false;
    }
    return true;
  }

  // Anything that may end up on a git or shell command line: refused when
  // it could be read as an option.
  bool NoLeadingDash(const YamlField& f, const std::string& text) {
    if (!text.empty() && text[0] == '-') {
      diag_.Add(f.at(), Quote(f.name) + " must not begin with '-' (it could be read as an option), got " + Quote(text));
      return false;
    }
    return true;
  }

  bool ReadPathString(const YamlField& f, std::string* out) {
    if (!ReadNonEmpty(f, out) || !NoLeadingDash(f, *out)) return false;
    if (HasControl(*out)) {
      diag_.Add(f.at(), Quote(f.name) + " must not contain control characters");
      return false;
    }
    return true;
  }

  // A git URL. "./x" and "../x" are local paths relative to the config's
  // directory.
  bool ReadUrl(const YamlField& f, std::string* out) {
    if (!ReadString(f, &diag_, out)) return false;
    if (std::string problem = UrlProblem(*out); !problem.empty()) {
      diag_.Add(f.at(), Quote(f.name) + " " + problem);
      return false;
    }
    if (StartsWith(*out, "./") || StartsWith(*out, "../") || *out == "." || *out == "..") {
      *out = AbsolutePath(*out, config_->dir);
    }
    return true;
  }

  bool ReadRef(const YamlField& f, std::string* out) {
    if (!ReadString(f, &diag_, out)) return false;
    if (std::string problem = RefProblem(*out); !problem.empty()) {
      diag_.Add(f.at(), Quote(f.name) + " " + problem);
      return false;
    }
    return true;
  }

  // A folder or file inside a repository: relative, no '..'.
  bool ReadRepoPath(const YamlField& f, const std::string& text, std::string* out) {
    if (!NoLeadingDash(f, text)) return false;
    if (!text.empty() && text[0] == '/') {
      diag_.Add(f.at(), Quote(f.name) + " must be a path relative to the settings repository, got " + Quote(text));
      return false;
    }
    if (HasDotDotComponent(text)) {
      diag_.Add(f.at(), Quote(f.name) + " must not contain '..', got " + Quote(text));
      return false;
    }
    if (HasControl(text)) {
      diag_.Add(f.at(), Quote(f.name) + " must not contain control characters");
      return false;
    }
    *out = NormalizeRelative(text);
    return true;
  }

  bool ReadRole(const YamlField& f, std::string* out) {
    if (!ReadNonEmpty(f, out)) return false;
    if (!StartsWith(*out, "arn:") || out->find(":role/") == std::string::npos || HasControlOrSpace(*out)) {
      diag_.Add(f.at(), "expected a role ARN like arn:aws:iam::123456789012:role/NAME for " + Quote(f.name) + ", got " +
                            Quote(*out));
      return false;
    }
    return true;
  }

  void ReadEnvMap(const YamlField& f, std::map<std::string, std::string>* out) {
    std::vector<std::pair<std::string, std::string>> vars;
    ReadVariables(f, &diag_, &vars);
    for (auto& [k, v] : vars) (*out)[k] = std::move(v);
  }

  // ---- sections ----

  void ReadServer(const YamlField& f) {
    if (!ExpectMap(f, &diag_)) return;
    ServerConfig& server = config_->server;
    VisitMap(f.value, kServerKeys, "in 'server'", &diag_, [&](const YamlField& s) {
      if (s.name == "listen") {
        std::string text;
        if (ReadNonEmpty(s, &text)) {
          size_t colon = text.rfind(':');
          std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
          bool ok = !port.empty() && port.size() <= 5 &&
                    std::all_of(port.begin(), port.end(),
                                [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
                    std::stoi(port) <= 65535 && !HasControlOrSpace(text);
          if (ok) {
            server.listen = text;
          } else {
            diag_.Add(s.at(), "expected HOST:PORT like 127.0.0.1:8080 for 'listen', got " + Quote(text));
          }
        }
      } else if (s.name == "public_url") {
        std::string text;
        if (ReadNonEmpty(s, &text)) {
          if ((StartsWith(text, "https://") || StartsWith(text, "http://")) && !HasControlOrSpace(text)) {
            while (EndsWith(text, "/")) text.pop_back();
            server.public_url = text;
          } else {
            diag_.Add(s.at(), "expected an http:// or https:// URL for 'public_url', got " + Quote(text));
          }
        }
      } else if (s.name == "forges") {
        ReadForgesConfig(s, config_->dir, &diag_, &server.forges);
      } else if (s.name == "preview_forks") {
        ReadBool(s, &server.preview_forks);
      } else if (s.name == "webhooks") {
        if (!ExpectMap(s, &diag_)) return;
        VisitMap(s.value, kWebhookKinds, "in 'server.webhooks'", &diag_,
                 [&](const YamlField& hook) { ReadWebhook(hook); });
      }
    });
  }

  void ReadWebhook(const YamlField& hook) {
    if (!ExpectMap(hook, &diag_)) return;
    const std::string section = "server.webhooks." + hook.name;
    WebhookSecret secret;
    bool refused = false;
    VisitMap(hook.value, kWebhookKeys, "in " + Quote(section), &diag_, [&](const YamlField& k) {
      std::string text;
      if (k.name == "secret") {
        refused = true;
        diag_.Add(k.key, "inline secrets are not allowed in " + Quote(section) +
                             ": put the secret in a file and use 'secret_file: PATH', or in the engine's "
                             "environment and use 'secret_env: NAME'");
      } else if (k.name == "secret_file") {
        if (ReadPathString(k, &text)) secret.secret_file = AbsolutePath(text, config_->dir);
      } else if (k.name == "secret_env") {
        if (ReadNonEmpty(k, &text)) {
          if (IsShellIdentifier(text)) {
            secret.secret_env = text;
          } else {
            diag_.Add(k.at(), "expected an environment variable name for 'secret_env', got " + Quote(text));
          }
        }
      }
    });
    if (refused) return;
    bool has_file = FindKey(hook.value, "secret_file") != nullptr;
    bool has_env = FindKey(hook.value, "secret_env") != nullptr;
    if (has_file && has_env) {
      diag_.Add(hook.key, "give only one of 'secret_file' and 'secret_env' in " + Quote(section));
    } else if (!has_file && !has_env) {
      diag_.Add(hook.key, Quote(section) + " needs 'secret_file: PATH' or 'secret_env: NAME'");
    } else if (!secret.secret_file.empty() || !secret.secret_env.empty()) {
      config_->server.webhooks[hook.name] = secret;
    }
  }

  static const YamlNode* FindKey(const YamlNode& map, std::string_view key) {
    for (const auto& [k, v] : map.entries) {
      if (k.IsScalar() && k.scalar == key) return &v;
    }
    return nullptr;
  }

  void ReadEnvironments(const YamlField& f) {
    if (!ExpectMap(f, &diag_)) return;
    if (f.value.entries.empty()) {
      diag_.Add(f.at(), "'environments' is empty: define at least one environment");
      return;
    }
    std::map<std::string, const YamlNode*> seen;
    for (const auto& [key, value] : f.value.entries) {
      if (!key.IsScalar()) {
        diag_.Add(key, std::string("expected an environment name, got ") + key.KindName());
        continue;
      }
      if (!IsValidName(key.scalar)) {
        diag_.Add(key, "environment name " + Quote(key.scalar) +
                           " is not valid: use letters, digits, '_', '.' and '-', starting with a letter or digit, "
                           "at most " +
                           std::to_string(kMaxNameLength) + " characters");
        continue;
      }
      auto [it, inserted] = seen.emplace(key.scalar, &key);
      if (!inserted) {
        diag_.Add(key, "duplicate environment " + Quote(key.scalar) + ", first given at " +
                           std::to_string(it->second->line) + ":" + std::to_string(it->second->column));
        continue;
      }
      ReadEnvironment(YamlField{key.scalar, key, value});
    }
  }

  void ReadEnvironment(const YamlField& f) {
    EnvironmentConfig env;
    env.name = f.name;
    env.line = f.key.line;
    if (!f.value.IsNull() && !ExpectMap(f, &diag_)) return;
    const std::string context = "in environment " + Quote(env.name);
    const YamlNode* buildspec_key = nullptr;
    const YamlNode* code_key = nullptr;
    bool has_steps = false;
    const YamlNode* env_role_key = nullptr;
    std::string buildspec_text;
    VisitMap(f.value, kEnvironmentKeys, context, &diag_, [&](const YamlField& e) {
      if (e.name == "settings") {
        ReadSettings(e, &env);
      } else if (e.name == "code") {
        code_key = &e.key;
        ReadCode(e, &env);
      } else if (e.name == "steps") {
        has_steps = true;
        ReadSteps(e, &env);
      } else if (e.name == "buildspec") {
        buildspec_key = &e.key;
        if (ReadPathString(e, &buildspec_text)) {
          if (StartsWith(buildspec_text, "settings:")) {
            std::string rel;
            std::string inside = buildspec_text.substr(std::string_view("settings:").size());
            if (inside.empty()) {
              diag_.Add(e.at(), "expected 'settings:PATH' with a file after 'settings:' for 'buildspec'");
            } else if (ReadRepoPath(e, inside, &rel)) {
              env.buildspec_in_settings = true;
              env.buildspec_path = rel;
            }
          } else {
            env.buildspec_path = AbsolutePath(buildspec_text, config_->dir);
          }
        }
      } else if (e.name == "env") {
        ReadEnvMap(e, &env.env);
      } else if (e.name == "role" || e.name == "external_id" || e.name == "duration") {
        if (env_role_key == nullptr || e.name == "role") env_role_key = &e.key;
        ReadRoleField(e, &env.role, &env.external_id, &env.role_duration_s);
      } else if (e.name == "timeout") {
        ReadDuration(e, &env.timeout_ms);
      } else if (e.name == "triggers") {
        ReadTriggers(e, &env);
      } else if (e.name == "verify") {
        ReadVerifyConfig(e, config_->dir, context, &diag_, &env.verify);
      } else if (e.name == "notify") {
        ReadNotifyConfig(e, config_->dir, context, &diag_, &env.notify);
      } else if (e.name == "preview") {
        // The same shape as `steps`; roles are refused (a preview never deploys).
        EnvironmentConfig preview;
        preview.name = env.name;
        ReadSteps(e, &preview);
        for (const auto& step : preview.steps) {
          if (!step.role.empty()) {
            diag_.Add(e.at(), "step '" + step.name + "' of 'preview' " + context +
                                  " has a 'role': previews run without roles (doc/previews.md)");
          }
        }
        env.preview_steps = std::move(preview.steps);
      }
    });

    const bool has_settings = FindKey(f.value, "settings") != nullptr;
    const bool has_code = code_key != nullptr;
    const bool has_buildspec = buildspec_key != nullptr;
    if (env_role_key != nullptr && !has_buildspec) {
      diag_.Add(*env_role_key, "'role', 'external_id' and 'duration' of an environment are for a 'buildspec' " +
                                   context + "; give steps their own 'role'");
    } else if (env_role_key != nullptr && env.role.empty() && (!env.external_id.empty() || env.role_duration_s != 0)) {
      diag_.Add(*env_role_key, "'external_id' and 'duration' need a 'role' " + context);
    }
    if (has_buildspec && has_steps) {
      diag_.Add(*buildspec_key, "'buildspec' and 'steps' cannot both be given " + context + "; keep one of them");
    }
    if (env.buildspec_in_settings && !has_settings) {
      diag_.Add(*buildspec_key, "'buildspec: " + buildspec_text + "' reads from the settings folder, but " +
                                    "environment " + Quote(env.name) + " has no 'settings'");
    }
    if (!has_settings && !has_code && !has_buildspec) {
      diag_.Add(f.key, "environment " + Quote(env.name) +
                           " needs 'settings' (where to read the pin), 'code' (what to deploy) or a 'buildspec'");
    }
    if (has_code && !has_settings && env.code && env.code->ref.empty()) {
      diag_.Add(*code_key, "environment " + Quote(env.name) +
                               " has no 'settings' to pin a version, so 'code' needs a 'ref' (a tag or commit)");
    }
    if (!has_steps && !has_buildspec) env.steps = DefaultSteps();
    config_->environments.push_back(std::move(env));
  }

  void ReadSettings(const YamlField& f, EnvironmentConfig* env) {
    if (!ExpectMap(f, &diag_)) return;
    SettingsSource s;
    bool has_url = false;
    VisitMap(f.value, kSettingsKeys, "in 'settings' of environment " + Quote(env->name), &diag_,
             [&](const YamlField& k) {
               std::string text;
               if (k.name == "url") {
                 has_url = true;
                 if (ReadUrl(k, &text)) s.url = text;
               } else if (k.name == "branch") {
                 if (ReadRef(k, &text)) s.branch = text;
               } else if (k.name == "path") {
                 if (ReadString(k, &diag_, &text)) ReadRepoPath(k, text, &s.path);
               } else if (k.name == "role") {
                 if (ReadRole(k, &text)) s.role = text;
               }
             });
    if (!has_url) diag_.Add(f.key, "missing 'url' in 'settings' of environment " + Quote(env->name));
    env->settings = std::move(s);
  }

  void ReadCode(const YamlField& f, EnvironmentConfig* env) {
    if (!ExpectMap(f, &diag_)) return;
    CodeSource c;
    bool has_url = false;
    std::vector<std::string> allowed;
    VisitMap(f.value, kCodeKeys, "in 'code' of environment " + Quote(env->name), &diag_, [&](const YamlField& k) {
      std::string text;
      if (k.name == "url") {
        has_url = true;
        if (ReadUrl(k, &text)) c.url = text;
      } else if (k.name == "ref") {
        if (ReadRef(k, &text)) c.ref = text;
      } else if (k.name == "allow_urls") {
        if (!ExpectList(k, &diag_)) return;
        for (const auto& item : k.value.items) {
          if (ReadUrl(YamlField{k.name, item, item}, &text)) allowed.push_back(text);
        }
      }
    });
    if (!has_url) diag_.Add(f.key, "missing 'url' in 'code' of environment " + Quote(env->name));
    if (!c.url.empty()) c.allow_urls.push_back(c.url);
    for (auto& u : allowed) {
      if (std::find(c.allow_urls.begin(), c.allow_urls.end(), u) == c.allow_urls.end()) c.allow_urls.push_back(u);
    }
    env->code = std::move(c);
  }

  void ReadSteps(const YamlField& f, EnvironmentConfig* env) {
    if (!ExpectList(f, &diag_)) return;
    if (f.value.items.empty()) {
      diag_.Add(f.at(), "'steps' of environment " + Quote(env->name) +
                            " is empty; remove it to run make setup, lint, all-tests and deploy");
      return;
    }
    std::map<std::string, const YamlNode*> names;
    int index = 0;
    for (const auto& item : f.value.items) {
      ++index;
      std::string label = "step " + std::to_string(index);
      if (!item.IsMap()) {
        diag_.Add(item, "expected a mapping like { name: lint, run: make lint } for " + label + " of environment " +
                            Quote(env->name) + ", got " + item.KindName());
        continue;
      }
      if (const YamlNode* n = FindKey(item, "name"); n != nullptr && n->IsScalar() && !n->scalar.empty()) {
        label = "step " + Quote(n->scalar);
      }
      const std::string context = "in " + label + " of environment " + Quote(env->name);
      StepConfig step;
      const YamlNode* name_node = nullptr;
      bool has_run = false;
      const YamlNode* role_node = nullptr;
      const YamlNode* external_id_node = nullptr;
      const YamlNode* duration_node = nullptr;
      VisitMap(item, kStepKeys, context, &diag_, [&](const YamlField& k) {
        std::string text;
        if (k.name == "name") {
          name_node = &k.key;
          if (ReadNonEmpty(k, &text)) {
            if (!IsValidName(text)) {
              diag_.Add(k.at(), "step name " + Quote(text) +
                                    " is not valid: use letters, digits, '_', '.' and '-', starting with a letter or "
                                    "digit, at most " +
                                    std::to_string(kMaxNameLength) + " characters");
            } else if (auto [it, inserted] = names.emplace(text, &k.value); !inserted) {
              diag_.Add(k.at(), "duplicate step name " + Quote(text) + " in environment " + Quote(env->name) +
                                    ", first given at " + std::to_string(it->second->line) + ":" +
                                    std::to_string(it->second->column));
            } else {
              step.name = text;
            }
          }
        } else if (k.name == "run") {
          has_run = true;
          if (ReadNonEmpty(k, &text)) step.run = text;
        } else if (k.name == "env") {
          ReadEnvMap(k, &step.env);
        } else if (k.name == "timeout") {
          ReadDuration(k, &step.timeout_ms);
        } else if (k.name == "when") {
          if (ReadString(k, &diag_, &text)) {
            if (text == "always" || text == "on_success") {
              step.always = text == "always";
            } else {
              diag_.Add(k.at(), "expected 'always' or 'on_success' for 'when', got " + Quote(text) +
                                    DidYouMeanHint(text, {"always", "on_success"}));
            }
          }
        } else if (k.name == "role" || k.name == "external_id" || k.name == "duration") {
          (k.name == "role" ? role_node : k.name == "external_id" ? external_id_node : duration_node) = &k.key;
          ReadRoleField(k, &step.role, &step.external_id, &step.role_duration_s);
        } else if (k.name == "secrets") {
          ReadSecrets(k, context, &step.secrets);
        }
      });
      if (name_node == nullptr) diag_.Add(item, "missing 'name' " + context);
      if (!has_run) diag_.Add(item, "missing 'run' " + context);
      if (role_node == nullptr) {
        if (external_id_node != nullptr) diag_.Add(*external_id_node, "'external_id' needs a 'role' " + context);
        if (duration_node != nullptr) diag_.Add(*duration_node, "'duration' needs a 'role' " + context);
      }
      env->steps.push_back(std::move(step));
    }
  }

  // One of `role`, `external_id`, `duration` (of a step or an environment).
  void ReadRoleField(const YamlField& k, std::string* role, std::string* external_id, int64_t* duration_s) {
    std::string text;
    if (k.name == "role") {
      if (ReadRole(k, &text)) *role = text;
    } else if (k.name == "external_id") {
      if (ReadNonEmpty(k, &text)) {
        if (HasControlOrSpace(text)) {
          diag_.Add(k.at(), "'external_id' must not contain spaces or control characters");
        } else {
          *external_id = text;
        }
      }
    } else if (k.name == "duration") {
      int64_t ms = 0;
      if (ReadDuration(k, &ms)) {
        if (ms / 1000 < kMinRoleDurationS || ms / 1000 > kMaxRoleDurationS) {
          diag_.Add(k.at(), "expected a role session 'duration' from 15m to 12h, got " + Quote(k.value.scalar));
        } else {
          *duration_s = ms / 1000;
        }
      }
    }
  }

  // secrets: {NAME: {ssm: PARAM} | {secretsmanager: ID[:KEY]} | {file: PATH}}
  void ReadSecrets(const YamlField& f, const std::string& context, std::vector<SecretSource>* out) {
    if (!ExpectMap(f, &diag_)) return;
    std::map<std::string, const YamlNode*> seen;
    for (const auto& [key, value] : f.value.entries) {
      if (!key.IsScalar() || !IsShellIdentifier(key.scalar)) {
        diag_.Add(key, "expected a variable name (letters, digits and '_', not starting with a digit) in 'secrets' " +
                           context + ", got " + Got(key));
        continue;
      }
      if (auto [it, inserted] = seen.emplace(key.scalar, &key); !inserted) {
        diag_.Add(key, "duplicate secret " + Quote(key.scalar) + " " + context + ", first given at " +
                           std::to_string(it->second->line) + ":" + std::to_string(it->second->column));
        continue;
      }
      const YamlField entry{key.scalar, key, value};
      const std::string where = "for secret " + Quote(key.scalar) + " " + context;
      if (!value.IsMap() || value.entries.size() != 1) {
        diag_.Add(entry.at(),
                  "expected one of {ssm: PARAMETER}, {secretsmanager: SECRET-ID[:JSON-KEY]} or "
                  "{file: PATH} " +
                      where);
        continue;
      }
      const std::string& variable = key.scalar;  // lambdas cannot capture structured bindings before C++20
      VisitMap(value, kSecretKinds, where, &diag_, [&](const YamlField& k) {
        SecretSource secret;
        secret.name = variable;
        std::string text;
        if (!ReadNonEmpty(k, &text)) return;
        if (HasControlOrSpace(text)) {
          diag_.Add(k.at(), Quote(k.name) + " must not contain spaces or control characters " + where);
          return;
        }
        if (k.name == "ssm") {
          secret.kind = SecretSource::Kind::kSsm;
          secret.ref = text;
        } else if (k.name == "secretsmanager") {
          secret.kind = SecretSource::Kind::kSecretsManager;
          secret.ref = text;
        } else {
          secret.kind = SecretSource::Kind::kFile;
          secret.ref = AbsolutePath(text, config_->dir);
        }
        out->push_back(std::move(secret));
      });
    }
  }

  void ReadTriggers(const YamlField& f, EnvironmentConfig* env) {
    if (!ExpectMap(f, &diag_)) return;
    TriggersConfig& t = env->triggers;
    VisitMap(
        f.value, kTriggerKeys, "in 'triggers' of environment " + Quote(env->name), &diag_, [&](const YamlField& k) {
          std::string text;
          if (k.name == "push") {
            ReadPush(k, env);
          } else if (k.name == "schedule") {
            ReadSchedule(k, &t);
          } else if (k.name == "tz") {
            if (ReadNonEmpty(k, &text)) {
              bool ok =
                  text[0] != '/' && text[0] != '-' && text.find("..") == std::string::npos &&
                  std::all_of(text.begin(), text.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '+' || c == '-';
                  });
              if (ok) {
                t.tz = text;
                t.tz_at = Position(k.at());
              } else {
                diag_.Add(k.at(), "expected a time zone like Europe/Paris or UTC for 'tz', got " + Quote(text));
              }
            }
          } else if (k.name == "catch_up") {
            ReadBool(k, &t.catch_up);
          } else if (k.name == "verify") {
            TriggersConfig drift;
            ReadSchedule(YamlField{k.name, k.key, k.value}, &drift, /*single=*/true);
            if (!drift.schedule.empty()) {
              t.verify = drift.schedule[0];
              t.verify_at = drift.schedule_at[0];
            }
          }
        });
  }

  void ReadPush(const YamlField& f, EnvironmentConfig* env) {
    PushTrigger& push = env->triggers.push;
    if (f.value.IsNull()) {  // `push:` alone: on, with the defaults
      push.enabled = true;
      return;
    }
    if (f.value.IsScalar()) {
      ReadBool(f, &push.enabled);
      return;
    }
    if (!ExpectMap(f, &diag_)) return;
    push.enabled = true;
    VisitMap(
        f.value, kPushKeys, "in 'triggers.push' of environment " + Quote(env->name), &diag_, [&](const YamlField& k) {
          std::string text;
          if (k.name == "poll") {
            if (k.value.IsScalar() && (k.value.scalar == "0" || k.value.scalar == "off" || k.value.scalar == "false")) {
              push.poll_ms = 0;
            } else if (int64_t ms = 0; ReadDuration(k, &ms)) {
              if (ms < kMinPollMs) {
                diag_.Add(k.at(),
                          "'poll' must be at least 1s (or 0 / off for webhooks only), got " + Quote(k.value.scalar));
              } else {
                push.poll_ms = ms;
              }
            }
          } else if (k.name == "paths") {
            if (ReadString(k, &diag_, &text)) {
              if (text == "any" || text == "folder") {
                push.any_path = text == "any";
              } else {
                diag_.Add(k.at(), "expected 'any' or 'folder' for 'paths', got " + Quote(text) +
                                      DidYouMeanHint(text, {"any", "folder"}));
              }
            }
          }
        });
  }

  std::string Position(const YamlNode& at) const {
    return diag_.where() + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
  }

  void ReadSchedule(const YamlField& f, TriggersConfig* t, bool single = false) {
    std::vector<YamlNode> one;
    if (single) {
      one.push_back(f.value);  // `verify: "0 6 * * *"`: one expression
    } else if (!ExpectList(f, &diag_)) {
      return;
    }
    for (const auto& item : single ? one : f.value.items) {
      std::string text;
      if (!ReadString(YamlField{f.name, item, item}, &diag_, &text)) continue;
      std::vector<std::string> fields;
      for (const auto& part : Split(std::string(Trim(text)), ' ')) {
        if (!part.empty()) fields.push_back(part);
      }
      bool shorthand = std::find(kCronShorthands.begin(), kCronShorthands.end(), Trim(text)) != kCronShorthands.end();
      if (!shorthand && fields.size() != 5) {
        diag_.Add(item,
                  "expected a cron expression with 5 fields (minute hour day-of-month month day-of-week) in "
                  "'schedule', got " +
                      Quote(text));
        continue;
      }
      t->schedule.emplace_back(Trim(text));
      t->schedule_at.push_back(Position(item));
    }
  }

  Diagnostics diag_;
  Config* config_;
};

}  // namespace

Result<Config> ParseConfig(const std::string& text, const std::string& path) {
  Config config;
  config.path = AbsolutePath(path, CurrentDir());
  config.dir = DirName(config.path);
  config.state_dir = AbsolutePath(".slipway", config.dir);
  SLIPWAY_ASSIGN_OR_RETURN(YamlNode root, ParseYamlDocument(text, path));
  ConfigReader reader(path, &config);
  reader.ReadTop(root);
  if (!reader.diag().empty()) return reader.diag().ToStatus();
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  // One byte over the limit is enough for ParseConfig to report the size
  // with a position, like every other problem of the file.
  YamlLimits limits;
  auto text = ReadFileLimited(path, limits.max_bytes + 1);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kInvalidArgument) {
      return InvalidArgument(path + ":1:1: the file is larger than " + std::to_string(limits.max_bytes >> 10) +
                             " KiB; refusing to parse it");
    }
    return text.status();
  }
  return ParseConfig(*text, path);
}

}  // namespace slipway
