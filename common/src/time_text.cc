#include "common/time_text.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace pricing {

namespace {

// system_clock counts int64 nanoseconds, so every year it can name has four
// digits (1677..2262).
static_assert(std::is_same_v<std::chrono::system_clock::duration, std::chrono::nanoseconds>);

// Writes the last `width` decimal digits of `value` to p[0..width).
void PutDigits(char* p, uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

}  // namespace

void AppendRfc3339Utc(std::string* out, WallTime t, int digits) {
  using namespace std::chrono;
  // In whole seconds and days (floored) so that no step leaves int64
  // nanoseconds, even at the ends of the range.
  const int64_t ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns / 1'000'000'000;
  int64_t fraction = ns % 1'000'000'000;
  if (fraction < 0) {
    fraction += 1'000'000'000;
    --secs;
  }
  int64_t day = secs / 86'400;
  int64_t second_of_day = secs % 86'400;
  if (second_of_day < 0) {
    second_of_day += 86'400;
    --day;
  }
  const year_month_day date{sys_days{days{day}}};
  // "YYYY-MM-DDTHH:MM:SS", then ".fffffffff" and "Z": written in place and
  // appended at once.
  char text[30];
  PutDigits(text, static_cast<uint64_t>(static_cast<int>(date.year())), 4);
  text[4] = '-';
  PutDigits(text + 5, static_cast<unsigned>(date.month()), 2);
  text[7] = '-';
  PutDigits(text + 8, static_cast<unsigned>(date.day()), 2);
  text[10] = 'T';
  PutDigits(text + 11, static_cast<uint64_t>(second_of_day / 3600), 2);
  text[13] = ':';
  PutDigits(text + 14, static_cast<uint64_t>(second_of_day / 60 % 60), 2);
  text[16] = ':';
  PutDigits(text + 17, static_cast<uint64_t>(second_of_day % 60), 2);
  size_t size = 19;
  digits = std::clamp(digits, 0, 9);
  if (digits > 0) {
    for (int k = digits; k < 9; ++k) fraction /= 10;
    text[size++] = '.';
    PutDigits(text + size, static_cast<uint64_t>(fraction), digits);
    size += static_cast<size_t>(digits);
  }
  text[size++] = 'Z';
  out->append(text, size);
}

std::string Rfc3339Utc(WallTime t, int digits) {
  std::string out;
  out.reserve(32);
  AppendRfc3339Utc(&out, t, digits);
  return out;
}

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

std::optional<WallTime> ParseRfc3339(std::string_view s) {
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
      std::chrono::duration_cast<std::chrono::seconds>(WallTime::duration::max()) -
      std::chrono::hours{48};
  if (utc > kLimit || utc < -kLimit) return std::nullopt;
  return WallTime(std::chrono::duration_cast<WallTime::duration>(utc) +
                  std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds{nanos}));
}

std::string FormatRfc3339(WallTime t) {
  std::string out = Rfc3339Utc(t, 9);
  // "…:SS.123000000Z" → "…:SS.123Z"; "…:SS.000000000Z" → "…:SSZ".
  size_t end = out.size() - 1;  // at 'Z'
  while (out[end - 1] == '0') --end;
  if (out[end - 1] == '.') --end;
  out.erase(end, out.size() - 1 - end);
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

}  // namespace pricing
