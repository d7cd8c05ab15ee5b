#include "buildspec/buildspec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

const char* BuildPhaseName(BuildPhase phase) {
  switch (phase) {
    case BuildPhase::kInstall:
      return "INSTALL";
    case BuildPhase::kPreBuild:
      return "PRE_BUILD";
    case BuildPhase::kBuild:
      return "BUILD";
    case BuildPhase::kPostBuild:
      return "POST_BUILD";
  }
  return "?";
}

const char* BuildPhaseKey(BuildPhase phase) {
  switch (phase) {
    case BuildPhase::kInstall:
      return "install";
    case BuildPhase::kPreBuild:
      return "pre_build";
    case BuildPhase::kBuild:
      return "build";
    case BuildPhase::kPostBuild:
      return "post_build";
  }
  return "?";
}

namespace {

// Walks the yaml-cpp tree with a budget: yaml-cpp shares aliased nodes instead
// of copying them, so parsing an alias bomb is cheap, but visiting every
// expansion is not. Every node we look at costs one unit.
class Walker {
 public:
  Status Charge() {
    if (++visited_ > kMaxBuildspecNodes) {
      return InvalidArgument("buildspec is too complex: more than " + std::to_string(kMaxBuildspecNodes) +
                             " YAML nodes to examine (aliases expanding into a huge tree?)");
    }
    return Status::Ok();
  }

 private:
  size_t visited_ = 0;
};

int Line(const YAML::Node& node) { return node.Mark().line + 1; }

std::string At(const YAML::Node& node) { return " at line " + std::to_string(Line(node)); }

const char* Kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "subkeys";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "an empty value";
    default:
      return "a value";
  }
}

// A scalar's text exactly as written: `NO` stays "NO", `1.10` stays "1.10".
// A null (`KEY:` with nothing) is the empty string.
Result<std::string> ScalarText(const YAML::Node& node, const std::string& what) {
  if (node.IsNull()) return std::string();
  if (!node.IsScalar()) {
    return InvalidArgument("Expected " + what + " to be of string type: found " + Kind(node) + " instead" + At(node));
  }
  return node.Scalar();
}

Result<bool> YesNo(const YAML::Node& node, const std::string& what) {
  SLIPWAY_ASSIGN_OR_RETURN(std::string text, ScalarText(node, what));
  std::string v = ToLower(Trim(text));
  if (v == "yes" || v == "true" || v == "on") return true;
  if (v == "no" || v == "false" || v == "off" || v.empty()) return false;
  return InvalidArgument("Invalid value '" + text + "' for " + what + ": expecting yes or no" + At(node));
}

Result<std::vector<std::string>> StringList(Walker& walker, const YAML::Node& node, const std::string& what) {
  std::vector<std::string> out;
  if (node.IsNull()) return out;
  if (node.IsScalar()) {  // CodeBuild accepts a single path where a list is expected
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) return InvalidArgument(what + " must be a list" + At(node));
  size_t index = 0;
  for (const auto& item : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    SLIPWAY_ASSIGN_OR_RETURN(std::string s, ScalarText(item, what + "[" + std::to_string(index) + "]"));
    out.push_back(std::move(s));
    ++index;
  }
  return out;
}

// The message CodeBuild gives for a list entry that is not a string, almost
// always an unquoted ": " turning the entry into a map.
Status CommandNotString(size_t index, const YAML::Node& item) {
  int line = Line(item);
  std::string message = "Expected Commands[" + std::to_string(index) + "] to be of string type: found " + Kind(item) +
                        " instead at line " + std::to_string(line);
  if (item.IsMap()) {
    message += ", value of the key tag on line " + std::to_string(line - 1) + " might be empty";
  }
  return InvalidArgument(message);
}

Result<std::vector<PhaseCommand>> Commands(Walker& walker, const YAML::Node& node, const std::string& where) {
  std::vector<PhaseCommand> out;
  if (node.IsNull()) return out;
  if (!node.IsSequence()) {
    return InvalidArgument(where + " must be a list of commands (each entry starting with '- ')" + At(node));
  }
  size_t index = 0;
  for (const auto& item : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    if (item.IsNull()) {
      out.push_back({"", Line(item)});  // an empty entry runs nothing and succeeds
    } else if (item.IsScalar()) {
      out.push_back({item.Scalar(), Line(item)});
    } else {
      return CommandNotString(index, item);
    }
    ++index;
  }
  return out;
}

