#include "proc/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

#include "proc/sigpipe.h"
#include "util/clock.h"
#include "util/fs.h"

extern char** environ;

namespace slipway {

namespace {

// One read() of a pipe; also the most output held in memory at once.
constexpr size_t kReadChunk = 64 * 1024;
// How often we look for leftover processes once the main process is gone: they
// may not hold the output pipe, so nothing else would wake us.
constexpr int64_t kReapTickMs = 20;
// After SIGKILL a group is normally gone within milliseconds. One that is not
// after this long is stuck (uninterruptible sleep, or zombies whose parent is
// a non-reaping ancestor because the engine is no subreaper); we stop waiting
// rather than hang the run forever.
constexpr int64_t kAfterKillLimitMs = 10000;
// Once the group is gone, what is left in the pipe is read, up to this much:
// a daemonised process outside the group may keep writing forever.
constexpr size_t kDrainLimit = 1 << 20;
// The PATH used for the lookup of argv[0] when the child's environment has none
// (the same as execvp's default).
constexpr const char* kDefaultPath = "/bin:/usr/bin";

static_assert(std::atomic<bool>::is_always_lock_free, "CancelToken::Cancel must be async-signal-safe");

Status SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return PosixError("fcntl O_NONBLOCK", errno);
  return Status::Ok();
}

// Finds argv[0] the way execvp would, but in the PATH of the child's
// environment (the engine's own PATH is irrelevant to a step) and relative to
// the child's working directory.
Result<std::string> ResolveProgram(const std::string& program, const EnvMap& env, const std::string& cwd) {
  if (program.empty()) return InvalidArgument("spawn: empty program name");
  // A name with a slash is used as is; posix_spawn resolves a relative one
  // after the chdir, like a shell would in the child.
  if (program.find('/') != std::string::npos) return program;
  auto it = env.find("PATH");
  std::string_view search = it != env.end() ? std::string_view(it->second) : std::string_view(kDefaultPath);
  int err = ENOENT;
  for (;;) {
    size_t colon = search.find(':');
    std::string_view dir = search.substr(0, colon);
    // An empty PATH element means the current directory.
    std::string candidate = dir.empty() ? "./" + program : JoinPath(dir, program);
    std::string probe = candidate;
    if (probe.front() != '/' && !cwd.empty()) probe = JoinPath(cwd, probe);
    struct stat st;
    if (::stat(probe.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (::faccessat(AT_FDCWD, probe.c_str(), X_OK, AT_EACCESS) == 0) return candidate;
      err = EACCES;  // remembered like execvp does, in case nothing better is found
    }
    if (colon == std::string_view::npos) break;
    search.remove_prefix(colon + 1);
  }
  return PosixError("spawn '" + program + "'", err);
}

// A spawned process and its process group (whose id is the process's pid).
// A Child destroyed before Finish() -- an early error return, an exception
// from a sink -- kills the whole group and reaps what it can, so no path
// leaves processes behind.
class Child {
 public:
  Child(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (finished_) return;
    SignalGroup(SIGKILL);
    if (!main_reaped_) {
      int raw;
      while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
      }
      main_reaped_ = true;
    }
    for (int i = 0; i < 100; ++i) {
      ReapGroup();
      if (GroupGone()) break;
      SignalGroup(SIGKILL);
      ::usleep(10 * 1000);
    }
  }

  pid_t pid() const { return pid_; }
  // Readable once the main process has exited; -1 when pidfds are unavailable.
  int pidfd() const { return pidfd_.get(); }
  bool main_reaped() const { return main_reaped_; }
  const ExitStatus& exit() const { return exit_; }
  void Finish() { finished_ = true; }

  // Reaps the main process if it has exited. Only this process, never
  // waitpid(-1): other threads run their own children.
  Status TryReapMain() {
    if (main_reaped_) return Status::Ok();
    int raw = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &raw, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r < 0) {
      // ECHILD: someone else reaped our child, which the contract forbids.
      main_reaped_ = true;
      return Internal("internal error: " + PosixError("waitpid " + std::to_string(pid_), errno).message());
    }
    if (r == pid_) {
      main_reaped_ = true;
      exit_ = DecodeWaitStatus(raw);
      pidfd_.Reset();
    }
    return Status::Ok();
  }

