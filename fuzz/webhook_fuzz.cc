// libFuzzer target: webhook payloads of every provider, correctly signed (so
// the parser behind the signature check is reached) and, for a few inputs,
// wrongly signed (must be refused), plus RepositoryKey on the URLs found.
// Byte 0 picks the provider; the rest is the body. See doc/reliability.md.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "triggers/webhook.h"

using slipway::WebhookProvider;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string secret = "fuzz-secret";
  WebhookProvider provider = static_cast<WebhookProvider>(data[0] % 4);
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string sig = slipway::HmacSha256Hex(secret, body);
  std::map<std::string, std::string> headers;
  switch (provider) {
    case WebhookProvider::kGithub:
      headers = {{"x-hub-signature-256", "sha256=" + sig},
                 {"x-github-event", (data[0] & 4) ? "ping" : "push"},
                 {"x-github-delivery", "d-1"}};
      break;
    case WebhookProvider::kGitlab:
      headers = {{"x-gitlab-token", secret}, {"x-gitlab-event", "Push Hook"}, {"x-gitlab-event-uuid", "u-1"}};
      break;
    case WebhookProvider::kGitea:
      headers = {{(data[0] & 4) ? "x-forgejo-signature" : "x-gitea-signature", sig}, {"x-gitea-event", "push"}};
      break;
    case WebhookProvider::kGeneric:
      headers = {{"x-slipway-signature", "sha256=" + sig}};
      break;
  }
  auto event = slipway::ParseWebhook(provider, headers, body, secret);
  int http = slipway::WebhookHttpStatus(event.ok() ? slipway::Status() : event.status());
  if (http == 401) __builtin_trap();  // a correct signature must never be refused as unauthenticated
  if (event.ok()) {
    for (const auto& url : event->repository_urls) (void)slipway::RepositoryKey(url);
  }
  // The same body under a wrong secret must be refused, whatever it holds.
  if (data[0] & 8) {
    auto wrong = slipway::ParseWebhook(provider, headers, body, "another-secret");
    if (wrong.ok() || wrong.status().code() != slipway::StatusCode::kPermissionDenied) __builtin_trap();
  }
  (void)slipway::RepositoryKey(body);
  return 0;
}
