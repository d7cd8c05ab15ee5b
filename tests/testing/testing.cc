#include "testing/testing.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "testing/leak_scan.h"

extern char** environ;

namespace slipway::testing {

namespace {

std::string MakeTemp(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed: " << std::strerror(errno);
    return "/tmp";
  }
  return buf.data();
}

}  // namespace

void InitTestEnvironment() {
  static std::string home = MakeTemp("slipway-test-home-");
  setenv("HOME", home.c_str(), 1);
  setenv("GIT_AUTHOR_NAME", "Slipway Test", 1);
  setenv("GIT_AUTHOR_EMAIL", "test@slipway.invalid", 1);
  setenv("GIT_COMMITTER_NAME", "Slipway Test", 1);
  setenv("GIT_COMMITTER_EMAIL", "test@slipway.invalid", 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  unsetenv("SLIPWAY_CONFIG");
  WriteTextFile(home + "/.gitconfig", "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n");
}

TempDir::TempDir() : path_(MakeTemp("slipway-test-")) {}
TempDir::~TempDir() {
  KeepForLeakScan(path_);  // the engine's logs and databases, for tests/e2e/leak_scan_test.cc
  if (std::getenv("SLIPWAY_KEEP_TEST_DIRS") == nullptr) {
    std::string cmd = "chmod -R u+w '" + path_ + "' 2>/dev/null; rm -rf '" + path_ + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }
}

CommandResult Run(const std::vector<std::string>& argv, const std::string& cwd,
                  const std::map<std::string, std::string>& env, const std::string& input) {
  CommandResult result;
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 || pipe2(in_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return result;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(in_pipe[0]);
  std::thread writer([fd = in_pipe[1], input] {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(fd, input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(fd);
  });
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  writer.join();
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult Sh(const std::string& script, const std::string& cwd, bool allow_failure) {
  CommandResult r = Run({"/bin/sh", "-c", script}, cwd);
  if (!allow_failure && r.exit_code != 0) {
    ADD_FAILURE() << "command failed (" << r.exit_code << "): " << script << "\n" << r.out << r.err;
  }
  return r;
}

CommandResult Slipway(const std::vector<std::string>& args, const std::string& cwd,
                      const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {SLIPWAY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, cwd, env);
}

void WriteTextFile(const std::string& path, const std::string& content, int mode) {
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) {
    std::string cmd = "mkdir -p '" + dir + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  f.close();
  chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

GitRepo::GitRepo(std::string work_dir) : dir_(std::move(work_dir)) {
  Sh("mkdir -p '" + dir_ + "' && git init -q -b main '" + dir_ + "'");
}

void GitRepo::Write(const std::string& rel, const std::string& content, int mode) {
  WriteTextFile(dir_ + "/" + rel, content, mode);
}

void GitRepo::Remove(const std::string& rel) { Sh("git rm -rq -- '" + rel + "'", dir_); }

std::string GitRepo::Commit(const std::string& message) {
  Sh("git add -A && git commit -q --allow-empty -m '" + message + "'", dir_);
  return Head();
}

void GitRepo::Tag(const std::string& name, bool annotated, const std::string& target) {
  if (annotated) {
    Sh("git tag -f -a -m 'release " + name + "' '" + name + "' " + target, dir_);
  } else {
    Sh("git tag -f '" + name + "' " + target, dir_);
  }
}

std::string GitRepo::Head() const {
  CommandResult r = Run({"git", "rev-parse", "HEAD"}, dir_);
  std::string h = r.out;
  while (!h.empty() && (h.back() == '\n' || h.back() == '\r')) h.pop_back();
  return h;
}

void GitRepo::PushTo(const std::string& bare_path) {
  if (!FileExists(bare_path)) {
    Sh("git init -q --bare '" + bare_path + "' && touch '" + bare_path + "/git-daemon-export-ok'");
  }
  Sh("git push -q -f '" + bare_path + "' 'refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*'", dir_);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

namespace {

bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

GitDaemon::GitDaemon(std::string base_dir) : base_dir_(std::move(base_dir)) {
  for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
    port_ = FreePort();
    std::vector<std::string> argv = {"git",
                                     "daemon",
                                     "--reuseaddr",
                                     "--listen=127.0.0.1",
                                     "--port=" + std::to_string(port_),
                                     "--base-path=" + base_dir_,
                                     "--export-all",
                                     "--enable=upload-pack",
                                     base_dir_};
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 0);
      dup2(devnull, 1);
      dup2(devnull, 2);
      setpgid(0, 0);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp("git", args.data());
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (CanConnect(port_)) {
        pid_ = pid;
        break;
      }
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (pid_ < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  if (pid_ < 0) ADD_FAILURE() << "could not start git daemon";
}

GitDaemon::~GitDaemon() { Stop(); }

void GitDaemon::Stop() {
  if (pid_ > 0) {
    kill(-pid_, SIGTERM);
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

std::string GitDaemon::Url(const std::string& name) const {
  return "git://127.0.0.1:" + std::to_string(port_) + "/" + name;
}

}  // namespace slipway::testing
