#include "engine/time_text.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace pricing::engine {
namespace {

// Appends `value` (>= 0) in decimal, zero-padded to `width` digits.
void AppendPadded(std::string* out, int64_t value, int width) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  for (int pad = width - static_cast<int>(end - buf); pad > 0; --pad) out->push_back('0');
  out->append(buf, end);
}

}  // namespace

void AppendRfc3339Utc(std::string* out, std::chrono::system_clock::time_point t, int digits) {
  using namespace std::chrono;
  const auto ns = time_point_cast<nanoseconds>(t);
  const auto day = floor<days>(ns);
  const year_month_day date{day};
  const hh_mm_ss<nanoseconds> time{ns - day};
  AppendPadded(out, static_cast<int>(date.year()), 4);
  out->push_back('-');
  AppendPadded(out, static_cast<unsigned>(date.month()), 2);
  out->push_back('-');
  AppendPadded(out, static_cast<unsigned>(date.day()), 2);
  out->push_back('T');
  AppendPadded(out, time.hours().count(), 2);
  out->push_back(':');
  AppendPadded(out, time.minutes().count(), 2);
  out->push_back(':');
  AppendPadded(out, time.seconds().count(), 2);
  digits = std::clamp(digits, 0, 9);
  if (digits > 0) {
    int64_t fraction = time.subseconds().count();
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
