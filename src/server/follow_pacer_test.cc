#include "server/follow_pacer.h"

#include <gtest/gtest.h>

namespace slipway {
namespace {

constexpr int64_t kRate = 1000 * 1000;  // 1 MB/s: 1,000 bytes per millisecond
constexpr int64_t kBurst = 64 * 1000;

TEST(FollowPacer, AFollowerThatConnectsGetsOneBurstAtOnce) {
  FollowPacer pacer(kRate, kBurst, 0);
  EXPECT_EQ(pacer.WaitMs(0), 0);
  pacer.Sent(kBurst, 0);
  EXPECT_GT(pacer.WaitMs(0), 0);
}

TEST(FollowPacer, AFollowerThatKeepsSendingIsHeldToTheRate) {
  FollowPacer pacer(kRate, kBurst, 0);
  int64_t now = 0;
  int64_t sent = 0;
  // Chunks of 64 KB for ten seconds: after the first burst, the waits hold
  // the average to the rate.
  while (now < 10'000) {
    int64_t wait = pacer.WaitMs(now);
    if (wait > 0) {
      now += wait;
      continue;
    }
    pacer.Sent(65'536, now);
    sent += 65'536;
  }
  EXPECT_LE(sent, kBurst + 65'536 + 10'000 * kRate / 1000);
  EXPECT_GE(sent, 10'000 * kRate / 1000 - 65'536);
}

TEST(FollowPacer, TheWaitIsJustLongEnoughForTheNextByte) {
  FollowPacer pacer(kRate, kBurst, 0);
  pacer.Sent(kBurst + 4'500, 0);  // 4,500 bytes in debt: 4.501 ms to pay back
  EXPECT_EQ(pacer.WaitMs(0), 5);
  EXPECT_EQ(pacer.WaitMs(4), 1);
  EXPECT_EQ(pacer.WaitMs(5), 0);
}

TEST(FollowPacer, AQuietSpellSavesNoMoreThanOneBurst) {
  FollowPacer pacer(kRate, kBurst, 0);
  pacer.Sent(kBurst, 0);
  // An hour without output: the budget is one burst again, not an hour's worth.
  EXPECT_EQ(pacer.WaitMs(3'600'000), 0);
  pacer.Sent(kBurst, 3'600'000);
  EXPECT_GT(pacer.WaitMs(3'600'000), 0);
}

TEST(FollowPacer, AClockThatGoesBackGivesNoBudget) {
  FollowPacer pacer(kRate, kBurst, 1'000);
  pacer.Sent(kBurst, 1'000);
  EXPECT_GT(pacer.WaitMs(500), 0);
}

}  // namespace
}  // namespace slipway
