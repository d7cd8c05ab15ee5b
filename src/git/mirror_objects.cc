#include "git/mirror_objects.h"

#include <git2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <vector>

#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Freer<T, Free>>;
using ObjectPtr = Owned<git_object, git_object_free>;
using TreePtr = Owned<git_tree, git_tree_free>;
using EntryPtr = Owned<git_tree_entry, git_tree_entry_free>;
using BlobPtr = Owned<git_blob, git_blob_free>;
using RefPtr = Owned<git_reference, git_reference_free>;
using RefIteratorPtr = Owned<git_reference_iterator, git_reference_iterator_free>;
using ConfigPtr = Owned<git_config, git_config_free>;
using ConfigIteratorPtr = Owned<git_config_iterator, git_config_iterator_free>;

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

// libgit2's own sentence for the last error of this thread; the caller
// names the operation and the mirror.
Status LibgitError(int code) {
  const git_error* e = git_error_last();
  return Failed(e != nullptr && e->message != nullptr ? e->message : "libgit2 error " + std::to_string(code));
}

bool NamesNothing(int code) {
  return code == GIT_ENOTFOUND || code == GIT_EAMBIGUOUS || code == GIT_EINVALIDSPEC || code == GIT_EPEEL;
}

}  // namespace

struct MirrorObjects::Repo {
  Owned<git_repository, git_repository_free> repo;
  ConfigPtr config;  // a snapshot, read once on first use (Config)

  // The mirror's settings as git reads them (its own, global, system).
  Result<git_config*> Config() {
    if (!config) {
      git_config* raw = nullptr;
      int rc = git_repository_config_snapshot(&raw, repo.get());
      config.reset(raw);
      if (rc < 0) return LibgitError(rc);
    }
    return config.get();
  }

  // The tree of `commit`; NotFound when the mirror has no such commit.
  Result<TreePtr> TreeOf(const std::string& commit) {
    git_object* raw = nullptr;
    int rc = git_revparse_single(&raw, repo.get(), (commit + "^{tree}").c_str());
    ObjectPtr object(raw);
    if (NamesNothing(rc)) return NotFound("commit '" + commit + "' not found");
    if (rc < 0) return LibgitError(rc);
    return TreePtr(reinterpret_cast<git_tree*>(object.release()));
  }

  Result<std::string> BlobContent(const git_oid* id, size_t max_bytes, size_t* size) {
    git_blob* raw = nullptr;
    int rc = git_blob_lookup(&raw, repo.get(), id);
    BlobPtr blob(raw);
    if (rc < 0) return LibgitError(rc);
    *size = static_cast<size_t>(git_blob_rawsize(blob.get()));
    if (*size > max_bytes) return std::string();
    return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())), *size);
  }
};

MirrorObjects::MirrorObjects(std::unique_ptr<Repo> repo) : repo_(std::move(repo)) {}
MirrorObjects::MirrorObjects(MirrorObjects&&) noexcept = default;
MirrorObjects& MirrorObjects::operator=(MirrorObjects&&) noexcept = default;
MirrorObjects::~MirrorObjects() = default;

Result<MirrorObjects> MirrorObjects::Open(const std::string& path) {
  InitOnce();
  auto repo = std::make_unique<Repo>();
  git_repository* raw = nullptr;
  int rc = git_repository_open_bare(&raw, path.c_str());
  repo->repo.reset(raw);
  if (rc < 0) return LibgitError(rc);
  return MirrorObjects(std::move(repo));
}

Result<std::string> MirrorObjects::PeelToCommit(const std::string& spec) {
  git_object* raw = nullptr;
  int rc = git_revparse_single(&raw, repo_->repo.get(), (spec + "^{commit}").c_str());
  ObjectPtr object(raw);
  if (NamesNothing(rc)) return std::string();
  if (rc < 0) return LibgitError(rc);
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, git_object_id(object.get()));
  return std::string(hex);
}

Result<MirrorObjects::Entry> MirrorObjects::Read(const std::string& commit, const std::string& rel, size_t max_bytes) {
  SLIPWAY_ASSIGN_OR_RETURN(TreePtr tree, repo_->TreeOf(commit));
  Entry out;
  if (rel.empty()) {
    out.kind = EntryKind::kFolder;
    return out;
  }
  git_tree_entry* raw = nullptr;
  int rc = git_tree_entry_bypath(&raw, tree.get(), rel.c_str());
  EntryPtr entry(raw);
  if (rc == GIT_ENOTFOUND) return out;
  if (rc < 0) return LibgitError(rc);
  switch (git_tree_entry_filemode(entry.get())) {
    case GIT_FILEMODE_TREE:
      out.kind = EntryKind::kFolder;
      return out;
    case GIT_FILEMODE_COMMIT:
      out.kind = EntryKind::kSubmodule;
      return out;
    case GIT_FILEMODE_LINK:
      out.kind = EntryKind::kLink;
      break;
    default:
      out.kind = EntryKind::kFile;
  }
  SLIPWAY_ASSIGN_OR_RETURN(out.content, repo_->BlobContent(git_tree_entry_id(entry.get()), max_bytes, &out.size));
  return out;
}

Result<std::optional<int64_t>> MirrorObjects::ConfigInt(const std::string& name) {
  SLIPWAY_ASSIGN_OR_RETURN(git_config * config, repo_->Config());
  int64_t value = 0;
  int rc = git_config_get_int64(&value, config, name.c_str());
  if (rc == GIT_ENOTFOUND) return std::optional<int64_t>();
  if (rc < 0) return LibgitError(rc);
  return std::optional<int64_t>(value);
}