  // Reaps members of the group that have become our children (orphans
  // re-parented to us as subreaper). Only call after the main process has been
  // reaped, else this could reap it and lose its status.
  void ReapGroup() {
    assert(main_reaped_);
    int raw;
    for (;;) {
      pid_t r = ::waitpid(-pid_, &raw, WNOHANG);
      if (r > 0) continue;
      if (r < 0 && errno == EINTR) continue;
      break;  // 0: members left but none exited yet; ECHILD: none are ours
    }
  }

  // True when no process of the group exists any more (zombies count as
  // existing: a group is gone only once every member has been reaped).
  bool GroupGone() const { return ::kill(-pid_, 0) < 0 && errno == ESRCH; }

  // After the main process has been reaped the group id could in theory be
  // reused once the group empties; the window between our check and the
  // signal is microseconds against a pid space cycled through sequentially.
  void SignalGroup(int sig) const { ::kill(-pid_, sig); }

 private:
  pid_t pid_;
  UniqueFd pidfd_;
  bool main_reaped_ = false;
  bool finished_ = false;
  ExitStatus exit_;
};

// RAII for the posix_spawn attribute objects.
struct SpawnActions {
  posix_spawn_file_actions_t actions;
  SpawnActions() { posix_spawn_file_actions_init(&actions); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
};
struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
};

// Starts options.argv with the given fds as its stdin, stdout and stderr (all
// three may be the same fd; none is consumed).
Result<std::unique_ptr<Child>> Spawn(const ProcessOptions& options, int in_fd, int out_fd, int err_fd) {
  if (options.argv.empty()) return InvalidArgument("spawn: empty command line");
  const std::string& program = options.argv[0];
  SLIPWAY_ASSIGN_OR_RETURN(std::string path, ResolveProgram(program, options.env, options.cwd));

  std::vector<std::string> env_strings;
  env_strings.reserve(options.env.size());
  for (const auto& [name, value] : options.env) {
    if (name.empty() || name.find('=') != std::string::npos) {
      return InvalidArgument("spawn '" + program + "': invalid environment variable name '" + name + "'");
    }
    env_strings.push_back(name + "=" + value);
  }
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = options.argv;
  std::vector<char*> argv;
  for (std::string& s : argv_copy) argv.push_back(s.data());
  argv.push_back(nullptr);

  // An fd that is itself 0, 1 or 2 (the engine's stdio was closed) could be
  // clobbered by an earlier dup2 of the child's set-up; lift it out of the way.
  int fds[3] = {in_fd, out_fd, err_fd};
  UniqueFd lifted[3];
  for (int i = 0; i < 3; ++i) {
    if (fds[i] > 2) continue;
    lifted[i].Reset(::fcntl(fds[i], F_DUPFD_CLOEXEC, 3));
    if (!lifted[i].valid()) return PosixError("fcntl F_DUPFD_CLOEXEC", errno);
    fds[i] = lifted[i].get();
  }

  SpawnActions actions;
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; ++i) rc = posix_spawn_file_actions_adddup2(&actions.actions, fds[i], i);
  if (rc == 0 && !options.cwd.empty()) rc = posix_spawn_file_actions_addchdir_np(&actions.actions, options.cwd.c_str());
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
  // Every fd of ours is close-on-exec already; this also covers fds that a
  // library opened without it, which would otherwise hold a step's pipe open.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions.actions, 3);
#endif
  if (rc != 0) return PosixError("posix_spawn_file_actions", rc);

  SpawnAttr attr;
  sigset_t empty_set, all_signals;
  sigemptyset(&empty_set);
  sigfillset(&all_signals);
  rc = posix_spawnattr_setflags(&attr.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&attr.attr, 0);  // a new group led by the child
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr.attr, &empty_set);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr.attr, &all_signals);
  if (rc != 0) return PosixError("posix_spawnattr", rc);

  pid_t pid = -1;
  // glibc reports a failed chdir or exec in the child as posix_spawn's return
  // value (and reaps that child itself).
  rc = ::posix_spawn(&pid, path.c_str(), &actions.actions, &attr.attr, argv.data(), envp.data());
  if (rc != 0) {
    if (!options.cwd.empty() && !IsDirectory(options.cwd)) {
      return PosixError("spawn '" + program + "' in '" + options.cwd + "'", rc);
    }
    return PosixError("spawn '" + program + "'", rc);
  }

  UniqueFd pidfd;
