#include "cli/git_credential_command.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "aws/codecommit.h"
#include "aws/credentials.h"
#include "cli/commands.h"
#include "util/clock.h"
#include "util/strings.h"

namespace slipway {

namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// git's request, read to EOF (git closes its end after a blank line or EOF).
std::string ReadStdin() {
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > 64 * 1024) break;  // far more than any request
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  return text;
}

// For tests: the request's protocol and host replaced by https and `host`.
std::string SignFor(const std::string& request, const std::string& host) {
  std::string out;
  for (const auto& line : Split(request, '\n')) {
    if (StartsWith(line, "protocol=") || StartsWith(line, "host=")) continue;
    if (!line.empty()) out += line + "\n";
  }
  return "protocol=https\nhost=" + host + "\n" + out;
}

}  // namespace

int GitCredentialCommand(int argc, char** argv) {
  std::string action = argc > 1 ? argv[1] : "";
  if (action != "get" && action != "store" && action != "erase") {
    PrintError("usage: slipway git-credential get|store|erase (run by git, see doc/aws.md)");
    return kExitUsage;
  }
  std::string request = ReadStdin();
  if (action != "get") return kExitOk;
  aws::Credentials credentials;
  credentials.access_key_id = Env("SLIPWAY_CC_ACCESS_KEY_ID");
  credentials.secret_access_key = Env("SLIPWAY_CC_SECRET_ACCESS_KEY");
  credentials.session_token = Env("SLIPWAY_CC_SESSION_TOKEN");
  if (credentials.empty()) {
    PrintError("git-credential: no credentials in SLIPWAY_CC_ACCESS_KEY_ID / SLIPWAY_CC_SECRET_ACCESS_KEY");
    return kExitFailed;
  }
  std::string sign_host = Env("SLIPWAY_CC_SIGN_HOST");
  if (!sign_host.empty()) request = SignFor(request, sign_host);
  Result<std::string> answer = aws::AnswerGitCredentialRequest(request, credentials, Env("SLIPWAY_CC_REGION"), NowMs());
  if (!answer.ok()) {
    PrintError("git-credential: " + answer.status().message());
    return kExitFailed;
  }
  std::fwrite(answer->data(), 1, answer->size(), stdout);
  return kExitOk;
}

}  // namespace slipway
