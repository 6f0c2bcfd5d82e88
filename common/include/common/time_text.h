// Text forms of instants, dates, wall-clock times and durations: RFC 3339
// written on every priced request (without gmtime_r or snprintf) and read
// from PricingEngine specs and command lines. Pure: no time zone database,
// no clock.
#pragma once

#include <date/date.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace pricing {

// Appends `t` as "2026-11-18T11:06:43.123Z" with `digits` (0..9, clamped)
// fractional digits, truncated; 0 writes no '.'. Any time point of
// system_clock (nanoseconds since 1970 as int64: years 1677..2262).
void AppendRfc3339Utc(std::string* out, WallTime t, int digits);

// As AppendRfc3339Utc, into a new string.
std::string Rfc3339Utc(WallTime t, int digits);

// Returns `t` in UTC as "YYYY-MM-DDTHH:MM:SSZ", with a fraction only when `t`
// is not a whole second (trailing zeros removed: ".5", ".123456789").
std::string FormatRfc3339(WallTime t);

// Parses an RFC 3339 date-time: "2026-11-28T18:00:00Z",
// "2026-11-28T13:00:00.5-05:00" ('t' and 'z' may be lower case). Seconds are
// required; a fraction keeps up to nanosecond precision (further digits are
// dropped); a leap second (:60) is read as :59. Returns nullopt for anything
// else, including impossible dates such as 2026-02-30 and instants a
// WallTime cannot hold, with two days' margin (it counts nanoseconds in 64
// bits: years 1678 to 2261 always fit, 0000 and 9999 never).
std::optional<WallTime> ParseRfc3339(std::string_view text);

// Parses a calendar date "YYYY-MM-DD" (four-digit year). Returns nullopt when
// malformed or not a real date.
std::optional<date::year_month_day> ParseDate(std::string_view text);

// Parses a wall-clock time "HH:MM" (two digits each, 00:00 to 23:59) and
// returns the minutes since midnight.
std::optional<std::chrono::minutes> ParseClockTime(std::string_view text);

// Parses a duration in Go's notation, restricted to non-negative values and
// the units h, m, s and ms: one or more <number><unit> terms such as "10m",
// "1h30m", "1.5s", "250ms". Numbers are decimal with an optional fraction
// (exact to the nanosecond). Returns nullopt when malformed or longer than
// about 290 years.
std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view text);

}  // namespace pricing