#ifdef SYS_pidfd_open
  // Lets poll() wake the moment the main process exits, without SIGCHLD
  // handling. The pid cannot be reused before we reap it, so this is race-free.
  pidfd.Reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#endif
  return std::make_unique<Child>(pid, std::move(pidfd));
}

struct OutputChannel {
  UniqueFd fd;  // non-blocking read end
  OutputSink sink;
};
struct InputChannel {
  UniqueFd fd;  // non-blocking write end; invalid once everything is written
  std::string_view data;
};

// Reads what one output pipe has: a chunk to the sink, EOF closes it.
// Returns the number of bytes read (0 at EOF or when nothing was there).
size_t ReadOnce(OutputChannel& out, std::vector<char>& buf) {
  ssize_t n;
  while ((n = ::read(out.fd.get(), buf.data(), buf.size())) < 0 && errno == EINTR) {
  }
  if (n > 0) {
    if (out.sink) out.sink(std::string_view(buf.data(), static_cast<size_t>(n)));
    return static_cast<size_t>(n);
  }
  // EOF, or an error a pipe read cannot really have: either way nothing more
  // will come. EAGAIN means a spurious wake-up.
  if (n == 0 || errno != EAGAIN) out.fd.Reset();
  return 0;
}

// The loop shared by RunProcess and RunCapture: pumps output and input,
// enforces the deadline and the cancel token, and returns once the main
// process and every other process of its group are gone.
Status Supervise(Child& child, const ProcessOptions& options, std::vector<OutputChannel>& outputs, InputChannel* input,
                 int64_t start_ms, ProcessResult* result) {
  enum class Kill { kNone, kTerminating, kKilling };
  Kill kill = Kill::kNone;
  int64_t kill_phase_ms = 0;
  std::optional<int64_t> deadline = options.deadline_monotonic_ms;
  if (!deadline && options.timeout_ms > 0) deadline = start_ms + options.timeout_ms;
  const int64_t grace = std::max<int64_t>(options.grace_ms, 0);
  const CancelToken* cancel = options.cancel;
  std::vector<char> buf(kReadChunk);

  // The one kill path of timeout, cancel and leftovers: SIGTERM now (and
  // SIGCONT so a stopped process can act on it), SIGKILL after the grace.
  auto start_kill = [&](int64_t now) {
    child.SignalGroup(SIGTERM);
    child.SignalGroup(SIGCONT);
    kill = Kill::kTerminating;
    kill_phase_ms = now;
  };

  std::vector<pollfd> fds;
  // With a pidfd in the poll set, the main process's exit shows there: no
  // waitpid for every chunk of output a step prints.
  bool check_main = true;
  for (;;) {
    int64_t now = MonotonicMs();
    if (check_main) SLIPWAY_RETURN_IF_ERROR(child.TryReapMain());
    check_main = true;
    if (!child.main_reaped() && kill == Kill::kNone) {
      if (cancel != nullptr && cancel->cancelled()) {
        result->cancelled = true;
        start_kill(now);
      } else if (deadline && now >= *deadline) {
        result->timed_out = true;
        start_kill(now);
      }
    }
    if (child.main_reaped()) {
      child.ReapGroup();
      if (child.GroupGone()) break;
      if (kill == Kill::kNone) {
        // The main process is done but left processes in its group (a
        // background job): a step is finished only when all of it is.
        result->killed_leftovers = true;
        start_kill(now);
      }
    }
    if (kill == Kill::kTerminating && now >= kill_phase_ms + grace) {
      child.SignalGroup(SIGKILL);
      kill = Kill::kKilling;
      kill_phase_ms = now;
    } else if (kill == Kill::kKilling && child.main_reaped()) {
      if (now >= kill_phase_ms + kAfterKillLimitMs) break;
      child.SignalGroup(SIGKILL);  // also catches anything forked meanwhile
    }

    // Build the poll set and the time to wake up.
    fds.clear();
    for (OutputChannel& out : outputs) {
      if (out.fd.valid()) fds.push_back({out.fd.get(), POLLIN, 0});
    }
    if (input != nullptr && input->fd.valid()) fds.push_back({input->fd.get(), POLLOUT, 0});
    bool watch_main = !child.main_reaped() && child.pidfd() >= 0;
    size_t pidfd_index = fds.size();
    if (watch_main) fds.push_back({child.pidfd(), POLLIN, 0});
    bool watch_cancel = cancel != nullptr && !child.main_reaped() && kill == Kill::kNone;
    if (watch_cancel && cancel->fd() >= 0) fds.push_back({cancel->fd(), POLLIN, 0});

    int64_t wake = INT64_MAX;
    if (deadline && !child.main_reaped() && kill == Kill::kNone) wake = std::min(wake, *deadline);
    if (kill == Kill::kTerminating) wake = std::min(wake, kill_phase_ms + grace);
    bool tick = child.main_reaped() || (!child.main_reaped() && !watch_main) || (watch_cancel && cancel->fd() < 0);
    if (tick) wake = std::min(wake, now + kReapTickMs);
    int timeout = -1;
    if (wake != INT64_MAX) timeout = static_cast<int>(std::clamp<int64_t>(wake - now, 0, INT_MAX));

    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("poll", errno);
    }
    if (n == 0) continue;
    if (watch_main && fds[pidfd_index].revents == 0) check_main = false;

    size_t i = 0;
    for (OutputChannel& out : outputs) {
      if (!out.fd.valid()) continue;
      if (fds[i++].revents != 0) ReadOnce(out, buf);
    }
    if (input != nullptr && input->fd.valid()) {
      if (fds[i++].revents != 0) {
        size_t len = std::min(input->data.size(), kReadChunk);
        ssize_t w = len == 0 ? 0 : WriteNoSigpipe(input->fd.get(), input->data.data(), len);
        if (w > 0) input->data.remove_prefix(static_cast<size_t>(w));
        // Done, or the child closed its stdin (EPIPE): not our error either way.
        if (input->data.empty() || (w < 0 && errno != EAGAIN && errno != EINTR)) input->fd.Reset();
      }
    }
    // pidfd and cancel fd: handled at the top of the loop.
  }

  // The group is gone. What its members wrote before they died is still in
  // the pipes; read that, but do not wait for an EOF that a daemonised process
  // outside the group may hold back forever.
  for (OutputChannel& out : outputs) {
    size_t drained = 0;
    while (out.fd.valid() && drained < kDrainLimit) {
      size_t got = ReadOnce(out, buf);
      if (got == 0) break;
      drained += got;
    }
    out.fd.Reset();
  }
  if (input != nullptr) input->fd.Reset();
  result->exit = child.exit();
  result->duration_ms = MonotonicMs() - start_ms;
  child.Finish();
  return Status::Ok();
}

