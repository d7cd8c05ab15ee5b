#include "proc/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "proc/sigpipe.h"
#include "util/clock.h"

namespace slipway {

// ---- SecretMasker -----------------------------------------------------------

void SecretMasker::SetSecrets(std::vector<std::string> secrets) {
  secrets.erase(
      std::remove_if(secrets.begin(), secrets.end(), [](const std::string& s) { return s.size() < kMinLength; }),
      secrets.end());
  std::sort(secrets.begin(), secrets.end());
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  max_length_ = 0;
  for (const std::string& s : secrets) max_length_ = std::max(max_length_, s.size());
  secrets_ = std::move(secrets);
}

std::string SecretMasker::Mask(std::string_view text) const {
  size_t consumed = 0, out_boundary = 0;
  std::string out = MaskPrefix(text, /*final=*/true, 0, &consumed, &out_boundary);
  return out;
}

std::string SecretMasker::MaskPrefix(std::string_view buf, bool final, size_t boundary, size_t* consumed,
                                     size_t* out_boundary) const {
  // Where a secret may begin that has not fully arrived yet: the first
  // position whose remainder is a proper prefix of some secret.
  size_t pending = buf.size();
  if (!final && max_length_ > 1) {
    for (size_t p = buf.size() > max_length_ - 1 ? buf.size() - (max_length_ - 1) : 0; p < buf.size(); ++p) {
      std::string_view rest = buf.substr(p);
      bool prefix = std::any_of(secrets_.begin(), secrets_.end(), [&](const std::string& s) {
        return s.size() > rest.size() && std::string_view(s).substr(0, rest.size()) == rest;
      });
      if (prefix) {
        pending = p;
        break;
      }
    }
  }

  struct Span {
    size_t begin, end;
  };
  std::vector<Span> spans;
  for (const std::string& secret : secrets_) {
    for (size_t pos = buf.find(secret); pos != std::string_view::npos; pos = buf.find(secret, pos + 1)) {
      spans.push_back({pos, pos + secret.size()});
    }
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::vector<Span> merged;
  for (const Span& s : spans) {
    if (!merged.empty() && s.begin < merged.back().end) {
      merged.back().end = std::max(merged.back().end, s.end);
    } else {
      merged.push_back(s);
    }
  }

  // A mask reaching into the pending tail might merge with the secret that
  // tail may become: hold it too, so it is decided with the rest next time --
  // unless that would let the held text grow without bound (a long run of
  // overlapping matches); then it is emitted as it stands.
  size_t hold_from = pending;
  while (!merged.empty() && merged.back().end > pending) {
    if (buf.size() - merged.back().begin <= 2 * max_length_) {
      hold_from = std::min(hold_from, merged.back().begin);
      merged.pop_back();
    } else {
      hold_from = std::max(hold_from, merged.back().end);
      break;
    }
  }

  std::string out;
  out.reserve(hold_from);
  *out_boundary = std::string::npos;
  size_t pos = 0;
  auto copy_until = [&](size_t end) {
    if (boundary >= pos && boundary < end && *out_boundary == std::string::npos) {
      *out_boundary = out.size() + (boundary - pos);
    }
    out.append(buf.substr(pos, end - pos));
    pos = end;
  };
  for (const Span& s : merged) {
    copy_until(s.begin);
    if (*out_boundary == std::string::npos && boundary <= s.begin) *out_boundary = out.size();
    out.append(kMask);
    pos = s.end;
    if (*out_boundary == std::string::npos && boundary < s.end) *out_boundary = out.size();
  }
  copy_until(hold_from);
  if (*out_boundary == std::string::npos) *out_boundary = out.size();
  *consumed = hold_from;
  return out;
}

// ---- MaskingStream ----------------------------------------------------------

MaskingStream::Output MaskingStream::Push(std::string_view chunk, const SecretMasker& masker) {
  Output result;
  if (masker.empty() && held_.empty()) {
    result.text.assign(chunk);
    return result;
  }
  size_t boundary = held_.size();
  held_.append(chunk);
  size_t consumed = 0;
  result.text = masker.MaskPrefix(held_, /*final=*/false, boundary, &consumed, &result.from_held);
  held_.erase(0, consumed);
  return result;
}

std::string MaskingStream::Flush(const SecretMasker& masker) {
  std::string out = masker.Mask(held_);
  held_.clear();
  return out;
}

// ---- LogWriter --------------------------------------------------------------

Result<std::unique_ptr<LogWriter>> LogWriter::Open(const std::string& path, LogWriterOptions options) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd.valid()) return PosixError("open '" + path + "'", errno);
  return std::make_unique<LogWriter>(Key(), path, std::move(fd), std::move(options));
}

