#include "proc/process.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "testing/testing.h"
#include "util/clock.h"

namespace slipway {
namespace {

using ::testing::HasSubstr;

// Generous: this machine is small and shared; these bounds catch hangs, not
// slowness.
constexpr int64_t kSlackMs = 20000;

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Orphaned grandchildren must be re-parented to us to be reaped, as in
    // the daemon.
    ASSERT_TRUE(BecomeSubreaper().ok());
  }

  ProcessOptions Sh(const std::string& script) {
    ProcessOptions options;
    options.argv = {"/bin/sh", "-c", script};
    options.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}};
    options.cwd = dir_.path();
    return options;
  }

  // Runs and returns the merged output; fails the test on a spawn error.
  std::string Output(const ProcessOptions& options, ProcessResult* result = nullptr) {
    std::string out;
    auto r = RunProcess(options, [&](std::string_view chunk) { out.append(chunk); });
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok() && result != nullptr) *result = *r;
    return out;
  }

  pid_t ReadPid(const std::string& name) {
    std::string text = testing::ReadTextFile(dir_.Sub(name));
    return static_cast<pid_t>(std::atoi(text.c_str()));
  }

  static bool ProcessGone(pid_t pid) { return ::kill(pid, 0) < 0 && errno == ESRCH; }

  testing::TempDir dir_;
};

TEST_F(ProcessTest, ExitCodeIsDecoded) {
  ProcessResult result;
  Output(Sh("exit 3"), &result);
  EXPECT_EQ(result.exit.kind, ExitStatus::Kind::kExited);
  EXPECT_EQ(result.exit.code, 3);
  EXPECT_FALSE(result.exit.success());
  EXPECT_EQ(result.exit.ShellCode(), 3);
  EXPECT_EQ(result.exit.Describe(), "exit status 3");
  EXPECT_FALSE(result.timed_out);
  EXPECT_FALSE(result.cancelled);
  EXPECT_FALSE(result.killed_leftovers);

  Output(Sh("true"), &result);
  EXPECT_TRUE(result.exit.success());
}

TEST_F(ProcessTest, ADetachedProcessRunsOnAfterTheCallReturns) {
  // It waits for a file that only appears after SpawnDetached has returned.
  Result<pid_t> pid =
      SpawnDetached(Sh("while [ ! -f go ]; do sleep 0.01; done; readlink /proc/$$/fd/0 /proc/$$/fd/2 > stdio"));
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  EXPECT_EQ(::getpgid(*pid), *pid) << "a process group of its own";
  testing::WriteTextFile(dir_.Sub("go"), "");
  int raw = 0;
  ASSERT_EQ(::waitpid(*pid, &raw, 0), *pid);
  EXPECT_TRUE(DecodeWaitStatus(raw).success());
  EXPECT_EQ(testing::ReadTextFile(dir_.Sub("stdio")), "/dev/null\n/dev/null\n") << "stdin and stderr";
}

TEST_F(ProcessTest, DeathBySignalIsDecoded) {
  ProcessResult result;
  Output(Sh("kill -9 $$"), &result);
  EXPECT_EQ(result.exit.kind, ExitStatus::Kind::kSignaled);
  EXPECT_EQ(result.exit.signal, SIGKILL);
  EXPECT_EQ(result.exit.ShellCode(), 137);
  EXPECT_EQ(result.exit.Describe(), "killed by signal 9 (Killed)");
}

TEST_F(ProcessTest, DecodeWaitStatusOfRawValues) {
  ExitStatus exited = DecodeWaitStatus(W_EXITCODE(42, 0));
  EXPECT_EQ(exited.kind, ExitStatus::Kind::kExited);
  EXPECT_EQ(exited.code, 42);
  ExitStatus signaled = DecodeWaitStatus(W_EXITCODE(0, SIGTERM));
  EXPECT_EQ(signaled.kind, ExitStatus::Kind::kSignaled);
  EXPECT_EQ(signaled.signal, SIGTERM);
  EXPECT_EQ(signaled.Describe(), "killed by signal 15 (Terminated)");
}

TEST_F(ProcessTest, EnvironmentIsExactlyWhatWasGiven) {
  ::setenv("SLIPWAY_TEST_ENGINE_SECRET", "leaked", 1);
  ProcessOptions options;
  options.argv = {"env"};
  options.env = {{"PATH", "/usr/bin:/bin"}, {"STEP_VAR", "a b=c"}};
  EXPECT_EQ(Output(options), "PATH=/usr/bin:/bin\nSTEP_VAR=a b=c\n");
  ::unsetenv("SLIPWAY_TEST_ENGINE_SECRET");
}

