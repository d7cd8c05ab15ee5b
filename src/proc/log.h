// The run log: one file per run, every line of a step's output stamped with
// the UTC time its first byte arrived, secrets masked before anything is
// written anywhere. The format is described in doc/log_format.md.
//
//   SLIPWAY_ASSIGN_OR_RETURN(auto log, LogWriter::Open(path, {.echo_fd = STDOUT_FILENO}));
//   log->SetSecrets({token});
//   SLIPWAY_RETURN_IF_ERROR(log->Engine("==> step lint: make lint"));
//   auto out = log->NewStream();
//   auto result = RunProcess(options, out->sink());
//   SLIPWAY_RETURN_IF_ERROR(out->Finish());
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "proc/process.h"
#include "util/fs.h"
#include "util/status.h"

namespace slipway {

// Replaces every occurrence of a secret by "***". Secrets shorter than
// kMinLength are ignored: masking "a" or "yes" would mangle the whole log
// while protecting nothing. Where occurrences overlap, their union is masked
// as one "***". Not thread-safe; LogWriter guards its own.
class SecretMasker {
 public:
  static constexpr size_t kMinLength = 4;
  static constexpr std::string_view kMask = "***";

  SecretMasker() = default;
  explicit SecretMasker(std::vector<std::string> secrets) { SetSecrets(std::move(secrets)); }

  void SetSecrets(std::vector<std::string> secrets);
  bool empty() const { return secrets_.empty(); }
  // The length of the longest secret, 0 when there are none.
  size_t max_length() const { return max_length_; }

  // Masks a complete text (nothing is held back).
  std::string Mask(std::string_view text) const;

  // The building block of MaskingStream. Masks every occurrence complete in
  // `buf`; unless `final`, the shortest tail of `buf` that could still become a
  // secret with more input (a proper prefix of one) is not part of the output:
  // the output covers buf[0, *consumed) and the caller keeps the rest for
  // later. `*out_boundary` is set to the position in the output that
  // corresponds to input position `boundary` (a mask straddling it counts as
  // before it).
  std::string MaskPrefix(std::string_view buf, bool final, size_t boundary, size_t* consumed,
                         size_t* out_boundary) const;

 private:
  std::vector<std::string> secrets_;
  size_t max_length_ = 0;
};

// Masks a stream of chunks, catching secrets split across chunks: a tail that
// could be the beginning of a secret (at most max_length()-1 bytes, a little
// more around overlapping matches) is held back until more input arrives or
// Flush() is called. Output that cannot start a secret is never delayed, so a
// step's last line shows while the step still runs.
class MaskingStream {
 public:
  struct Output {
    std::string text;      // safe to emit now
    size_t from_held = 0;  // text[0, from_held) stems from bytes held back by earlier calls
  };
  Output Push(std::string_view chunk, const SecretMasker& masker);
  // Masks and returns everything held back.
  std::string Flush(const SecretMasker& masker);
  // Bytes currently held back.
  size_t held() const { return held_.size(); }

 private:
  std::string held_;
};

class LogStream;
class RawLogStream;

struct LogWriterOptions {
  // A terminal (or any fd) that gets a plain copy of everything: output as it
  // arrives without stamps, so `slipway run` looks like the commands' own
  // output. Not owned; -1 for none. Echo write errors (the reader went away)
  // stop the echo silently and never fail the run or raise SIGPIPE.
  int echo_fd = -1;
  // For tests: the wall clock, epoch milliseconds. Default NowMs().
  std::function<int64_t()> clock;
};

// Owns a run's log file. Thread-safe: every method may be called from any
// thread, and streams of several steps may write at the same time (each
// write appends whole lines).
class LogWriter {
 public:
  // Opens `path` for appending (O_APPEND|O_CLOEXEC), creating it with mode
  // 0640. Returns e.g. "open 'runs/12.log': Permission denied".
  static Result<std::unique_ptr<LogWriter>> Open(const std::string& path, LogWriterOptions options = {});
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Sets the values to mask from now on in everything written (file and echo).
  void SetSecrets(std::vector<std::string> secrets);

  // A stream for one step's output. The stream must not outlive the writer.
  std::unique_ptr<LogStream> NewStream();
  // A stream of text written verbatim like Raw(), but masked across chunks:
  // a secret split between two writes is still caught. For output with a
  // format of its own (the buildspec log). Must not outlive the writer.
  std::unique_ptr<RawLogStream> NewRawStream();

