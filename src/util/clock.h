// Time, behind a narrow interface so tests can pin it.
#pragma once

#include <cstdint>
#include <string>

namespace slipway {

// Milliseconds since the Unix epoch (wall clock).
int64_t NowMs();
// Milliseconds from a monotonic clock, for timeouts and durations.
int64_t MonotonicMs();
// "2026-11-26T12:00:00.123Z" (UTC).
std::string FormatTimestamp(int64_t epoch_ms);

}  // namespace slipway