Result<OnFailure> ParseOnFailure(const YAML::Node& node, const char* phase_key) {
  SLIPWAY_ASSIGN_OR_RETURN(std::string text, ScalarText(node, std::string("phases.") + phase_key + ".on-failure"));
  std::string v = std::string(Trim(text));
  if (v == "ABORT") return OnFailure::kAbort;
  if (v == "CONTINUE") return OnFailure::kContinue;
  if (StartsWith(v, "RETRY")) {
    return InvalidArgument("on-failure '" + v + "' in phase " + phase_key +
                           " is not supported: RETRY is only available on CodeBuild EC2 compute; use ABORT or "
                           "CONTINUE, or retry inside the command" +
                           At(node));
  }
  return InvalidArgument("Invalid on-failure value '" + v + "' in phase " + phase_key + ". Expecting: ABORT,CONTINUE" +
                         At(node));
}

Status ParsePhase(Walker& walker, const YAML::Node& node, BuildPhase which, BuildspecPhase* phase) {
  const char* key = BuildPhaseKey(which);
  phase->present = true;
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) return InvalidArgument(std::string("phases.") + key + " must be a map of keys" + At(node));
  std::set<std::string> seen;
  for (const auto& kv : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    std::string k = kv.first.Scalar();
    if (!seen.insert(k).second) {
      return InvalidArgument("duplicate key '" + k + "' in phase " + key + At(kv.first));
    }
    const YAML::Node& v = kv.second;
    if (k == "commands") {
      SLIPWAY_ASSIGN_OR_RETURN(phase->commands, Commands(walker, v, std::string("phases.") + key + ".commands"));
    } else if (k == "finally") {
      SLIPWAY_ASSIGN_OR_RETURN(phase->finally_commands, Commands(walker, v, std::string("phases.") + key + ".finally"));
    } else if (k == "run-as") {
      SLIPWAY_ASSIGN_OR_RETURN(phase->run_as, ScalarText(v, std::string("phases.") + key + ".run-as"));
    } else if (k == "on-failure") {
      SLIPWAY_ASSIGN_OR_RETURN(phase->on_failure, ParseOnFailure(v, key));
    } else if (k == "runtime-versions") {
      if (v.IsNull()) continue;
      if (!v.IsMap()) return InvalidArgument("runtime-versions must be a map of runtime: version" + At(v));
      for (const auto& rv : v) {
        SLIPWAY_RETURN_IF_ERROR(walker.Charge());
        SLIPWAY_ASSIGN_OR_RETURN(std::string version, ScalarText(rv.second, "runtime-versions." + rv.first.Scalar()));
        phase->runtime_versions.emplace_back(rv.first.Scalar(), version);
      }
      if (which != BuildPhase::kInstall) {
        return InvalidArgument(std::string("runtime-versions is only allowed in the install phase, not in ") + key +
                               At(kv.first));
      }
    } else {
      static const std::vector<std::string> kKeys = {"commands", "finally", "run-as", "on-failure", "runtime-versions"};
      return InvalidArgument("Unknown key '" + k + "' in phase " + key + DidYouMeanHint(k, kKeys) +
                             " Expecting: " + "commands,finally,on-failure,run-as,runtime-versions" + At(kv.first));
    }
  }
  return Status::Ok();
}

Status ParsePhases(Walker& walker, const YAML::Node& node, Buildspec* spec) {
  if (!node.IsMap()) return InvalidArgument("phases must be a map of phase names to phases" + At(node));
  for (const auto& kv : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    std::string name = kv.first.Scalar();
    std::string upper;
    for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::optional<BuildPhase> which;
    for (size_t i = 0; i < kBuildPhaseCount; ++i) {
      if (upper == BuildPhaseName(static_cast<BuildPhase>(i))) which = static_cast<BuildPhase>(i);
    }
    if (!which) {
      // CodeBuild's own text, with the name upper-cased as it prints it.
      return InvalidArgument("Invalid buildspec phase name: " + upper +
                             ". Expecting: BUILD,INSTALL,POST_BUILD,PRE_BUILD");
    }
    BuildspecPhase& phase = spec->phase(*which);
    if (phase.present) return InvalidArgument("duplicate phase '" + name + "'" + At(kv.first));
    SLIPWAY_RETURN_IF_ERROR(ParsePhase(walker, kv.second, *which, &phase));
  }
  return Status::Ok();
}