  // An engine message ("==> step lint: make lint"): each of its lines is
  // written stamped to the file and plain to the echo (starting on a fresh
  // line there). Masked. Returns the file write error, if any.
  Status Engine(std::string_view message);
  // Writes text verbatim (masked, but neither stamped nor split into lines)
  // to the file and the echo. For logs with a format of their own, like the
  // CodeBuild-style log of buildspec runs.
  Status Raw(std::string_view text);

  // The first error writing the file, OK if none. Streams have no other way
  // to report one (an OutputSink returns nothing); check this after a step.
  Status status() const;
  const std::string& path() const { return path_; }

  // Lets only LogWriter construct writers and streams (through make_unique).
  class Key {
    Key() = default;
    friend class LogWriter;
  };
  LogWriter(Key, std::string path, UniqueFd fd, LogWriterOptions options);

 private:
  friend class LogStream;
  friend class RawLogStream;

  int64_t Now() const;
  // Appends "STAMP | line\n" to *out. Caches the formatted stamp.
  void AppendStamped(int64_t epoch_ms, std::string_view line, std::string* out);
  // The write primitives; callers hold mutex_.
  Status WriteFileLocked(std::string_view data);
  void EchoLocked(std::string_view data);
  // The buffer a stream stamps one chunk's lines into before one write:
  // kept between chunks so that the hot path of a step printing fast
  // allocates nothing (transient buffers of this size made glibc map and
  // unmap pages, and fault them in, on every chunk). StartBufferLocked()
  // returns it empty; EndBufferLocked() frees it if it grew unusually large.
  // Callers hold mutex_.
  std::string& StartBufferLocked(size_t chunk_size);
  void EndBufferLocked();
  static constexpr size_t kMaxKeptBuffer = 1 << 20;

  const std::string path_;
  const UniqueFd fd_;
  const LogWriterOptions options_;
  mutable std::mutex mutex_;
  int echo_fd_;                     // -1 once an echo write failed
  bool echo_at_line_start_ = true;  // the echo's last byte was '\n' (or nothing yet)
  SecretMasker masker_;
  Status status_;
  int64_t stamp_ms_ = -1;  // cache for AppendStamped
  std::string stamp_;
  std::string file_buf_;  // see StartBufferLocked
};

// One step's output: line-stamped into the writer's file, echoed plain.
// Lines are joined across chunks; a line longer than kMaxLine bytes is cut and
// written as several lines. Masking happens on the byte stream before lines
// are split, so a secret split across chunks or lines is still caught.
// Write and Finish may be called from any thread (they lock the writer).
class LogStream {
 public:
  static constexpr size_t kMaxLine = 64 * 1024;

  LogStream(LogWriter::Key, LogWriter* writer) : writer_(writer) {}
  ~LogStream();  // Finish()es, ignoring the status
  LogStream(const LogStream&) = delete;
  LogStream& operator=(const LogStream&) = delete;

  void Write(std::string_view chunk);
  // An OutputSink that calls Write; valid as long as this stream.
  OutputSink sink() {
    return [this](std::string_view chunk) { Write(chunk); };
  }
  // Writes what is held back (the masker's tail, an unfinished last line,
  // which gets a newline in the file). Call once the step is over; writing
  // again afterwards starts a fresh line. Returns writer->status().
  Status Finish();

 private:
  // Line-splits masked text that arrived at `epoch_ms`, appending complete
  // stamped lines to *file_out. Caller holds the writer's mutex.
  void SplitLocked(std::string_view text, int64_t epoch_ms, std::string* file_out);

  LogWriter* writer_;
  MaskingStream masking_;
  int64_t held_since_ms_ = 0;  // arrival of the oldest byte the masker holds back
  std::string line_;           // the unfinished line
  int64_t line_since_ms_ = 0;  // arrival of line_'s first byte
};

// Verbatim output (neither stamped nor split into lines) masked as a byte
// stream: a tail that could begin a secret is held back until more arrives
// or Finish(). Write and Finish may be called from any thread.
class RawLogStream {
 public:
  RawLogStream(LogWriter::Key, LogWriter* writer) : writer_(writer) {}
  ~RawLogStream();  // Finish()es, ignoring the status
  RawLogStream(const RawLogStream&) = delete;
  RawLogStream& operator=(const RawLogStream&) = delete;

  void Write(std::string_view chunk);
  // Writes what is held back. Returns writer->status().
  Status Finish();

 private:
  LogWriter* writer_;
  MaskingStream masking_;
};

}  // namespace slipway
