// The AWS shared configuration files: ~/.aws/credentials and ~/.aws/config,
// read the way the AWS CLI and SDKs read them, from an explicit environment
// snapshot (HOME, AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "proc/process.h"
#include "util/status.h"

namespace slipway::aws {

// One profile's settings, keys lower-cased ("aws_access_key_id", "role_arn").
using ProfileSettings = std::map<std::string, std::string>;

// Parses an INI file of the shared-config kind: "[section]" headers, "k = v"
// lines, '#' and ';' comments at the start of a line, and indented
// sub-settings (which are skipped). Returns section name -> settings.
std::map<std::string, ProfileSettings> ParseIni(std::string_view text);

struct SharedConfig {
  std::string profile;            // the selected profile name
  bool profile_explicit = false;  // named by AWS_PROFILE / AWS_DEFAULT_PROFILE
  std::string credentials_path;   // the files looked at (they may not exist)
  std::string config_path;
  std::map<std::string, ProfileSettings> credentials_file;  // "[name]" sections
  std::map<std::string, ProfileSettings> config_file;       // "[profile name]" and "[default]" sections

  bool HasProfile(const std::string& name) const;
  // The profile as the CLI sees it: config-file settings overlaid by the
  // credentials file's (which win).
  ProfileSettings Merged(const std::string& name) const;
  // A setting of the merged profile, or "".
  std::string Get(const std::string& name, const std::string& key) const;
};

// Reads both files. Missing files are empty, not errors; an unreadable one is
// an error naming it. The profile is AWS_PROFILE, then AWS_DEFAULT_PROFILE,
// then "default"; files are AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE or
// $HOME/.aws/credentials and $HOME/.aws/config ('~' is expanded).
Result<SharedConfig> LoadSharedConfig(const EnvMap& env);

// The region, in the SDKs' order: AWS_REGION, AWS_DEFAULT_REGION, then the
// selected profile's `region` in the config files. "" when none is set.
std::string ResolveRegion(const EnvMap& env, const SharedConfig& config);

// The endpoint configured for a service in the environment snapshot:
// AWS_ENDPOINT_URL_<SERVICE_ID> ("STS", "SSM", "SECRETS_MANAGER"), then
// AWS_ENDPOINT_URL, both ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
// "true"; without trailing '/'. "" when none is set; InvalidArgument naming
// the variable when it is not an http(s) URL.
Result<std::string> ConfiguredEndpointUrl(const EnvMap& env, std::string_view service_id);

// Splits a command line the way a POSIX shell would tokenize it (quotes and
// backslashes), without running a shell: for credential_process. Returns
// InvalidArgument for an unterminated quote.
Result<std::vector<std::string>> SplitCommandLine(std::string_view line);

}  // namespace slipway::aws