TEST_F(ProcessTest, ProgramIsLookedUpInTheChildsPath) {
  testing::WriteTextFile(dir_.Sub("bin/slipway-test-tool"), "#!/bin/sh\necho tool ran\n", 0755);
  ProcessOptions options;
  options.argv = {"slipway-test-tool"};
  options.env = {{"PATH", "/nonexistent:" + dir_.Sub("bin")}};
  EXPECT_EQ(Output(options), "tool ran\n");

  // Not in the engine's PATH: the child's PATH is all that counts.
  options.env = {{"PATH", "/usr/bin:/bin"}};
  auto r = RunProcess(options, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "spawn 'slipway-test-tool': No such file or directory");
}

TEST_F(ProcessTest, NonExecutableFileInPathIsPermissionDenied) {
  testing::WriteTextFile(dir_.Sub("bin/not-exec"), "#!/bin/sh\necho no\n", 0644);
  ProcessOptions options;
  options.argv = {"not-exec"};
  options.env = {{"PATH", dir_.Sub("bin")}};
  auto r = RunProcess(options, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "spawn 'not-exec': Permission denied");
}

TEST_F(ProcessTest, MissingCommandIsAClearError) {
  ProcessOptions options;
  options.argv = {"slipway-no-such-command"};
  options.env = {{"PATH", "/usr/bin:/bin"}};
  auto r = RunProcess(options, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "spawn 'slipway-no-such-command': No such file or directory");

  options.argv = {dir_.Sub("no-such-script")};
  r = RunProcess(options, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "spawn '" + dir_.Sub("no-such-script") + "': No such file or directory");
}

TEST_F(ProcessTest, MissingWorkingDirectoryIsAClearError) {
  ProcessOptions options = Sh("true");
  options.cwd = dir_.Sub("gone");
  auto r = RunProcess(options, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "spawn '/bin/sh' in '" + dir_.Sub("gone") + "': No such file or directory");
}

TEST_F(ProcessTest, EmptyArgvIsInvalid) {
  ProcessOptions options;
  auto r = RunProcess(options, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ProcessTest, WorkingDirectoryIsHonoured) {
  EXPECT_EQ(Output(Sh("pwd -P")), testing::Run({"pwd", "-P"}, dir_.path()).out);
  // A relative program path is relative to the child's working directory.
  testing::WriteTextFile(dir_.Sub("scripts/hello"), "#!/bin/sh\necho hello from $(basename $(pwd))\n", 0755);
  ProcessOptions options;
  options.argv = {"./scripts/hello"};
  options.env = {{"PATH", "/usr/bin:/bin"}};
  options.cwd = dir_.path();
  EXPECT_THAT(Output(options), HasSubstr("hello from slipway-test-"));
}

TEST_F(ProcessTest, StdinIsDevNull) {
  EXPECT_EQ(Output(Sh("readlink /proc/$$/fd/0; cat; echo cat=$?")), "/dev/null\ncat=0\n");
}

TEST_F(ProcessTest, ChildHasOnlyStdioOpen) {
  // A descriptor the engine leaked without O_CLOEXEC must not reach a step.
  int leaked = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 0);
  // No pipeline in the listing shell: its own pipe to `sort` showed up in
  // the listing now and then. `; true` keeps it from exec'ing ls in its place.
  EXPECT_EQ(Output(Sh("ls /proc/$$/fd; true")), "0\n1\n2\n");
  ::close(leaked);
}

TEST_F(ProcessTest, ChildRunsInItsOwnProcessGroup) {
  std::string out = Output(Sh("echo $$; cut -d' ' -f5 /proc/$$/stat"));
  size_t nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_EQ(out.substr(0, nl + 1), out.substr(nl + 1));
  EXPECT_NE(std::atoi(out.c_str()), static_cast<int>(::getpgrp()));
}

TEST_F(ProcessTest, ChildGetsDefaultSignalsAndAnEmptyMask) {
  // The engine ignores and blocks signals of its own; a step must not inherit that.
  struct sigaction ignore = {}, old_action = {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGUSR2, &ignore, &old_action);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &block, &old_mask);

  std::string out = Output(Sh("grep -E '^Sig(Blk|Ign):' /proc/$$/status"));

  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGUSR2, &old_action, nullptr);
  unsigned long long blocked = 0, ignored = 0;
  ASSERT_EQ(std::sscanf(out.c_str(), "SigBlk:\t%llx\nSigIgn:\t%llx", &blocked, &ignored), 2) << out;
  EXPECT_EQ(blocked, 0u);
  // glibc's posix_spawn leaves its two internal real-time signals (32 and 33,
  // which it hides from sigfillset) ignored; every other signal is default.
  EXPECT_EQ(ignored & ~0x180000000ull, 0u) << out;
}

