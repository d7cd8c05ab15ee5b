#include "triggers/cron.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <functional>
#include <random>

namespace slipway {
namespace {

// Milliseconds of a UTC civil time.
int64_t Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return (DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000;
}

CronSchedule Cron(const std::string& text) {
  auto s = ParseCron(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status().ToString();
  return s.ok() ? *s : *ParseCron("* * * * *");
}

TimeZone Zone(const std::string& name) {
  auto tz = TimeZone::Load(name);
  EXPECT_TRUE(tz.ok()) << tz.status().ToString();
  return tz.ok() ? *tz : TimeZone();
}

std::string Fmt(int64_t ms) { return TimeZone().Format(ms); }

#define EXPECT_NEXT(expr, tz, after, expected) EXPECT_EQ(Fmt(Cron(expr).Next(after, tz)), Fmt(expected)) << (expr)

// ---------------------------------------------------------------- civil dates

TEST(CivilTest, RoundTripsAndLeapYears) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  for (int64_t d = -800000; d < 800000; d += 997) {
    CivilTime c = CivilFromDays(d);
    EXPECT_EQ(DaysFromCivil(c.year, c.month, c.day), d);
  }
  EXPECT_TRUE(IsLeapYear(2024));
  EXPECT_TRUE(IsLeapYear(2000));
  EXPECT_FALSE(IsLeapYear(2100));
  EXPECT_FALSE(IsLeapYear(2023));
  EXPECT_EQ(DaysInMonth(2024, 2), 29);
  EXPECT_EQ(DaysInMonth(2100, 2), 28);
  EXPECT_EQ(DaysInMonth(2023, 12), 31);
}

// ---------------------------------------------------------------- UTC schedules

TEST(CronTest, EveryFiveMinutesIsStrictlyAfter) {
  TimeZone utc;
  EXPECT_NEXT("*/5 * * * *", utc, Utc(2024, 5, 1, 12, 3, 10), Utc(2024, 5, 1, 12, 5));
  EXPECT_NEXT("*/5 * * * *", utc, Utc(2024, 5, 1, 12, 5), Utc(2024, 5, 1, 12, 10));
  EXPECT_NEXT("*/5 * * * *", utc, Utc(2024, 5, 1, 12, 5) - 1, Utc(2024, 5, 1, 12, 5));
  EXPECT_NEXT("*/5 * * * *", utc, Utc(2024, 5, 1, 12, 5) + 1, Utc(2024, 5, 1, 12, 10));
  EXPECT_NEXT("* * * * *", utc, Utc(2024, 12, 31, 23, 59, 30), Utc(2025, 1, 1));
}

TEST(CronTest, DailyAtThreeRollsOverDaysMonthsAndYears) {
  TimeZone utc;
  EXPECT_NEXT("0 3 * * *", utc, Utc(2024, 1, 1, 2, 59), Utc(2024, 1, 1, 3));
  EXPECT_NEXT("0 3 * * *", utc, Utc(2024, 1, 1, 3), Utc(2024, 1, 2, 3));
  EXPECT_NEXT("0 3 * * *", utc, Utc(2024, 1, 31, 4), Utc(2024, 2, 1, 3));
  EXPECT_NEXT("0 3 * * *", utc, Utc(2024, 12, 31, 4), Utc(2025, 1, 1, 3));
}

TEST(CronTest, ListsRangesAndSteps) {
  TimeZone utc;
  EXPECT_NEXT("1-10/2 * * * *", utc, Utc(2024, 5, 1, 12, 3), Utc(2024, 5, 1, 12, 5));
  EXPECT_NEXT("1-10/2 * * * *", utc, Utc(2024, 5, 1, 12, 9), Utc(2024, 5, 1, 13, 1));
  EXPECT_NEXT("5/15 * * * *", utc, Utc(2024, 5, 1, 12, 36), Utc(2024, 5, 1, 12, 50));
  EXPECT_NEXT("5/15 * * * *", utc, Utc(2024, 5, 1, 12, 50), Utc(2024, 5, 1, 13, 5));
  EXPECT_NEXT("0,30 8-9 * * *", utc, Utc(2024, 5, 1, 9, 30), Utc(2024, 5, 2, 8));
  EXPECT_NEXT("15 */6 * * *", utc, Utc(2024, 5, 1, 6, 15), Utc(2024, 5, 1, 12, 15));
  EXPECT_NEXT("0 0 1,15 * *", utc, Utc(2024, 5, 2), Utc(2024, 5, 15));
  EXPECT_NEXT("0 0 1 */3 *", utc, Utc(2024, 2, 1), Utc(2024, 4, 1));
  EXPECT_NEXT("*/90 * * * *", utc, Utc(2024, 5, 1, 12, 1), Utc(2024, 5, 1, 13));
}

TEST(CronTest, NamesAreCaseInsensitive) {
  TimeZone utc;
  // 2024-06-05 is a Wednesday.
  EXPECT_NEXT("0 9 * * mon-fri", utc, Utc(2024, 6, 7, 10), Utc(2024, 6, 10, 9));
  EXPECT_NEXT("0 9 * * MON-FRI", utc, Utc(2024, 6, 5, 8), Utc(2024, 6, 5, 9));
  EXPECT_NEXT("0 0 1 JAN-MAR *", utc, Utc(2024, 3, 2), Utc(2025, 1, 1));
  EXPECT_NEXT("0 0 1 jun,Dec *", utc, Utc(2024, 6, 2), Utc(2024, 12, 1));
  EXPECT_NEXT("0 0 * * Sat,sun", utc, Utc(2024, 6, 5), Utc(2024, 6, 8));
}

TEST(CronTest, SundayIsZeroOrSeven) {
  TimeZone utc;
  const int64_t wednesday = Utc(2024, 6, 5);
  const int64_t sunday_noon = Utc(2024, 6, 9, 12);
  for (const char* expr : {"0 12 * * 0", "0 12 * * 7", "0 12 * * SUN", "0 12 * * sun"}) {
    EXPECT_NEXT(expr, utc, wednesday, sunday_noon);
  }
  // 5-7 is Friday to Sunday; 0-7 is every day.
  EXPECT_NEXT("0 12 * * 5-7", utc, Utc(2024, 6, 8, 13), sunday_noon);
  EXPECT_NEXT("0 12 * * 5-7", utc, sunday_noon, Utc(2024, 6, 14, 12));
  EXPECT_NEXT("0 12 * * 0-7", utc, wednesday, Utc(2024, 6, 5, 12));
  // */2 on day-of-week is Sunday, Tuesday, Thursday, Saturday: Sunday once.
  EXPECT_NEXT("0 12 * * */2", utc, Utc(2024, 6, 8, 13), sunday_noon);
  EXPECT_NEXT("0 12 * * */2", utc, sunday_noon, Utc(2024, 6, 11, 12));
}

TEST(CronTest, BothDayFieldsRestrictedMeansEither) {
  TimeZone utc;
  // The 15th or any Monday. 2024-07-01 is a Monday; 2024-07-15 too.
  auto s = Cron("0 0 15 * MON");
  int64_t t = Utc(2024, 6, 25);
  std::vector<std::string> fires;
  for (int i = 0; i < 5; ++i) fires.push_back(Fmt(t = s.Next(t, utc)));
  EXPECT_EQ(fires, (std::vector<std::string>{Fmt(Utc(2024, 7, 1)), Fmt(Utc(2024, 7, 8)), Fmt(Utc(2024, 7, 15)),
                                             Fmt(Utc(2024, 7, 22)), Fmt(Utc(2024, 7, 29))}));
  // The 13th or a Friday (2024-09-13 is both).
  EXPECT_NEXT("0 0 13 * 5", utc, Utc(2024, 9, 1), Utc(2024, 9, 6));
  EXPECT_NEXT("0 0 13 * 5", utc, Utc(2024, 9, 6), Utc(2024, 9, 13));
  EXPECT_NEXT("0 0 13 * 5", utc, Utc(2024, 10, 4), Utc(2024, 10, 11));
  EXPECT_NEXT("0 0 13 * 5", utc, Utc(2024, 10, 11), Utc(2024, 10, 13));
}

TEST(CronTest, StarPrefixedDayFieldMeansBoth) {
  TimeZone utc;
  // "*/2" counts as unrestricted (Vixie cron): odd days that are Mondays.
  EXPECT_NEXT("0 0 */2 * MON", utc, Utc(2024, 7, 1), Utc(2024, 7, 15));
  // Day-of-week "*": day-of-month alone decides.
  EXPECT_NEXT("0 0 31 * *", utc, Utc(2024, 4, 1), Utc(2024, 5, 31));
  // Day-of-month "*": day-of-week alone decides.
  EXPECT_NEXT("0 0 * * 1", utc, Utc(2024, 7, 2), Utc(2024, 7, 8));
}

TEST(CronTest, FebruaryTwentyNinthWaitsForALeapYear) {
  TimeZone utc;
  EXPECT_NEXT("0 0 29 2 *", utc, Utc(2024, 3, 1), Utc(2028, 2, 29));
  EXPECT_NEXT("0 0 29 2 *", utc, Utc(2024, 2, 28, 23, 59), Utc(2024, 2, 29));
  EXPECT_NEXT("0 0 29 2 *", utc, Utc(2096, 3, 1), Utc(2104, 2, 29));  // 2100 is not a leap year
}

TEST(CronTest, EndOfMonthAndLeapDayWithOtherDays) {
  TimeZone utc;
  EXPECT_NEXT("0 0 30,31 * *", utc, Utc(2024, 2, 1), Utc(2024, 3, 30));
  EXPECT_NEXT("0 0 28-31 2 *", utc, Utc(2023, 2, 28), Utc(2024, 2, 28));
  EXPECT_NEXT("0 0 28-31 2 *", utc, Utc(2024, 2, 28), Utc(2024, 2, 29));
  EXPECT_NEXT("59 23 * 2 *", utc, Utc(2024, 2, 29, 12), Utc(2024, 2, 29, 23, 59));
}

TEST(CronTest, Macros) {
  TimeZone utc;
  const int64_t t = Utc(2024, 6, 5, 10, 30);  // a Wednesday
  EXPECT_NEXT("@hourly", utc, t, Utc(2024, 6, 5, 11));
  EXPECT_NEXT("@daily", utc, t, Utc(2024, 6, 6));
  EXPECT_NEXT("@midnight", utc, t, Utc(2024, 6, 6));
  EXPECT_NEXT("@weekly", utc, t, Utc(2024, 6, 9));
  EXPECT_NEXT("@monthly", utc, t, Utc(2024, 7, 1));
  EXPECT_NEXT("@yearly", utc, t, Utc(2025, 1, 1));
  EXPECT_NEXT("@annually", utc, t, Utc(2025, 1, 1));
  EXPECT_NEXT("@DAILY", utc, t, Utc(2024, 6, 6));
  EXPECT_EQ(Cron("  @daily ").text(), "@daily");
  EXPECT_NEXT("0\t3  * *   *", utc, t, Utc(2024, 6, 6, 3));
}

TEST(CronTest, BeforeTheEpoch) {
  TimeZone utc;
  EXPECT_NEXT("0 0 1 1 *", utc, Utc(1969, 6, 1), Utc(1970, 1, 1));
  EXPECT_NEXT("*/10 * * * *", utc, Utc(1969, 12, 31, 23, 55) + 1, Utc(1970, 1, 1));
}

// Compares Next against a minute-by-minute scan with a predicate written
// independently (gmtime_r), from many random starting points.
TEST(CronTest, AgreesWithABruteForceScanInUtc) {
  struct Case {
    const char* expr;
    std::function<bool(const struct tm&)> match;
  };
  const std::vector<Case> cases = {
      {"*/7 * * * *", [](const tm& t) { return t.tm_min % 7 == 0; }},
      {"0 0 13 * 5",
       [](const tm& t) { return t.tm_min == 0 && t.tm_hour == 0 && (t.tm_mday == 13 || t.tm_wday == 5); }},
      {"30 4 */10 * 1-5",
       [](const tm& t) {
         return t.tm_min == 30 && t.tm_hour == 4 && (t.tm_mday - 1) % 10 == 0 && t.tm_wday >= 1 && t.tm_wday <= 5;
       }},
      {"0 12 1-7 * SUN",
       [](const tm& t) { return t.tm_min == 0 && t.tm_hour == 12 && (t.tm_mday <= 7 || t.tm_wday == 0); }},
      {"15 1,13 * FEB,AUG *",
       [](const tm& t) {
         return t.tm_min == 15 && (t.tm_hour == 1 || t.tm_hour == 13) && (t.tm_mon == 1 || t.tm_mon == 7);
       }},
  };
  std::mt19937_64 rng(42);
  TimeZone utc;
  for (const Case& c : cases) {
    auto s = Cron(c.expr);
    for (int i = 0; i < 25; ++i) {
      int64_t after = Utc(2020, 1, 1) + static_cast<int64_t>(rng() % (10ULL * 365 * 86400)) * 1000 + rng() % 1000;
      int64_t minute = after / 60000 + 1;
      for (;; ++minute) {
        time_t secs = minute * 60;
        struct tm t;
        gmtime_r(&secs, &t);
        if (c.match(t)) break;
      }
      ASSERT_EQ(Fmt(s.Next(after, utc)), Fmt(minute * 60000)) << c.expr << " after " << Fmt(after);
    }
  }
}

// ---------------------------------------------------------------- time zones

TEST(TimeZoneTest, UtcNeedsNoFile) {
  for (const char* name : {"", "UTC", "Etc/UTC", "Z"}) {
    auto tz = TimeZone::Load(name, "/nonexistent");
    ASSERT_TRUE(tz.ok()) << name;
    EXPECT_TRUE(tz->is_utc());
    EXPECT_EQ(tz->name(), "UTC");
    EXPECT_EQ(tz->UtcOffsetAt(1'700'000'000), 0);
  }
}

TEST(TimeZoneTest, BadNamesAndUnknownZones) {
  auto unknown = TimeZone::Load("Europe/Pariss");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(),
            "unknown time zone 'Europe/Pariss' (no file /usr/share/zoneinfo/Europe/Pariss)");
  for (const char* name : {"../../etc/passwd", "/etc/passwd", "Europe/Paris;rm", "Europe Paris"}) {
    auto tz = TimeZone::Load(name);
    ASSERT_FALSE(tz.ok()) << name;
    EXPECT_EQ(tz.status().code(), StatusCode::kInvalidArgument) << name;
  }
  // A directory or a file that is not TZif.
  EXPECT_FALSE(TimeZone::Load("Europe").ok());
  EXPECT_FALSE(TimeZone::FromTzif("x", "").ok());
  EXPECT_FALSE(TimeZone::FromTzif("x", "TZif2 but far too short").ok());
  EXPECT_FALSE(TimeZone::FromTzif("x", std::string(100, '\0')).ok());
}

TEST(TimeZoneTest, TruncatedFilesAreRefused) {
  std::string bytes;
  {
    FILE* f = fopen("/usr/share/zoneinfo/Europe/Paris", "rb");
    ASSERT_NE(f, nullptr);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, n);
    fclose(f);
  }
  ASSERT_TRUE(TimeZone::FromTzif("Europe/Paris", bytes).ok());
  for (size_t cut : {size_t{10}, size_t{44}, size_t{100}, bytes.size() / 2, bytes.size() - 40}) {
    EXPECT_FALSE(TimeZone::FromTzif("Europe/Paris", bytes.substr(0, cut)).ok()) << cut;
  }
}

TEST(TimeZoneTest, ParisOffsetsIncludingFarFutureFromTheRule) {
  TimeZone paris = Zone("Europe/Paris");
  EXPECT_EQ(paris.name(), "Europe/Paris");
  EXPECT_EQ(paris.UtcOffsetAt(Utc(2024, 1, 15) / 1000), 3600);
  EXPECT_EQ(paris.UtcOffsetAt(Utc(2024, 7, 15) / 1000), 7200);
  EXPECT_EQ(paris.AbbreviationAt(Utc(2024, 7, 15) / 1000), "CEST");
  EXPECT_EQ(paris.UtcOffsetAt(Utc(2024, 3, 31, 1) / 1000 - 1), 3600);
  EXPECT_EQ(paris.UtcOffsetAt(Utc(2024, 3, 31, 1) / 1000), 7200);
  // Beyond the file's explicit transitions: the POSIX rule of its footer.
  EXPECT_EQ(paris.UtcOffsetAt(Utc(2150, 7, 1) / 1000), 7200);
  EXPECT_EQ(paris.UtcOffsetAt(Utc(2150, 12, 1) / 1000), 3600);
  EXPECT_EQ(paris.Format(Utc(2024, 3, 31, 1)), "2024-03-31T03:00:00+02:00 CEST");
}

// Compares our reader with the C library's (TZ set in this single-threaded
// test only) over random instants from 1900 to 2200 in zones with unusual
// rules: southern hemisphere, half-hour DST, 45-minute offsets, a skipped day.
TEST(TimeZoneTest, AgreesWithTheCLibrary) {
  const char* zones[] = {"Europe/Paris",      "America/New_York", "Australia/Sydney", "Australia/Lord_Howe",
                         "Asia/Kathmandu",    "Pacific/Apia",     "America/Santiago", "Europe/London",
                         "America/Sao_Paulo", "Asia/Tokyo"};
  std::mt19937_64 rng(7);
  const char* old_tz = getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  for (const char* name : zones) {
    TimeZone tz = Zone(name);
    setenv("TZ", name, 1);
    tzset();
    for (int i = 0; i < 2000; ++i) {
      int64_t t = Utc(1900, 1, 1) / 1000 + static_cast<int64_t>(rng() % (300ULL * 365 * 86400));
      time_t tt = t;
      struct tm lt;
      ASSERT_NE(localtime_r(&tt, &lt), nullptr);
      ASSERT_EQ(tz.UtcOffsetAt(t), lt.tm_gmtoff) << name << " at " << Fmt(t * 1000);
      CivilTime c = tz.ToCivil(t);
      ASSERT_EQ(c.hour, lt.tm_hour) << name;
      ASSERT_EQ(c.day, lt.tm_mday) << name;
    }
  }
  if (old_tz) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

TEST(TimeZoneTest, FromCivilReportsGapsAndRepeats) {
  TimeZone paris = Zone("Europe/Paris");
  auto gap = paris.FromCivil({2024, 3, 31, 2, 30, 0});
  EXPECT_EQ(gap.mapping, TimeZone::Mapping::kSkipped);
  EXPECT_EQ(gap.first * 1000, Utc(2024, 3, 31, 1));
  auto repeat = paris.FromCivil({2024, 10, 27, 2, 30, 0});
  EXPECT_EQ(repeat.mapping, TimeZone::Mapping::kRepeated);
  EXPECT_EQ(repeat.first * 1000, Utc(2024, 10, 27, 0, 30));
  EXPECT_EQ(repeat.second * 1000, Utc(2024, 10, 27, 1, 30));
  auto plain = paris.FromCivil({2024, 6, 1, 12, 0, 0});
  EXPECT_EQ(plain.mapping, TimeZone::Mapping::kUnique);
  EXPECT_EQ(plain.first * 1000, Utc(2024, 6, 1, 10));
}

// ---------------------------------------------------------------- DST

TEST(CronDstTest, ParisSpringForwardFiresAtTheEndOfTheGap) {
  TimeZone paris = Zone("Europe/Paris");
  // 2024-03-31: 02:00 CET becomes 03:00 CEST (01:00 UTC).
  EXPECT_NEXT("30 2 * * *", paris, Utc(2024, 3, 30, 12), Utc(2024, 3, 31, 1));
  EXPECT_NEXT("30 2 * * *", paris, Utc(2024, 3, 31, 1), Utc(2024, 4, 1, 0, 30));
  // Several skipped times fire once, then the schedule resumes.
  auto s = Cron("*/15 * * * *");
  EXPECT_EQ(Fmt(s.Next(Utc(2024, 3, 31, 0, 50), paris)), Fmt(Utc(2024, 3, 31, 1)));
  EXPECT_EQ(Fmt(s.Next(Utc(2024, 3, 31, 1), paris)), Fmt(Utc(2024, 3, 31, 1, 15)));
  // A daily schedule outside the gap is unaffected and follows the offset.
  EXPECT_NEXT("0 9 * * *", paris, Utc(2024, 3, 30, 9), Utc(2024, 3, 31, 7));
  EXPECT_NEXT("0 9 * * *", paris, Utc(2024, 3, 29, 9), Utc(2024, 3, 30, 8));
}

TEST(CronDstTest, ParisFallBackFiresOnce) {
  TimeZone paris = Zone("Europe/Paris");
  // 2024-10-27: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:00-02:59 repeats.
  EXPECT_NEXT("30 2 * * *", paris, Utc(2024, 10, 26, 12), Utc(2024, 10, 27, 0, 30));
  EXPECT_NEXT("30 2 * * *", paris, Utc(2024, 10, 27, 0, 30), Utc(2024, 10, 28, 1, 30));
  // Even when asked from inside the repeated hour.
  EXPECT_NEXT("30 2 * * *", paris, Utc(2024, 10, 27, 1, 10), Utc(2024, 10, 28, 1, 30));
  auto hourly = Cron("0 * * * *");
  std::vector<std::string> fires;
  int64_t t = Utc(2024, 10, 26, 23, 30);
  for (int i = 0; i < 3; ++i) fires.push_back(Fmt(t = hourly.Next(t, paris)));
  // 02:00 CEST, then 03:00 CET: 02:00 CET is not fired again.
  EXPECT_EQ(fires, (std::vector<std::string>{Fmt(Utc(2024, 10, 27, 0)), Fmt(Utc(2024, 10, 27, 2)),
                                             Fmt(Utc(2024, 10, 27, 3))}));
}

TEST(CronDstTest, NewYorkBothTransitions) {
  TimeZone ny = Zone("America/New_York");
  // 2024-03-10: 02:00 EST becomes 03:00 EDT (07:00 UTC).
  EXPECT_NEXT("30 2 * * *", ny, Utc(2024, 3, 9, 12), Utc(2024, 3, 10, 7));
  EXPECT_NEXT("30 2 * * *", ny, Utc(2024, 3, 10, 7), Utc(2024, 3, 11, 6, 30));
  EXPECT_NEXT("0 0 * * *", ny, Utc(2024, 6, 1), Utc(2024, 6, 1, 4));
  EXPECT_NEXT("0 0 * * *", ny, Utc(2024, 12, 1), Utc(2024, 12, 1, 5));
  // 2024-11-03: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:00-01:59 repeats.
  EXPECT_NEXT("30 1 * * *", ny, Utc(2024, 11, 2, 12), Utc(2024, 11, 3, 5, 30));
  EXPECT_NEXT("30 1 * * *", ny, Utc(2024, 11, 3, 5, 30), Utc(2024, 11, 4, 6, 30));
  EXPECT_NEXT("*/20 * * * *", ny, Utc(2024, 11, 3, 5, 40), Utc(2024, 11, 3, 7));
  // Far in the future, past the file's explicit transitions.
  // (the second Sunday of March 2090 is the 12th).
  EXPECT_NEXT("30 2 * * *", ny, Utc(2090, 3, 11, 12), Utc(2090, 3, 12, 7));
  EXPECT_NEXT("30 2 * * *", ny, Utc(2090, 3, 12, 7), Utc(2090, 3, 13, 6, 30));
  EXPECT_NEXT("0 12 * 7 *", ny, Utc(2150, 6, 1), Utc(2150, 7, 1, 16));
}

TEST(CronDstTest, SouthernHemisphereAndOddOffsets) {
  TimeZone sydney = Zone("Australia/Sydney");
  // 2024-04-07: 03:00 AEDT becomes 02:00 AEST (16:00 UTC on the 6th).
  EXPECT_NEXT("30 2 * * *", sydney, Utc(2024, 4, 6, 0), Utc(2024, 4, 6, 15, 30));
  // 2024-10-06: 02:00 AEST becomes 03:00 AEDT (16:00 UTC on the 5th).
  EXPECT_NEXT("30 2 * * *", sydney, Utc(2024, 10, 5, 0), Utc(2024, 10, 5, 16));
  TimeZone kathmandu = Zone("Asia/Kathmandu");  // +05:45
  EXPECT_NEXT("0 0 * * *", kathmandu, Utc(2024, 6, 1), Utc(2024, 6, 1, 18, 15));
  TimeZone lord_howe = Zone("Australia/Lord_Howe");  // half-hour DST: 02:00 -> 02:30
  EXPECT_NEXT("15 2 * * *", lord_howe, Utc(2024, 10, 5, 0), Utc(2024, 10, 5, 15, 30));
}

TEST(CronDstTest, NextIsMonotonicAcrossAYearOfTransitions) {
  for (const char* zone : {"Europe/Paris", "America/New_York", "Australia/Lord_Howe"}) {
    TimeZone tz = Zone(zone);
    auto s = Cron("*/10 * * * *");
    int64_t t = Utc(2024, 1, 1);
    int fires = 0;
    while (t < Utc(2025, 1, 1)) {
      int64_t next = s.Next(t, tz);
      ASSERT_GT(next, t) << zone;
      ASSERT_LE(next - t, 70 * 60 * 1000) << zone << " after " << Fmt(t);
      t = next;
      ++fires;
    }
    // 366 days of 144 fires, less one repeated hour (6 fires) and a gap that
    // collapses into one fire (5 fewer) — give or take, per zone.
    EXPECT_NEAR(fires, 366 * 144, 12) << zone;
  }
}

// ---------------------------------------------------------------- catch-up

TEST(CronTest, MissedSince) {
  TimeZone utc;
  auto s = Cron("0 3 * * *");
  const int64_t fired = Utc(2024, 1, 1, 3);
  EXPECT_FALSE(s.MissedSince(fired, Utc(2024, 1, 2, 2, 59), utc));
  EXPECT_TRUE(s.MissedSince(fired, Utc(2024, 1, 2, 3), utc));
  EXPECT_TRUE(s.MissedSince(fired, Utc(2024, 3, 1), utc));
  EXPECT_FALSE(s.MissedSince(0, Utc(2024, 3, 1), utc));
  EXPECT_FALSE(s.MissedSince(fired, fired, utc));
  EXPECT_FALSE(s.MissedSince(fired, fired - 1000, utc));
  // In a zone: 03:00 Paris is 02:00 UTC in winter.
  TimeZone paris = Zone("Europe/Paris");
  EXPECT_TRUE(s.MissedSince(Utc(2024, 1, 1, 2), Utc(2024, 1, 2, 2), paris));
  EXPECT_FALSE(s.MissedSince(Utc(2024, 1, 1, 2), Utc(2024, 1, 2, 1, 59), paris));
}

// ---------------------------------------------------------------- bad input

TEST(CronParseTest, ErrorsNameTheFieldAndTheValue) {
  struct Case {
    const char* expr;
    const char* message;
  };
  const Case cases[] = {
      {"61 * * * *", "cron '61 * * * *': minute '61' value 61 is out of range 0-59"},
      {"* 24 * * *", "cron '* 24 * * *': hour '24' value 24 is out of range 0-23"},
      {"0 0 0 * *", "cron '0 0 0 * *': day-of-month '0' value 0 is out of range 1-31"},
      {"0 0 * 13 *", "cron '0 0 * 13 *': month '13' value 13 is out of range 1-12 or JAN-DEC"},
      {"0 0 * * 8", "cron '0 0 * * 8': day-of-week '8' value 8 is out of range 0-7 or SUN-SAT"},
      {"* * * *", "cron '* * * *': expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
      {"0 0 * * * *", "cron '0 0 * * * *': expected 5 fields (minute hour day-of-month month day-of-week), got 6"},
      {"", "cron '': expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
      {"*/0 * * * *", "cron '*/0 * * * *': minute '*/0' has step 0 (a step must be at least 1)"},
      {"*/x * * * *", "cron '*/x * * * *': minute '*/x' has a bad step 'x' (expected a number)"},
      {"*/ * * * *", "cron '*/ * * * *': minute '*/' has a bad step '' (expected a number)"},
      {"5-1 * * * *", "cron '5-1 * * * *': minute '5-1' has a backwards range '5-1' (write the smaller value first)"},
      {"1,,2 * * * *", "cron '1,,2 * * * *': minute '1,,2' has an empty list element"},
      {"a * * * *", "cron 'a * * * *': minute 'a' value 'a' is not a number"},
      {"1x * * * *", "cron '1x * * * *': minute '1x' value '1x' is not a number"},
      {"99999999999 * * * *",
       "cron '99999999999 * * * *': minute '99999999999' value '99999999999' is out of range 0-59"},
      {"0 0 * XYZW *", "cron '0 0 * XYZW *': month 'XYZW' has unknown name 'XYZW' (expected 1-12 or JAN-DEC)"},
      {"0 0 * janv *",
       "cron '0 0 * janv *': month 'janv' has unknown name 'janv' (expected 1-12 or JAN-DEC), did you mean 'JAN'?"},
      {"0 0 * * MONN",
       "cron '0 0 * * MONN': day-of-week 'MONN' has unknown name 'MONN' (expected 0-7 or SUN-SAT), "
       "did you mean 'MON'?"},
      {"0 0 * * FRI-SUN",
       "cron '0 0 * * FRI-SUN': day-of-week 'FRI-SUN' has a backwards range 'FRI-SUN' (write the smaller value first)"},
      {"0 0 30 2 *", "cron '0 0 30 2 *': day-of-month 30 never occurs in FEB"},
      {"0 0 31 4,6,9,11 *", "cron '0 0 31 4,6,9,11 *': day-of-month 31 never occurs in APR,JUN,SEP,NOV"},
      {"@daly", "cron '@daly': unknown macro '@daly', did you mean '@daily'?"},
      {"@reboot", "cron '@reboot': unknown macro '@reboot' (@reboot is not supported: use catch_up: true)"},
      {"0 0 1 JAN-", "cron '0 0 1 JAN-': expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
      {"0 0 1 JAN- *", "cron '0 0 1 JAN- *': month 'JAN-' has an empty value"},
      {"0 0 1 * 1/", "cron '0 0 1 * 1/': day-of-week '1/' has a bad step '' (expected a number)"},
  };
  for (const Case& c : cases) {
    auto s = ParseCron(c.expr);
    ASSERT_FALSE(s.ok()) << c.expr;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << c.expr;
    EXPECT_EQ(s.status().message(), c.message) << c.expr;
  }
}

TEST(CronParseTest, DayOfMonthPossibleOnlyThanksToTheOrRuleIsAccepted) {
  // Feb 30 never happens, but "or any Monday" does.
  auto s = ParseCron("0 0 30 2 MON");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Fmt(s->Next(Utc(2024, 1, 1), TimeZone())), Fmt(Utc(2024, 2, 5)));
}

}  // namespace
}  // namespace slipway
