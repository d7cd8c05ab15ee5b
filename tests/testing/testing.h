// Helpers for tests: temporary directories, real git repositories, a real
// `git daemon` on 127.0.0.1, and running the real `slipway` binary.
// For tests only.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace slipway::testing {

// Called once from main(): sets a fixed git identity, HOME in a temp dir, etc.
void InitTestEnvironment();

// A fresh directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs argv (no shell) with optional extra environment and cwd; captures output.
CommandResult Run(const std::vector<std::string>& argv, const std::string& cwd = "",
                  const std::map<std::string, std::string>& env = {}, const std::string& input = "");
// Runs `sh -c script`; fails the test (ADD_FAILURE) on non-zero exit unless allow_failure.
CommandResult Sh(const std::string& script, const std::string& cwd = "", bool allow_failure = false);

// Runs the slipway binary built beside the tests.
CommandResult Slipway(const std::vector<std::string>& args, const std::string& cwd,
                      const std::map<std::string, std::string>& env = {});

void WriteTextFile(const std::string& path, const std::string& content, int mode = 0644);
std::string ReadTextFile(const std::string& path);
bool FileExists(const std::string& path);

// A non-bare repository used to author commits, with a bare copy published
// under a git daemon base directory.
class GitRepo {
 public:
  // Creates a work repo at `work_dir` (git init -b main).
  explicit GitRepo(std::string work_dir);
  const std::string& dir() const { return dir_; }
  // Writes a file relative to the repo (creating folders) — not yet committed.
  void Write(const std::string& rel, const std::string& content, int mode = 0644);
  void Remove(const std::string& rel);
  // git add -A && git commit; returns the new commit hash.
  std::string Commit(const std::string& message);
  void Tag(const std::string& name, bool annotated = false, const std::string& target = "HEAD");
  std::string Head() const;
  // Pushes all branches and tags (forced) to a bare repository at bare_path,
  // creating it when missing.
  void PushTo(const std::string& bare_path);

 private:
  std::string dir_;
};

// `git daemon` serving base_dir on 127.0.0.1 at a free port; stopped on destruction.
class GitDaemon {
 public:
  explicit GitDaemon(std::string base_dir);
  ~GitDaemon();
  GitDaemon(const GitDaemon&) = delete;
  GitDaemon& operator=(const GitDaemon&) = delete;
  int port() const { return port_; }
  // git://127.0.0.1:PORT/NAME
  std::string Url(const std::string& name) const;
  void Stop();

 private:
  std::string base_dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

int FreePort();

}  // namespace slipway::testing