LogWriter::LogWriter(Key, std::string path, UniqueFd fd, LogWriterOptions options)
    : path_(std::move(path)), fd_(std::move(fd)), options_(std::move(options)), echo_fd_(options_.echo_fd) {}

LogWriter::~LogWriter() = default;

void LogWriter::SetSecrets(std::vector<std::string> secrets) {
  std::lock_guard<std::mutex> lock(mutex_);
  masker_.SetSecrets(std::move(secrets));
}

std::unique_ptr<LogStream> LogWriter::NewStream() { return std::make_unique<LogStream>(Key(), this); }
std::unique_ptr<RawLogStream> LogWriter::NewRawStream() { return std::make_unique<RawLogStream>(Key(), this); }

Status LogWriter::Engine(std::string_view message) {
  int64_t now = Now();
  std::lock_guard<std::mutex> lock(mutex_);
  std::string text = masker_.Mask(message);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  std::string file_out;
  std::string_view rest = text;
  for (;;) {
    size_t nl = rest.find('\n');
    AppendStamped(now, rest.substr(0, nl), &file_out);
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  Status status = WriteFileLocked(file_out);
  if (!echo_at_line_start_) text.insert(0, "\n");
  text.push_back('\n');
  EchoLocked(text);
  return status;
}

Status LogWriter::Raw(std::string_view text) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string masked = masker_.Mask(text);
  Status status = WriteFileLocked(masked);
  EchoLocked(masked);
  return status;
}

Status LogWriter::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

int64_t LogWriter::Now() const { return options_.clock ? options_.clock() : NowMs(); }

void LogWriter::AppendStamped(int64_t epoch_ms, std::string_view line, std::string* out) {
  if (epoch_ms != stamp_ms_) {
    stamp_ = FormatTimestamp(epoch_ms);
    stamp_ms_ = epoch_ms;
  }
  out->append(stamp_);
  out->append(" | ");
  out->append(line);
  out->push_back('\n');
}

Status LogWriter::WriteFileLocked(std::string_view data) {
  if (data.empty()) return Status::Ok();
  Status status = WriteAll(fd_.get(), data, path_);
  if (!status.ok() && status_.ok()) status_ = status;
  return status;
}

std::string& LogWriter::StartBufferLocked(size_t chunk_size) {
  file_buf_.clear();
  // Room for the chunk and the stamps of lines of a typical length, so that
  // appending rarely reallocates.
  file_buf_.reserve(chunk_size + chunk_size / 2 + 64);
  return file_buf_;
}

void LogWriter::EndBufferLocked() {
  // A chunk of very short lines can make the buffer large: give that back
  // rather than keep it for the writer's lifetime.
  if (file_buf_.capacity() > kMaxKeptBuffer) std::string().swap(file_buf_);
}

void LogWriter::EchoLocked(std::string_view data) {
  if (echo_fd_ < 0 || data.empty()) return;
  if (!WriteAllNoSigpipe(echo_fd_, data, "echo").ok()) {
    echo_fd_ = -1;  // the terminal went away; the log file is what matters
    return;
  }
  echo_at_line_start_ = data.back() == '\n';
}

// ---- RawLogStream -----------------------------------------------------------

RawLogStream::~RawLogStream() { [[maybe_unused]] Status ignored = Finish(); }

