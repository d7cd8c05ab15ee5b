#include "config/trust_config.h"

#include <algorithm>
#include <cctype>

#include "config/trust_config_reader.h"
#include "config/values.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

const char* VerifyModeName(VerifyConfig::Mode mode) {
  switch (mode) {
    case VerifyConfig::Mode::kNone:
      return "none";
    case VerifyConfig::Mode::kSettings:
      return "settings";
    case VerifyConfig::Mode::kCode:
      return "code";
    case VerifyConfig::Mode::kBoth:
      return "both";
  }
  return "none";
}

const char* NotifyKindName(NotifyTarget::Kind kind) {
  switch (kind) {
    case NotifyTarget::Kind::kWebhook:
      return "webhook";
    case NotifyTarget::Kind::kSlack:
      return "slack";
    case NotifyTarget::Kind::kTeams:
      return "teams";
    case NotifyTarget::Kind::kEmail:
      return "email";
  }
  return "webhook";
}

bool NotifyTarget::Wants(const std::string& event) const {
  return std::find(events.begin(), events.end(), event) != events.end();
}

namespace {

const std::vector<std::string> kVerifyKeys = {"mode", "gpg_keys", "ssh_allowed_signers"};
const std::vector<std::string> kVerifyModes = {"none", "settings", "code", "both"};
const std::vector<std::string> kNotifyTypes = {"webhook", "slack", "teams", "email"};
const std::vector<std::string> kNotifyEvents = {"failure", "recovery", "success", "drift"};
const std::vector<std::string> kNotifyKeys = {
    "type", "events", "url",      "url_file", "url_env",       "secret",       "secret_file", "secret_env", "smtp",
    "from", "to",     "username", "password", "password_file", "password_env", "starttls",    "ca_file"};
const std::vector<std::string> kForgeKinds = {"github", "gitlab", "gitea"};
const std::vector<std::string> kForgeKeys = {"api_url", "token", "token_file", "token_env", "comment"};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string Position(const Diagnostics& diag, const YamlNode& at) {
  return diag.where() + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
}

bool ReadText(const YamlField& f, Diagnostics* diag, std::string* out) {
  if (!ReadString(f, diag, out)) return false;
  if (out->empty() || HasControlOrSpace(*out) || (*out)[0] == '-') {
    diag->Add(f.at(), "expected a non-empty value without spaces or control characters, not beginning with '-', for " +
                          Quote(f.name));
    return false;
  }
  return true;
}

bool ReadPath(const YamlField& f, const std::string& dir, Diagnostics* diag, std::string* out) {
  std::string text;
  if (!ReadText(f, diag, &text)) return false;
  *out = AbsolutePath(text, dir);
  return true;
}

bool ReadHttpUrl(const YamlField& f, Diagnostics* diag, std::string* out) {
  std::string text;
  if (!ReadText(f, diag, &text)) return false;
  if (!StartsWith(text, "https://") && !StartsWith(text, "http://")) {
    diag->Add(f.at(), "expected an http:// or https:// URL for " + Quote(f.name) + ", got " + Quote(text));
    return false;
  }
  *out = text;
  return true;
}

// `NAME_file` / `NAME_env` into *out; "NAME" itself (inline) is refused.
void ReadSecretField(const YamlField& f, const std::string& dir, const std::string& context, Diagnostics* diag,
                     SecretRef* out) {
  std::string text;
  if (EndsWith(f.name, "_file")) {
    if (ReadPath(f, dir, diag, &text)) out->file = text;
  } else if (EndsWith(f.name, "_env")) {
    if (ReadText(f, diag, &text)) {
      if (IsShellIdentifier(text)) {
        out->env = text;
      } else {
        diag->Add(f.at(), "expected an environment variable name for " + Quote(f.name) + ", got " + Quote(text));
      }
    }
  } else {
    diag->Add(f.key, "inline secrets are not allowed " + context + ": put the value in a file and use '" + f.name +
                         "_file: PATH', or in the engine's environment and use '" + f.name + "_env: NAME'");
  }
}

bool ReadBoolField(const YamlField& f, Diagnostics* diag, bool* out) {
  std::string text;
  if (!ReadString(f, diag, &text)) return false;
  if (text == "true" || text == "yes" || text == "on") {
    *out = true;
  } else if (text == "false" || text == "no" || text == "off") {
    *out = false;
  } else {
    diag->Add(f.at(), "expected true or false for " + Quote(f.name) + ", got " + Quote(text));
    return false;
  }
  return true;
}

}  // namespace

