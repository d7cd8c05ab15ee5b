#include "workspace/overlay.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

constexpr int kMaxLinkHops = 40;
constexpr size_t kMaxReportedProblems = 50;

enum class Kind { kMissing, kFile, kDir, kLink, kOther };

struct Entry {
  std::string name;
  std::string rel;  // relative to the settings folder
  Kind kind = Kind::kMissing;
  mode_t mode = 0;
  std::string target;  // kLink
  std::vector<std::unique_ptr<Entry>> children;
};

Kind KindOf(mode_t mode) {
  if (S_ISREG(mode)) return Kind::kFile;
  if (S_ISDIR(mode)) return Kind::kDir;
  if (S_ISLNK(mode)) return Kind::kLink;
  return Kind::kOther;
}

const char* OtherKindName(mode_t mode) {
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a file, folder or link";
}

std::string JoinRel(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

Result<std::string> ReadLinkAt(int dirfd, const std::string& name, const std::string& shown) {
  std::vector<char> buf(256);
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name.c_str(), buf.data(), buf.size());
    if (n < 0) return PosixError("readlink '" + shown + "'", errno);
    if (static_cast<size_t>(n) < buf.size()) return std::string(buf.data(), static_cast<size_t>(n));
    if (buf.size() > 65536) return IoError("readlink '" + shown + "': target too long");
    buf.resize(buf.size() * 2);
  }
}

// Names in the directory open at `fd` (without "." and ".."), sorted. Does
// not take ownership of fd.
Result<std::vector<std::string>> ListDirAt(int fd, const std::string& shown) {
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return PosixError("dup '" + shown + "'", errno);
  DIR* dir = ::fdopendir(dup);
  if (dir == nullptr) {
    int err = errno;
    ::close(dup);
    return PosixError("opendir '" + shown + "'", err);
  }
  ::rewinddir(dir);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(dir)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return PosixError("readdir '" + shown + "'", err);
  std::sort(names.begin(), names.end());
  return names;
}

bool IsLinkAt(int dirfd, const std::string& name) {
  struct stat st;
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

Result<UniqueFd> OpenDirAt(int dirfd, const std::string& name, const std::string& shown) {
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      return InvalidArgument("'" + shown + "' is not a folder (or is a symbolic link); refusing to follow it");
    }
    return PosixError("open '" + shown + "'", err);
  }
  return fd;
}

// rm -rf of `name` in dirfd, never following links.
Status RemoveAt(int dirfd, const std::string& name, const std::string& shown) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return PosixError("stat '" + shown + "'", errno);
  }
  if (S_ISDIR(st.st_mode)) {
    SLIPWAY_ASSIGN_OR_RETURN(UniqueFd fd, OpenDirAt(dirfd, name, shown));
    SLIPWAY_ASSIGN_OR_RETURN(auto names, ListDirAt(fd.get(), shown));
    for (const auto& n : names) SLIPWAY_RETURN_IF_ERROR(RemoveAt(fd.get(), n, shown + "/" + n));
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) return PosixError("rmdir '" + shown + "'", errno);
    return Status::Ok();
  }
  if (::unlinkat(dirfd, name.c_str(), 0) != 0) return PosixError("unlink '" + shown + "'", errno);
  return Status::Ok();
}

class Overlay {
 public:
  Overlay(std::string shown_prefix, std::string workspace)
      : shown_prefix_(std::move(shown_prefix)), workspace_(std::move(workspace)) {}