void RawLogStream::Write(std::string_view chunk) {
  if (chunk.empty()) return;
  std::lock_guard<std::mutex> lock(writer_->mutex_);
  MaskingStream::Output masked = masking_.Push(chunk, writer_->masker_);
  [[maybe_unused]] Status status = writer_->WriteFileLocked(masked.text);  // sticky in writer_->status_
  writer_->EchoLocked(masked.text);
}

Status RawLogStream::Finish() {
  std::lock_guard<std::mutex> lock(writer_->mutex_);
  std::string tail = masking_.Flush(writer_->masker_);
  [[maybe_unused]] Status status = writer_->WriteFileLocked(tail);
  writer_->EchoLocked(tail);
  return writer_->status_;
}

// ---- LogStream --------------------------------------------------------------

LogStream::~LogStream() { [[maybe_unused]] Status ignored = Finish(); }

void LogStream::Write(std::string_view chunk) {
  if (chunk.empty()) return;
  int64_t now = writer_->Now();
  std::lock_guard<std::mutex> lock(writer_->mutex_);
  std::string& file_out = writer_->StartBufferLocked(chunk.size());
  std::string_view echo = chunk;
  MaskingStream::Output masked;
  if (writer_->masker_.empty() && masking_.held() == 0) {
    // Nothing to mask (the common case): lines are stamped straight from the
    // chunk, without copying it first.
    SplitLocked(chunk, now, &file_out);
  } else {
    masked = masking_.Push(chunk, writer_->masker_);
    std::string_view text = masked.text;
    SplitLocked(text.substr(0, masked.from_held), held_since_ms_, &file_out);
    SplitLocked(text.substr(masked.from_held), now, &file_out);
    // The masker holds back a suffix of (old held + chunk); if it is longer
    // than the chunk, old bytes are still part of it and keep their earlier time.
    if (masking_.held() > 0 && masking_.held() <= chunk.size()) held_since_ms_ = now;
    echo = masked.text;
  }
  [[maybe_unused]] Status status = writer_->WriteFileLocked(file_out);  // sticky in writer_->status_
  writer_->EchoLocked(echo);
  writer_->EndBufferLocked();
}

Status LogStream::Finish() {
  std::lock_guard<std::mutex> lock(writer_->mutex_);
  std::string tail = masking_.Flush(writer_->masker_);
  std::string file_out;
  SplitLocked(tail, held_since_ms_, &file_out);
  if (!line_.empty()) {
    writer_->AppendStamped(line_since_ms_, line_, &file_out);
    line_.clear();
  }
  [[maybe_unused]] Status status = writer_->WriteFileLocked(file_out);
  writer_->EchoLocked(tail);
  return writer_->status_;
}

void LogStream::SplitLocked(std::string_view text, int64_t epoch_ms, std::string* file_out) {
  while (!text.empty()) {
    if (line_.empty()) line_since_ms_ = epoch_ms;
    size_t nl = text.find('\n');
    size_t take = nl == std::string_view::npos ? text.size() : nl;
    size_t room = kMaxLine - line_.size();
    if (take > room) {
      // A line this long is most likely not text meant to be read as lines
      // (a progress bar with \r, binary): cut it rather than hold it all.
      line_.append(text.substr(0, room));
      text.remove_prefix(room);
      writer_->AppendStamped(line_since_ms_, line_, file_out);
      line_.clear();
      continue;
    }
    if (nl != std::string_view::npos && line_.empty()) {
      // A whole line: stamped from `text` itself, not through line_.
      writer_->AppendStamped(line_since_ms_, text.substr(0, take), file_out);
      text.remove_prefix(take + 1);
      continue;
    }
    line_.append(text.substr(0, take));
    text.remove_prefix(take);
    if (nl != std::string_view::npos) {
      text.remove_prefix(1);
      writer_->AppendStamped(line_since_ms_, line_, file_out);
      line_.clear();
    }
  }
}

}  // namespace slipway
