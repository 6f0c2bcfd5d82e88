#include "op/calendar.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace pricing::op {
namespace {

using date::year_month_day;
using testing::At;

year_month_day Day(const std::string& text) {
  const std::optional<year_month_day> d = ParseDate(text);
  EXPECT_TRUE(d.has_value()) << text;
  return d.value_or(year_month_day{});
}

MarketHours Nyse() {
  MarketHours m;
  m.zone = date::locate_zone("America/New_York");
  return m;
}

// The NYSE's published holidays and 13:00 early closes, written out by hand
// (not derived from the rules under test).
struct NyseYear {
  int year;
  std::vector<std::string> holidays;
  std::vector<std::string> early_closes;
};

const std::vector<NyseYear> kPublished = {
    {2024,
     {"2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19",
      "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25"},
     {"2024-07-03", "2024-11-29", "2024-12-24"}},
    {2025,
     {"2025-01-01", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-06-19",
      "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"},
     {"2025-07-03", "2025-11-28", "2025-12-24"}},
    // July 4 on a Saturday: Friday July 3 is the holiday, so no early close.
    {2026,
     {"2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19",
      "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"},
     {"2026-11-27", "2026-12-24"}},
    // Juneteenth on a Saturday (Friday 18th), July 4 on a Sunday (Monday 5th),
    // Christmas on a Saturday (Friday 24th: a holiday, not an early close).
    {2027,
     {"2027-01-01", "2027-01-18", "2027-02-15", "2027-03-26", "2027-05-31", "2027-06-18",
      "2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24"},
     {"2027-11-26"}},
    // New Year's Day on a Saturday: not observed. December 24 is a Sunday.
    {2028,
     {"2028-01-17", "2028-02-21", "2028-04-14", "2028-05-29", "2028-06-19", "2028-07-04",
      "2028-09-04", "2028-11-23", "2028-12-25"},
     {"2028-07-03", "2028-11-24"}},
    {2029,
     {"2029-01-01", "2029-01-15", "2029-02-19", "2029-03-30", "2029-05-28", "2029-06-19",
      "2029-07-04", "2029-09-03", "2029-11-22", "2029-12-25"},
     {"2029-07-03", "2029-11-23", "2029-12-24"}},
    {2030,
     {"2030-01-01", "2030-01-21", "2030-02-18", "2030-04-19", "2030-05-27", "2030-06-19",
      "2030-07-04", "2030-09-02", "2030-11-28", "2030-12-25"},
     {"2030-07-03", "2030-11-29", "2030-12-24"}},
};

TEST(Calendar, NyseHolidaysAndEarlyClosesMatchThePublishedDates2024To2030) {
  const MarketHours nyse = Nyse();
  for (const NyseYear& y : kPublished) {
    std::set<date::sys_days> holidays, early;
    for (const std::string& d : y.holidays) holidays.insert(date::sys_days{Day(d)});
    for (const std::string& d : y.early_closes) early.insert(date::sys_days{Day(d)});
    int trading_days = 0;
    const date::sys_days first{date::year{y.year} / date::January / 1};
    const date::sys_days last{date::year{y.year} / date::December / 31};
    for (date::sys_days d = first; d <= last; d += date::days{1}) {
      const year_month_day ymd{d};
      const date::weekday wd{d};
      DayKind want = DayKind::kRegular;
      if (wd == date::Saturday || wd == date::Sunday) {
        want = DayKind::kWeekend;
      } else if (holidays.count(d) > 0) {
        want = DayKind::kHoliday;
      } else if (early.count(d) > 0) {
        want = DayKind::kEarlyClose;
      }
      ASSERT_EQ(DayOf(nyse, ymd), want) << ymd << " is " << DayKindName(want);
      EXPECT_EQ(NyseHoliday(ymd).has_value(), want == DayKind::kHoliday) << ymd;
      EXPECT_EQ(NyseEarlyClose(ymd).has_value(), want == DayKind::kEarlyClose) << ymd;
      trading_days += IsTradingDay(want);
    }
    // Every holiday listed falls on a weekday (a typo in the table would not).
    EXPECT_EQ(holidays.size(), y.holidays.size());
    for (date::sys_days h : holidays) {
      const date::weekday wd{h};
      EXPECT_TRUE(wd != date::Saturday && wd != date::Sunday) << year_month_day{h};
    }
    EXPECT_GE(trading_days, 250) << y.year;
    EXPECT_LE(trading_days, 253) << y.year;
  }
}

TEST(Calendar, NamesEachHoliday) {
  EXPECT_EQ(NyseHoliday(Day("2027-03-26")), "Good Friday");
  EXPECT_EQ(NyseHoliday(Day("2027-12-24")), "Christmas Day");
  EXPECT_EQ(NyseHoliday(Day("2027-06-18")), "Juneteenth");
  EXPECT_EQ(NyseHoliday(Day("2023-01-02")), "New Year's Day");
  EXPECT_EQ(NyseHoliday(Day("2024-01-15")), "Martin Luther King Jr. Day");
  EXPECT_EQ(NyseHoliday(Day("2027-12-25")), std::nullopt);  // a Saturday
  EXPECT_EQ(NyseHoliday(Day("2027-12-23")), std::nullopt);
}

TEST(Calendar, GoodFridayFollowsGregorianEaster) {
  const MarketHours nyse = Nyse();
  // Easter Sundays: 2019-04-21, 2038-04-25 (the latest), 2285-03-22 (the earliest).
  for (const char* good_friday : {"2019-04-19", "2038-04-23", "2285-03-20", "2000-04-21"}) {
    EXPECT_EQ(DayOf(nyse, Day(good_friday)), DayKind::kHoliday) << good_friday;
    EXPECT_EQ(NyseHoliday(Day(good_friday)), "Good Friday") << good_friday;
  }
}

TEST(Calendar, NewYearOnSaturdayIsNotObserved) {
  const MarketHours nyse = Nyse();
  // 2022-01-01 was a Saturday: the exchange traded on Friday 2021-12-31.
  EXPECT_EQ(DayOf(nyse, Day("2021-12-31")), DayKind::kRegular);
  EXPECT_EQ(DayOf(nyse, Day("2022-01-01")), DayKind::kWeekend);
  EXPECT_EQ(DayOf(nyse, Day("2022-01-03")), DayKind::kRegular);
  // 2023-01-01 was a Sunday: observed on Monday.
  EXPECT_EQ(DayOf(nyse, Day("2023-01-02")), DayKind::kHoliday);
}

TEST(Calendar, JuneteenthStartsIn2022) {
  const MarketHours nyse = Nyse();
  EXPECT_EQ(DayOf(nyse, Day("2021-06-18")), DayKind::kRegular);  // observed federally, not NYSE
  // 2022-06-19 was a Sunday: observed on Monday 20th.
  EXPECT_EQ(DayOf(nyse, Day("2022-06-20")), DayKind::kHoliday);
  EXPECT_EQ(DayOf(nyse, Day("2023-06-19")), DayKind::kHoliday);
}

TEST(Calendar, ChristmasOnSaturdayMakesDecember24AHolidayNotAnEarlyClose) {
  const MarketHours nyse = Nyse();
  EXPECT_EQ(DayOf(nyse, Day("2021-12-24")), DayKind::kHoliday);
  EXPECT_EQ(DayOf(nyse, Day("2027-12-24")), DayKind::kHoliday);
  EXPECT_EQ(NyseEarlyClose(Day("2027-12-24")), std::nullopt);
  EXPECT_EQ(DayOf(nyse, Day("2027-12-23")), DayKind::kRegular);
}

TEST(Calendar, July3ClosesEarlyOnlyWhenItTradesAndJuly4IsAWeekday) {
  const MarketHours nyse = Nyse();
  EXPECT_EQ(DayOf(nyse, Day("2028-07-03")), DayKind::kEarlyClose);  // Monday; July 4 Tuesday
  EXPECT_EQ(DayOf(nyse, Day("2026-07-03")), DayKind::kHoliday);     // July 4 on Saturday
  EXPECT_EQ(DayOf(nyse, Day("2027-07-03")), DayKind::kWeekend);     // July 4 on Sunday
  EXPECT_EQ(DayOf(nyse, Day("2022-07-01")), DayKind::kRegular);     // July 4 on Monday
  EXPECT_EQ(NyseEarlyClose(Day("2028-07-03")), kNyseEarlyClose);
}

TEST(Calendar, SessionOpensAt0930AndClosesAt1600OrEarly) {
  const MarketHours nyse = Nyse();
  const std::optional<Session> regular = SessionOf(nyse, Day("2027-11-24"));
  ASSERT_TRUE(regular.has_value());
  EXPECT_EQ(regular->kind, DayKind::kRegular);
  EXPECT_EQ(regular->open, std::chrono::minutes{9 * 60 + 30});
  EXPECT_EQ(regular->close, std::chrono::minutes{16 * 60});
  const std::optional<Session> early = SessionOf(nyse, Day("2027-11-26"));
  ASSERT_TRUE(early.has_value());
  EXPECT_EQ(early->kind, DayKind::kEarlyClose);
  EXPECT_EQ(early->close, std::chrono::minutes{13 * 60});
  EXPECT_EQ(SessionOf(nyse, Day("2027-11-25")), std::nullopt);
  EXPECT_EQ(SessionOf(nyse, Day("2027-11-27")), std::nullopt);
}

TEST(Calendar, ExtraHolidayOnAMondayClosesTheDay) {
  MarketHours m = Nyse();
  m.extra_holidays = {Day("2027-03-15")};
  EXPECT_EQ(DayOf(m, Day("2027-03-15")), DayKind::kHoliday);
  EXPECT_EQ(SessionOf(m, Day("2027-03-15")), std::nullopt);
  EXPECT_EQ(DayOf(m, Day("2027-03-16")), DayKind::kRegular);
  // A date that is also an NYSE early close, or a weekend.
  m.extra_holidays = {Day("2027-11-26"), Day("2027-03-13")};
  EXPECT_EQ(DayOf(m, Day("2027-11-26")), DayKind::kHoliday);
  EXPECT_EQ(DayOf(m, Day("2027-03-13")), DayKind::kWeekend);
}

TEST(Calendar, ExtraEarlyCloseSetsTheClose) {
  MarketHours m = Nyse();
  m.extra_early_closes = {EarlyClose{Day("2027-12-23"), std::chrono::minutes{12 * 60}},
                          EarlyClose{Day("2027-11-26"), std::chrono::minutes{12 * 60 + 30}}};
  EXPECT_EQ(DayOf(m, Day("2027-12-23")), DayKind::kEarlyClose);
  EXPECT_EQ(SessionOf(m, Day("2027-12-23"))->close, std::chrono::minutes{12 * 60});
  // It overrides the NYSE's 13:00 on an early-close day...
  EXPECT_EQ(SessionOf(m, Day("2027-11-26"))->close, std::chrono::minutes{12 * 60 + 30});
  // ...but not a holiday.
  m.extra_early_closes.push_back(EarlyClose{Day("2027-12-24"), std::chrono::minutes{12 * 60}});
  EXPECT_EQ(DayOf(m, Day("2027-12-24")), DayKind::kHoliday);
}

TEST(Calendar, CalendarNoneTradesEveryWeekday) {
  MarketHours m = Nyse();
  m.calendar = CalendarKind::kNone;
  EXPECT_EQ(DayOf(m, Day("2027-01-01")), DayKind::kRegular);
  EXPECT_EQ(DayOf(m, Day("2027-03-26")), DayKind::kRegular);
  EXPECT_EQ(DayOf(m, Day("2027-11-26")), DayKind::kRegular);
  EXPECT_EQ(DayOf(m, Day("2027-01-02")), DayKind::kWeekend);
  // The spec's own dates still count.
  m.extra_holidays = {Day("2027-01-04")};
  m.extra_early_closes = {EarlyClose{Day("2027-01-05"), std::chrono::minutes{14 * 60}}};
  EXPECT_EQ(DayOf(m, Day("2027-01-04")), DayKind::kHoliday);
  EXPECT_EQ(DayOf(m, Day("2027-01-05")), DayKind::kEarlyClose);
}

TEST(Calendar, LeapDaysAreOrdinaryTradingDays) {
  const MarketHours nyse = Nyse();
  EXPECT_EQ(DayOf(nyse, Day("2028-02-29")), DayKind::kRegular);  // Tuesday
  EXPECT_EQ(DayOf(nyse, Day("2024-02-29")), DayKind::kRegular);  // Thursday
  EXPECT_EQ(DayOf(nyse, Day("2032-02-29")), DayKind::kWeekend);  // Sunday
  EXPECT_EQ(LocalToInstant(*nyse.zone, Day("2028-02-29"), kSessionOpen),
            At("2028-02-29T14:30:00Z"));
  EXPECT_EQ(LocalToInstant(*nyse.zone, Day("2028-02-28"), std::chrono::hours{24} + kSessionOpen),
            At("2028-02-29T14:30:00Z"));
  EXPECT_EQ(LocalDate(*nyse.zone, At("2028-03-01T04:59:59Z")), Day("2028-02-29"));
}

TEST(Calendar, WallClockTimesAreRightAcrossDst) {
  const date::time_zone& ny = *date::locate_zone("America/New_York");
  struct Case {
    const char* day;
    int minutes;
    const char* instant;
  };
  const std::vector<Case> cases = {
      {"2027-03-12", 9 * 60 + 30, "2027-03-12T14:30:00Z"},  // EST, the Friday before
      {"2027-03-15", 9 * 60 + 30, "2027-03-15T13:30:00Z"},  // EDT, the Monday after
      {"2027-03-14", 1 * 60 + 59, "2027-03-14T06:59:00Z"},  // just before the gap
      {"2027-03-14", 2 * 60 + 30, "2027-03-14T07:00:00Z"},  // in the gap: its end
      {"2027-03-14", 3 * 60, "2027-03-14T07:00:00Z"},       // 03:00 EDT
      {"2027-11-05", 9 * 60 + 30, "2027-11-05T13:30:00Z"},  // EDT, the Friday before
      {"2027-11-08", 9 * 60 + 30, "2027-11-08T14:30:00Z"},  // EST, the Monday after
      {"2027-11-07", 1 * 60 + 30, "2027-11-07T05:30:00Z"},  // repeated: the first (EDT)
      {"2027-11-07", 2 * 60, "2027-11-07T07:00:00Z"},       // EST
      {"2026-11-27", 13 * 60, "2026-11-27T18:00:00Z"},      // an early close
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FormatRfc3339(LocalToInstant(ny, Day(c.day), std::chrono::minutes{c.minutes})),
              c.instant)
        << c.day << " +" << c.minutes << "m";
  }
  EXPECT_EQ(FormatLocal(ny, At("2027-03-15T13:30:00Z")), "2027-03-15 09:30 EDT");
  EXPECT_EQ(FormatLocal(ny, At("2027-03-12T14:30:00Z")), "2027-03-12 09:30 EST");
  EXPECT_EQ(LocalDate(ny, At("2027-03-15T03:59:00Z")), Day("2027-03-14"));
  EXPECT_EQ(LocalDate(ny, At("2027-03-15T04:00:00Z")), Day("2027-03-15"));
}

TEST(Calendar, OtherTimeZonesFollowTheirOwnRules) {
  const date::time_zone& london = *date::locate_zone("Europe/London");
  // BST starts on the last Sunday of March (2027-03-28).
  EXPECT_EQ(LocalToInstant(london, Day("2027-03-26"), kSessionOpen), At("2027-03-26T09:30:00Z"));
  EXPECT_EQ(LocalToInstant(london, Day("2027-03-29"), kSessionOpen), At("2027-03-29T08:30:00Z"));
  const date::time_zone& tokyo = *date::locate_zone("Asia/Tokyo");
  EXPECT_EQ(LocalToInstant(tokyo, Day("2027-03-15"), kSessionOpen), At("2027-03-15T00:30:00Z"));
}

TEST(Calendar, DayKindNamesAreTheStatusValues) {
  EXPECT_EQ(DayKindName(DayKind::kRegular), "Regular");
  EXPECT_EQ(DayKindName(DayKind::kEarlyClose), "EarlyClose");
  EXPECT_EQ(DayKindName(DayKind::kHoliday), "Holiday");
  EXPECT_EQ(DayKindName(DayKind::kWeekend), "Weekend");
}

}  // namespace
}  // namespace pricing::op
