// The exchange calendar of a PricingEngine's marketHours (docs/design.md §3.3):
// which local dates are trading days, each trading day's session (open and
// close), and the conversion between wall-clock times in the market's time
// zone and instants. Pure: the time zone database is the system's tzdata
// (date/tz), and no function reads a clock.
//
// `calendar: NYSE` applies the New York Stock Exchange's rules:
//   holidays       New Year's Day (Saturday: not observed; Sunday: Monday),
//                  Martin Luther King Jr. Day (3rd Monday of January),
//                  Washington's Birthday (3rd Monday of February), Good Friday
//                  (two days before Gregorian Easter), Memorial Day (last
//                  Monday of May), Juneteenth (June 19, from 2022),
//                  Independence Day (July 4), Labor Day (1st Monday of
//                  September), Thanksgiving (4th Thursday of November),
//                  Christmas (December 25). Except New Year's Day, a holiday
//                  on a Saturday is observed the Friday before and one on a
//                  Sunday the Monday after.
//   early closes   13:00 on July 3 when it is a trading day and July 4 is a
//                  weekday, on the day after Thanksgiving, and on December 24
//                  when it is a trading day.
// `calendar: none` has no holidays and no early closes: every weekday trades.
// With either calendar, spec.marketHours.extraHolidays close their dates and
// extraEarlyCloses set the close of theirs; a date in both is a holiday, and
// neither changes a weekend.
//
// A session opens at 09:30 and closes at 16:00, or at the early close.
#pragma once

#include <date/date.h>
#include <date/tz.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "op/spec.h"
#include "op/time_text.h"

namespace pricing::op {

enum class DayKind { kRegular, kEarlyClose, kHoliday, kWeekend };

// Returns "Regular", "EarlyClose", "Holiday" or "Weekend" (status.marketDay).
std::string_view DayKindName(DayKind kind);

inline constexpr std::chrono::minutes kSessionOpen{9 * 60 + 30};
inline constexpr std::chrono::minutes kSessionClose{16 * 60};
inline constexpr std::chrono::minutes kNyseEarlyClose{13 * 60};

// Returns the name of the NYSE holiday observed on `day` ("Good Friday",
// "Christmas Day", ...), or nullopt when `day` is not one. Weekends are not
// holidays.
std::optional<std::string_view> NyseHoliday(date::year_month_day day);

// Returns the NYSE's early close on `day` (13:00), or nullopt when `day` is
// not an NYSE early-close day.
std::optional<std::chrono::minutes> NyseEarlyClose(date::year_month_day day);

// Returns what kind of day `day` is under `market`'s calendar, extra holidays
// and extra early closes (see the top of this file).
// REQUIRES: day.ok().
DayKind DayOf(const MarketHours& market, date::year_month_day day);

// Returns true for kRegular and kEarlyClose.
bool IsTradingDay(DayKind kind);

// One trading day's session on the wall clock of the market's time zone.
struct Session {
  date::year_month_day day;
  DayKind kind = DayKind::kRegular;           // kRegular or kEarlyClose
  std::chrono::minutes open{kSessionOpen};    // minutes since local midnight
  std::chrono::minutes close{kSessionClose};  // 16:00, or the early close
};

// Returns the session of `day`, or nullopt when `day` is not a trading day.
std::optional<Session> SessionOf(const MarketHours& market, date::year_month_day day);

// Returns the instant at which the wall clock of `zone` reads `local`. A time
// that a DST change skips (02:30 on a spring-forward night in New York) maps
// to the instant the gap ends (03:00 EDT); a time that a DST change repeats
// maps to its first, earlier occurrence. Both rules keep the mapping
// monotonic: a later wall-clock time never maps to an earlier instant.
TimePoint LocalToInstant(const date::time_zone& zone, date::local_time<std::chrono::minutes> local);

// Returns the instant of `minutes` after local midnight of `day` on the wall
// clock of `zone` (`minutes` may be negative or exceed a day: wall-clock
// arithmetic, then LocalToInstant).
TimePoint LocalToInstant(const date::time_zone& zone, date::year_month_day day,
                         std::chrono::minutes minutes);

// Returns the date that the wall clock of `zone` shows at `t`.
date::year_month_day LocalDate(const date::time_zone& zone, TimePoint t);

// Returns `t` on the wall clock of `zone` as "2027-03-15 09:30 EDT".
std::string FormatLocal(const date::time_zone& zone, TimePoint t);

}  // namespace pricing::op
