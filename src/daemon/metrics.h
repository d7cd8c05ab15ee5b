// The daemon's in-memory metrics and their Prometheus text exposition
// (version 0.0.4). Counters start at zero when the process starts, as
// Prometheus expects; what must survive a restart (runs by status, last
// success) is read from the store by Daemon::MetricsText.
//
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace slipway {

// Escapes a label value: backslash, double quote and newline.
std::string PromLabel(std::string_view value);

class Metrics {
 public:
  // Upper bounds of the run duration histogram, in seconds.
  static constexpr std::array<double, 11> kDurationBuckets = {1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600};

  void ObserveRun(const std::string& environment, int64_t duration_ms);
  void CountWebhook(const std::string& source, const std::string& result);
  void CountPoll(const std::string& url, bool ok);
  void CountTrigger(const std::string& environment, const std::string& trigger, const std::string& outcome);

  // Appends the metrics held here (with HELP and TYPE lines) to *out.
  void Render(std::string* out) const;

 private:
  struct Histogram {
    std::array<int64_t, kDurationBuckets.size()> buckets{};  // non-cumulative
    int64_t count = 0;
    double sum_s = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, Histogram> durations_;                       // by environment
  std::map<std::pair<std::string, std::string>, int64_t> webhooks_;  // (source, result)
  std::map<std::string, std::pair<int64_t, int64_t>> polls_;         // url -> (polls, errors)
  std::map<std::array<std::string, 3>, int64_t> triggers_;           // (environment, trigger, outcome)
};

// Writes "TIMESTAMP slipway: MESSAGE" to stderr in one write (the daemon's
// journal; systemd captures it).
void LogEvent(std::string_view message);

}  // namespace slipway
