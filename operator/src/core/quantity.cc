#include "op/quantity.h"

#include <cmath>
#include <cstdint>

namespace pricing::op {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Returns 10^n exactly for n <= 27 (the largest power of ten a long double's
// 64-bit mantissa holds).
long double PowerOfTen(int n) {
  long double v = 1;
  for (int i = 0; i < n; ++i) v *= 10;
  return v;
}

}  // namespace

std::optional<Quantity> ParseQuantity(std::string_view s) {
  constexpr size_t kMaxDigits = 30;
  constexpr int kMaxExponent = 60;
  size_t pos = 0;
  bool negative = false;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    negative = s[pos] == '-';
    ++pos;
  }
  // Mantissa digits without the point, and how many followed the point.
  std::string digits;
  int fraction_digits = 0;
  bool any_digit = false;
  while (pos < s.size() && IsDigit(s[pos])) {
    digits += s[pos++];
    any_digit = true;
  }
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && IsDigit(s[pos])) {
      digits += s[pos++];
      ++fraction_digits;
      any_digit = true;
    }
  }
  if (!any_digit) return std::nullopt;

  int decimal_exponent = 0;
  int binary_exponent = 0;
  const std::string_view suffix = s.substr(pos);
  if (suffix.empty()) {
  } else if (suffix.size() == 2 && suffix[1] == 'i') {
    constexpr std::string_view kBinary = "KMGTPE";
    const size_t index = kBinary.find(suffix[0]);
    if (index == std::string_view::npos) return std::nullopt;
    binary_exponent = 10 * static_cast<int>(index + 1);
  } else if ((suffix[0] == 'e' || suffix[0] == 'E') && suffix.size() > 1) {
    size_t p = 1;
    int sign = 1;
    if (p < suffix.size() && (suffix[p] == '+' || suffix[p] == '-')) {
      sign = suffix[p] == '-' ? -1 : 1;
      ++p;
    }
    if (p >= suffix.size()) return std::nullopt;
    int e = 0;
    for (; p < suffix.size(); ++p) {
      if (!IsDigit(suffix[p])) return std::nullopt;
      e = e * 10 + (suffix[p] - '0');
      if (e > kMaxExponent) return std::nullopt;
    }
    decimal_exponent = sign * e;
  } else if (suffix.size() == 1) {
    switch (suffix[0]) {
      case 'n':
        decimal_exponent = -9;
        break;
      case 'u':
        decimal_exponent = -6;
        break;
      case 'm':
        decimal_exponent = -3;
        break;
      case 'k':
        decimal_exponent = 3;
        break;
      case 'M':
        decimal_exponent = 6;
        break;
      case 'G':
        decimal_exponent = 9;
        break;
      case 'T':
        decimal_exponent = 12;
        break;
      case 'P':
        decimal_exponent = 15;
        break;
      case 'E':
        decimal_exponent = 18;
        break;
      default:
        return std::nullopt;
    }
  } else {
    return std::nullopt;
  }

  // Drop leading zeros so that the digit limit counts significant digits.
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) first = digits.size();
  if (digits.size() - first > kMaxDigits) return std::nullopt;
  long double mantissa = 0;
  for (size_t i = first; i < digits.size(); ++i) mantissa = mantissa * 10 + (digits[i] - '0');
  const int exponent = decimal_exponent - fraction_digits;
  long double value = mantissa;
  if (exponent >= 0) {
    value *= PowerOfTen(exponent);
  } else {
    value /= PowerOfTen(-exponent);
  }
  value = std::ldexp(value, binary_exponent);
  if (negative) value = -value;
  return Quantity{std::string(s), value};
}

}  // namespace pricing::op
