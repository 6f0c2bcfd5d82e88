// UTC time as RFC 3339 text, written without gmtime_r or snprintf (it is on
// every priced request: the response's calculated_at and the audit record).
#pragma once

#include <chrono>
#include <string>

namespace pricing::engine {

// Appends `t` as "2026-11-18T11:06:43.123Z" with `digits` (0..9, clamped)
// fractional digits, truncated; 0 writes no '.'. Any time point of
// system_clock (nanoseconds since 1970 as int64: years 1677..2262).
void AppendRfc3339Utc(std::string* out, std::chrono::system_clock::time_point t, int digits);

// As AppendRfc3339Utc, into a new string.
std::string Rfc3339Utc(std::chrono::system_clock::time_point t, int digits);

}  // namespace pricing::engine
