#include "engine/time_text.h"

#include <algorithm>
#include <cstdint>

#include "engine/json_text.h"

namespace pricing::engine {
namespace {

// Appends `value` (>= 0) in decimal, zero-padded to `width` digits.
void AppendPadded(std::string* out, int64_t value, int width) {
  const size_t at = out->size();
  AppendInt(out, value);
  const size_t digits = out->size() - at;
  if (digits < static_cast<size_t>(width))
    out->insert(at, static_cast<size_t>(width) - digits, '0');
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
  AppendPadded(out, static_cast<int>(date.year()), 4);
  out->push_back('-');
  AppendPadded(out, static_cast<unsigned>(date.month()), 2);
  out->push_back('-');
  AppendPadded(out, static_cast<unsigned>(date.day()), 2);
  out->push_back('T');
  AppendPadded(out, second_of_day / 3600, 2);
  out->push_back(':');
  AppendPadded(out, second_of_day / 60 % 60, 2);
  out->push_back(':');
  AppendPadded(out, second_of_day % 60, 2);
  digits = std::clamp(digits, 0, 9);
  if (digits > 0) {
    for (int k = digits; k < 9; ++k) fraction /= 10;
    out->push_back('.');
    AppendPadded(out, fraction, digits);
  }
  out->push_back('Z');
}

std::string Rfc3339Utc(std::chrono::system_clock::time_point t, int digits) {
  std::string out;
  out.reserve(32);
  AppendRfc3339Utc(&out, t, digits);
  return out;
}

}  // namespace pricing::engine
