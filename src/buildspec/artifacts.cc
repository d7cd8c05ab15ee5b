#include "buildspec/artifacts.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

std::vector<std::string_view> Segments(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool MatchSegments(const std::vector<std::string_view>& pat, size_t pi, const std::vector<std::string_view>& path,
                   size_t si) {
  if (pi == pat.size()) return si == path.size();
  if (pat[pi] == "**") {
    for (size_t k = si; k <= path.size(); ++k) {
      if (MatchSegments(pat, pi + 1, path, k)) return true;
    }
    return false;
  }
  if (si == path.size()) return false;
  std::string p(pat[pi]), s(path[si]);
  if (fnmatch(p.c_str(), s.c_str(), 0) != 0) return false;
  return MatchSegments(pat, pi + 1, path, si + 1);
}

std::string NormalisePattern(std::string_view pattern) {
  std::string p(Trim(pattern));
  while (StartsWith(p, "./")) p.erase(0, 2);
  if (p.empty() || EndsWith(p, "/")) p += "**/*";
  return p;
}

Status Walk(const std::string& root, const std::string& rel, std::vector<std::string>* out) {
  std::string dir = rel.empty() ? root : JoinPath(root, rel);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return PosixError("open '" + dir + "'", errno);
  std::vector<std::pair<std::string, bool>> entries;  // name, is real directory
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    entries.emplace_back(name, S_ISDIR(st.st_mode));
  }
  closedir(d);
  for (const auto& [name, is_dir] : entries) {
    std::string child = rel.empty() ? name : rel + "/" + name;
    if (is_dir) {
      SLIPWAY_RETURN_IF_ERROR(Walk(root, child, out));
    } else {
      out->push_back(child);
    }
  }
  return Status::Ok();
}

Status CopyOne(const std::string& from, const std::string& to, bool keep_symlinks) {
  struct stat st;
  if (lstat(from.c_str(), &st) != 0) return PosixError("stat '" + from + "'", errno);
  SLIPWAY_RETURN_IF_ERROR(MakeDirs(DirName(to)));
  ::unlink(to.c_str());
  if (S_ISLNK(st.st_mode) && keep_symlinks) {
    char target[4096];
    ssize_t n = readlink(from.c_str(), target, sizeof target - 1);
    if (n < 0) return PosixError("readlink '" + from + "'", errno);
    if (symlink(std::string(target, static_cast<size_t>(n)).c_str(), to.c_str()) != 0) {
      return PosixError("symlink '" + to + "'", errno);
    }
    return Status::Ok();
  }
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return PosixError("open '" + from + "'", errno);
  if (fstat(in.get(), &st) != 0) return PosixError("stat '" + from + "'", errno);
  if (!S_ISREG(st.st_mode)) return Status::Ok();  // sockets, fifos, dangling links: nothing to copy
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777));
  if (!out.valid()) return PosixError("open '" + to + "'", errno);
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("read '" + from + "'", errno);
    }
    if (n == 0) break;
    SLIPWAY_RETURN_IF_ERROR(WriteAll(out.get(), std::string_view(buf, static_cast<size_t>(n)), to));
  }
  return Status::Ok();
}

}  // namespace

bool MatchArtifactPattern(std::string_view pattern, std::string_view relative_path) {
  std::string p = NormalisePattern(pattern);
  return MatchSegments(Segments(p), 0, Segments(relative_path), 0);
}

Result<std::vector<std::string>> MatchFileSet(const FileSet& set, const std::string& base_dir) {
  if (!IsDirectory(base_dir)) return NotFound("base directory '" + base_dir + "' does not exist");
  std::vector<std::string> all;
  SLIPWAY_RETURN_IF_ERROR(Walk(base_dir, "", &all));
  std::vector<std::string> out;
  for (const auto& path : all) {
    bool included = std::any_of(set.files.begin(), set.files.end(),
                                [&](const std::string& p) { return MatchArtifactPattern(p, path); });
    bool excluded = std::any_of(set.exclude_paths.begin(), set.exclude_paths.end(),
                                [&](const std::string& p) { return MatchArtifactPattern(p, path); });
    if (included && !excluded) out.push_back(path);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status CopyFiles(const std::string& base_dir, const std::vector<std::string>& files, const std::string& dest_dir,
                 bool discard_paths, bool keep_symlinks) {
  SLIPWAY_RETURN_IF_ERROR(MakeDirs(dest_dir));
  for (const auto& rel : files) {
    std::string to = JoinPath(dest_dir, discard_paths ? BaseName(rel) : rel);
    SLIPWAY_RETURN_IF_ERROR(CopyOne(JoinPath(base_dir, rel), to, keep_symlinks));
  }
  return Status::Ok();
}

}  // namespace slipway
