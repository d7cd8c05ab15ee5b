#include "aws/shared_config.h"

#include "aws/url.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway::aws {

namespace {

constexpr size_t kMaxFileBytes = 4 << 20;

std::string EnvValue(const EnvMap& env, const std::string& name) {
  auto it = env.find(name);
  return it == env.end() ? "" : std::string(Trim(it->second));
}

std::string ExpandHome(const std::string& path, const EnvMap& env) {
  if (path == "~" || StartsWith(path, "~/")) return EnvValue(env, "HOME") + path.substr(1);
  return path;
}

Result<std::map<std::string, ProfileSettings>> ReadIni(const std::string& path) {
  if (!PathExists(path)) return std::map<std::string, ProfileSettings>{};
  Result<std::string> text = ReadFileLimited(path, kMaxFileBytes);
  if (!text.ok()) return text.status();
  return ParseIni(text.value());
}

}  // namespace

std::map<std::string, ProfileSettings> ParseIni(std::string_view text) {
  std::map<std::string, ProfileSettings> out;
  ProfileSettings* section = nullptr;
  for (const std::string& raw : Split(text, '\n')) {
    std::string_view line = raw;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    std::string_view trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == ';') continue;
    if (trimmed[0] == '[') {
      size_t close = trimmed.find(']');
      if (close == std::string_view::npos) {
        section = nullptr;  // a broken header: ignore its settings rather than mix them into another profile
        continue;
      }
      section = &out[std::string(Trim(trimmed.substr(1, close - 1)))];
      continue;
    }
    if (section == nullptr || indented) continue;  // outside a section, or a nested sub-setting
    size_t eq = trimmed.find_first_of("=:");
    if (eq == std::string_view::npos) continue;
    std::string key = ToLower(Trim(trimmed.substr(0, eq)));
    std::string_view value = Trim(trimmed.substr(eq + 1));
    // No inline comments: like botocore (configparser), "k = a # b" is "a # b".
    (*section)[key] = std::string(value);
  }
  return out;
}

bool SharedConfig::HasProfile(const std::string& name) const {
  return credentials_file.count(name) > 0 || config_file.count(name) > 0;
}

ProfileSettings SharedConfig::Merged(const std::string& name) const {
  ProfileSettings out;
  if (auto it = config_file.find(name); it != config_file.end()) out = it->second;
  if (auto it = credentials_file.find(name); it != credentials_file.end()) {
    for (const auto& [k, v] : it->second) out[k] = v;
  }
  return out;
}

std::string SharedConfig::Get(const std::string& name, const std::string& key) const {
  ProfileSettings merged = Merged(name);
  auto it = merged.find(key);
  return it == merged.end() ? "" : it->second;
}

Result<SharedConfig> LoadSharedConfig(const EnvMap& env) {
  SharedConfig config;
  config.profile = EnvValue(env, "AWS_PROFILE");
  if (config.profile.empty()) config.profile = EnvValue(env, "AWS_DEFAULT_PROFILE");
  config.profile_explicit = !config.profile.empty();
  if (config.profile.empty()) config.profile = "default";
  std::string home = EnvValue(env, "HOME");
  config.credentials_path = EnvValue(env, "AWS_SHARED_CREDENTIALS_FILE");
  if (config.credentials_path.empty() && !home.empty()) config.credentials_path = home + "/.aws/credentials";
  config.config_path = EnvValue(env, "AWS_CONFIG_FILE");
  if (config.config_path.empty() && !home.empty()) config.config_path = home + "/.aws/config";
  config.credentials_path = ExpandHome(config.credentials_path, env);
  config.config_path = ExpandHome(config.config_path, env);
  if (!config.credentials_path.empty()) {
    SLIPWAY_ASSIGN_OR_RETURN(config.credentials_file, ReadIni(config.credentials_path));
  }
  if (!config.config_path.empty()) {
    SLIPWAY_ASSIGN_OR_RETURN(auto sections, ReadIni(config.config_path));
    for (auto& [name, settings] : sections) {
      // "[profile x]" names profile x; a bare "[default]" is the default
      // profile; other sections ("[sso-session x]", "[services x]") are not profiles.
      if (StartsWith(name, "profile ") || StartsWith(name, "profile\t")) {
        std::string profile(Trim(std::string_view(name).substr(8)));
        // "[profile default]" and "[default]" both name the default profile;
        // the former wins when both exist, as in botocore.
        config.config_file[profile] = std::move(settings);
      } else if (name == "default" && config.config_file.count("default") == 0) {
        config.config_file["default"] = std::move(settings);
      }
    }
  }
  return config;
}

std::string ResolveRegion(const EnvMap& env, const SharedConfig& config) {
  std::string region = EnvValue(env, "AWS_REGION");
  if (region.empty()) region = EnvValue(env, "AWS_DEFAULT_REGION");
  if (region.empty()) {
    auto it = config.config_file.find(config.profile);
    if (it != config.config_file.end()) {
      auto r = it->second.find("region");
      if (r != it->second.end()) region = r->second;
    }
  }
  return region;
}

Result<std::string> ConfiguredEndpointUrl(const EnvMap& env, std::string_view service_id) {
  if (ToLower(EnvValue(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) == "true") return std::string();
  for (const std::string& name : {"AWS_ENDPOINT_URL_" + std::string(service_id), std::string("AWS_ENDPOINT_URL")}) {
    std::string value = EnvValue(env, name);
    if (value.empty()) continue;
    Result<Url> url = ParseUrl(value);
    if (!url.ok() || (url->scheme != "http" && url->scheme != "https")) {
      return InvalidArgument(name + "='" + value + "' is not an http(s) URL");
    }
    while (EndsWith(value, "/")) value.pop_back();
    return value;
  }
  return std::string();
}

Result<std::vector<std::string>> SplitCommandLine(std::string_view line) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      size_t end = line.find('\'', i + 1);
      if (end == std::string_view::npos)
        return InvalidArgument("unterminated ' in command '" + std::string(line) + "'");
      word.append(line.substr(i + 1, end - i - 1));
      i = end;
      in_word = true;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        // Inside double quotes a backslash escapes only these, as in sh.
        if (line[j] == '\\' && j + 1 < line.size() &&
            (line[j + 1] == '"' || line[j + 1] == '\\' || line[j + 1] == '$' || line[j + 1] == '`')) {
          ++j;
        }
        word.push_back(line[j]);
      }
      if (j >= line.size()) return InvalidArgument("unterminated \" in command '" + std::string(line) + "'");
      i = j;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      word.push_back(line[++i]);
      in_word = true;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) out.push_back(std::move(word));
  return out;
}

}  // namespace slipway::aws