bool IsVariableName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

Status ParseVariableMap(Walker& walker, const YAML::Node& node, const std::string& what,
                        std::vector<std::pair<std::string, std::string>>* out) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) return InvalidArgument(what + " must be a map of NAME: value" + At(node));
  std::set<std::string> seen;
  for (const auto& kv : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    std::string name = kv.first.Scalar();
    if (!IsVariableName(name)) {
      return InvalidArgument("Invalid environment variable name '" + name + "' in " + what +
                             ": use letters, digits and '_', not starting with a digit" + At(kv.first));
    }
    if (!seen.insert(name).second)
      return InvalidArgument("duplicate variable '" + name + "' in " + what + At(kv.first));
    SLIPWAY_ASSIGN_OR_RETURN(std::string value, ScalarText(kv.second, what + "." + name));
    out->emplace_back(name, value);
  }
  return Status::Ok();
}

Status ParseEnv(Walker& walker, const YAML::Node& node, Buildspec* spec) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) return InvalidArgument("env must be a map" + At(node));
  for (const auto& kv : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    std::string k = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (k == "shell") {
      SLIPWAY_ASSIGN_OR_RETURN(std::string shell, ScalarText(v, "env.shell"));
      if (shell == "bash") {
        spec->shell = BuildspecShell::kBash;
      } else if (shell == "/bin/sh") {
        spec->shell = BuildspecShell::kSh;
      } else {
        return InvalidArgument("env.shell '" + shell +
                               "' is not supported: Slipway runs Linux commands with 'bash' or '/bin/sh'" + At(v));
      }
    } else if (k == "variables") {
      SLIPWAY_RETURN_IF_ERROR(ParseVariableMap(walker, v, "env.variables", &spec->variables));
    } else if (k == "parameter-store" || k == "secrets-manager") {
      std::vector<std::pair<std::string, std::string>> refs;
      SLIPWAY_RETURN_IF_ERROR(ParseVariableMap(walker, v, "env." + k, &refs));
      for (auto& [name, ref] : refs) {
        spec->secrets.push_back(
            {k == "parameter-store" ? SecretReference::Kind::kParameterStore : SecretReference::Kind::kSecretsManager,
             name, ref});
      }
    } else if (k == "exported-variables") {
      SLIPWAY_ASSIGN_OR_RETURN(spec->exported_variables, StringList(walker, v, "env.exported-variables"));
    } else if (k == "git-credential-helper") {
      SLIPWAY_ASSIGN_OR_RETURN(bool yes, YesNo(v, "env.git-credential-helper"));
      spec->git_credential_helper = yes;
    } else {
      static const std::vector<std::string> kKeys = {"shell",           "variables",          "parameter-store",
                                                     "secrets-manager", "exported-variables", "git-credential-helper"};
      return InvalidArgument("Unknown key '" + k + "' in env" + DidYouMeanHint(k, kKeys) + At(kv.first));
    }
  }
  // §4.2 [U]: secrets-manager > parameter-store > variables for a name given twice.
  std::set<std::string> secret_names;
  for (const auto& s : spec->secrets) secret_names.insert(s.variable);
  std::erase_if(spec->variables, [&](const auto& v) { return secret_names.count(v.first) > 0; });
  return Status::Ok();
}

