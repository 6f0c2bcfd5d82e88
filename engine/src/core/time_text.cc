#include "engine/time_text.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace pricing::engine {
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

void AppendRfc3339Utc(std::string* out, std::chrono::system_clock::time_point t, int digits) {
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

std::string Rfc3339Utc(std::chrono::system_clock::time_point t, int digits) {
  std::string out;
  out.reserve(32);
  AppendRfc3339Utc(&out, t, digits);
  return out;
}

}  // namespace pricing::engine
