// Running child processes: the heart of Slipway (see STYLE.md "Resources and
// processes").
//
// Every process is started with posix_spawn from an argv vector (never through
// a shell; a user's step command is run as {"/bin/sh", "-c", text} by the
// caller), in a process group of its own, with /dev/null as stdin unless told
// otherwise, and with a complete, explicit environment: nothing of the
// engine's own environment is inherited implicitly.
//
// Cancellation, timeouts and shutdown share one path: SIGTERM to the whole
// group, a grace period, then SIGKILL to the group. A run is finished only when
// every process of its group is gone: when the main process exits, stragglers
// left in its group are terminated the same way and reaped. Call
// BecomeSubreaper() once at start-up so orphaned grandchildren are re-parented
// to the engine and can be reaped.
//
// Without BecomeSubreaper() leftovers are re-parented elsewhere; if that
// ancestor does not reap them (some container init processes do not), their
// zombies keep the group alive and a run waits up to the grace plus 10 s
// before giving up on them. Children get default signal dispositions and an
// empty signal mask whatever the engine uses, and only fds 0, 1 and 2.
//
// Thread-safety: RunProcess and RunCapture may be called from several threads
// at once; each call owns its child. They never call waitpid(-1), and nothing
// else in the engine may either, nor set SIGCHLD to SIG_IGN (children would
// be reaped behind our back; RunProcess then returns an internal error).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace slipway {

// The decoded wait status of a process. Produced only by DecodeWaitStatus().
struct ExitStatus {
  enum class Kind { kExited, kSignaled };
  Kind kind = Kind::kExited;
  int code = 0;    // exit code when kExited
  int signal = 0;  // signal number when kSignaled

  bool success() const { return kind == Kind::kExited && code == 0; }
  // A shell-style number: the exit code, or 128 + signal.
  int ShellCode() const { return kind == Kind::kExited ? code : 128 + signal; }
  // "exit status 2" / "killed by signal 9 (Killed)".
  std::string Describe() const;
};
// The one function that decodes a raw waitpid() status.
ExitStatus DecodeWaitStatus(int raw);

// Environment as an ordered map; turned into "K=V" strings at spawn time.
using EnvMap = std::map<std::string, std::string>;

// A cancellation flag shared between a signal handler (or another thread) and
// running processes. Cancel() is async-signal-safe: it sets an atomic flag and
// writes to an eventfd that RunProcess polls, so a cancel wakes it at once.
class CancelToken {
 public:
  CancelToken();
  ~CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  void Cancel();  // async-signal-safe
  bool cancelled() const { return cancelled_.load(); }
  int fd() const { return fd_; }  // readable once cancelled

 private:
  std::atomic<bool> cancelled_{false};
  int fd_ = -1;
};

// Receives output as it arrives, in chunks of arbitrary size (a chunk may end
// mid-line). Called on the thread that runs the process.
using OutputSink = std::function<void(std::string_view chunk)>;

struct ProcessOptions {
  // argv[0] is looked up in env's PATH (default "/bin:/usr/bin") when it has
  // no '/'; a relative path is relative to cwd.
  std::vector<std::string> argv;
  EnvMap env;                           // the complete environment of the child
  std::string cwd;                      // empty: the engine's current directory
  int64_t timeout_ms = 0;               // 0: none
  int64_t grace_ms = 5000;              // between SIGTERM and SIGKILL
  const CancelToken* cancel = nullptr;  // optional
  // For tests: a deadline on the monotonic clock that replaces timeout_ms when set.
  std::optional<int64_t> deadline_monotonic_ms;
};

struct ProcessResult {
  ExitStatus exit;         // of the main process
  bool timed_out = false;  // the timeout fired and the group was killed
  bool cancelled = false;  // the cancel token fired and the group was killed
  // The main process exited on its own but left processes in its group (a
  // background job); they were terminated (SIGTERM, grace, SIGKILL) and reaped.
  // `exit` is still the main process's own status.
  bool killed_leftovers = false;
  int64_t duration_ms = 0;
};

// Runs a process to completion, streaming its stdout and stderr (merged, in
// order, through one pipe) to `sink` as it arrives, in chunks of at most 64 KiB.
// Never holds more than one read buffer of output in memory. Returns once the
// main process has exited and every process of its group is gone; output
// still held open by a process that left the group (a daemon) is read only as
// far as it is already in the pipe. A sink that throws gets the group killed
// and reaped before the exception propagates. `sink` may be empty.
// Returns an error Status only when the process could not be started at all
// (e.g. "spawn 'git': No such file or directory"); a process that ran and
// failed, timed out or was cancelled is an OK result describing that.
Result<ProcessResult> RunProcess(const ProcessOptions& options, const OutputSink& sink);

struct CapturedOutput {
  ProcessResult result;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs a short-lived helper command (git, gpg, ...) and captures stdout and
// stderr separately, each up to max_bytes (the rest is discarded, not an
// error). Same start/kill/reap rules as RunProcess. `input`, when given, is
// written to the child's stdin.
Result<CapturedOutput> RunCapture(const ProcessOptions& options, size_t max_bytes = 64 << 20,
                                  std::optional<std::string> input = std::nullopt);

// Starts a process that is not supervised and may outlive this one: its own
// process group, stdin, stdout and stderr on /dev/null, not waited for and
// never killed. For housekeeping that nobody should wait for, started by a
// process about to exit (`slipway run` deleting old workspaces): until then
// nothing reaps it, so the caller may waitpid() the pid returned.
Result<pid_t> SpawnDetached(const ProcessOptions& options);

// Makes this process a child subreaper (prctl PR_SET_CHILD_SUBREAPER) so that
// orphaned descendants are re-parented to it. Call once at start-up.
Status BecomeSubreaper();

// The small allow-list of the engine's own environment that child processes
// may see (PATH, HOME, LANG, LC_*, TZ, USER, LOGNAME, SHELL, TERM, TMPDIR,
// SSL_CERT_FILE, SSL_CERT_DIR, http(s)_proxy/no_proxy and upper-case forms).
// Never cloud credentials.
EnvMap AllowedBaseEnvironment();

}  // namespace slipway