  Status Run(UniqueFd settings_fd) {
    ws_fd_ = UniqueFd(::open(workspace_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!ws_fd_.valid()) return PosixError("open '" + workspace_ + "'", errno);
    root_.kind = Kind::kDir;
    SLIPWAY_RETURN_IF_ERROR(Scan(settings_fd.get(), &root_));
    SLIPWAY_RETURN_IF_ERROR(Validate(root_));
    if (!problems_.empty()) {
      std::string message;
      for (size_t i = 0; i < problems_.size() && i < kMaxReportedProblems; ++i) {
        if (!message.empty()) message += '\n';
        message += problems_[i];
      }
      if (problems_.size() > kMaxReportedProblems) {
        message += "\n... and " + std::to_string(problems_.size() - kMaxReportedProblems) + " more";
      }
      return InvalidArgument(std::move(message));
    }
    return CopyChildren(settings_fd.get(), ws_fd_.get(), root_);
  }

 private:
  std::string Shown(const std::string& rel) const { return shown_prefix_ + rel; }
  std::string ShownWs(const std::string& rel) const { return JoinPath(workspace_, rel); }

  // ---- 1. read the settings tree (never following its links) ----

  Status Scan(int dirfd, Entry* dir) {
    SLIPWAY_ASSIGN_OR_RETURN(auto names, ListDirAt(dirfd, Shown(dir->rel)));
    for (const auto& name : names) {
      if (name == ".git") continue;
      auto e = std::make_unique<Entry>();
      e->name = name;
      e->rel = JoinRel(dir->rel, name);
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return PosixError("stat '" + Shown(e->rel) + "'", errno);
      }
      e->kind = KindOf(st.st_mode);
      e->mode = st.st_mode & 0777;
      if (e->kind == Kind::kOther) {
        problems_.push_back("settings entry '" + Shown(e->rel) + "' is " + OtherKindName(st.st_mode) +
                            "; only files, folders and symbolic links are copied");
      } else if (e->kind == Kind::kLink) {
        SLIPWAY_ASSIGN_OR_RETURN(e->target, ReadLinkAt(dirfd, name, Shown(e->rel)));
      } else if (e->kind == Kind::kDir) {
        SLIPWAY_ASSIGN_OR_RETURN(UniqueFd fd, OpenDirAt(dirfd, name, Shown(e->rel)));
        SLIPWAY_RETURN_IF_ERROR(Scan(fd.get(), e.get()));
      }
      by_rel_[e->rel] = e.get();
      dir->children.push_back(std::move(e));
    }
    return Status::Ok();
  }

  // ---- 2. check every entry against the workspace as it will be ----

  struct Found {
    Kind kind = Kind::kMissing;
    std::string target;  // kLink
    bool from_settings = false;
  };

