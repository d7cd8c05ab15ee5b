// libFuzzer target: our own TZif reader (time zone files are read by the
// daemon for every scheduled environment). See doc/reliability.md.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "triggers/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tz = slipway::TimeZone::FromTzif("Fuzz/Zone", std::string_view(reinterpret_cast<const char*>(data), size));
  if (!tz.ok()) return 0;
  for (int64_t t : {-2208988800LL, 0LL, 1711846800LL, 4102444800LL}) {
    (void)tz->UtcOffsetAt(t);
    (void)tz->AbbreviationAt(t);
    slipway::CivilTime civil = tz->ToCivil(t);
    (void)tz->FromCivil(civil);
  }
  return 0;
}
