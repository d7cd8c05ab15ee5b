// Small string helpers shared by every layer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slipway {

std::string_view Trim(std::string_view s);
std::vector<std::string> Split(std::string_view s, char sep);
bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
std::string ToLower(std::string_view s);

// Levenshtein distance, for "did you mean" hints.
size_t EditDistance(std::string_view a, std::string_view b);
// The closest candidate within a small distance, or "" when none is close.
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);
// ", did you mean 'x'?" or "" — ready to append to an error message.
std::string DidYouMeanHint(std::string_view word, const std::vector<std::string>& candidates);

std::string HexEncode(std::string_view bytes);
bool IsHex(std::string_view s);

// Single-quotes s for /bin/sh.
std::string ShellQuote(std::string_view s);

// Parses "90s", "5m", "2h", "1h30m", "500ms" or a bare number of seconds.
// Returns false on malformed input.
bool ParseDuration(std::string_view text, int64_t* out_ms);
// "1.2s", "3m04s", "850ms".
std::string FormatDurationMs(int64_t ms);

}  // namespace slipway