  // What the code checkout has at `rel`, looking at each component without
  // following links. A path below something that is not a real folder is
  // kMissing.
  Result<Found> WorkspaceAt(const std::string& rel) const {
    std::vector<std::string> parts = Split(rel, '/');
    std::string prefix;
    for (size_t i = 0; i < parts.size(); ++i) {
      prefix = JoinRel(prefix, parts[i]);
      struct stat st;
      if (::fstatat(ws_fd_.get(), prefix.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return Found{};
        return PosixError("stat '" + ShownWs(prefix) + "'", errno);
      }
      Kind kind = KindOf(st.st_mode);
      if (i + 1 < parts.size()) {
        if (kind != Kind::kDir) return Found{};
        continue;
      }
      Found found{kind, "", false};
      if (kind == Kind::kLink) {
        SLIPWAY_ASSIGN_OR_RETURN(found.target, ReadLinkAt(ws_fd_.get(), prefix, ShownWs(prefix)));
      }
      return found;
    }
    return Found{};
  }

  // What will be at `rel` once the overlay is done. Every proper prefix of
  // rel is expected to be a folder or missing (the resolver below never asks
  // through a link).
  Result<Found> FinalAt(const std::string& rel) const {
    std::vector<std::string> parts = Split(rel, '/');
    std::string prefix;
    bool workspace_merged = true;  // the workspace folder at `prefix` is part of the result
    for (size_t i = 0; i < parts.size(); ++i) {
      prefix = JoinRel(prefix, parts[i]);
      auto it = by_rel_.find(prefix);
      const Entry* s = it == by_rel_.end() ? nullptr : it->second;
      Found here;
      if (s != nullptr) {
        here = Found{s->kind, s->target, true};
      }
      if (workspace_merged) {
        SLIPWAY_ASSIGN_OR_RETURN(Found w, WorkspaceAt(prefix));
        if (s == nullptr) here = w;
        workspace_merged = w.kind == Kind::kDir && (s == nullptr || s->kind == Kind::kDir);
      }
      if (i + 1 == parts.size()) return here;
      if (here.kind != Kind::kDir) return Found{};
    }
    return Found{};
  }

  // Resolves the link at `link_rel` whose target is `target`; returns
  // nullopt when it stays inside the workspace, else how it gets out ("" when
  // the target itself climbs out, " through the link ..." otherwise).
  Result<std::optional<std::string>> Escapes(const std::string& link_rel, const std::string& target) const {
    std::vector<std::string> resolved = Split(link_rel, '/');
    resolved.pop_back();  // the link's folder
    std::deque<std::string> pending;
    auto push_target = [&](const std::string& t) {
      std::vector<std::string> parts = Split(t, '/');
      pending.insert(pending.begin(), parts.begin(), parts.end());
    };
    push_target(target);
    int hops = 0;
    std::string via;  // the link of the workspace or settings that leads outside
    while (!pending.empty()) {
      std::string part = std::move(pending.front());
      pending.pop_front();
      if (part.empty() || part == ".") continue;
      if (part == "..") {
        if (resolved.empty()) return std::optional<std::string>(via);
        resolved.pop_back();
        continue;
      }
      std::string candidate;
      for (const auto& r : resolved) candidate = JoinRel(candidate, r);
      candidate = JoinRel(candidate, part);
      SLIPWAY_ASSIGN_OR_RETURN(Found f, FinalAt(candidate));
      if (f.kind == Kind::kLink) {
        if (++hops > kMaxLinkHops) return std::optional<std::string>(": too many levels of symbolic links");
        via = " through the link '" + candidate + "' ('" + f.target + "')";
        if (f.target.empty() || f.target[0] == '/') return std::optional<std::string>(via);
        push_target(f.target);
        continue;
      }
      resolved.push_back(std::move(part));
    }
    return std::optional<std::string>();
  }

  Status Validate(const Entry& dir) {
    for (const auto& e : dir.children) {
      SLIPWAY_ASSIGN_OR_RETURN(Found w, WorkspaceAt(e->rel));
      if (e->kind == Kind::kDir) {
        if (w.kind == Kind::kLink) {
          problems_.push_back("the code checkout has a symbolic link at '" + e->rel + "' ('" + w.target +
                              "'); refusing to write the settings folder '" + Shown(e->rel) + "' through it");
          continue;  // its children would only repeat the problem
        }
        SLIPWAY_RETURN_IF_ERROR(Validate(*e));
      } else if (e->kind == Kind::kLink) {
        const std::string prefix =
            "settings link '" + Shown(e->rel) + "' points outside the workspace ('" + e->target + "')";
        if (e->target.empty()) {
          problems_.push_back("settings link '" + Shown(e->rel) + "' has an empty target");
        } else if (e->target[0] == '/') {
          problems_.push_back(prefix + ": absolute links are refused");
        } else {
          SLIPWAY_ASSIGN_OR_RETURN(std::optional<std::string> why, Escapes(e->rel, e->target));
          if (why) problems_.push_back(prefix + *why);
        }
      }
    }
    return Status::Ok();
  }

  // ---- 3. copy, with openat and O_NOFOLLOW all the way ----

  Status CopyChildren(int src_dir, int dst_dir, const Entry& dir) {
    for (const auto& e : dir.children) SLIPWAY_RETURN_IF_ERROR(CopyEntry(src_dir, dst_dir, *e));
    return Status::Ok();
  }

  Status CopyEntry(int src_dir, int dst_dir, const Entry& e) {
    const std::string& name = e.name;
    const std::string shown_dst = ShownWs(e.rel);
    struct stat st;
    Kind existing = Kind::kMissing;
    if (::fstatat(dst_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      existing = KindOf(st.st_mode);
    } else if (errno != ENOENT) {
      return PosixError("stat '" + shown_dst + "'", errno);
    }

    if (e.kind == Kind::kDir) {
      bool created = false;
      if (existing == Kind::kLink) {
        return InvalidArgument("the code checkout has a symbolic link at '" + e.rel +
                               "'; refusing to write the settings folder '" + Shown(e.rel) + "' through it");
      }
      if (existing != Kind::kDir) {
        if (existing != Kind::kMissing) SLIPWAY_RETURN_IF_ERROR(RemoveAt(dst_dir, name, shown_dst));
        if (::mkdirat(dst_dir, name.c_str(), 0700) != 0) return PosixError("mkdir '" + shown_dst + "'", errno);
        created = true;
      }
      SLIPWAY_ASSIGN_OR_RETURN(UniqueFd src, OpenDirAt(src_dir, name, Shown(e.rel)));
      SLIPWAY_ASSIGN_OR_RETURN(UniqueFd dst, OpenDirAt(dst_dir, name, shown_dst));
      SLIPWAY_RETURN_IF_ERROR(CopyChildren(src.get(), dst.get(), e));
      // Only now: a read-only settings folder must still take its files.
      if (created && ::fchmod(dst.get(), e.mode | S_IRWXU) != 0) return PosixError("chmod '" + shown_dst + "'", errno);
      return Status::Ok();
    }

    if (existing != Kind::kMissing) SLIPWAY_RETURN_IF_ERROR(RemoveAt(dst_dir, name, shown_dst));
    if (e.kind == Kind::kLink) {
      if (::symlinkat(e.target.c_str(), dst_dir, name.c_str()) != 0) {
        return PosixError("symlink '" + shown_dst + "'", errno);
      }
      return Status::Ok();
    }
    // A regular file. O_EXCL with O_CREAT never follows a link, and the old
    // entry (possibly a hard link shared with something else) is gone.
    UniqueFd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in.valid()) return PosixError("open '" + Shown(e.rel) + "'", errno);
    if (::fstat(in.get(), &st) != 0) return PosixError("stat '" + Shown(e.rel) + "'", errno);
    if (!S_ISREG(st.st_mode)) return InvalidArgument("settings entry '" + Shown(e.rel) + "' changed while copying");
    UniqueFd out(::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid()) return PosixError("create '" + shown_dst + "'", errno);
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = ::read(in.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("read '" + Shown(e.rel) + "'", errno);
      }
      if (n == 0) break;
      SLIPWAY_RETURN_IF_ERROR(WriteAll(out.get(), std::string_view(buf.data(), static_cast<size_t>(n)), shown_dst));
    }
    if (::fchmod(out.get(), e.mode) != 0) return PosixError("chmod '" + shown_dst + "'", errno);
    return Status::Ok();
  }