TEST_F(ProcessTest, StdoutAndStderrAreMergedInOrder) {
  EXPECT_EQ(Output(Sh("echo one; echo two >&2; echo three")), "one\ntwo\nthree\n");
}

TEST_F(ProcessTest, OutputReachesTheSinkWhileTheProcessRuns) {
  // The process only finishes once the sink has seen its first line, so this
  // passes only if output is streamed (it would hang until the timeout if the
  // sink were called at the end).
  std::string flag = dir_.Sub("seen");
  ProcessOptions options = Sh("echo first; while [ ! -e '" + flag + "' ]; do sleep 0.05; done; echo second");
  options.timeout_ms = kSlackMs;
  std::string out;
  auto r = RunProcess(options, [&](std::string_view chunk) {
    out.append(chunk);
    if (out.find("first\n") != std::string::npos && !testing::FileExists(flag)) testing::WriteTextFile(flag, "");
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->timed_out);
  EXPECT_TRUE(r->exit.success());
  EXPECT_EQ(out, "first\nsecond\n");
}

TEST_F(ProcessTest, FiftyMegabytesStreamInBoundedChunks) {
  constexpr size_t kBytes = 50u << 20;
  size_t total = 0, largest = 0, calls = 0;
  auto r = RunProcess(Sh("head -c " + std::to_string(kBytes) + " /dev/zero"), [&](std::string_view chunk) {
    total += chunk.size();
    largest = std::max(largest, chunk.size());
    ++calls;
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->exit.success());
  EXPECT_EQ(total, kBytes);
  EXPECT_LE(largest, 64u * 1024);
  EXPECT_GE(calls, kBytes / (64 * 1024));
}

TEST_F(ProcessTest, TimeoutKillsAGrandchildThatIgnoresSigterm) {
  ProcessOptions options = Sh("trap '' TERM; sleep 100 & echo $! > grandchild.pid; echo started; wait; wait");
  options.timeout_ms = 1500;
  options.grace_ms = 500;
  ProcessResult result;
  int64_t start = MonotonicMs();
  std::string out = Output(options, &result);
  int64_t elapsed = MonotonicMs() - start;

  EXPECT_EQ(out, "started\n");
  EXPECT_TRUE(result.timed_out);
  EXPECT_FALSE(result.cancelled);
  EXPECT_EQ(result.exit.kind, ExitStatus::Kind::kSignaled);
  EXPECT_EQ(result.exit.signal, SIGKILL);  // it ignored SIGTERM
  EXPECT_LT(elapsed, 1500 + 500 + kSlackMs);
  EXPECT_GE(result.duration_ms, 1500);
  pid_t grandchild = ReadPid("grandchild.pid");
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(ProcessGone(grandchild)) << "grandchild " << grandchild << " survived";
}

TEST_F(ProcessTest, TimeoutWithSigtermHandledEndsWithinTheGrace) {
  // sh dies of the SIGTERM; nothing needs the SIGKILL.
  ProcessOptions options = Sh("sleep 100");
  options.timeout_ms = 200;
  options.grace_ms = 60000;
  ProcessResult result;
  int64_t start = MonotonicMs();
  Output(options, &result);
  EXPECT_TRUE(result.timed_out);
  EXPECT_EQ(result.exit.signal, SIGTERM);
  EXPECT_LT(MonotonicMs() - start, 60000);
}

TEST_F(ProcessTest, DeadlineForTestsReplacesTimeout) {
  ProcessOptions options = Sh("sleep 100");
  options.timeout_ms = 0;
  options.deadline_monotonic_ms = MonotonicMs() - 1;  // already passed
  options.grace_ms = 100;
  ProcessResult result;
  Output(options, &result);
  EXPECT_TRUE(result.timed_out);
}

TEST_F(ProcessTest, CancelFromAnotherThreadKillsTheGroup) {
  CancelToken token;
  ProcessOptions options = Sh("sleep 100 & echo $! > grandchild.pid; echo started; wait");
  options.cancel = &token;
  options.grace_ms = 2000;
  options.timeout_ms = kSlackMs * 3;  // a safety net only
  std::atomic<bool> started{false};
  std::thread canceller([&] {
    while (!started.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    token.Cancel();
  });
  ProcessResult result;
  std::string out;
  auto r = RunProcess(options, [&](std::string_view chunk) {
    out.append(chunk);
    if (out.find("started\n") != std::string::npos) started = true;
  });
  canceller.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->cancelled);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->exit.kind, ExitStatus::Kind::kSignaled);
  EXPECT_EQ(r->exit.signal, SIGTERM);
  EXPECT_TRUE(ProcessGone(ReadPid("grandchild.pid")));
}

TEST_F(ProcessTest, CancelledBeforeStartStillEndsCleanly) {
  CancelToken token;
  token.Cancel();
  EXPECT_TRUE(token.cancelled());
  ProcessOptions options = Sh("sleep 100");
  options.cancel = &token;
  options.grace_ms = 100;
  ProcessResult result;
  Output(options, &result);
  EXPECT_TRUE(result.cancelled);
  EXPECT_FALSE(result.exit.success());
}

TEST_F(ProcessTest, CancelTokenFdBecomesReadable) {
  CancelToken token;
  ASSERT_GE(token.fd(), 0);
  pollfd pfd = {token.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  token.Cancel();
  EXPECT_EQ(::poll(&pfd, 1, 0), 1);
  token.Cancel();  // twice is fine
  EXPECT_EQ(::poll(&pfd, 1, 0), 1);
}

TEST_F(ProcessTest, BackgroundGrandchildLeftBehindIsKilledAndReaped) {
  ProcessResult result;
  std::string out = Output(Sh("sleep 100 & echo $! > grandchild.pid; echo done"), &result);
  EXPECT_EQ(out, "done\n");
  EXPECT_TRUE(result.exit.success());  // the main process's own status
  EXPECT_TRUE(result.killed_leftovers);
  EXPECT_FALSE(result.timed_out);
  pid_t grandchild = ReadPid("grandchild.pid");
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(ProcessGone(grandchild)) << "grandchild " << grandchild << " survived";
}

TEST_F(ProcessTest, LeftoverThatIgnoresSigtermIsKilledAfterTheGrace) {
  ProcessOptions options = Sh("(trap '' TERM; exec sleep 100) & echo $! > grandchild.pid");
  options.grace_ms = 300;
  ProcessResult result;
  int64_t start = MonotonicMs();
  Output(options, &result);
  EXPECT_TRUE(result.exit.success());
  EXPECT_TRUE(result.killed_leftovers);
  EXPECT_LT(MonotonicMs() - start, 300 + kSlackMs);
  EXPECT_TRUE(ProcessGone(ReadPid("grandchild.pid")));
}

TEST_F(ProcessTest, DaemonHoldingThePipeOutsideTheGroupDoesNotHangTheStep) {
  // The daemon leaves the group (setsid) but keeps our stdout pipe open: once
  // the group is gone we must stop waiting for EOF.
  ProcessOptions options =
      Sh("setsid sh -c 'echo $$ > daemon.pid; exec sleep 100' & "
         "while [ ! -s daemon.pid ]; do sleep 0.02; done; echo main done");
  options.timeout_ms = kSlackMs;
  ProcessResult result;
  std::string out = Output(options, &result);
  EXPECT_EQ(out, "main done\n");
  EXPECT_FALSE(result.timed_out);
  EXPECT_TRUE(result.exit.success());
  pid_t daemon = ReadPid("daemon.pid");
  ASSERT_GT(daemon, 0);
  // Outside the group, so not ours to kill: still running.
  EXPECT_FALSE(ProcessGone(daemon));
  ::kill(daemon, SIGKILL);
  ::waitpid(daemon, nullptr, 0);  // re-parented to us (subreaper)
}

TEST_F(ProcessTest, ProcessClosingStdoutEarlyIsStillWaitedFor) {
  ProcessResult result;
  std::string out = Output(Sh("echo before; exec >/dev/null 2>&1; sleep 0.3; exit 4"), &result);
  EXPECT_EQ(out, "before\n");
  EXPECT_EQ(result.exit.code, 4);
}

TEST_F(ProcessTest, RunCaptureSeparatesStreamsAndFeedsInput) {
  auto r = RunCapture(Sh("cat; echo to-err >&2; exit 2"), 1 << 20, std::string("hello\nworld\n"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "hello\nworld\n");
  EXPECT_EQ(r->err, "to-err\n");
  EXPECT_EQ(r->result.exit.code, 2);
}

TEST_F(ProcessTest, RunCaptureWithoutInputHasDevNullStdin) {
  auto r = RunCapture(Sh("readlink /proc/$$/fd/0"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "/dev/null\n");
  EXPECT_EQ(r->err, "");
}

TEST_F(ProcessTest, RunCaptureFeedsLargeInput) {
  std::string input(3u << 20, 'x');
  auto r = RunCapture(Sh("wc -c"), 1 << 20, input);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(std::atoi(r->out.c_str()), 3 << 20);
}

TEST_F(ProcessTest, RunCaptureInputNobodyReadsIsNotFatal) {
  // The child exits without reading: writing to its stdin gets EPIPE, which
  // must neither kill the engine with SIGPIPE nor fail the run.
  auto r = RunCapture(Sh("exit 0"), 1 << 20, std::string(4u << 20, 'y'));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->result.exit.success());
}

TEST_F(ProcessTest, RunCaptureEmptyInputIsEof) {
  auto r = RunCapture(Sh("cat; echo eof"), 1 << 20, std::string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "eof\n");
}

TEST_F(ProcessTest, RunCaptureDiscardsBeyondTheLimit) {
  auto r = RunCapture(Sh("head -c 1000000 /dev/zero; head -c 5000 /dev/zero >&2"), 1000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->result.exit.success());
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_EQ(r->err.size(), 1000u);
}

TEST_F(ProcessTest, RunCaptureTimesOut) {
  ProcessOptions options = Sh("echo partial; sleep 100");
  options.timeout_ms = 300;
  options.grace_ms = 300;
  auto r = RunCapture(options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->result.timed_out);
  EXPECT_EQ(r->out, "partial\n");
}

TEST_F(ProcessTest, ConcurrentRunsFromSeveralThreadsKeepTheirOwnChildren) {
  // Each run leaves a background process and exits with its own code: a
  // waitpid(-1) anywhere would steal statuses across threads.
  constexpr int kThreads = 4, kRunsEach = 5;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRunsEach; ++i) {
        int code = t * 10 + i;
        ProcessOptions options =
            Sh("sleep 0.2 & echo run " + std::to_string(code) + "; sleep 0.05; exit " + std::to_string(code));
        std::string out;
        auto r = RunProcess(options, [&](std::string_view chunk) { out.append(chunk); });
        if (!r.ok() || r->exit.kind != ExitStatus::Kind::kExited || r->exit.code != code ||
            out != "run " + std::to_string(code) + "\n") {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(ProcessTest, SinkExceptionStillKillsTheGroup) {
  ProcessOptions options = Sh("sleep 100 & echo $! > grandchild.pid; echo go; wait");
  bool thrown = false;
  try {
    [[maybe_unused]] auto r = RunProcess(options, [&](std::string_view chunk) {
      if (chunk.find("go") != std::string_view::npos) throw std::runtime_error("sink failed");
    });
  } catch (const std::runtime_error&) {
    thrown = true;
  }
  EXPECT_TRUE(thrown);
  EXPECT_TRUE(ProcessGone(ReadPid("grandchild.pid")));
}

TEST_F(ProcessTest, AllowedBaseEnvironmentKeepsOnlyTheAllowList) {
  ::setenv("AWS_SECRET_ACCESS_KEY", "engine-secret", 1);
  ::setenv("LC_TIME", "C", 1);
  ::setenv("https_proxy", "http://proxy:3128", 1);
  EnvMap env = AllowedBaseEnvironment();
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("LC_TIME");
  ::unsetenv("https_proxy");
  EXPECT_EQ(env.count("AWS_SECRET_ACCESS_KEY"), 0u);
  EXPECT_EQ(env["LC_TIME"], "C");
  EXPECT_EQ(env["https_proxy"], "http://proxy:3128");
  EXPECT_EQ(env.count("PATH"), 1u);
  EXPECT_EQ(env.count("HOME"), 1u);
  for (const auto& [name, value] : env) EXPECT_THAT(name, ::testing::Not(HasSubstr("AWS")));
}

TEST_F(ProcessTest, InvalidEnvironmentNameIsRejected) {
  ProcessOptions options = Sh("true");
  options.env["BAD=NAME"] = "x";
  auto r = RunProcess(options, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("invalid environment variable name 'BAD=NAME'"));
}

}  // namespace
}  // namespace slipway
