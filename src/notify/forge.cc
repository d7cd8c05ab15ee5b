#include "notify/forge.h"

#include <curl/curl.h>

#include <nlohmann/json.hpp>

#include "dynlib/libcurl.h"
#include "notify/notify.h"

namespace slipway {

namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// Path segments: "owner/name" keeps its slash for GitHub and Gitea; GitLab's
// project id is numeric.
std::string Escape(CURL* h, const std::string& s) {
  char* e = curl_easy_escape(h, s.c_str(), static_cast<int>(s.size()));
  std::string out = e == nullptr ? s : e;
  curl_free(e);
  return out;
}

Status Post(const ForgeConfig& forge, const std::string& name, const std::string& path, const std::string& body,
            int64_t timeout_ms) {
  SLIPWAY_ASSIGN_OR_RETURN(std::string token, ReadSecretRef(forge.token, "the " + name + " token"));
  CURL* h = curl_easy_init();
  if (h == nullptr) return Failed("curl_easy_init failed");
  std::string url = forge.api_url + path;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "User-Agent: slipway");
  std::string auth = name == "gitlab"  ? "PRIVATE-TOKEN: " + token
                     : name == "gitea" ? "Authorization: token " + token
                                       : "Authorization: Bearer " + token;
  headers = curl_slist_append(headers, auth.c_str());
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Discard);
  CURLcode rc = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  if (rc != CURLE_OK) return NetworkError("post to " + url + ": " + curl_easy_strerror(rc));
  return HttpAnswer(code, url);
}

}  // namespace

std::string EncodePreviewContext(const PreviewContext& c) {
  nlohmann::json j = {{"forge", c.forge},
                      {"repo", c.repo},
                      {"number", c.number},
                      {"head", c.head},
                      {"head_branch", c.head_branch},
                      {"base_branch", c.base_branch},
                      {"title", c.title}};
  if (!c.fetch_ref.empty()) j["fetch_ref"] = c.fetch_ref;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<PreviewContext> ParsePreviewContext(const std::string& text) {
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    PreviewContext c;
    c.forge = j.at("forge").get<std::string>();
    c.repo = j.at("repo").get<std::string>();
    c.number = j.at("number").get<int64_t>();
    c.head = j.at("head").get<std::string>();
    c.head_branch = j.value("head_branch", "");
    c.base_branch = j.value("base_branch", "");
    c.title = j.value("title", "");
    c.fetch_ref = j.value("fetch_ref", "");
    return c;
  } catch (const std::exception&) {
    return InvalidArgument("not a preview context");
  }
}

Status PostCommitStatus(const ForgeConfig& forge, const PreviewContext& pr, const std::string& state,
                        const std::string& target_url, const std::string& description, const std::string& context,
                        int64_t timeout_ms) {
  SLIPWAY_RETURN_IF_ERROR(LoadLibcurl("forge client"));
  CURL* h = curl_easy_init();
  if (h == nullptr) return Failed("curl_easy_init failed");
  std::string path;
  nlohmann::json body;
  if (pr.forge == "gitlab") {
    std::string gl_state = state == "failure" ? "failed" : state == "error" ? "failed" : state;
    path = "/projects/" + Escape(h, pr.repo) + "/statuses/" + pr.head;
    body = {{"state", gl_state}, {"name", context}, {"description", description}};
    if (!target_url.empty()) body["target_url"] = target_url;
  } else {
    path = "/repos/" + pr.repo + "/statuses/" + pr.head;
    body = {{"state", state}, {"context", context}, {"description", description}};
    if (!target_url.empty()) body["target_url"] = target_url;
  }
  curl_easy_cleanup(h);
  return Post(forge, pr.forge, path, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), timeout_ms)
      .WithContext("commit status for " + pr.head.substr(0, 12));
}

Status PostPullRequestComment(const ForgeConfig& forge, const PreviewContext& pr, const std::string& text,
                              int64_t timeout_ms) {
  SLIPWAY_RETURN_IF_ERROR(LoadLibcurl("forge client"));
  CURL* h = curl_easy_init();
  if (h == nullptr) return Failed("curl_easy_init failed");
  std::string path = pr.forge == "gitlab"
                         ? "/projects/" + Escape(h, pr.repo) + "/merge_requests/" + std::to_string(pr.number) + "/notes"
                         : "/repos/" + pr.repo + "/issues/" + std::to_string(pr.number) + "/comments";
  curl_easy_cleanup(h);
  nlohmann::json body = {{"body", text}};
  return Post(forge, pr.forge, path, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), timeout_ms)
      .WithContext("comment on pull request " + std::to_string(pr.number));
}

}  // namespace slipway