Result<bool> MirrorObjects::HasConfigPrefix(const std::string& prefix) {
  SLIPWAY_ASSIGN_OR_RETURN(git_config * config, repo_->Config());
  // Every entry, compared here: libgit2 1.5's regular-expression iterator
  // leaks pcre2 match data for each name that does not match.
  git_config_iterator* raw_it = nullptr;
  int rc = git_config_iterator_new(&raw_it, config);
  ConfigIteratorPtr it(raw_it);
  if (rc < 0) return LibgitError(rc);
  git_config_entry* entry = nullptr;
  while ((rc = git_config_next(&entry, it.get())) == 0) {
    if (StartsWith(entry->name, prefix)) return true;  // names come lower-cased
  }
  if (rc != GIT_ITEROVER) return LibgitError(rc);
  return false;
}

Result<std::string> MirrorObjects::RefList() {
  git_reference_iterator* raw_it = nullptr;
  int rc = git_reference_iterator_new(&raw_it, repo_->repo.get());
  RefIteratorPtr it(raw_it);
  if (rc < 0) return LibgitError(rc);
  auto line = [](git_reference* ref) {
    std::string target;
    if (git_reference_type(ref) == GIT_REFERENCE_SYMBOLIC) {
      target = std::string("-> ") + git_reference_symbolic_target(ref);
    } else {
      char hex[GIT_OID_HEXSZ + 1];
      git_oid_tostr(hex, sizeof hex, git_reference_target(ref));
      target = hex;
    }
    return std::string(git_reference_name(ref)) + " " + target;
  };
  std::vector<std::string> lines;
  git_reference* raw = nullptr;
  while ((rc = git_reference_next(&raw, it.get())) == 0) {
    RefPtr ref(raw);
    lines.push_back(line(ref.get()));
  }
  if (rc != GIT_ITEROVER) return LibgitError(rc);
  rc = git_reference_lookup(&raw, repo_->repo.get(), "HEAD");
  RefPtr head(raw);
  if (rc == 0) lines.push_back(line(head.get()));
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

Result<bool> MirrorObjects::Differs(const std::string& from, const std::string& to, const std::string& rel) {
  SLIPWAY_ASSIGN_OR_RETURN(TreePtr a, repo_->TreeOf(from));
  SLIPWAY_ASSIGN_OR_RETURN(TreePtr b, repo_->TreeOf(to));
  if (rel.empty()) return !git_oid_equal(git_tree_id(a.get()), git_tree_id(b.get()));
  // Objects are named by their content: the same id and mode, the same
  // folder (or file), whatever is below it.
  git_tree_entry* raw_a = nullptr;
  git_tree_entry* raw_b = nullptr;
  int rc_a = git_tree_entry_bypath(&raw_a, a.get(), rel.c_str());
  EntryPtr entry_a(raw_a);
  int rc_b = git_tree_entry_bypath(&raw_b, b.get(), rel.c_str());
  EntryPtr entry_b(raw_b);
  for (int rc : {rc_a, rc_b}) {
    if (rc < 0 && rc != GIT_ENOTFOUND) return LibgitError(rc);
  }
  if (entry_a == nullptr || entry_b == nullptr) return entry_a != entry_b;
  return git_tree_entry_filemode(entry_a.get()) != git_tree_entry_filemode(entry_b.get()) ||
         !git_oid_equal(git_tree_entry_id(entry_a.get()), git_tree_entry_id(entry_b.get()));
}

Status MirrorObjects::ExportFolder(const std::string& commit, const std::string& rel, const std::string& dest) {
  SLIPWAY_ASSIGN_OR_RETURN(TreePtr tree, repo_->TreeOf(commit));
  SLIPWAY_RETURN_IF_ERROR(MakeDirs(dest));
  std::string at = dest;
  for (const std::string& part : Split(rel, '/')) {
    if (part.empty() || part == ".") continue;
    const git_tree_entry* entry = git_tree_entry_byname(tree.get(), part.c_str());
    if (entry == nullptr) return Status::Ok();
    at = JoinPath(at, part);
    git_filemode_t mode = git_tree_entry_filemode(entry);
    if (mode == GIT_FILEMODE_LINK) {
      size_t size = 0;
      SLIPWAY_ASSIGN_OR_RETURN(std::string target, repo_->BlobContent(git_tree_entry_id(entry), 4096, &size));
      if (::symlink(target.c_str(), at.c_str()) != 0) return PosixError("symlink '" + at + "'", errno);
      return Status::Ok();
    }
    if (mode != GIT_FILEMODE_TREE) {
      // A file (or a submodule, which a checkout leaves as an empty folder).
      return mode == GIT_FILEMODE_COMMIT ? MakeDirs(at) : WriteFile(at, "");
    }
    git_tree* sub = nullptr;
    int rc = git_tree_lookup(&sub, repo_->repo.get(), git_tree_entry_id(entry));
    if (rc < 0) return LibgitError(rc);
    tree.reset(sub);
    SLIPWAY_RETURN_IF_ERROR(MakeDirs(at));
  }
  git_checkout_options options;
  git_checkout_options_init(&options, GIT_CHECKOUT_OPTIONS_VERSION);
  // FORCE: write every file (the folder is new); the mirror is bare and has
  // no index to update.
  options.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
  options.target_directory = at.c_str();
  int rc = git_checkout_tree(repo_->repo.get(), reinterpret_cast<const git_object*>(tree.get()), &options);
  if (rc < 0) return LibgitError(rc);
  return Status::Ok();
}

}  // namespace slipway
