#include "proc/log.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "testing/testing.h"
#include "util/clock.h"

namespace slipway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// 2026-11-26T12:00:00.000Z
constexpr int64_t kT0 = 1795694400000;

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    echo_read_.Reset(fds[0]);
    echo_write_.Reset(fds[1]);
    path_ = dir_.Sub("run.log");
    LogWriterOptions options;
    options.echo_fd = echo_write_.get();
    options.clock = [this] { return now_.load(); };
    auto writer = LogWriter::Open(path_, options);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    writer_ = std::move(writer).value();
  }

  std::string File() const { return testing::ReadTextFile(path_); }

  // Everything echoed since the last call.
  std::string Echo() {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(echo_read_.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

  static std::string Stamp(int64_t ms) { return FormatTimestamp(ms) + " | "; }

  testing::TempDir dir_;
  std::string path_;
  UniqueFd echo_read_, echo_write_;
  std::atomic<int64_t> now_{kT0};
  std::unique_ptr<LogWriter> writer_;
};

TEST_F(LogTest, LinesAreStampedInTheFileAndPlainInTheEcho) {
  auto out = writer_->NewStream();
  out->Write("hello\nworld\n");
  EXPECT_EQ(File(), "2026-11-26T12:00:00.000Z | hello\n2026-11-26T12:00:00.000Z | world\n");
  EXPECT_EQ(Echo(), "hello\nworld\n");
  EXPECT_TRUE(out->Finish().ok());
}

TEST_F(LogTest, PartialLinesAreJoinedAndStampedWithTheirFirstByte) {
  auto out = writer_->NewStream();
  out->Write("com");
  EXPECT_EQ(File(), "");     // not a line yet
  EXPECT_EQ(Echo(), "com");  // but the terminal sees it at once
  now_ = kT0 + 1500;
  out->Write("piling\nlinking");
  now_ = kT0 + 3000;
  out->Write(" done\n\n");
  EXPECT_EQ(File(), Stamp(kT0) + "compiling\n" + Stamp(kT0 + 1500) + "linking done\n" + Stamp(kT0 + 3000) + "\n");
  EXPECT_EQ(Echo(), "piling\nlinking done\n\n");
}

TEST_F(LogTest, FinishWritesAnUnfinishedLastLine) {
  auto out = writer_->NewStream();
  out->Write("no newline at the end");
  EXPECT_TRUE(out->Finish().ok());
  EXPECT_EQ(File(), Stamp(kT0) + "no newline at the end\n");
  EXPECT_TRUE(out->Finish().ok());  // idempotent
  EXPECT_EQ(File(), Stamp(kT0) + "no newline at the end\n");
}

TEST_F(LogTest, DestroyingAStreamFinishesIt) {
  writer_->NewStream()->Write("tail");
  EXPECT_EQ(File(), Stamp(kT0) + "tail\n");
}

TEST_F(LogTest, OverlongLineIsCutIntoLinesOfAtMost64KiB) {
  auto out = writer_->NewStream();
  std::string long_line(LogStream::kMaxLine + 100, 'x');
  out->Write(long_line.substr(0, 40000));
  out->Write(long_line.substr(40000));
  out->Write("\n");
  std::string exact(LogStream::kMaxLine, 'y');
  out->Write(exact + "\n");
  EXPECT_EQ(File(), Stamp(kT0) + std::string(LogStream::kMaxLine, 'x') + "\n" + Stamp(kT0) + std::string(100, 'x') +
                        "\n" + Stamp(kT0) + exact + "\n");
}

TEST_F(LogTest, AChunkOfManyTinyLinesIsStampedWholeAndSoAreTheLinesAfterIt) {
  // Stamping 40,000 one-byte lines makes the writer's buffer grow far past
  // its usual size (it is then given back); nothing may be lost either way.
  auto out = writer_->NewStream();
  std::string tiny;
  for (int i = 0; i < 40000; ++i) tiny += static_cast<char>('a' + i % 26) + std::string("\n");
  out->Write(tiny);
  out->Write("after the tiny lines\nand a par");
  out->Write("tial one\n");
  std::string want;
  for (int i = 0; i < 40000; ++i) want += Stamp(kT0) + static_cast<char>('a' + i % 26) + "\n";
  want += Stamp(kT0) + "after the tiny lines\n" + Stamp(kT0) + "and a partial one\n";
  EXPECT_EQ(File(), want);
  EXPECT_TRUE(out->Finish().ok());
}

TEST_F(LogTest, EngineMessagesGoToBothAndStartOnAFreshLine) {
  auto out = writer_->NewStream();
  EXPECT_TRUE(writer_->Engine("==> step lint: make lint").ok());
  out->Write("partial");
  now_ = kT0 + 7;
  EXPECT_TRUE(writer_->Engine("==> step lint failed\n   exit status 2").ok());
  EXPECT_EQ(Echo(), "==> step lint: make lint\npartial\n==> step lint failed\n   exit status 2\n");
  EXPECT_EQ(File(), Stamp(kT0) + "==> step lint: make lint\n" + Stamp(kT0 + 7) + "==> step lint failed\n" +
                        Stamp(kT0 + 7) + "   exit status 2\n");
  EXPECT_TRUE(out->Finish().ok());
  EXPECT_THAT(File(), HasSubstr(Stamp(kT0) + "partial\n"));
}

TEST_F(LogTest, RawIsWrittenVerbatim) {
  EXPECT_TRUE(writer_->Raw("[Container] 2026/11/26 12:00:00.123456 Running command make\nno newline").ok());
  EXPECT_EQ(File(), "[Container] 2026/11/26 12:00:00.123456 Running command make\nno newline");
  EXPECT_EQ(Echo(), "[Container] 2026/11/26 12:00:00.123456 Running command make\nno newline");
}

TEST_F(LogTest, FileIsCreated0640AndAppendedTo) {
  EXPECT_TRUE(writer_->Engine("first").ok());
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0137, 0u);  // never more than 0640, whatever the umask
  writer_.reset();
  auto again = LogWriter::Open(path_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)->Raw("second\n").ok());
  EXPECT_THAT(File(), HasSubstr("first\nsecond\n"));
}

