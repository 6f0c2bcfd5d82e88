#include "op/time_text.h"

#include <cstdint>
#include <cstdio>
#include <limits>

namespace pricing::op {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `pos` into `out`; advances `pos`.
bool ReadDigits(std::string_view s, size_t& pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  pos += n;
  return true;
}

bool Expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

// Reads "YYYY-MM-DD" at `pos`.
std::optional<date::year_month_day> ReadDate(std::string_view s, size_t& pos) {
  int y = 0, m = 0, d = 0;
  if (!ReadDigits(s, pos, 4, y) || !Expect(s, pos, '-') || !ReadDigits(s, pos, 2, m) ||
      !Expect(s, pos, '-') || !ReadDigits(s, pos, 2, d)) {
    return std::nullopt;
  }
  const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(m)},
                                 date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return ymd;
}

}  // namespace

std::optional<TimePoint> ParseRfc3339(std::string_view s) {
  size_t pos = 0;
  const std::optional<date::year_month_day> ymd = ReadDate(s, pos);
  if (!ymd) return std::nullopt;
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't')) return std::nullopt;
  ++pos;
  int hh = 0, mm = 0, ss = 0;
  if (!ReadDigits(s, pos, 2, hh) || !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, mm) ||
      !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, ss)) {
    return std::nullopt;
  }
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  if (ss == 60) ss = 59;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    int64_t scale = 100'000'000;
    while (pos < s.size() && IsDigit(s[pos])) {
      nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!ReadDigits(s, pos, 2, oh) || !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, om)) {
      return std::nullopt;
    }
    if (oh > 23 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  // Whole seconds first: any four-digit year fits in them, but not in a
  // TimePoint (nanoseconds in int64), whose range is checked before converting.
  const std::chrono::seconds utc =
      (date::sys_days{*ymd} + std::chrono::hours{hh} + std::chrono::minutes{mm} +
       std::chrono::seconds{ss} - std::chrono::minutes{offset_minutes})
          .time_since_epoch();
  // Two days inside the range: FormatRfc3339 floors to whole days.
  constexpr auto kLimit =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::duration::max()) -
      std::chrono::hours{48};
  if (utc > kLimit || utc < -kLimit) return std::nullopt;
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(utc) +
                   std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds{nanos}));
}

std::string FormatRfc3339(TimePoint t) {
  const auto ns = std::chrono::time_point_cast<std::chrono::nanoseconds>(t);
  const date::sys_days day = date::floor<date::days>(ns);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<std::chrono::nanoseconds> tod{ns - day};
  char buf[64];
  const int year = static_cast<int>(ymd.year());
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", year,
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                static_cast<int>(tod.seconds().count()));
  std::string out = buf;
  int64_t frac = tod.subseconds().count();
  if (frac != 0) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%09lld", static_cast<long long>(frac));
    std::string f = digits;
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  out += "Z";
  return out;
}

std::optional<date::year_month_day> ParseDate(std::string_view text) {
  size_t pos = 0;
  std::optional<date::year_month_day> ymd = ReadDate(text, pos);
  if (!ymd || pos != text.size()) return std::nullopt;
  return ymd;
}

std::optional<std::chrono::minutes> ParseClockTime(std::string_view text) {
  size_t pos = 0;
  int hh = 0, mm = 0;
  if (!ReadDigits(text, pos, 2, hh) || !Expect(text, pos, ':') || !ReadDigits(text, pos, 2, mm) ||
      pos != text.size() || hh > 23 || mm > 59) {
    return std::nullopt;
  }
  return std::chrono::minutes{hh * 60 + mm};
}

std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  constexpr __int128 kMax = std::numeric_limits<int64_t>::max();
  __int128 total = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    __int128 whole = 0;
    const size_t start = pos;
    while (pos < s.size() && IsDigit(s[pos])) {
      whole = whole * 10 + (s[pos] - '0');
      if (whole > kMax) return std::nullopt;
      ++pos;
    }
    if (pos == start) return std::nullopt;
    __int128 frac = 0;
    __int128 frac_scale = 1;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      const size_t frac_start = pos;
      while (pos < s.size() && IsDigit(s[pos])) {
        // Digits beyond 1e-18 of a unit are below a nanosecond even for hours.
        if (frac_scale < static_cast<__int128>(1'000'000'000'000'000'000)) {
          frac = frac * 10 + (s[pos] - '0');
          frac_scale *= 10;
        }
        ++pos;
      }
      if (pos == frac_start) return std::nullopt;
    }
    int64_t unit = 0;
    if (s.substr(pos, 2) == "ms") {
      unit = 1'000'000;
      pos += 2;
    } else if (pos < s.size() && s[pos] == 'h') {
      unit = 3'600'000'000'000;
      ++pos;
    } else if (pos < s.size() && s[pos] == 'm') {
      unit = 60'000'000'000;
      ++pos;
    } else if (pos < s.size() && s[pos] == 's') {
      unit = 1'000'000'000;
      ++pos;
    } else {
      return std::nullopt;
    }
    if (whole > kMax / unit) return std::nullopt;
    total += whole * unit + frac * unit / frac_scale;
    if (total > kMax) return std::nullopt;
  }
  return std::chrono::nanoseconds{static_cast<int64_t>(total)};
}

}  // namespace pricing::op
