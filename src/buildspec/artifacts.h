// Local meaning of buildspec `artifacts` and `reports`: the matching files are
// copied into an output folder, as the CodeBuild local agent's `-a DIR` does
// (doc/buildspec.md "Artifacts").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "buildspec/buildspec.h"
#include "util/status.h"

namespace slipway {

// CodeBuild path patterns: '/'-separated segments where "**" matches any
// number of segments (also none), and '*', '?', '[...]' match inside one
// segment. A leading "./" is ignored; a trailing "/" means everything below.
bool MatchArtifactPattern(std::string_view pattern, std::string_view relative_path);

// Files (and symbolic links) below base_dir, as sorted '/'-separated relative
// paths, that match one of set.files and none of set.exclude_paths.
// Directories reached through symbolic links are not entered.
// Errors: base_dir missing or unreadable ("open 'DIR': ...").
Result<std::vector<std::string>> MatchFileSet(const FileSet& set, const std::string& base_dir);

// Copies `files` (relative to base_dir) into dest_dir, creating folders, each
// at its relative path, or at its bare name when discard_paths. Symbolic links
// are copied as links when keep_symlinks, else their target's content.
// Modes are preserved. Errors name the file.
Status CopyFiles(const std::string& base_dir, const std::vector<std::string>& files, const std::string& dest_dir,
                 bool discard_paths, bool keep_symlinks);

}  // namespace slipway
