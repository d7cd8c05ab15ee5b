// Reads of a mirror's objects and refs in-process, through libgit2: no `git`
// process per read. Everything that talks to a remote or writes the mirror
// stays with the git CLI (git.h); this is only the local, read-only side, on
// the hot path of a run (resolving the settings head, reading the pin,
// writing out the settings folder).
//
// Internal to src/git: Git calls it with paths it has validated. Errors carry
// libgit2's sentence only; the caller names the operation and the URL.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "util/status.h"

namespace slipway {

class MirrorObjects {
 public:
  // Opens the bare mirror at `path` (which must exist).
  static Result<MirrorObjects> Open(const std::string& path);
  MirrorObjects(MirrorObjects&&) noexcept;
  MirrorObjects& operator=(MirrorObjects&&) noexcept;
  ~MirrorObjects();

  // `spec`^{commit} (a full ref name or a full commit hash): the commit, ""
  // when it names nothing or nothing that peels to a commit.
  Result<std::string> PeelToCommit(const std::string& spec);

  enum class EntryKind { kMissing, kFile, kLink, kFolder, kSubmodule };
  struct Entry {
    EntryKind kind = EntryKind::kMissing;
    size_t size = 0;      // kFile, kLink: in bytes
    std::string content;  // kFile: the bytes; kLink: the target (empty above max_bytes)
  };
  // What `rel` (a clean relative path, "" for the root) is in the tree of
  // `commit`, with the content of a file or link no larger than max_bytes.
  // NotFound when commit is not in the mirror.
  Result<Entry> Read(const std::string& commit, const std::string& rel, size_t max_bytes);

  // Every ref of the mirror with its target ("NAME TARGET" lines, sorted;
  // HEAD included): what a clone copies besides objects.
  Result<std::string> RefList();

  // True when `rel` ("" for the root) differs between the trees of two
  // commits: its content, a mode, or its presence. NotFound when a commit is
  // not in the mirror.
  Result<bool> Differs(const std::string& from, const std::string& to, const std::string& rel);

  // The integer setting `name` ("gc.auto") as git reads it for this mirror
  // (its own config, then the global and system ones, read once per
  // MirrorObjects): nullopt when unset.
  Result<std::optional<int64_t>> ConfigInt(const std::string& name);
  // True when any setting's name starts with `prefix` ("maintenance.").
  Result<bool> HasConfigPrefix(const std::string& prefix);

  // Writes the folder `rel` of `commit` to dest/rel, with the same files,
  // modes and links a checkout would have. A component of `rel` that is not
  // a folder is written as what it is (a link, an empty file) and the walk
  // stops there, so that the caller's checks see what the repository holds;
  // a missing component writes nothing from there on.
  Status ExportFolder(const std::string& commit, const std::string& rel, const std::string& dest);

 private:
  struct Repo;
  explicit MirrorObjects(std::unique_ptr<Repo> repo);
  std::unique_ptr<Repo> repo_;
};

}  // namespace slipway