Result<FileSet> ParseFileSet(Walker& walker, const YAML::Node& node, const std::string& what, bool is_report) {
  FileSet set;
  if (!node.IsMap()) return InvalidArgument(what + " must be a map" + At(node));
  bool has_files = false;
  for (const auto& kv : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    std::string k = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (k == "files") {
      has_files = true;
      SLIPWAY_ASSIGN_OR_RETURN(set.files, StringList(walker, v, what + ".files"));
    } else if (k == "base-directory") {
      SLIPWAY_ASSIGN_OR_RETURN(set.base_directory, ScalarText(v, what + ".base-directory"));
    } else if (k == "discard-paths") {
      SLIPWAY_ASSIGN_OR_RETURN(set.discard_paths, YesNo(v, what + ".discard-paths"));
    } else if (k == "exclude-paths" && !is_report) {
      SLIPWAY_ASSIGN_OR_RETURN(set.exclude_paths, StringList(walker, v, what + ".exclude-paths"));
    } else if (k == "name" && !is_report) {
      SLIPWAY_ASSIGN_OR_RETURN(set.name, ScalarText(v, what + ".name"));
    } else if (k == "s3-prefix" && !is_report) {
      SLIPWAY_ASSIGN_OR_RETURN(set.s3_prefix, ScalarText(v, what + ".s3-prefix"));
    } else if (k == "enable-symlinks" && !is_report) {
      SLIPWAY_ASSIGN_OR_RETURN(set.enable_symlinks, YesNo(v, what + ".enable-symlinks"));
    } else if (k == "file-format" && is_report) {
      SLIPWAY_ASSIGN_OR_RETURN(set.file_format, ScalarText(v, what + ".file-format"));
    } else if (k == "secondary-artifacts" && !is_report && what == "artifacts") {
      continue;  // handled by the caller
    } else {
      return InvalidArgument("Unknown key '" + k + "' in " + what + At(kv.first));
    }
  }
  if (!has_files) return InvalidArgument(what + ".files is required" + At(node));
  return set;
}

Status ParseArtifacts(Walker& walker, const YAML::Node& node, Buildspec* spec) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) return InvalidArgument("artifacts must be a map" + At(node));
  SLIPWAY_ASSIGN_OR_RETURN(FileSet primary, ParseFileSet(walker, node, "artifacts", false));
  spec->artifacts = std::move(primary);
  if (YAML::Node secondary = node["secondary-artifacts"]; secondary && !secondary.IsNull()) {
    if (!secondary.IsMap()) return InvalidArgument("artifacts.secondary-artifacts must be a map" + At(secondary));
    for (const auto& kv : secondary) {
      SLIPWAY_RETURN_IF_ERROR(walker.Charge());
      std::string id = kv.first.Scalar();
      if (!IsVariableName(id)) {
        return InvalidArgument("Invalid secondary artifact identifier '" + id + "'" + At(kv.first));
      }
      SLIPWAY_ASSIGN_OR_RETURN(FileSet set,
                               ParseFileSet(walker, kv.second, "artifacts.secondary-artifacts." + id, false));
      set.identifier = id;
      spec->secondary_artifacts.push_back(std::move(set));
    }
  }
  return Status::Ok();
}

Status ParseReports(Walker& walker, const YAML::Node& node, Buildspec* spec) {
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) return InvalidArgument("reports must be a map of report group names" + At(node));
  for (const auto& kv : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    std::string group = kv.first.Scalar();
    SLIPWAY_ASSIGN_OR_RETURN(FileSet set, ParseFileSet(walker, kv.second, "reports." + group, true));
    set.identifier = group;
    spec->reports.push_back(std::move(set));
  }
  if (spec->reports.size() > 5) return InvalidArgument("at most 5 report groups are allowed in reports" + At(node));
  return Status::Ok();
}

Status ParseCache(Walker& walker, const YAML::Node& node, Buildspec* spec) {
  spec->has_cache = true;
  if (node.IsNull()) return Status::Ok();
  if (!node.IsMap()) return InvalidArgument("cache must be a map" + At(node));
  for (const auto& kv : node) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    std::string k = kv.first.Scalar();
    if (k == "paths") {
      SLIPWAY_ASSIGN_OR_RETURN(spec->cache_paths, StringList(walker, kv.second, "cache.paths"));
    } else if (k == "key" || k == "fallback-keys" || k == "action") {
      spec->notes.push_back("cache." + k + " is ignored: Slipway keeps no build cache of its own");
    } else {
      return InvalidArgument("Unknown key '" + k + "' in cache" + At(kv.first));
    }
  }
  return Status::Ok();
}