UniqueFd OpenDevNull() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

}  // namespace

ExitStatus DecodeWaitStatus(int raw) {
  ExitStatus status;
  if (WIFEXITED(raw)) {
    status.kind = ExitStatus::Kind::kExited;
    status.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    status.kind = ExitStatus::Kind::kSignaled;
    status.signal = WTERMSIG(raw);
  } else {
    // Stopped/continued statuses are only reported with WUNTRACED/WCONTINUED,
    // which we never pass.
    assert(false && "DecodeWaitStatus: not a termination status");
    status.kind = ExitStatus::Kind::kExited;
    status.code = -1;
  }
  return status;
}

std::string ExitStatus::Describe() const {
  if (kind == Kind::kExited) return "exit status " + std::to_string(code);
  const char* name = sigdescr_np(signal);
  return "killed by signal " + std::to_string(signal) + (name != nullptr ? " (" + std::string(name) + ")" : "");
}

CancelToken::CancelToken() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  // Without an eventfd (fd exhaustion) Cancel still sets the flag, and
  // RunProcess then checks it on a short tick instead of waking at once.
}

CancelToken::~CancelToken() {
  if (fd_ >= 0) ::close(fd_);
}

void CancelToken::Cancel() {
  int saved_errno = errno;
  cancelled_.store(true);
  if (fd_ >= 0) {
    // Nobody ever reads the eventfd, so it stays readable for every poller.
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
  }
  errno = saved_errno;
}