void ReadVerifyConfig(const YamlField& f, const std::string& config_dir, const std::string& context, Diagnostics* diag,
                      VerifyConfig* out) {
  if (!ExpectMap(f, diag)) return;
  const std::string where = "in 'verify' " + context;
  VisitMap(f.value, kVerifyKeys, where, diag, [&](const YamlField& k) {
    std::string text;
    if (k.name == "mode") {
      if (!ReadString(k, diag, &text)) return;
      if (text == "none") {
        out->mode = VerifyConfig::Mode::kNone;
      } else if (text == "settings") {
        out->mode = VerifyConfig::Mode::kSettings;
      } else if (text == "code") {
        out->mode = VerifyConfig::Mode::kCode;
      } else if (text == "both") {
        out->mode = VerifyConfig::Mode::kBoth;
      } else {
        diag->Add(k.at(), "expected none, settings, code or both for 'mode' " + where + ", got " + Quote(text) +
                              DidYouMeanHint(text, kVerifyModes));
      }
    } else if (k.name == "gpg_keys") {
      if (k.value.IsScalar()) {
        if (ReadPath(k, config_dir, diag, &text)) out->gpg_keys.push_back(text);
        return;
      }
      if (!ExpectList(k, diag)) return;
      for (const auto& item : k.value.items) {
        if (ReadPath(YamlField{k.name, item, item}, config_dir, diag, &text)) out->gpg_keys.push_back(text);
      }
    } else if (k.name == "ssh_allowed_signers") {
      if (ReadPath(k, config_dir, diag, &text)) out->ssh_allowed_signers = text;
    }
  });
  if (out->mode != VerifyConfig::Mode::kNone && out->gpg_keys.empty() && out->ssh_allowed_signers.empty()) {
    diag->Add(f.key, std::string("'verify' ") + context + " has mode '" + VerifyModeName(out->mode) +
                         "' but no trusted keys: give 'gpg_keys: [FILE]' and/or 'ssh_allowed_signers: FILE'");
  }
}

