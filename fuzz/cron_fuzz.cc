// libFuzzer target: cron expressions (ParseCron) and, for the accepted ones,
// Next and MissedSince in UTC and in a fixed zone. See doc/reliability.md.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "triggers/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto cron = slipway::ParseCron(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!cron.ok()) {
    if (cron.status().message().empty()) __builtin_trap();
    return 0;
  }
  static const slipway::TimeZone utc;
  static const auto paris = slipway::TimeZone::Load("Europe/Paris");
  const int64_t t0 = 1711846800000;  // 2024-03-31T01:00:00Z, a DST change in Paris
  int64_t next = cron->Next(t0, utc);
  if (next != slipway::CronSchedule::kNever && next <= t0) __builtin_trap();  // must move forward
  if (paris.ok()) {
    int64_t next_paris = cron->Next(t0, *paris);
    if (next_paris != slipway::CronSchedule::kNever && next_paris <= t0) __builtin_trap();
    (void)cron->MissedSince(t0, t0 + 86400000LL * 40, *paris);
  }
  return 0;
}