TEST_F(LogTest, OpenErrorNamesThePath) {
  auto r = LogWriter::Open(dir_.Sub("missing/run.log"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "open '" + dir_.Sub("missing/run.log") + "': No such file or directory");
}

TEST_F(LogTest, SecretsAreMaskedInFileEchoEngineAndRaw) {
  writer_->SetSecrets({"hunter2-secret", "abc"});  // "abc" is too short to mask
  auto out = writer_->NewStream();
  out->Write("password is hunter2-secret, abc\n");
  EXPECT_TRUE(writer_->Engine("==> using hunter2-secret").ok());
  EXPECT_TRUE(writer_->Raw("raw hunter2-secret\n").ok());
  EXPECT_TRUE(out->Finish().ok());
  std::string file = File(), echo = Echo();
  EXPECT_THAT(file, Not(HasSubstr("hunter2")));
  EXPECT_THAT(echo, Not(HasSubstr("hunter2")));
  EXPECT_THAT(file, HasSubstr("password is ***, abc\n"));
  EXPECT_THAT(file, HasSubstr("==> using ***\n"));
  EXPECT_THAT(file, HasSubstr("raw ***\n"));
  EXPECT_EQ(echo, "password is ***, abc\n==> using ***\nraw ***\n");
}

TEST_F(LogTest, SecretSplitAcrossChunksIsMaskedInFileAndEcho) {
  writer_->SetSecrets({"s3cr3t-value"});
  auto out = writer_->NewStream();
  out->Write("token=s3cr");
  // Nothing that could be the start of the secret has been echoed yet.
  std::string echo = Echo();
  EXPECT_THAT(echo, Not(HasSubstr("s3cr")));
  out->Write("3t-val");
  echo += Echo();
  out->Write("ue end\n");
  echo += Echo();
  EXPECT_TRUE(out->Finish().ok());
  echo += Echo();
  EXPECT_EQ(echo, "token=*** end\n");
  EXPECT_EQ(File(), Stamp(kT0) + "token=*** end\n");
}

TEST_F(LogTest, SecretFedOneByteAtATimeIsMasked) {
  writer_->SetSecrets({"AKIAEXAMPLEKEY"});
  auto out = writer_->NewStream();
  std::string text = "key: AKIAEXAMPLEKEY\nnext AKIAEXAMPLEKE\n";
  std::string echo;
  for (char c : text) {
    out->Write(std::string_view(&c, 1));
    echo += Echo();
  }
  EXPECT_TRUE(out->Finish().ok());
  echo += Echo();
  EXPECT_EQ(echo, "key: ***\nnext AKIAEXAMPLEKE\n");
  EXPECT_EQ(File(), Stamp(kT0) + "key: ***\n" + Stamp(kT0) + "next AKIAEXAMPLEKE\n");
}

TEST_F(LogTest, MultiLineSecretSplitAcrossLinesIsMasked) {
  writer_->SetSecrets({"-----BEGIN KEY-----\nMIIEvQIBADAN\n-----END KEY-----"});
  auto out = writer_->NewStream();
  out->Write("key:\n-----BEGIN KEY-----\n");
  out->Write("MIIEvQIBADAN\n-----END");
  out->Write(" KEY-----\nafter\n");
  EXPECT_TRUE(out->Finish().ok());
  EXPECT_EQ(Echo(), "key:\n***\nafter\n");
  EXPECT_EQ(File(), Stamp(kT0) + "key:\n" + Stamp(kT0) + "***\n" + Stamp(kT0) + "after\n");
}

TEST_F(LogTest, SecretHeldAtTheEndIsMaskedByFinish) {
  writer_->SetSecrets({"trailing-secret"});
  auto out = writer_->NewStream();
  out->Write("ends with trailing-sec");
  out->Write("ret");
  EXPECT_TRUE(out->Finish().ok());
  EXPECT_EQ(Echo(), "ends with ***");
  EXPECT_EQ(File(), Stamp(kT0) + "ends with ***\n");
}

TEST_F(LogTest, HeldBackBytesKeepTheTimeTheyArrived) {
  writer_->SetSecrets({"hello-secret"});
  auto out = writer_->NewStream();
  out->Write("hello");  // might become the secret: held
  EXPECT_EQ(Echo(), "");
  now_ = kT0 + 2000;
  out->Write(" world, this is long enough\nsecond\n");
  EXPECT_EQ(File(), Stamp(kT0) + "hello world, this is long enough\n" + Stamp(kT0 + 2000) + "second\n");
}

TEST_F(LogTest, StreamsOfParallelStepsKeepTheirLinesWhole) {
  constexpr int kStreams = 4, kLines = 500;
  std::vector<std::thread> threads;
  for (int s = 0; s < kStreams; ++s) {
    threads.emplace_back([&, s] {
      auto out = writer_->NewStream();
      for (int i = 0; i < kLines; ++i) {
        std::string line = "stream " + std::to_string(s) + " line " + std::to_string(i) + "\n";
        // Split every line in two writes to exercise the joining.
        out->Write(line.substr(0, 5));
        out->Write(line.substr(5));
      }
      EXPECT_TRUE(out->Finish().ok());
    });
  }
  for (std::thread& t : threads) t.join();
  std::string file = File();
  int count = 0;
  size_t pos = 0;
  std::string prefix = Stamp(kT0) + "stream ";
  while (pos < file.size()) {
    size_t nl = file.find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    EXPECT_EQ(file.compare(pos, prefix.size(), prefix), 0) << file.substr(pos, nl - pos);
    pos = nl + 1;
    ++count;
  }
  EXPECT_EQ(count, kStreams * kLines);
}

TEST_F(LogTest, SinkFeedsTheStreamFromRunProcess) {
  writer_->SetSecrets({"process-secret"});
  auto out = writer_->NewStream();
  ProcessOptions options;
  options.argv = {"/bin/sh", "-c", "echo one; printf 'sec: process-'; sleep 0.1; echo secret; echo two >&2"};
  options.env = {{"PATH", "/usr/bin:/bin"}};
  auto r = RunProcess(options, out->sink());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(out->Finish().ok());
  EXPECT_EQ(File(), Stamp(kT0) + "one\n" + Stamp(kT0) + "sec: ***\n" + Stamp(kT0) + "two\n");
  EXPECT_EQ(Echo(), "one\nsec: ***\ntwo\n");
}

TEST_F(LogTest, LargeOutputWithSecretsIsMaskedThroughout) {
  writer_->SetSecrets({"secret-value-here", std::string(800, 'T')});  // a session-token-sized one too
  echo_read_.Reset();                                                 // no terminal: the echo pipe would fill up
  auto out = writer_->NewStream();
  ProcessOptions options;
  options.argv = {"/bin/sh", "-c", "yes 'line with secret-value-here inside' | head -n 500000"};
  options.env = {{"PATH", "/usr/bin:/bin"}};
  auto r = RunProcess(options, out->sink());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(out->Finish().ok());
  std::string file = File();
  std::string line = Stamp(kT0) + "line with *** inside\n";
  EXPECT_EQ(file.size(), 500000 * line.size());
  EXPECT_EQ(file.find("secret"), std::string::npos);
  EXPECT_EQ(file.substr(0, line.size()), line);
}

TEST_F(LogTest, EchoReaderGoneDoesNotFailTheLog) {
  echo_read_.Reset();  // `slipway run | head` exited
  auto out = writer_->NewStream();
  out->Write("still logged\n");
  EXPECT_TRUE(writer_->Engine("==> done").ok());
  EXPECT_TRUE(out->Finish().ok());
  EXPECT_EQ(File(), Stamp(kT0) + "still logged\n" + Stamp(kT0) + "==> done\n");
}

// ---- SecretMasker / MaskingStream --------------------------------------------

TEST(SecretMaskerTest, MasksEveryOccurrence) {
  SecretMasker masker({"secret", "tok3n"});
  EXPECT_EQ(masker.Mask("a secret and a tok3n and secretsecret"), "a *** and a *** and ******");
  EXPECT_EQ(masker.Mask("nothing here"), "nothing here");
  EXPECT_EQ(masker.Mask(""), "");
}

TEST(SecretMaskerTest, ShortAndEmptySecretsAreIgnored) {
  SecretMasker masker({"", "a", "abc"});
  EXPECT_TRUE(masker.empty());
  EXPECT_EQ(masker.Mask("abc a"), "abc a");
}

TEST(SecretMaskerTest, OverlappingSecretsAreMaskedAsOne) {
  SecretMasker masker({"abcdef", "defghi", "abcd"});
  EXPECT_EQ(masker.Mask("xxabcdefghiyy"), "xx***yy");
  EXPECT_EQ(masker.Mask("abcdX"), "***X");
}

TEST(SecretMaskerTest, StreamingMatchesMaskingTheWholeText) {
  std::vector<std::string> secrets = {"password123", "AKIA0000SECRET", "abcd", "line1\nline2", "abcdefgh"};
  SecretMasker masker(secrets);
  std::mt19937 rng(42);
  const std::string pieces[] = {"password123", "AKIA0000SECRET", "abc",        "abcd",
                                "abcdefg",     "line1\nline2",   "password12", "\n",
                                "x",           "some text ",     "AKIA",       "abcdefgh"};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    int n = static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) text += pieces[rng() % std::size(pieces)];
    MaskingStream stream;
    std::string streamed;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t len = std::min<size_t>(text.size() - pos, 1 + rng() % 20);
      streamed += stream.Push(std::string_view(text).substr(pos, len), masker).text;
      pos += len;
      EXPECT_LE(stream.held(), 2 * masker.max_length());
    }
    streamed += stream.Flush(masker);
    ASSERT_EQ(streamed, masker.Mask(text)) << "text: " << text;
  }
}

TEST(SecretMaskerTest, WithoutSecretsNothingIsHeldBack) {
  SecretMasker masker;
  MaskingStream stream;
  EXPECT_EQ(stream.Push("abc", masker).text, "abc");
  EXPECT_EQ(stream.held(), 0u);
}

}  // namespace
}  // namespace slipway