void ReadNotifyConfig(const YamlField& f, const std::string& config_dir, const std::string& context, Diagnostics* diag,
                      std::vector<NotifyTarget>* out) {
  if (!ExpectList(f, diag)) return;
  for (const auto& item : f.value.items) {
    const YamlField entry{f.name, item, item};
    if (!ExpectMap(entry, diag)) continue;
    NotifyTarget t;
    t.at = Position(*diag, item);
    t.events = {"failure", "recovery", "drift"};
    std::string type;
    bool type_given = false;
    const std::string where = "in 'notify' " + context;
    VisitMap(item, kNotifyKeys, where, diag, [&](const YamlField& k) {
      std::string text;
      if (k.name == "type") {
        type_given = true;
        if (!ReadString(k, diag, &type)) return;
        if (std::find(kNotifyTypes.begin(), kNotifyTypes.end(), type) == kNotifyTypes.end()) {
          diag->Add(k.at(), "expected webhook, slack, teams or email for 'type' " + where + ", got " + Quote(type) +
                                DidYouMeanHint(type, kNotifyTypes));
          type.clear();
        }
      } else if (k.name == "events") {
        if (!ExpectList(k, diag)) return;
        t.events.clear();
        for (const auto& e : k.value.items) {
          if (!ReadString(YamlField{k.name, e, e}, diag, &text)) continue;
          if (std::find(kNotifyEvents.begin(), kNotifyEvents.end(), text) == kNotifyEvents.end()) {
            diag->Add(e, "expected failure, recovery, success or drift in 'events' " + where + ", got " + Quote(text) +
                             DidYouMeanHint(text, kNotifyEvents));
            continue;
          }
          t.events.push_back(text);
        }
      } else if (k.name == "url") {
        ReadHttpUrl(k, diag, &t.url);
      } else if (k.name == "url_file" || k.name == "url_env") {
        ReadSecretField(k, config_dir, where, diag, &t.url_secret);
      } else if (k.name == "secret" || k.name == "secret_file" || k.name == "secret_env") {
        ReadSecretField(k, config_dir, where, diag, &t.hmac);
      } else if (k.name == "password" || k.name == "password_file" || k.name == "password_env") {
        ReadSecretField(k, config_dir, where, diag, &t.password);
      } else if (k.name == "smtp") {
        if (ReadText(k, diag, &text)) {
          if (StartsWith(text, "smtp://")) {
            t.smtp_url = text;
          } else {
            diag->Add(k.at(), "expected smtp://HOST:PORT for 'smtp' " + where + " (STARTTLS is always used), got " +
                                  Quote(text));
          }
        }
      } else if (k.name == "from") {
        ReadText(k, diag, &t.from);
      } else if (k.name == "to") {
        if (k.value.IsScalar()) {
          if (ReadText(k, diag, &text)) t.to.push_back(text);
          return;
        }
        if (!ExpectList(k, diag)) return;
        for (const auto& e : k.value.items) {
          if (ReadText(YamlField{k.name, e, e}, diag, &text)) t.to.push_back(text);
        }
      } else if (k.name == "username") {
        ReadText(k, diag, &t.username);
      } else if (k.name == "starttls") {
        if (ReadBoolField(k, diag, &t.starttls) && !t.starttls) {
          diag->Add(k.at(), "'starttls' cannot be turned off " + where + ": mail is only sent over STARTTLS");
        }
      } else if (k.name == "ca_file") {
        ReadPath(k, config_dir, diag, &t.ca_file);
      }
    });
    if (type.empty()) {
      if (!type_given) diag->Add(item, "missing 'type' (webhook, slack, teams or email) " + where);
      continue;
    }
    if (type == "webhook") t.kind = NotifyTarget::Kind::kWebhook;
    if (type == "slack") t.kind = NotifyTarget::Kind::kSlack;
    if (type == "teams") t.kind = NotifyTarget::Kind::kTeams;
    if (type == "email") t.kind = NotifyTarget::Kind::kEmail;
    if (t.kind == NotifyTarget::Kind::kEmail) {
      if (t.smtp_url.empty() || t.from.empty() || t.to.empty()) {
        diag->Add(item, "an email target " + where + " needs 'smtp', 'from' and 'to'");
        continue;
      }
    } else if (t.url.empty() == t.url_secret.empty()) {
      diag->Add(item, std::string("a ") + NotifyKindName(t.kind) + " target " + where +
                          " needs exactly one of 'url', 'url_file' and 'url_env'");
      continue;
    }
    out->push_back(std::move(t));
  }
}

void ReadForgesConfig(const YamlField& f, const std::string& config_dir, Diagnostics* diag,
                      std::map<std::string, ForgeConfig>* out) {
  if (!ExpectMap(f, diag)) return;
  VisitMap(f.value, kForgeKinds, "in 'server.forges'", diag, [&](const YamlField& forge) {
    if (!ExpectMap(forge, diag)) return;
    ForgeConfig c;
    const std::string where = "in 'server.forges." + forge.name + "'";
    VisitMap(forge.value, kForgeKeys, where, diag, [&](const YamlField& k) {
      if (k.name == "api_url") {
        if (ReadHttpUrl(k, diag, &c.api_url)) {
          while (EndsWith(c.api_url, "/")) c.api_url.pop_back();
        }
      } else if (k.name == "comment") {
        ReadBoolField(k, diag, &c.comment);
      } else {
        ReadSecretField(k, config_dir, where, diag, &c.token);
      }
    });
    if (c.api_url.empty()) {
      if (forge.name == "github")
        c.api_url = "https://api.github.com";
      else {
        diag->Add(forge.key, "missing 'api_url' " + where);
        return;
      }
    }
    if (c.token.empty()) {
      diag->Add(forge.key, where + " needs 'token_file: PATH' or 'token_env: NAME'");
      return;
    }
    (*out)[forge.name] = c;
  });
}

}  // namespace slipway
