#include "op/calendar.h"

#include <algorithm>
#include <array>
#include <utility>

namespace pricing::op {
namespace {

using date::days;
using date::month;
using date::weekday;
using date::year;
using date::year_month_day;

bool IsWeekend(year_month_day day) {
  const weekday wd{date::sys_days{day}};
  return wd == date::Saturday || wd == date::Sunday;
}

year_month_day Shift(year_month_day day, int n) { return date::sys_days{day} + days{n}; }

year_month_day Nth(year y, month m, weekday wd, unsigned n) {
  return year_month_day{date::year_month_weekday{y, m, wd[n]}};
}

year_month_day Last(year y, month m, weekday wd) {
  return year_month_day{date::year_month_weekday_last{y, m, date::weekday_last{wd}}};
}

// Returns the date of Easter Sunday in the Gregorian calendar (the anonymous
// Gregorian algorithm of Meeus, Jones and Butcher).
year_month_day Easter(year y) {
  const int n = static_cast<int>(y);
  const int a = n % 19;
  const int b = n / 100;
  const int c = n % 100;
  const int d = b / 4;
  const int e = b % 4;
  const int f = (b + 8) / 25;
  const int g = (b - f + 1) / 3;
  const int h = (19 * a + b - d - g + 15) % 30;
  const int i = c / 4;
  const int k = c % 4;
  const int l = (32 + 2 * e + 2 * i - h - k) % 7;
  const int m = (a + 11 * h + 22 * l) / 451;
  const int month_number = (h + l - 7 * m + 114) / 31;
  const int day_number = (h + l - 7 * m + 114) % 31 + 1;
  return year_month_day{y, month{static_cast<unsigned>(month_number)},
                        date::day{static_cast<unsigned>(day_number)}};
}

// A fixed-date holiday on a Saturday is observed the Friday before, on a
// Sunday the Monday after.
year_month_day Observed(year_month_day day) {
  const weekday wd{date::sys_days{day}};
  if (wd == date::Saturday) return Shift(day, -1);
  if (wd == date::Sunday) return Shift(day, 1);
  return day;
}

struct Holiday {
  year_month_day day;
  std::string_view name;
};

// Returns the NYSE holidays observed in `y` (at most ten).
std::array<std::optional<Holiday>, 10> NyseHolidays(year y) {
  std::array<std::optional<Holiday>, 10> h;
  const year_month_day new_year{y, date::January, date::day{1}};
  if (weekday{date::sys_days{new_year}} != date::Saturday) {
    h[0] = Holiday{Observed(new_year), "New Year's Day"};
  }
  h[1] = Holiday{Nth(y, date::January, date::Monday, 3), "Martin Luther King Jr. Day"};
  h[2] = Holiday{Nth(y, date::February, date::Monday, 3), "Washington's Birthday"};
  h[3] = Holiday{Shift(Easter(y), -2), "Good Friday"};
  h[4] = Holiday{Last(y, date::May, date::Monday), "Memorial Day"};
  if (y >= year{2022}) {
    h[5] = Holiday{Observed(year_month_day{y, date::June, date::day{19}}), "Juneteenth"};
  }
  h[6] = Holiday{Observed(year_month_day{y, date::July, date::day{4}}), "Independence Day"};
  h[7] = Holiday{Nth(y, date::September, date::Monday, 1), "Labor Day"};
  h[8] = Holiday{Nth(y, date::November, date::Thursday, 4), "Thanksgiving Day"};
  h[9] = Holiday{Observed(year_month_day{y, date::December, date::day{25}}), "Christmas Day"};
  return h;
}

bool IsNyseTradingDay(year_month_day day) { return !IsWeekend(day) && !NyseHoliday(day); }

const EarlyClose* FindExtraEarlyClose(const MarketHours& market, year_month_day day) {
  const auto it = std::find_if(market.extra_early_closes.begin(), market.extra_early_closes.end(),
                               [day](const EarlyClose& e) { return e.date == day; });
  return it == market.extra_early_closes.end() ? nullptr : &*it;
}

}  // namespace

std::string_view DayKindName(DayKind kind) {
  // In the enum's order; the assertion fails when a kind is added.
  static constexpr std::array<std::string_view, 4> kNames = {"Regular", "EarlyClose", "Holiday",
                                                             "Weekend"};
  static_assert(kNames.size() == static_cast<size_t>(DayKind::kWeekend) + 1);
  const auto i = static_cast<size_t>(kind);
  return i < kNames.size() ? kNames[i] : kNames[0];
}

std::optional<std::string_view> NyseHoliday(year_month_day day) {
  if (IsWeekend(day)) return std::nullopt;
  for (const std::optional<Holiday>& h : NyseHolidays(day.year())) {
    if (h && h->day == day) return h->name;
  }
  return std::nullopt;
}

std::optional<std::chrono::minutes> NyseEarlyClose(year_month_day day) {
  if (!IsNyseTradingDay(day)) return std::nullopt;
  const year y = day.year();
  const year_month_day july_3{y, date::July, date::day{3}};
  const year_month_day july_4{y, date::July, date::day{4}};
  const year_month_day christmas_eve{y, date::December, date::day{24}};
  const year_month_day after_thanksgiving = Shift(Nth(y, date::November, date::Thursday, 4), 1);
  if ((day == july_3 && !IsWeekend(july_4)) || day == after_thanksgiving || day == christmas_eve) {
    return kNyseEarlyClose;
  }
  return std::nullopt;
}

DayKind DayOf(const MarketHours& market, year_month_day day) {
  if (IsWeekend(day)) return DayKind::kWeekend;
  if (std::find(market.extra_holidays.begin(), market.extra_holidays.end(), day) !=
      market.extra_holidays.end()) {
    return DayKind::kHoliday;
  }
  const bool nyse = market.calendar == CalendarKind::kNyse;
  if (nyse && NyseHoliday(day)) return DayKind::kHoliday;
  if (FindExtraEarlyClose(market, day) != nullptr) return DayKind::kEarlyClose;
  if (nyse && NyseEarlyClose(day)) return DayKind::kEarlyClose;
  return DayKind::kRegular;
}

bool IsTradingDay(DayKind kind) {
  return kind == DayKind::kRegular || kind == DayKind::kEarlyClose;
}

std::optional<Session> SessionOf(const MarketHours& market, year_month_day day) {
  const DayKind kind = DayOf(market, day);
  if (!IsTradingDay(kind)) return std::nullopt;
  Session s;
  s.day = day;
  s.kind = kind;
  if (kind == DayKind::kEarlyClose) {
    const EarlyClose* extra = FindExtraEarlyClose(market, day);
    s.close = extra != nullptr ? extra->close : kNyseEarlyClose;
  }
  return s;
}

TimePoint LocalToInstant(const date::time_zone& zone,
                         date::local_time<std::chrono::minutes> local) {
  return zone.to_sys(local, date::choose::earliest);
}

TimePoint LocalToInstant(const date::time_zone& zone, year_month_day day,
                         std::chrono::minutes minutes) {
  return LocalToInstant(zone, date::local_days{day} + minutes);
}

year_month_day LocalDate(const date::time_zone& zone, TimePoint t) {
  return year_month_day{date::floor<days>(zone.to_local(t))};
}

std::string FormatLocal(const date::time_zone& zone, TimePoint t) {
  const date::zoned_time<std::chrono::seconds> zoned{&zone, date::floor<std::chrono::seconds>(t)};
  return date::format("%F %R %Z", zoned);
}

}  // namespace pricing::op
