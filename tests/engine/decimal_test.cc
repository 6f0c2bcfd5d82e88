#include "engine/decimal.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "test_util.h"

namespace pricing::engine {
namespace {

Decimal Ulp() { return Decimal::FromRaw(1); }

Decimal D(const char* text) {
  std::optional<Decimal> d = Decimal::Parse(text);
  EXPECT_TRUE(d.has_value()) << text;
  return d.value_or(Decimal());
}

TEST(DecimalParse, ReadsPlainDecimalText) {
  EXPECT_EQ(D("0").raw(), 0);
  EXPECT_EQ(D("1").raw(), Decimal::kOne);
  EXPECT_EQ(D("-12.345").raw(), -12345 * (Decimal::kOne / 1000));
  EXPECT_EQ(D("0.000000000000000001").raw(), 1);
  EXPECT_EQ(D("007.50").raw(), 75 * (Decimal::kOne / 10));
  EXPECT_EQ(D("-0").raw(), 0);
}

TEST(DecimalParse, RejectsMalformedText) {
  for (const char* bad : {"", "-", "+1", ".5", "5.", "1e3", "1.2.3", " 1", "1 ", "0x10", "1,5",
                          "--1", "1-", "NaN", "inf", "١"}) {
    EXPECT_FALSE(Decimal::Parse(bad).has_value()) << bad;
  }
}

TEST(DecimalParse, RejectsMoreThanEighteenSignificantPlaces) {
  EXPECT_FALSE(Decimal::Parse("0.0000000000000000001").has_value());
  EXPECT_FALSE(Decimal::Parse("1.1234567890123456789").has_value());
}

TEST(DecimalParse, AcceptsTrailingZerosBeyondEighteenPlaces) {
  EXPECT_EQ(D("1.50000000000000000000000"), D("1.5"));
}

TEST(DecimalParse, AcceptsTheWholeRangeAndNothingBeyond) {
  // kMaxRaw = 170141183460469231731687303715884105727 units.
  EXPECT_EQ(D("170141183460469231731.687303715884105727").raw(), Decimal::kMaxRaw);
  EXPECT_EQ(D("-170141183460469231731.687303715884105727").raw(), -Decimal::kMaxRaw);
  EXPECT_FALSE(Decimal::Parse("170141183460469231731.687303715884105728").has_value());
  EXPECT_FALSE(Decimal::Parse("-170141183460469231731.687303715884105728").has_value());
  EXPECT_FALSE(Decimal::Parse("1000000000000000000000").has_value());
  EXPECT_FALSE(Decimal::Parse("99999999999999999999999999999999999999999999").has_value());
  // Leading zeros do not count against the range.
  EXPECT_EQ(D("0000000000000000000000000000000000000000001"), Decimal::FromInt(1));
}

TEST(DecimalParseJsonNumber, AcceptsExactExponents) {
  EXPECT_EQ(*Decimal::ParseJsonNumber("1.5e2"), Decimal::FromInt(150));
  EXPECT_EQ(*Decimal::ParseJsonNumber("5E+4"), Decimal::FromInt(50000));
  EXPECT_EQ(*Decimal::ParseJsonNumber("2E-3"), D("0.002"));
  EXPECT_EQ(*Decimal::ParseJsonNumber("-0.15"), D("-0.15"));
  EXPECT_EQ(Decimal::ParseJsonNumber("1e-18")->raw(), 1);
  EXPECT_EQ(*Decimal::ParseJsonNumber("1e20"), *Decimal::Parse("100000000000000000000"));
  EXPECT_EQ(*Decimal::ParseJsonNumber("0e99999999999999999999"), Decimal());
  EXPECT_EQ(*Decimal::ParseJsonNumber("12300e-2"), Decimal::FromInt(123));
  EXPECT_EQ(*Decimal::ParseJsonNumber("0.15"), D("0.15"));
}

TEST(DecimalParseJsonNumber, RejectsInexactOrOutOfRangeValues) {
  EXPECT_FALSE(Decimal::ParseJsonNumber("1e-19").has_value());
  EXPECT_FALSE(Decimal::ParseJsonNumber("1.5e-18").has_value());
  EXPECT_FALSE(Decimal::ParseJsonNumber("1e21").has_value());
  EXPECT_FALSE(Decimal::ParseJsonNumber("1e99999999999").has_value());
  EXPECT_FALSE(Decimal::ParseJsonNumber("1e").has_value());
  EXPECT_FALSE(Decimal::ParseJsonNumber("1e+").has_value());
  EXPECT_FALSE(Decimal::ParseJsonNumber("e5").has_value());
}

TEST(DecimalToString, PrintsCanonicalTextWithMinimumPlaces) {
  EXPECT_EQ(D("1.5").ToString(2), "1.50");
  EXPECT_EQ(D("0.17325").ToString(), "0.17325");
  EXPECT_EQ(Decimal::FromInt(40).ToString(), "40");
  EXPECT_EQ(Decimal::FromInt(40).ToString(2), "40.00");
  EXPECT_EQ(D("71.2").ToString(2), "71.20");
  EXPECT_EQ(D("-0.5").ToString(), "-0.5");
  EXPECT_EQ(Decimal().ToString(2), "0.00");
  EXPECT_EQ(Decimal::FromRaw(1).ToString(), "0.000000000000000001");
  EXPECT_EQ(Decimal::FromRaw(Decimal::kMaxRaw).ToString(),
            "170141183460469231731.687303715884105727");
  EXPECT_EQ(Decimal::FromRaw(-Decimal::kMaxRaw).ToString(),
            "-170141183460469231731.687303715884105727");
  EXPECT_EQ(D("1.5").ToString(40), "1.500000000000000000");
  EXPECT_EQ(D("1.5").ToString(-3), "1.5");
}

TEST(DecimalToString, RoundTripsThroughParse) {
  for (const char* text : {"0", "1", "-1", "0.1", "123456789.987654321", "-0.000000000000000001",
                           "99999999999999999999.999999999999999999"}) {
    EXPECT_EQ(D(text).ToString(), text);
  }
}

// The text of `raw` units, one digit at a time: an oracle that shares no
// code with Decimal's own formatting.
std::string NaiveText(__int128 raw, int min_places) {
  unsigned __int128 m = raw < 0 ? -static_cast<unsigned __int128>(raw) : raw;
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  } while (m != 0);
  if (digits.size() < 19) digits.insert(0, 19 - digits.size(), '0');
  std::string text = digits.substr(0, digits.size() - 18);
  std::string frac = digits.substr(digits.size() - 18);
  while (frac.size() > static_cast<size_t>(min_places) && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) text += "." + frac;
  return (raw < 0 ? "-" : "") + text;
}

TEST(DecimalToString, AgreesWithADigitByDigitRenderingOverTheWholeRange) {
  std::mt19937_64 rng(20261206);
  for (int i = 0; i < 50000; ++i) {
    // Magnitudes from a few units up to the edge of the range.
    const int bits = static_cast<int>(rng() % 127) + 1;
    unsigned __int128 m = (static_cast<unsigned __int128>(rng()) << 64) | rng();
    m >>= 128 - bits;
    if (m > static_cast<unsigned __int128>(Decimal::kMaxRaw)) m >>= 1;
    const __int128 raw = (rng() & 1) ? -static_cast<__int128>(m) : static_cast<__int128>(m);
    const int places = static_cast<int>(rng() % 20);
    const Decimal d = Decimal::FromRaw(raw);
    ASSERT_EQ(d.ToString(places), NaiveText(raw, places)) << i;
  }
  // Fractions with every count of trailing zeros (amounts in cents and whole
  // units are the common case), against every min_places.
  for (int i = 0; i < 20000; ++i) {
    __int128 raw = static_cast<__int128>(rng() % 1000000);
    for (int k = static_cast<int>(rng() % 31); k > 0; --k) raw *= 10;
    if (rng() & 1) raw = -raw;
    const int places = static_cast<int>(rng() % 20);
    ASSERT_EQ(Decimal::FromRaw(raw).ToString(places), NaiveText(raw, places)) << i;
  }
  for (__int128 raw : {__int128{0}, __int128{1}, __int128{-1}, Decimal::kOne - 1, Decimal::kOne,
                       Decimal::kMaxRaw, -Decimal::kMaxRaw}) {
    EXPECT_EQ(Decimal::FromRaw(raw).ToString(3), NaiveText(raw, 3));
  }
}

TEST(DecimalToString, AppendToAddsToWhatIsThere) {
  std::string out = "total=";
  D("1423.97").AppendTo(&out, 2);
  out += ";rate=";
  D("0.17325").AppendTo(&out);
  out += ";";
  D("-40").AppendTo(&out, 2);
  EXPECT_EQ(out, "total=1423.97;rate=0.17325;-40.00");
}

TEST(DecimalRoundHalfUp, RoundsHalfAwayFromZero) {
  EXPECT_EQ(D("1.005").RoundHalfUp(2), D("1.01"));
  EXPECT_EQ(D("1.00499999999").RoundHalfUp(2), D("1.00"));
  EXPECT_EQ(D("-1.005").RoundHalfUp(2), D("-1.01"));
  EXPECT_EQ(D("-1.0049").RoundHalfUp(2), D("-1.00"));
  EXPECT_EQ(D("2.5").RoundHalfUp(0), Decimal::FromInt(3));
  EXPECT_EQ(D("0.1732549").RoundHalfUp(6), D("0.173255"));
  EXPECT_EQ(D("0.17325").RoundHalfUp(6), D("0.17325"));
  EXPECT_EQ(D("9.999").RoundHalfUp(2), Decimal::FromInt(10));
  EXPECT_EQ(D("1.23").RoundHalfUp(18), D("1.23"));
  EXPECT_EQ(D("1.23").RoundHalfUp(30), D("1.23"));
}

TEST(DecimalQueries, ReportFractionalDigitsAndIntegers) {
  EXPECT_EQ(D("1.50").FractionalDigits(), 1);
  EXPECT_EQ(D("40").FractionalDigits(), 0);
  EXPECT_EQ(D("0.17325").FractionalDigits(), 5);
  EXPECT_EQ(D("-0.000000000000000001").FractionalDigits(), 18);
  EXPECT_TRUE(D("60.000").IsInteger());
  EXPECT_FALSE(D("60.5").IsInteger());
  EXPECT_EQ(D("60").ToInt64(), 60);
  EXPECT_EQ(D("-7").ToInt64(), -7);
  EXPECT_FALSE(D("60.5").ToInt64().has_value());
  EXPECT_EQ(D("9223372036854775807").ToInt64(), INT64_MAX);
  EXPECT_EQ(D("-9223372036854775808").ToInt64(), INT64_MIN);
  EXPECT_FALSE(D("9223372036854775808").ToInt64().has_value());
  EXPECT_EQ(Decimal::FromInt(INT64_MIN).ToString(), "-9223372036854775808");
}

TEST(DecimalArithmetic, AddsAndSubtractsExactly) {
  EXPECT_EQ(D("0.1") + D("0.2"), D("0.3"));
  EXPECT_EQ(D("1423.97") + D("71.20") + D("40.00"), D("1535.17"));
  EXPECT_EQ(D("1") - D("1.000000000000000001"), D("-0.000000000000000001"));
  EXPECT_EQ(-D("2.5"), D("-2.5"));
}

TEST(DecimalArithmetic, MultipliesWithHalfUpAtTheEighteenthPlace) {
  EXPECT_EQ(D("0.15") * D("1.155"), D("0.17325"));
  EXPECT_EQ(D("-3") * D("0.5"), D("-1.5"));
  // 0.000000000000000001 × 0.5 = 5e-19: half rounds away from zero.
  EXPECT_EQ(Decimal::FromRaw(1) * D("0.5"), Decimal::FromRaw(1));
  EXPECT_EQ(Decimal::FromRaw(-1) * D("0.5"), Decimal::FromRaw(-1));
  EXPECT_EQ(Decimal::FromRaw(1) * D("0.49"), Decimal());
  // Beyond 64-bit raw operands (the 256-bit path).
  EXPECT_EQ(D("100000000000") * D("1000000000"), D("100000000000000000000"));
  EXPECT_EQ(D("12345678901.123456789") * D("-1000.5"), D("-12351851740574.0185173945"));
}

TEST(DecimalArithmetic, DividesWithHalfUpAtTheEighteenthPlace) {
  EXPECT_EQ(D("1") / D("3"), D("0.333333333333333333"));
  EXPECT_EQ(D("2") / D("3"), D("0.666666666666666667"));
  EXPECT_EQ(D("-2") / D("3"), D("-0.666666666666666667"));
  EXPECT_EQ(D("1535.17") / D("10"), D("153.517"));
  // Dividend beyond 3.4e20 units (the 256-bit path).
  EXPECT_EQ(D("100000000000000000000") / D("8"), D("12500000000000000000"));
  EXPECT_EQ(D("100000000000000000000") / D("0.625"), D("160000000000000000000"));
}

TEST(ExactProductQuotient, RoundsOnceFromTheExactRational) {
  // 50000 × 0.17325 × 60 / 365 = 1423.972602739...
  EXPECT_EQ(ExactProductQuotient({D("50000"), D("0.17325"), D("60")}, D("365"), 2), D("1423.97"));
  // 1/3 + rounding at 2 and 6 places.
  EXPECT_EQ(ExactProductQuotient({D("1")}, D("3"), 2), D("0.33"));
  EXPECT_EQ(ExactProductQuotient({D("2")}, D("3"), 6), D("0.666667"));
  EXPECT_EQ(ExactProductQuotient({}, D("8"), 3), D("0.125"));
  EXPECT_EQ(ExactProductQuotient({}, D("8"), 2), D("0.13"));
  EXPECT_EQ(ExactProductQuotient({D("0")}, D("7"), 2), Decimal());
}

TEST(ExactProductQuotient, HalfCentRoundsUpAndJustBelowRoundsDown) {
  EXPECT_EQ(ExactProductQuotient({D("1.005")}, D("1"), 2), D("1.01"));
  EXPECT_EQ(ExactProductQuotient({D("1.004999999999999999")}, D("1"), 2), D("1.00"));
  // 2.01 / 2 = 1.005 exactly.
  EXPECT_EQ(ExactProductQuotient({D("2.01")}, D("2"), 2), D("1.01"));
  EXPECT_EQ(ExactProductQuotient({D("-2.01")}, D("2"), 2), D("-1.01"));
  EXPECT_EQ(ExactProductQuotient({D("2.01")}, D("-2"), 2), D("-1.01"));
}

TEST(ExactProductQuotient, NeverLosesDigitsToIntermediateRounding) {
  // tiny × tiny is 1e-36: an 18-place intermediate would make it 0.
  const Decimal tiny = D("0.000000000000000001");
  EXPECT_EQ(ExactProductQuotient({tiny, tiny}, tiny, 18), tiny);
  // third² = 0.111111111111111110888888888888888889 exactly; × 1e6 rounded
  // once at 18 places. Rounding third² first would give 111111.111111111111.
  const Decimal third = D("0.333333333333333333");
  EXPECT_EQ(ExactProductQuotient({third, third, D("1000000")}, D("1"), 18),
            D("111111.111111111110888889"));
  EXPECT_NE(third * third * D("1000000"), D("111111.111111111110888889"));
}

TEST(ExactProductQuotient, HandlesFourFullWidthFactors) {
  const Decimal big = D("100000000000000000000");  // 1e20: raw units 1e38
  const Decimal small = D("0.00000001");
  EXPECT_EQ(ExactProductQuotient({big, big, small, small}, big, 2), D("10000"));
  const Decimal max = Decimal::FromRaw(Decimal::kMaxRaw);
  EXPECT_EQ(ExactProductQuotient({max, Ulp(), Ulp(), Ulp()}, D("1"), 18), Decimal());
}

TEST(ExactProductQuotient, ReportsResultsOutOfRange) {
  const Decimal big = D("100000000000000000000");  // 1e20
  const Decimal max = Decimal::FromRaw(Decimal::kMaxRaw);
  EXPECT_FALSE(TryExactProductQuotient({big, big}, D("1"), 2).has_value());
  EXPECT_FALSE(TryExactProductQuotient({max, max, max, max}, max, 0).has_value());
  EXPECT_FALSE(
      TryExactProductQuotient({big, big, big, big}, D("0.000000000000000001"), 0).has_value());
  EXPECT_TRUE(TryExactProductQuotient({max}, D("1"), 18).has_value());
  EXPECT_FALSE(TryExactProductQuotient({max}, D("1"), 0).has_value());  // rounds up past the range
}

}  // namespace
}  // namespace pricing::engine