Status ParseTop(Walker& walker, const YAML::Node& root, Buildspec* spec) {
  if (!root.IsMap()) return InvalidArgument("buildspec must be a YAML map with 'version' and 'phases'" + At(root));
  // The version decides how the rest is read, so look at it first.
  YAML::Node version = root["version"];
  if (!version || version.IsNull()) {
    return InvalidArgument("buildspec version is missing: add 'version: 0.2' at the top of the file");
  }
  SLIPWAY_ASSIGN_OR_RETURN(spec->version, ScalarText(version, "version"));
  if (spec->version == "0.1") {
    return InvalidArgument(
        "buildspec version 0.1 is not supported: it runs every command in a separate shell; change to "
        "'version: 0.2' (rename environment_variables to env and plaintext to variables)");
  }
  if (spec->version != "0.2") {
    return InvalidArgument("Invalid buildspec version: " + spec->version + ". Expecting: 0.2" + At(version));
  }
  bool has_phases = false;
  for (const auto& kv : root) {
    SLIPWAY_RETURN_IF_ERROR(walker.Charge());
    std::string k = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (k == "version") {
      continue;
    } else if (k == "run-as") {
      SLIPWAY_ASSIGN_OR_RETURN(spec->run_as, ScalarText(v, "run-as"));
    } else if (k == "env") {
      SLIPWAY_RETURN_IF_ERROR(ParseEnv(walker, v, spec));
    } else if (k == "proxy") {
      spec->has_proxy = true;
    } else if (k == "batch") {
      return InvalidArgument(
          "batch builds are not supported: Slipway runs one build per buildspec; remove the 'batch' section or "
          "describe each build as its own environment" +
          At(kv.first));
    } else if (k == "phases") {
      has_phases = true;
      SLIPWAY_RETURN_IF_ERROR(ParsePhases(walker, v, spec));
    } else if (k == "artifacts") {
      SLIPWAY_RETURN_IF_ERROR(ParseArtifacts(walker, v, spec));
    } else if (k == "reports") {
      SLIPWAY_RETURN_IF_ERROR(ParseReports(walker, v, spec));
    } else if (k == "cache") {
      SLIPWAY_RETURN_IF_ERROR(ParseCache(walker, v, spec));
    } else {
      static const std::vector<std::string> kKeys = {"version", "run-as",    "env",     "proxy", "batch",
                                                     "phases",  "artifacts", "reports", "cache"};
      return InvalidArgument("Unknown buildspec key '" + k + "'" + DidYouMeanHint(k, kKeys) + At(kv.first));
    }
  }
  if (!has_phases) return InvalidArgument("phases is missing: a buildspec needs at least one phase");
  return Status::Ok();
}

}  // namespace

Result<Buildspec> ParseBuildspec(std::string_view text) {
  if (text.size() > kMaxBuildspecBytes) {
    return InvalidArgument("buildspec is larger than the limit of " + std::to_string(kMaxBuildspecBytes) + " bytes");
  }
  Buildspec spec;
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root || root.IsNull()) return InvalidArgument("buildspec is empty: expecting 'version: 0.2' and 'phases'");
    Walker walker;
    SLIPWAY_RETURN_IF_ERROR(ParseTop(walker, root, &spec));
  } catch (const YAML::Exception& e) {
    std::string msg = e.msg;
    if (msg == "bad file") msg = "nesting is too deep";  // yaml-cpp's depth guard
    return InvalidArgument(msg + " at line " + std::to_string(e.mark.line + 1));
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("cannot read buildspec: ") + e.what());
  }
  return spec;
}

Result<Buildspec> LoadBuildspecFile(const std::string& path) {
  if (!PathExists(path)) return NotFound("YAML file does not exist");
  Result<std::string> text = ReadFileLimited(path, kMaxBuildspecBytes);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return NotFound("YAML file does not exist");
    return InvalidArgument(text.status().message());
  }
  return ParseBuildspec(*text);
}

}  // namespace slipway
