// Notifications (issue 8; doc/notifications.md): on failure, recovery (the
// first success after a failure), success and drift, to a generic JSON
// webhook (HMAC-SHA256 signed), Slack and Microsoft Teams incoming webhooks,
// and email over SMTP with STARTTLS (libcurl).
//
// Delivery never blocks or fails a run: Notifier::Send queues and returns; one
// background thread delivers with retries and exponential backoff; what
// cannot be delivered is logged (without secrets) and counted.
//
// Secrets (webhook URLs given as url_file/url_env, HMAC keys, SMTP
// passwords) are read at delivery time from their file or variable and
// never logged.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/trust_config.h"
#include "util/status.h"

namespace slipway {

struct Notification {
  std::string event;  // "failure", "recovery", "success", "drift"
  std::string environment;
  int64_t run_id = 0;
  std::string kind;    // "deploy", "drift", ...
  std::string status;  // the run's status name
  std::string trigger;
  std::string actor;
  std::string settings_commit;
  std::string code_ref;
  std::string code_commit;
  std::string error;   // one sentence, "" on success
  std::string detail;  // drift: why ("make diff printed 12 lines")
  std::string url;     // the run page, "" when server.public_url is not set
  int64_t finished_ms = 0;
};

// "prod: run 12 failed: step 'test' failed with exit status 2" and the like.
std::string NotificationSummary(const Notification& n);
// The bodies, for tests and the docs.
std::string WebhookBody(const Notification& n);  // {"event":..,"environment":..,...}
std::string SlackBody(const Notification& n);    // {"text": ...}
std::string TeamsBody(const Notification& n);    // a MessageCard
std::string EmailMessage(const Notification& n, const NotifyTarget& target, int64_t now_ms);
// "sha256=" + lower-case hex HMAC-SHA256 of body with key.
std::string HmacSignature(const std::string& key, const std::string& body);

// The value of a secret: the file's content without its trailing newline,
// or the variable's value. Errors name the file or variable, never the value.
Result<std::string> ReadSecretRef(const SecretRef& ref, const std::string& what);

// One attempt to deliver n to target, at most timeout_ms. kNetwork / kFailed
// with one sentence (no secret in it) on failure.
Status DeliverOnce(const NotifyTarget& target, const Notification& n, int64_t timeout_ms);

class Notifier {
 public:
  struct Options {
    int max_attempts = 4;
    int64_t first_backoff_ms = 1000;  // doubles after each failed attempt
    int64_t timeout_ms = 10'000;      // per attempt
    size_t max_queued = 1000;         // beyond: dropped (logged, counted)
  };
  // `log` gets one line per undeliverable notification. Starts the thread.
  Notifier(Options options, std::function<void(const std::string&)> log);
  ~Notifier();  // Stop(0)
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues n for every target that wants n.event. Returns at once.
  void Send(const std::vector<NotifyTarget>& targets, const Notification& n);
  // Delivers what is queued for up to grace_ms, then drops the rest (logged)
  // and joins the thread. Idempotent.
  void Stop(int64_t grace_ms);

  // (target kind, result) -> count; result is "delivered", "failed" or "dropped".
  std::map<std::pair<std::string, std::string>, int64_t> Counts() const;
  // Appends slipway_notifications_total (Prometheus text) to *out.
  void RenderMetrics(std::string* out) const;

 private:
  struct Job {
    NotifyTarget target;
    Notification n;
    int attempts = 0;
    int64_t not_before_ms = 0;  // monotonic
  };
  void Loop();
  void Count(const NotifyTarget& t, const std::string& result);

  const Options options_;
  std::function<void(const std::string&)> log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  int64_t stop_deadline_ms_ = 0;
  std::map<std::pair<std::string, std::string>, int64_t> counts_;
  std::thread thread_;
};

}  // namespace slipway
