// Cron schedules and time zones for the `schedule` trigger (DESIGN.md §6,
// doc/triggers.md).
//
// Everything here is pure and thread-safe: a CronSchedule and a TimeZone are
// immutable after construction and may be shared and copied freely between
// threads. Nothing reads or changes the process's TZ environment; zone data
// is read from TZif files (/usr/share/zoneinfo) by our own reader.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace slipway {

inline constexpr const char* kDefaultZoneinfoDir = "/usr/share/zoneinfo";

// A broken-down civil (wall-clock) time, proleptic Gregorian calendar.
struct CivilTime {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  int hour = 0;
  int minute = 0;
  int second = 0;
  bool operator==(const CivilTime&) const = default;
};

// UTC, or an IANA zone ("Europe/Paris") loaded from a TZif file (v1, v2 or
// v3; the POSIX-TZ footer of v2+ files covers instants after the last
// transition listed). Cheap to copy (shares immutable data).
class TimeZone {
 public:
  TimeZone();  // UTC

  // Loads zone `name` from zoneinfo_dir. "", "UTC", "Etc/UTC", "Z" give UTC
  // without touching the disk. Errors: InvalidArgument for a malformed name
  // (absolute, "..", characters outside [A-Za-z0-9_+-/]) or a file that is
  // not valid TZif; NotFound for an unknown zone, e.g.
  //   unknown time zone 'Europe/Pariss' (no file /usr/share/zoneinfo/Europe/Pariss)
  static Result<TimeZone> Load(std::string_view name, const std::string& zoneinfo_dir = kDefaultZoneinfoDir);
  // Parses TZif bytes given by the caller. For tests (and for embedded data).
  static Result<TimeZone> FromTzif(std::string_view name, std::string_view tzif_bytes);

  // "UTC" or the IANA name as given.
  const std::string& name() const;
  bool is_utc() const { return data_ == nullptr; }

  // Offset from UTC, in seconds east, in force at instant epoch_s.
  int32_t UtcOffsetAt(int64_t epoch_s) const;
  // Abbreviation in force at epoch_s ("CET", "CEST", "UTC").
  std::string AbbreviationAt(int64_t epoch_s) const;
  // The wall-clock time at instant epoch_s.
  CivilTime ToCivil(int64_t epoch_s) const;

  // How a wall-clock time maps to instants (seconds since the epoch).
  //  * kUnique: exactly one instant, `first` (== `second`).
  //  * kRepeated: the clock was set back; `first` is the earlier instant
  //    (before the transition), `second` the later one.
  //  * kSkipped: the clock jumped over this time; `first` == `second` == the
  //    transition instant (the first valid instant after it).
  enum class Mapping { kUnique, kRepeated, kSkipped };
  struct LocalInstants {
    Mapping mapping = Mapping::kUnique;
    int64_t first = 0;
    int64_t second = 0;
  };
  LocalInstants FromCivil(const CivilTime& civil) const;

  // "2024-03-31T03:00:00+02:00 CEST", for status pages and test messages.
  std::string Format(int64_t epoch_ms) const;

  struct Data;  // implementation detail (time_zone.cc)

 private:
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;  // null: UTC
};

// A parsed cron expression. See doc/triggers.md for the syntax:
//   minute hour day-of-month month day-of-week
// with lists (1,5), ranges (1-5), steps (*/5, 1-10/2, 5/15 = 5-max/15),
// names (JAN-DEC, SUN-SAT, case-insensitive), 0 or 7 for Sunday, and the
// macros @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually.
// Day rule (as Vixie cron and cronie): when both day-of-month and day-of-week
// are restricted (their text does not begin with '*'), a day matches when
// EITHER matches; otherwise both must match.
class CronSchedule {
 public:
  // The first fire time strictly after after_epoch_ms, in milliseconds since
  // the epoch, evaluating the expression on the wall clock of tz. DST:
  //  * a wall-clock time skipped by a spring-forward gap fires at the first
  //    valid instant after the gap (the transition instant); several skipped
  //    times of one gap fire once;
  //  * a wall-clock time that occurs twice (fall-back) fires once, at its
  //    first occurrence; the repeated hour does not fire again.
  // Returns kNever when nothing fires in the next 29 years (cannot happen for
  // a schedule ParseCron accepted, but callers must not loop on it).
  int64_t Next(int64_t after_epoch_ms, const TimeZone& tz) const;

  // True when a fire time t exists with last_fire_ms < t <= now_ms, i.e. the
  // schedule fired (or should have) since last_fire_ms: with `catch_up: true`
  // the daemon runs the environment once at start-up. Returns false when
  // last_fire_ms <= 0 (never recorded: there is nothing to catch up on) or
  // now_ms <= last_fire_ms.
  bool MissedSince(int64_t last_fire_ms, int64_t now_ms, const TimeZone& tz) const;

  // The expression as given (trimmed), for messages and status.
  const std::string& text() const { return text_; }

  static constexpr int64_t kNever = INT64_MAX;

 private:
  friend Result<CronSchedule> ParseCron(std::string_view text);
  std::optional<int64_t> NextLocalMinute(int64_t from) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bit 1..31
  std::bitset<13> months_;         // bit 1..12
  std::bitset<7> days_of_week_;    // bit 0 = Sunday
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
};

// Parses a cron expression. Errors are InvalidArgument with a message naming
// the expression, the field and the value, e.g.
//   cron '61 * * * *': minute '61' is out of range 0-59
//   cron '0 0 * * * *': expected 5 fields (minute hour day-of-month month day-of-week), got 6
//   cron '@daly': unknown macro '@daly', did you mean '@daily'?
//   cron '0 0 30 2 *': day-of-month 30 never occurs in FEB
// Never throws.
Result<CronSchedule> ParseCron(std::string_view text);

// Days since 1970-01-01 of a civil date and back (proleptic Gregorian).
// Exposed for tests and for the daemon's status formatting.
int64_t DaysFromCivil(int year, int month, int day);
CivilTime CivilFromDays(int64_t days);
bool IsLeapYear(int year);
int DaysInMonth(int year, int month);

}  // namespace slipway
