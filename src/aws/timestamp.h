// ISO 8601 timestamps as AWS writes them ("2024-05-01T12:00:00Z",
// "2024-05-01T12:00:00.123+02:00"): STS, instance metadata, container
// credentials and credential_process all use this form for expirations.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace slipway::aws {

// Epoch milliseconds of "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)"
// ('t', ' ' and 'z' accepted too). Returns InvalidArgument quoting the text.
Result<int64_t> ParseIso8601(std::string_view text);
// "2024-05-01T12:00:00Z" (UTC, whole seconds).
std::string FormatIso8601(int64_t epoch_ms);

}  // namespace slipway::aws
