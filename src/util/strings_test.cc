#include "util/strings.h"

#include <gtest/gtest.h>

namespace slipway {
namespace {

TEST(StringsTest, DidYouMeanSuggestsTheClosestKey) {
  EXPECT_EQ(DidYouMeanHint("enviroments", {"environments", "state_dir"}), ", did you mean 'environments'?");
  EXPECT_EQ(DidYouMeanHint("zzzzzz", {"environments", "state_dir"}), "");
}

TEST(StringsTest, ParsesDurations) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseDuration("90s", &ms));
  EXPECT_EQ(ms, 90'000);
  ASSERT_TRUE(ParseDuration("1h30m", &ms));
  EXPECT_EQ(ms, 5'400'000);
  ASSERT_TRUE(ParseDuration("250ms", &ms));
  EXPECT_EQ(ms, 250);
  ASSERT_TRUE(ParseDuration("60", &ms));
  EXPECT_EQ(ms, 60'000);
  EXPECT_FALSE(ParseDuration("ten minutes", &ms));
  EXPECT_FALSE(ParseDuration("5x", &ms));
  EXPECT_FALSE(ParseDuration("", &ms));
}

TEST(StringsTest, ShellQuoteSurvivesSingleQuotes) { EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'"); }

}  // namespace
}  // namespace slipway