Result<ProcessResult> RunProcess(const ProcessOptions& options, const OutputSink& sink) {
  int64_t start = MonotonicMs();
  UniqueFd dev_null = OpenDevNull();
  if (!dev_null.valid()) return PosixError("open '/dev/null'", errno);
  SLIPWAY_ASSIGN_OR_RETURN(Pipe output, MakePipe());
  SLIPWAY_RETURN_IF_ERROR(SetNonBlocking(output.read.get()));
  // stdout and stderr share one pipe so their order is the order written.
  SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<Child> child,
                           Spawn(options, dev_null.get(), output.write.get(), output.write.get()));
  // Only the child may hold the write end, or we would never see EOF.
  output.write.Reset();
  dev_null.Reset();

  std::vector<OutputChannel> outputs;
  outputs.push_back({std::move(output.read), sink});
  ProcessResult result;
  SLIPWAY_RETURN_IF_ERROR(Supervise(*child, options, outputs, nullptr, start, &result));
  return result;
}

Result<CapturedOutput> RunCapture(const ProcessOptions& options, size_t max_bytes, std::optional<std::string> input) {
  int64_t start = MonotonicMs();
  UniqueFd stdin_fd;
  InputChannel in_channel;
  if (input) {
    SLIPWAY_ASSIGN_OR_RETURN(Pipe in_pipe, MakePipe());
    SLIPWAY_RETURN_IF_ERROR(SetNonBlocking(in_pipe.write.get()));
    stdin_fd = std::move(in_pipe.read);
    in_channel.fd = std::move(in_pipe.write);
    in_channel.data = *input;
  } else {
    stdin_fd = OpenDevNull();
    if (!stdin_fd.valid()) return PosixError("open '/dev/null'", errno);
  }
  SLIPWAY_ASSIGN_OR_RETURN(Pipe out_pipe, MakePipe());
  SLIPWAY_ASSIGN_OR_RETURN(Pipe err_pipe, MakePipe());
  SLIPWAY_RETURN_IF_ERROR(SetNonBlocking(out_pipe.read.get()));
  SLIPWAY_RETURN_IF_ERROR(SetNonBlocking(err_pipe.read.get()));
  SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<Child> child,
                           Spawn(options, stdin_fd.get(), out_pipe.write.get(), err_pipe.write.get()));
  stdin_fd.Reset();
  out_pipe.write.Reset();
  err_pipe.write.Reset();

  CapturedOutput captured;
  auto capped = [max_bytes](std::string* into) {
    return [into, max_bytes](std::string_view chunk) {
      if (into->size() < max_bytes) into->append(chunk.substr(0, max_bytes - into->size()));
    };
  };
  std::vector<OutputChannel> outputs;
  outputs.push_back({std::move(out_pipe.read), capped(&captured.out)});
  outputs.push_back({std::move(err_pipe.read), capped(&captured.err)});
  // An empty input is written as an immediate EOF.
  if (in_channel.fd.valid() && in_channel.data.empty()) in_channel.fd.Reset();
  SLIPWAY_RETURN_IF_ERROR(
      Supervise(*child, options, outputs, in_channel.fd.valid() ? &in_channel : nullptr, start, &captured.result));
  return captured;
}

Result<pid_t> SpawnDetached(const ProcessOptions& options) {
  UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd.valid()) return PosixError("open /dev/null", errno);
  SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<Child> child, Spawn(options, null_fd.get(), null_fd.get(), null_fd.get()));
  child->Finish();  // left alone: neither killed nor reaped
  return child->pid();
}

Status BecomeSubreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return PosixError("prctl PR_SET_CHILD_SUBREAPER", errno);
  return Status::Ok();
}

EnvMap AllowedBaseEnvironment() {
  static constexpr std::string_view kNames[] = {
      "PATH",       "HOME",        "LANG",          "TZ",           "USER",       "LOGNAME",     "SHELL",
      "TERM",       "TMPDIR",      "SSL_CERT_FILE", "SSL_CERT_DIR", "http_proxy", "https_proxy", "no_proxy",
      "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
  };
  EnvMap env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view var(*entry);
    size_t eq = var.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string_view name = var.substr(0, eq);
    bool allowed =
        name.substr(0, 3) == "LC_" || std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
    if (allowed) env.emplace(std::string(name), std::string(var.substr(eq + 1)));
  }
  return env;
}

}  // namespace slipway
