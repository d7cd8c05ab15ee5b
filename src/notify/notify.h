// Notifications (issue 8; doc/notifications.md): on failure, recovery (the
// first success after a failure), success and drift, to a generic JSON
// webhook (HMAC-SHA256 signed), Slack and Microsoft Teams incoming webhooks,
// and email over SMTP with STARTTLS (libcurl).
//
// Delivery never blocks or fails a run: Notifier::Send queues and returns; one
// background thread delivers with retries and exponential backoff; what
// cannot be delivered is logged (without secrets) and counted. The same
// Notifier carries the commit statuses and comments of previews.
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

// How an HTTP answer counts: 2xx is OK; 429 and 5xx are kNetwork (worth
// another attempt); any other code is kFailed ("HTTP 401 from " + shown).
Status HttpAnswer(long code, const std::string& shown);
// True when another attempt may succeed: kNetwork (unreachable, reset, HTTP
// 429 or 5xx) or kTimeout. Other errors (HTTP 4xx, a missing secret, a bad
// URL) are final.
bool IsRetryable(const Status& s);

// The outbox of everything Slipway tells the outside world after a run:
// notifications, and the commit statuses and comments of previews
// (notify/forge.h). Enqueueing never blocks; one background thread delivers
// in order of due time with the same rules for all: up to max_attempts, with
// first_backoff_ms doubling between them, retrying only what IsRetryable
// says; what cannot be delivered is logged and counted. Thread-safe.
class Notifier {
 public:
  struct Options {
    int max_attempts = 4;
    int64_t first_backoff_ms = 1000;  // doubles after each failed attempt
    int64_t timeout_ms = 10'000;      // per attempt
    size_t max_queued = 1000;         // beyond: dropped (logged, counted)
  };
  // One message to deliver, whatever it is.
  struct Delivery {
    std::string family;   // the metric: "notification", "commit_status" or "comment"
    std::string target;   // its label: "slack", "teams", "github", ...
    std::string what;     // the log's subject, no secret: "notification", "preview run 12: commit status 'success'"
    std::string where;    // the log's parenthesis, no secret: "teams, slipway.yaml:12:5"; may be ""
    std::string summary;  // said when dropped; may be ""
    // Non-empty: a later delivery with the same key replaces this one while
    // it waits (a commit status: only the newest state of a check matters,
    // and an older one retried late must not overwrite it).
    std::string key;
    std::function<Status(int64_t timeout_ms)> attempt;  // called on the notifier's thread
  };

  // `log` gets one line per undeliverable notification. Starts the thread.
  Notifier(Options options, std::function<void(const std::string&)> log);
  ~Notifier();  // Stop(0)
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues n for every target that wants n.event. Returns at once.
  void Send(const std::vector<NotifyTarget>& targets, const Notification& n);
  // Queues d. Returns at once.
  void Enqueue(Delivery d);
  // Delivers what is queued for up to grace_ms, then drops the rest (logged)
  // and joins the thread. Idempotent.
  void Stop(int64_t grace_ms);

  // (target, result) -> count for one family; result is "delivered",
  // "failed" or "dropped".
  std::map<std::pair<std::string, std::string>, int64_t> Counts(const std::string& family = "notification") const;
  // Appends slipway_notifications_total, slipway_commit_statuses_total and
  // slipway_pull_request_comments_total (Prometheus text) to *out.
  void RenderMetrics(std::string* out) const;

 private:
  struct Job {
    Delivery d;
    int attempts = 0;
    int64_t not_before_ms = 0;  // monotonic
  };
  void Loop();
  void Count(const Delivery& d, const std::string& result);
  bool SupersededLocked(const Job& job) const;

  const Options options_;
  std::function<void(const std::string&)> log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  int64_t stop_deadline_ms_ = 0;
  std::map<std::string, std::map<std::pair<std::string, std::string>, int64_t>> counts_;  // by family
  std::thread thread_;
};

}  // namespace slipway