  std::string shown_prefix_;
  std::string workspace_;
  UniqueFd ws_fd_;
  Entry root_;
  std::map<std::string, const Entry*> by_rel_;
  std::vector<std::string> problems_;
};

}  // namespace

Status OverlaySettings(const std::string& settings_dir, const std::string& workspace) {
  UniqueFd fd(::open(settings_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (IsLinkAt(AT_FDCWD, settings_dir)) {
      return InvalidArgument("the settings folder '" + settings_dir + "' is a symbolic link; refusing to follow it");
    }
    return PosixError("open '" + settings_dir + "'", err);
  }
  return Overlay("", workspace).Run(std::move(fd));
}

Status OverlaySettingsFolder(const std::string& settings_root, const std::string& path, const std::string& workspace) {
  UniqueFd fd(::open(settings_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return PosixError("open '" + settings_root + "'", errno);
  std::string walked;
  for (const auto& part : Split(path, '/')) {
    if (part.empty() || part == ".") continue;
    walked = JoinRel(walked, part);
    if (part == "..") return InvalidArgument("settings path '" + path + "' must not contain '..'");
    UniqueFd next(::openat(fd.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      int err = errno;
      if (IsLinkAt(fd.get(), part)) {
        return InvalidArgument("'" + walked +
                               "' is a symbolic link in the settings repository; the settings path must not go "
                               "through links");
      }
      if (err == ENOTDIR) return InvalidArgument("settings path '" + walked + "' is not a folder");
      return PosixError("open '" + JoinPath(settings_root, walked) + "'", err);
    }
    fd = std::move(next);
  }
  return Overlay(walked.empty() ? "" : walked + "/", workspace).Run(std::move(fd));
}

}  // namespace slipway
