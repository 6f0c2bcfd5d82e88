// Exact fixed-point decimal for money and rate math (docs/design.md §2.1).
//
// A Decimal is a signed 128-bit count of 10^-18 units: 18 decimal places and a
// range of about ±1.7e20. Addition and subtraction are exact; multiplication and
// division carry a 256-bit intermediate and round half-up (away from zero) at
// the 18th place. Binary floating point is never involved: values enter as
// decimal text or integers and leave as decimal text.
//
// Arithmetic whose result leaves the range is a programming error (inputs are
// validated long before they reach the math): it aborts the process with a
// message instead of returning a wrong amount.
#pragma once

#include <compare>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace pricing::engine {

class Decimal {
 public:
  static constexpr int kScale = 18;
  // 10^kScale: the raw units of 1.
  static constexpr __int128 kOne = 1000000000000000000;
  // The largest magnitude of raw(): 2^127 - 1. The range is symmetric, so
  // negation never overflows.
  static constexpr __int128 kMaxRaw =
      static_cast<__int128>(~static_cast<unsigned __int128>(0) >> 1);

  constexpr Decimal() = default;

  // Returns the value of the integer `v`.
  static Decimal FromInt(int64_t v);
  // Returns `units` × 10^-kScale. REQUIRES: |units| <= kMaxRaw.
  static constexpr Decimal FromRaw(__int128 units) { return Decimal(units); }
  // Parses plain decimal text: an optional '-', one or more digits, and
  // optionally '.' followed by one or more digits ("-12.345", "7", "0.5",
  // "007.50"). Rejected: "+1", ".5", "5.", whitespace, exponents ("1e3").
  // Returns nullopt on malformed text, on a value that needs more than kScale
  // fractional digits ("0.0000000000000000001"; trailing zeros beyond the
  // 18th place are fine because the value is still exact), or out of range.
  static std::optional<Decimal> Parse(std::string_view text);
  // Like Parse, but also accepts an exponent ("1.5e2", "2E-3", "5e+4") as
  // JSON numbers may carry, as long as the value is exactly representable
  // with kScale places and in range. Returns nullopt otherwise.
  static std::optional<Decimal> ParseJsonNumber(std::string_view text);

  constexpr __int128 raw() const { return units_; }

  // Returns the number of significant fractional digits (0..kScale):
  // 1.50 -> 1, 40 -> 0, 0.17325 -> 5.
  int FractionalDigits() const;
  bool IsInteger() const { return FractionalDigits() == 0; }
  // Returns the value when it is an integer that fits in int64, else nullopt.
  std::optional<int64_t> ToInt64() const;

  // Rounds half-up (away from zero on .5) to `places` fractional digits.
  // `places` >= kScale returns the value unchanged. REQUIRES: places >= 0.
  Decimal RoundHalfUp(int places) const;

  // Returns canonical text with at least `min_places` fractional digits
  // (clamped to 0..kScale) and no trailing zeros beyond them:
  // Decimal(1.5).ToString(2) == "1.50", Decimal(0.17325).ToString() ==
  // "0.17325", Decimal(40).ToString() == "40". Zero is never negative.
  std::string ToString(int min_places = 0) const;
  // Appends the text of ToString(min_places) to `out`, without a temporary.
  void AppendTo(std::string* out, int min_places = 0) const;

  // Exact. REQUIRES: result in range.
  friend Decimal operator+(Decimal a, Decimal b);
  friend Decimal operator-(Decimal a, Decimal b);
  friend Decimal operator-(Decimal a) { return Decimal(-a.units_); }
  // Product rounded half-up at the 18th place. REQUIRES: result in range.
  friend Decimal operator*(Decimal a, Decimal b);
  // Quotient rounded half-up at the 18th place. REQUIRES: b != 0, result in range.
  friend Decimal operator/(Decimal a, Decimal b);
  friend constexpr auto operator<=>(Decimal a, Decimal b) = default;
  friend constexpr bool operator==(Decimal a, Decimal b) = default;

 private:
  constexpr explicit Decimal(__int128 units) : units_(units) {}
  __int128 units_ = 0;
};

inline Decimal Max(Decimal a, Decimal b) { return a < b ? b : a; }
inline Decimal Min(Decimal a, Decimal b) { return b < a ? b : a; }

// Returns round_half_up(product(factors) / divisor) at `places` fractional
// digits, computed exactly: the product of the factors is formed without any
// intermediate rounding and divided once (half-up rounds away from zero).
// Used for every reported money amount, so a cent is never lost to an
// intermediate rounding. An empty `factors` is the product 1.
// Returns nullopt when the rounded result is out of range.
// REQUIRES: divisor != 0, 0 <= places <= kScale, at most 4 factors.
std::optional<Decimal> TryExactProductQuotient(std::initializer_list<Decimal> factors,
                                               Decimal divisor, int places);

// As TryExactProductQuotient. REQUIRES: additionally, the result is in range.
Decimal ExactProductQuotient(std::initializer_list<Decimal> factors, Decimal divisor, int places);

}  // namespace pricing::engine
