// Laying an environment's settings folder over the code checkout (DESIGN.md
// §4; the rules for users are in doc/config.md, "The settings overlay").
//
// Like the article's `cp -rf settings/PATH/* code`, with these differences:
//  * dotfiles are copied too (the shell's `*` skipped them); a `.git` entry,
//    at any depth, is not copied;
//  * regular files are copied with their permission bits (mode & 0777:
//    set-user-ID, set-group-ID and sticky bits are dropped); what the code
//    has at the same path is replaced, whatever it is (a file replaces a
//    folder and a folder replaces a file); folders are merged;
//  * a symbolic link is copied as a link only when its target is relative and
//    stays inside the workspace, resolved in the workspace as it will be after
//    the overlay: lexically, and through every link already there or brought
//    by the settings (links to links are followed, up to 40 hops);
//  * nothing is ever written through a symbolic link of the code checkout: a
//    settings folder at a path where the code has a link is refused;
//  * fifos, sockets and devices are refused.
//
// The whole settings tree is checked before anything is written, so a
// refused overlay leaves the workspace untouched. An OS error while copying
// (disk full, say) can still leave it partly written; the caller discards the
// workspace of a failed run anyway.
//
// Not thread-safe with respect to the directories it works on: nothing else
// may change the settings folder or the workspace during the call.
#pragma once

#include <string>

#include "util/status.h"

namespace slipway {

// Copies the contents of `settings_dir` into the existing directory
// `workspace`. `settings_dir` itself must not be a symbolic link.
//
// Returns InvalidArgument when a rule refuses the overlay, with one line per
// offending entry, naming it relative to the settings folder, e.g.
//   settings link 'conf/evil' points outside the workspace ('../../etc/passwd')
// and nothing is written; NotFound when `settings_dir` does not exist; the
// PosixError of a failed OS call otherwise.
Status OverlaySettings(const std::string& settings_dir, const std::string& workspace);

// Same for the folder `path` (as in SettingsSource::path, "" for the root)
// of the settings checkout `settings_root`. No component of `path` may be a
// symbolic link of the settings repository. Messages name entries relative to
// the repository ("environments/prod/evil").
Status OverlaySettingsFolder(const std::string& settings_root, const std::string& path, const std::string& workspace);

}  // namespace slipway
