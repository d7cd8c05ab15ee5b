#include "daemon/metrics.h"

#include <unistd.h>

#include <cstdio>

#include "util/clock.h"

namespace slipway {

std::string PromLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

void Metrics::ObserveRun(const std::string& environment, int64_t duration_ms) {
  std::lock_guard lock(mu_);
  Histogram& h = durations_[environment];
  double s = static_cast<double>(duration_ms) / 1000.0;
  for (size_t i = 0; i < kDurationBuckets.size(); ++i) {
    if (s <= kDurationBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
  ++h.count;
  h.sum_s += s;
}

void Metrics::CountWebhook(const std::string& source, const std::string& result) {
  std::lock_guard lock(mu_);
  ++webhooks_[{source, result}];
}

void Metrics::CountPoll(const std::string& url, bool ok) {
  std::lock_guard lock(mu_);
  auto& [polls, errors] = polls_[url];
  ++polls;
  if (!ok) ++errors;
}

void Metrics::CountTrigger(const std::string& environment, const std::string& trigger, const std::string& outcome) {
  std::lock_guard lock(mu_);
  ++triggers_[{environment, trigger, outcome}];
}

void Metrics::Render(std::string* out) const {
  std::lock_guard lock(mu_);
  std::string& o = *out;
  o += "# HELP slipway_run_duration_seconds Duration of runs finished since the engine started.\n";
  o += "# TYPE slipway_run_duration_seconds histogram\n";
  for (const auto& [env, h] : durations_) {
    std::string label = "environment=\"" + PromLabel(env) + "\"";
    int64_t cumulative = 0;
    for (size_t i = 0; i < kDurationBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      o += "slipway_run_duration_seconds_bucket{" + label + ",le=\"" + Number(kDurationBuckets[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
    }
    o += "slipway_run_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    o += "slipway_run_duration_seconds_sum{" + label + "} " + Number(h.sum_s) + "\n";
    o += "slipway_run_duration_seconds_count{" + label + "} " + std::to_string(h.count) + "\n";
  }
  o += "# HELP slipway_webhook_deliveries_total Webhook deliveries received, by source and result.\n";
  o += "# TYPE slipway_webhook_deliveries_total counter\n";
  for (const auto& [key, n] : webhooks_) {
    o += "slipway_webhook_deliveries_total{source=\"" + PromLabel(key.first) + "\",result=\"" + PromLabel(key.second) +
         "\"} " + std::to_string(n) + "\n";
  }
  o += "# HELP slipway_polls_total ls-remote polls of settings repositories, by URL.\n";
  o += "# TYPE slipway_polls_total counter\n";
  for (const auto& [url, n] : polls_) {
    o += "slipway_polls_total{url=\"" + PromLabel(url) + "\"} " + std::to_string(n.first) + "\n";
  }
  o += "# HELP slipway_poll_errors_total Failed ls-remote polls, by URL.\n";
  o += "# TYPE slipway_poll_errors_total counter\n";
  for (const auto& [url, n] : polls_) {
    o += "slipway_poll_errors_total{url=\"" + PromLabel(url) + "\"} " + std::to_string(n.second) + "\n";
  }
  o += "# HELP slipway_triggers_total Triggers received, by environment, kind and outcome.\n";
  o += "# TYPE slipway_triggers_total counter\n";
  for (const auto& [key, n] : triggers_) {
    o += "slipway_triggers_total{environment=\"" + PromLabel(key[0]) + "\",trigger=\"" + PromLabel(key[1]) +
         "\",outcome=\"" + PromLabel(key[2]) + "\"} " + std::to_string(n) + "\n";
  }
}

void LogEvent(std::string_view message) {
  std::string line = FormatTimestamp(NowMs()) + " slipway: ";
  line.append(message);
  line += '\n';
  // One write: lines of several threads never interleave. A failed write to
  // stderr has nowhere to be reported.
  ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  (void)n;
}

}  // namespace slipway
