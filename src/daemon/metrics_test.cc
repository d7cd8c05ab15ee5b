#include "daemon/metrics.h"

#include <gtest/gtest.h>

namespace slipway {
namespace {

TEST(PromLabelTest, EscapesBackslashQuoteAndNewline) {
  EXPECT_EQ(PromLabel("plain"), "plain");
  EXPECT_EQ(PromLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsTest, DurationHistogramIsCumulativeWithSumAndCount) {
  Metrics m;
  m.ObserveRun("prod", 500);        // 0.5 s
  m.ObserveRun("prod", 7'000);      // 7 s
  m.ObserveRun("prod", 7'200'000);  // 2 h: only +Inf
  std::string out;
  m.Render(&out);
  EXPECT_NE(out.find("# TYPE slipway_run_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(out.find("slipway_run_duration_seconds_bucket{environment=\"prod\",le=\"1\"} 1\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("slipway_run_duration_seconds_bucket{environment=\"prod\",le=\"5\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("slipway_run_duration_seconds_bucket{environment=\"prod\",le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("slipway_run_duration_seconds_bucket{environment=\"prod\",le=\"3600\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("slipway_run_duration_seconds_bucket{environment=\"prod\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("slipway_run_duration_seconds_count{environment=\"prod\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("slipway_run_duration_seconds_sum{environment=\"prod\"} 7207.5"), std::string::npos) << out;
}

TEST(MetricsTest, CountersByLabel) {
  Metrics m;
  m.CountWebhook("github", "queued");
  m.CountWebhook("github", "queued");
  m.CountWebhook("github", "unauthorized");
  m.CountPoll("git://h/s.git", true);
  m.CountPoll("git://h/s.git", false);
  m.CountTrigger("prod", "push", "coalesced");
  std::string out;
  m.Render(&out);
  EXPECT_NE(out.find("slipway_webhook_deliveries_total{source=\"github\",result=\"queued\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("slipway_webhook_deliveries_total{source=\"github\",result=\"unauthorized\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("slipway_polls_total{url=\"git://h/s.git\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("slipway_poll_errors_total{url=\"git://h/s.git\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("slipway_triggers_total{environment=\"prod\",trigger=\"push\",outcome=\"coalesced\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace slipway
