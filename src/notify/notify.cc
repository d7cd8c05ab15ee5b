#include "notify/notify.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "dynlib/libcurl.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

const char* Verb(const Notification& n) {
  if (n.event == "failure") return "failed";
  if (n.event == "recovery") return "recovered";
  if (n.event == "drift") return "has drifted";
  return "succeeded";
}

std::string Title(const Notification& n) {
  if (n.event == "drift") return n.environment + " has drifted";
  return n.environment + ": " + n.kind + " run " + std::to_string(n.run_id) + " " + Verb(n);
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

struct ReadState {
  const std::string* data;
  size_t offset = 0;
};
size_t ReadBody(char* buf, size_t size, size_t n, void* user) {
  auto* st = static_cast<ReadState*>(user);
  size_t left = st->data->size() - st->offset;
  size_t take = std::min(left, size * n);
  std::copy_n(st->data->data() + st->offset, take, buf);
  st->offset += take;
  return take;
}

struct Curl {
  CURL* h = curl_easy_init();
  curl_slist* headers = nullptr;
  curl_slist* rcpt = nullptr;
  ~Curl() {
    curl_slist_free_all(headers);
    curl_slist_free_all(rcpt);
    if (h != nullptr) curl_easy_cleanup(h);
  }
};

Status PostJson(const std::string& url, const std::string& body, const std::vector<std::string>& headers,
                int64_t timeout_ms, const std::string& shown) {
  SLIPWAY_RETURN_IF_ERROR(LoadLibcurl("notifier"));
  Curl c;
  if (c.h == nullptr) return Failed("curl_easy_init failed");
  c.headers = curl_slist_append(c.headers, "Content-Type: application/json");
  for (const auto& h : headers) c.headers = curl_slist_append(c.headers, h.c_str());
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
  curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c.h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, Discard);
  CURLcode rc = curl_easy_perform(c.h);
  if (rc != CURLE_OK) return NetworkError("post to " + shown + ": " + curl_easy_strerror(rc));
  long code = 0;
  curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &code);
  return HttpAnswer(code, shown).WithContext("post");
}

Status SendMail(const NotifyTarget& t, const std::string& message, int64_t timeout_ms) {
  SLIPWAY_RETURN_IF_ERROR(LoadLibcurl("notifier"));
  Curl c;
  if (c.h == nullptr) return Failed("curl_easy_init failed");
  curl_easy_setopt(c.h, CURLOPT_URL, t.smtp_url.c_str());
  curl_easy_setopt(c.h, CURLOPT_PROTOCOLS_STR, "smtp");
  curl_easy_setopt(c.h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));  // STARTTLS or nothing
  if (!t.ca_file.empty()) curl_easy_setopt(c.h, CURLOPT_CAINFO, t.ca_file.c_str());
  std::string password;
  if (!t.username.empty()) {
    curl_easy_setopt(c.h, CURLOPT_USERNAME, t.username.c_str());
    if (!t.password.empty()) {
      SLIPWAY_ASSIGN_OR_RETURN(password, ReadSecretRef(t.password, "the SMTP password"));
      curl_easy_setopt(c.h, CURLOPT_PASSWORD, password.c_str());
    }
  }
  std::string from = "<" + t.from + ">";
  curl_easy_setopt(c.h, CURLOPT_MAIL_FROM, from.c_str());
  for (const auto& to : t.to) c.rcpt = curl_slist_append(c.rcpt, ("<" + to + ">").c_str());
  curl_easy_setopt(c.h, CURLOPT_MAIL_RCPT, c.rcpt);
  ReadState st{&message};
  curl_easy_setopt(c.h, CURLOPT_READFUNCTION, ReadBody);
  curl_easy_setopt(c.h, CURLOPT_READDATA, &st);
  curl_easy_setopt(c.h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c.h);
  if (rc != CURLE_OK) return NetworkError("mail via " + t.smtp_url + ": " + curl_easy_strerror(rc));
  return Status::Ok();
}

}  // namespace

std::string NotificationSummary(const Notification& n) {
  std::string s = Title(n);
  if (n.event == "drift" && !n.detail.empty()) s += ": " + n.detail;
  if (n.event == "failure" && !n.error.empty()) s += ": " + n.error;
  return s;
}

std::string WebhookBody(const Notification& n) {
  nlohmann::json j = {{"event", n.event},
                      {"environment", n.environment},
                      {"run_id", n.run_id},
                      {"kind", n.kind},
                      {"status", n.status},
                      {"trigger", n.trigger},
                      {"actor", n.actor},
                      {"settings_commit", n.settings_commit},
                      {"code_ref", n.code_ref},
                      {"code_commit", n.code_commit},
                      {"error", n.error},
                      {"detail", n.detail},
                      {"url", n.url},
                      {"finished_ms", n.finished_ms},
                      {"summary", NotificationSummary(n)}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string SlackBody(const Notification& n) {
  std::string text = NotificationSummary(n);
  if (!n.code_ref.empty()) text += "\ncode " + n.code_ref + " (" + Short(n.code_commit) + ")";
  if (!n.url.empty()) text += "\n<" + n.url + "|Open run " + std::to_string(n.run_id) + ">";
  nlohmann::json j = {{"text", text}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string TeamsBody(const Notification& n) {
  const char* color = n.event == "failure" ? "D70000" : n.event == "drift" ? "FFA500" : "2EB886";
  nlohmann::json facts = nlohmann::json::array();
  facts.push_back({{"name", "Environment"}, {"value", n.environment}});
  facts.push_back({{"name", "Run"}, {"value", std::to_string(n.run_id) + " (" + n.kind + ", " + n.status + ")"}});
  if (!n.code_ref.empty()) facts.push_back({{"name", "Code"}, {"value", n.code_ref + " " + Short(n.code_commit)}});
  if (!n.settings_commit.empty()) facts.push_back({{"name", "Settings"}, {"value", Short(n.settings_commit)}});
  nlohmann::json j = {{"@type", "MessageCard"},
                      {"@context", "https://schema.org/extensions"},
                      {"summary", Title(n)},
                      {"themeColor", color},
                      {"title", Title(n)},
                      {"text", NotificationSummary(n)},
                      {"sections", nlohmann::json::array({{{"facts", facts}}})}};
  if (!n.url.empty()) {
    j["potentialAction"] = nlohmann::json::array(
        {{{"@type", "OpenUri"}, {"name", "Open run"}, {"targets", {{{"os", "default"}, {"uri", n.url}}}}}});
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string EmailMessage(const Notification& n, const NotifyTarget& target, int64_t now_ms) {
  char date[64];
  std::time_t t = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  auto clean = [](std::string s) {  // no header injection through names or errors
    for (char& c : s) {
      if (c == '\r' || c == '\n') c = ' ';
    }
    return s;
  };
  std::string to;
  for (size_t i = 0; i < target.to.size(); ++i) to += (i ? ", " : "") + target.to[i];
  std::string m;
  m += "Date: " + std::string(date) + "\r\n";
  m += "From: " + clean(target.from) + "\r\n";
  m += "To: " + clean(to) + "\r\n";
  m += "Subject: [slipway] " + clean(Title(n)) + "\r\n";
  m += "Message-ID: <slipway-" + std::to_string(n.run_id) + "-" + n.event + "-" + std::to_string(now_ms) + "@" +
       clean(n.environment) + ">\r\n";
  m += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  std::string body = NotificationSummary(n) + "\n\n";
  body += "environment: " + n.environment + "\nrun: " + std::to_string(n.run_id) + " (" + n.kind + ", " + n.status +
          ")\ntrigger: " + n.trigger + (n.actor.empty() ? "" : " by " + n.actor) + "\n";
  if (!n.settings_commit.empty()) body += "settings: " + n.settings_commit + "\n";
  if (!n.code_ref.empty()) body += "code: " + n.code_ref + " " + n.code_commit + "\n";
  if (!n.url.empty()) body += "\n" + n.url + "\n";
  // SMTP: CRLF line ends, and a line starting with "." is doubled.
  for (const std::string& line : Split(body, '\n')) {
    m += (StartsWith(line, ".") ? "." : "") + line + "\r\n";
  }
  return m;
}

std::string HmacSignature(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), mac, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

Result<std::string> ReadSecretRef(const SecretRef& ref, const std::string& what) {
  if (!ref.file.empty()) {
    Result<std::string> text = ReadFileLimited(ref.file, 64 << 10);
    if (!text.ok()) return text.status().WithContext(what);
    std::string value = *text;
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    return value;
  }
  const char* v = std::getenv(ref.env.c_str());
  if (v == nullptr) return NotFound(what + ": variable " + ref.env + " is not set");
  return std::string(v);
}

Status DeliverOnce(const NotifyTarget& t, const Notification& n, int64_t timeout_ms) {
  if (t.kind == NotifyTarget::Kind::kEmail) return SendMail(t, EmailMessage(n, t, NowMs()), timeout_ms);
  std::string url = t.url;
  std::string shown = t.url;
  if (url.empty()) {
    SLIPWAY_ASSIGN_OR_RETURN(url, ReadSecretRef(t.url_secret, std::string("the ") + NotifyKindName(t.kind) + " URL"));
    shown = std::string("the ") + NotifyKindName(t.kind) + " URL of " +
            (t.url_secret.file.empty() ? "$" + t.url_secret.env : "'" + t.url_secret.file + "'");
  }
  std::vector<std::string> headers;
  std::string body;
  if (t.kind == NotifyTarget::Kind::kWebhook) {
    body = WebhookBody(n);
    headers.push_back("X-Slipway-Event: " + n.event);
    if (!t.hmac.empty()) {
      SLIPWAY_ASSIGN_OR_RETURN(std::string key, ReadSecretRef(t.hmac, "the webhook HMAC key"));
      headers.push_back("X-Slipway-Signature-256: " + HmacSignature(key, body));
    }
  } else if (t.kind == NotifyTarget::Kind::kSlack) {
    body = SlackBody(n);
  } else {
    body = TeamsBody(n);
  }
  return PostJson(url, body, headers, timeout_ms, shown);
}

Status HttpAnswer(long code, const std::string& shown) {
  if (code >= 200 && code < 300) return Status::Ok();
  std::string message = "HTTP " + std::to_string(code) + " from " + shown;
  // 429 (rate limited) and 5xx (the remote's trouble) may pass; other 4xx
  // (a bad token, a wrong URL) will not.
  if (code == 429 || code >= 500) return NetworkError(message);
  return Failed(message);
}

bool IsRetryable(const Status& s) { return s.code() == StatusCode::kNetwork || s.code() == StatusCode::kTimeout; }

Notifier::Notifier(Options options, std::function<void(const std::string&)> log)
    : options_(options), log_(std::move(log)) {
  thread_ = std::thread([this] { Loop(); });
}

Notifier::~Notifier() { Stop(0); }

void Notifier::Count(const Delivery& d, const std::string& result) {
  // mu_ held by the caller.
  ++counts_[d.family][{d.target, result}];
}

void Notifier::Send(const std::vector<NotifyTarget>& targets, const Notification& n) {
  for (const NotifyTarget& t : targets) {
    if (!t.Wants(n.event)) continue;
    Delivery d;
    d.family = "notification";
    d.target = NotifyKindName(t.kind);
    d.what = "notification";
    d.where = d.target + ", " + t.at;
    d.summary = NotificationSummary(n);
    d.attempt = [t, n](int64_t timeout_ms) { return DeliverOnce(t, n, timeout_ms); };
    Enqueue(std::move(d));
  }
}

void Notifier::Enqueue(Delivery d) {
  std::lock_guard lock(mu_);
  if (stopping_ || jobs_.size() >= options_.max_queued) {
    Count(d, "dropped");
    if (log_) {
      log_(d.what + " dropped" + (d.where.empty() ? "" : " (" + d.where + ")") +
           (d.summary.empty() ? "" : ": " + d.summary));
    }
    return;
  }
  if (!d.key.empty()) {
    // Replaced while waiting: it was never delivered and never will be.
    std::erase_if(jobs_, [&](const Job& j) { return j.d.key == d.key; });
  }
  jobs_.push_back(Job{std::move(d), 0, 0});
  cv_.notify_all();
}

bool Notifier::SupersededLocked(const Job& job) const {
  return !job.d.key.empty() &&
         std::any_of(jobs_.begin(), jobs_.end(), [&](const Job& j) { return j.d.key == job.d.key; });
}

void Notifier::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_ && (jobs_.empty() || MonotonicMs() >= stop_deadline_ms_)) break;
    if (jobs_.empty()) {
      cv_.wait(lock);
      continue;
    }
    // The job whose time has come first (the oldest among equals).
    auto next = std::min_element(jobs_.begin(), jobs_.end(),
                                 [](const Job& a, const Job& b) { return a.not_before_ms < b.not_before_ms; });
    int64_t now = MonotonicMs();
    if (next->not_before_ms > now) {
      int64_t until = next->not_before_ms;
      if (stopping_) until = std::min(until, stop_deadline_ms_);
      cv_.wait_for(lock, std::chrono::milliseconds(until - now));
      continue;
    }
    Job job = std::move(*next);
    jobs_.erase(next);
    lock.unlock();
    Status delivered = job.d.attempt ? job.d.attempt(options_.timeout_ms) : Internal("nothing to deliver");
    lock.lock();
    ++job.attempts;
    if (delivered.ok()) {
      Count(job.d, "delivered");
      continue;
    }
    // A newer delivery with the same key came while this one was out.
    if (SupersededLocked(job)) continue;
    if (job.attempts >= options_.max_attempts || !IsRetryable(delivered)) {
      Count(job.d, "failed");
      if (log_) {
        log_(job.d.what + " not delivered after " + std::to_string(job.attempts) +
             (job.attempts == 1 ? " attempt" : " attempts") + (job.d.where.empty() ? "" : " (" + job.d.where + ")") +
             ": " + delivered.message());
      }
      continue;
    }
    job.not_before_ms = MonotonicMs() + (options_.first_backoff_ms << (job.attempts - 1));
    jobs_.push_back(std::move(job));
  }
  for (const Job& job : jobs_) {
    Count(job.d, "dropped");
    if (log_) {
      log_(job.d.what + " dropped at shutdown" + (job.d.where.empty() ? "" : " (" + job.d.where + ")"));
    }
  }
  jobs_.clear();
}

void Notifier::Stop(int64_t grace_ms) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ms_ = MonotonicMs() + grace_ms;
    }
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

std::map<std::pair<std::string, std::string>, int64_t> Notifier::Counts(const std::string& family) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find(family);
  return it == counts_.end() ? std::map<std::pair<std::string, std::string>, int64_t>{} : it->second;
}

void Notifier::RenderMetrics(std::string* out) const {
  struct Family {
    const char* family;
    const char* metric;
    const char* label;
    const char* help;
  };
  static const Family kFamilies[] = {
      {"notification", "slipway_notifications_total", "target",
       "Notifications by target type and result (delivered, failed, dropped)."},
      {"commit_status", "slipway_commit_statuses_total", "forge",
       "Commit statuses of previews by forge and result (delivered, failed, dropped)."},
      {"comment", "slipway_pull_request_comments_total", "forge",
       "Pull request comments of previews by forge and result (delivered, failed, dropped)."},
  };
  for (const Family& f : kFamilies) {
    *out += std::string("# HELP ") + f.metric + " " + f.help + "\n# TYPE " + f.metric + " counter\n";
    for (const auto& [key, count] : Counts(f.family)) {
      *out += std::string(f.metric) + "{" + f.label + "=\"" + key.first + "\",result=\"" + key.second + "\"} " +
              std::to_string(count) + "\n";
    }
  }
}

}  // namespace slipway
