// Property tests: the engine's decimal arithmetic and the whole formula
// against an independent long-hand oracle in exact rationals
// (boost::multiprecision::cpp_rational), built from the same decimal strings.
#include <gtest/gtest.h>

#include <boost/multiprecision/cpp_int.hpp>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>

#include "engine/decimal.h"
#include "engine/pricing.h"
#include "test_util.h"

namespace pricing::engine {
namespace {

using boost::multiprecision::cpp_int;
using boost::multiprecision::cpp_rational;

constexpr uint64_t kSeed = 20240611;
constexpr int kFormulaCases = 25000;
constexpr int kArithmeticCases = 20000;

// Returns the exact rational value of plain decimal text.
cpp_rational Rational(const std::string& text) {
  bool negative = false;
  std::string digits;
  int places = 0;
  bool after_point = false;
  for (char c : text) {
    if (c == '-') {
      negative = true;
    } else if (c == '.') {
      after_point = true;
    } else {
      digits.push_back(c);
      if (after_point) ++places;
    }
  }
  // cpp_int reads a leading 0 as octal: strip leading zeros.
  const size_t first = digits.find_first_not_of('0');
  cpp_int numerator(first == std::string::npos ? std::string("0") : digits.substr(first));
  cpp_int denominator = 1;
  for (int i = 0; i < places; ++i) denominator *= 10;
  cpp_rational r(numerator, denominator);
  return negative ? cpp_rational(-r) : r;
}

// Returns x rounded half away from zero to `places` decimals, as text with
// exactly `places` fractional digits.
std::string RoundHalfUpText(const cpp_rational& x, int places) {
  const bool negative = x < 0;
  cpp_rational magnitude = negative ? cpp_rational(-x) : x;
  cpp_int scale = 1;
  for (int i = 0; i < places; ++i) scale *= 10;
  const cpp_rational shifted = magnitude * scale + cpp_rational(1, 2);
  const cpp_int units = boost::multiprecision::numerator(shifted) /
                        boost::multiprecision::denominator(shifted);  // floor, >= 0
  std::string s = units.str();
  if (places > 0) {
    if (static_cast<int>(s.size()) <= places) s.insert(0, places + 1 - s.size(), '0');
    s.insert(s.size() - places, ".");
  }
  if (negative && units != 0) s.insert(0, "-");
  return s;
}

// Random decimal text: integer part uniform in [0, max_int], `places`
// fractional digits chosen uniformly in [0, max_places].
class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  int64_t Int(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

  std::string Text(int64_t max_int, int max_places) {
    std::string s = std::to_string(Int(0, max_int));
    const int places = static_cast<int>(Int(0, max_places));
    if (places > 0) {
      s.push_back('.');
      for (int i = 0; i < places; ++i) s.push_back(static_cast<char>('0' + Int(0, 9)));
    }
    return s;
  }

  // Like Text, but the value is at most max_int (e.g. "10" not "10.5").
  std::string Bounded(int64_t max_int, int max_places) {
    std::string s = Text(max_int, max_places);
    return Rational(s) > max_int ? std::to_string(max_int) : s;
  }

  // Mostly small magnitudes, with the occasional extreme, so that every
  // order of magnitude up to the limit is exercised.
  std::string Scaled(int64_t max_int, int max_places) {
    const int64_t digits = Int(0, 12);
    int64_t cap = 1;
    for (int i = 0; i < digits && cap < max_int / 10; ++i) cap *= 10;
    return Bounded(Int(0, 1) ? max_int : cap, max_places);
  }

  // A raw Decimal of random bit width (both signs).
  __int128 Raw() {
    const int bits = static_cast<int>(Int(1, 127));
    unsigned __int128 v = (static_cast<unsigned __int128>(rng_()) << 64) | rng_();
    v >>= (128 - bits);
    const __int128 s = static_cast<__int128>(v);
    return Int(0, 1) ? -s : s;
  }

  // A raw Decimal that is a short mantissa times a power of ten, as prices,
  // rates and day counts are (50000 = 5 × 10^22 units): with decimal zeros
  // to cancel, ExactProductQuotient takes its 128-bit path, sometimes up to
  // that path's overflow limits.
  __int128 RoundRaw() {
    for (;;) {
      const __int128 mantissa = Raw() >> Int(60, 126);
      __int128 v = mantissa;
      const int64_t zeros = Int(0, 38);
      bool fits = true;
      for (int64_t k = 0; k < zeros && fits; ++k) {
        fits = v <= Decimal::kMaxRaw / 10 && v >= -Decimal::kMaxRaw / 10;
        if (fits) v *= 10;
      }
      if (fits) return v;
    }
  }

 private:
  std::mt19937_64 rng_;
};

std::string RawText(__int128 raw) { return Decimal::FromRaw(raw).ToString(); }

TEST(FormulaProperty, MatchesExactRationalOracle) {
  Gen gen(kSeed);
  int half_cent_cases = 0;  // some component exactly at x.xx5
  int floor_cases = 0;      // r_min applied
  for (int i = 0; i < kFormulaCases; ++i) {
    // Inputs as text, within the validated domain.
    std::string p = gen.Scaled(1000000000000, 2);
    if (Rational(p) == 0) p = "0.01";
    const int days = static_cast<int>(gen.Int(1, 365));
    const int basis = gen.Int(0, 1) ? 360 : 365;
    const std::string r_base = gen.Bounded(gen.Int(0, 3) ? 0 : 10, 6);
    const std::string r_min = gen.Bounded(gen.Int(0, 3) ? 0 : 10, 6);
    const std::string vix = gen.Bounded(gen.Int(0, 1) ? 100 : 1000, 4);
    const int event = static_cast<int>(gen.Int(0, 10));
    const std::string v0 = gen.Bounded(100, 2);
    const std::string f_v = gen.Bounded(gen.Int(0, 3) ? 0 : 1, 4);
    const std::string f_e = gen.Bounded(gen.Int(0, 3) ? 0 : 1, 4);
    const std::string markup = gen.Bounded(gen.Int(0, 3) ? 20 : 1000, 4);
    const bool flat = gen.Int(0, 1) == 1;
    const std::string fee = flat ? gen.Scaled(1000000, 4) : gen.Bounded(gen.Int(0, 3) ? 2 : 100, 4);

    // The engine.
    const LocateRequest request{"TEST", Dec(p), days, "client"};
    const Stock stock{"TEST", BorrowStatus::kMedium, Dec(r_min), ""};
    const Broker broker{"client", Dec(markup), flat ? FeeType::kFlat : FeeType::kPercentage,
                        Dec(fee), basis};
    const MarketInputs inputs{{Dec(r_base), Source::kLenderApi},
                              {Dec(vix), Source::kMarketApi},
                              {event, Source::kEventsApi}};
    const PricingParams params{Dec(v0), Dec(f_v), Dec(f_e)};
    const Result<Quote> quote = TryPrice(request, stock, broker, inputs, params);

    // The oracle, long-hand in exact rationals.
    const cpp_rational P = Rational(p), D = days, B = basis;
    cpp_rational excess = Rational(vix) - Rational(v0);
    if (excess < 0) excess = 0;
    const cpp_rational multiplier = 1 + Rational(f_v) * excess + Rational(f_e) * event / 10;
    cpp_rational r = Rational(r_base) * multiplier;
    if (r < Rational(r_min)) r = Rational(r_min);
    const cpp_rational borrow = P * r * D / B;
    const cpp_rational mark = borrow * Rational(markup) / 100;
    const cpp_rational tx = flat ? Rational(fee) : cpp_rational(P * Rational(fee) / 100);
    for (const cpp_rational& x : {borrow, mark, tx}) {
      const cpp_rational cents = x * 100 - cpp_rational(1, 2);
      if (boost::multiprecision::denominator(cents) == 1) ++half_cent_cases;
    }
    if (r == Rational(r_min) && Rational(r_base) * multiplier < r) ++floor_cases;
    const std::string want_borrow = RoundHalfUpText(borrow, 2);
    const std::string want_markup = RoundHalfUpText(mark, 2);
    const std::string want_tx = RoundHalfUpText(tx, 2);
    const std::string want_total =
        RoundHalfUpText(Rational(want_borrow) + Rational(want_markup) + Rational(want_tx), 2);

    std::ostringstream inputs_text;
    inputs_text << "case " << i << ": P=" << p << " D=" << days << " B=" << basis
                << " r_base=" << r_base << " r_min=" << r_min << " V=" << vix << " E=" << event
                << " V0=" << v0 << " f_v=" << f_v << " f_e=" << f_e << " m=" << markup
                << (flat ? " FLAT " : " PERCENTAGE ") << fee;
    ASSERT_TRUE(quote.has_value()) << inputs_text.str() << ": " << quote.error().message;
    // Inputs of at most 6 places keep r within 18 places, so r is exact.
    ASSERT_EQ(Rational(quote->rate.ToString()), r) << inputs_text.str();
    ASSERT_EQ(quote->borrow_rate_used.ToString(6), RoundHalfUpText(r, 6)) << inputs_text.str();
    ASSERT_EQ(quote->borrow_cost.ToString(2), want_borrow) << inputs_text.str();
    ASSERT_EQ(quote->markup.ToString(2), want_markup) << inputs_text.str();
    ASSERT_EQ(quote->transaction_fees.ToString(2), want_tx) << inputs_text.str();
    ASSERT_EQ(quote->total_fee.ToString(2), want_total) << inputs_text.str();
  }
  // The generator reaches the edges the formula cares about.
  EXPECT_GT(half_cent_cases, 100);
  EXPECT_GT(floor_cases, 1000);
  std::printf("formula property: %d cases, %d exact half cents, %d r_min floors\n", kFormulaCases,
              half_cent_cases, floor_cases);
}

TEST(DecimalProperty, MultiplicationMatchesExactRationalOracle) {
  Gen gen(kSeed + 1);
  const cpp_rational max = Rational(RawText(Decimal::kMaxRaw));
  int checked = 0;
  for (int i = 0; i < kArithmeticCases; ++i) {
    const __int128 a = gen.Raw() >> gen.Int(0, 64);
    const __int128 b = gen.Raw() >> gen.Int(0, 64);
    const cpp_rational exact = Rational(RawText(a)) * Rational(RawText(b));
    const std::string want = RoundHalfUpText(exact, 18);
    const cpp_rational want_value = Rational(want);
    if (want_value > max || want_value < -max) continue;
    ++checked;
    ASSERT_EQ((Decimal::FromRaw(a) * Decimal::FromRaw(b)).ToString(18), want)
        << RawText(a) << " * " << RawText(b);
  }
  EXPECT_GT(checked, kArithmeticCases / 2);
}

TEST(DecimalProperty, DivisionMatchesExactRationalOracle) {
  Gen gen(kSeed + 2);
  const cpp_rational max = Rational(RawText(Decimal::kMaxRaw));
  int checked = 0;
  for (int i = 0; i < kArithmeticCases; ++i) {
    const __int128 a = gen.Raw();
    const __int128 b = gen.Raw();
    if (b == 0) continue;
    const cpp_rational exact = Rational(RawText(a)) / Rational(RawText(b));
    const std::string want = RoundHalfUpText(exact, 18);
    const cpp_rational want_value = Rational(want);
    if (want_value > max || want_value < -max) continue;
    ++checked;
    ASSERT_EQ((Decimal::FromRaw(a) / Decimal::FromRaw(b)).ToString(18), want)
        << RawText(a) << " / " << RawText(b);
  }
  EXPECT_GT(checked, kArithmeticCases / 2);
}

TEST(DecimalProperty, ExactProductQuotientMatchesExactRationalOracle) {
  Gen gen(kSeed + 3);
  const cpp_rational max = Rational(RawText(Decimal::kMaxRaw));
  int in_range = 0;
  for (int i = 0; i < kArithmeticCases; ++i) {
    const int n = static_cast<int>(gen.Int(0, 4));
    const bool round = i % 2 == 0;
    __int128 f[4] = {0, 0, 0, 0};
    cpp_rational product = 1;
    for (int k = 0; k < n; ++k) {
      f[k] = round ? gen.RoundRaw() : gen.Raw() >> gen.Int(0, 100);
      product *= Rational(RawText(f[k]));
    }
    __int128 divisor = round ? gen.RoundRaw() : gen.Raw() >> gen.Int(0, 100);
    if (divisor == 0) divisor = 1;
    const int places = static_cast<int>(gen.Int(0, 18));
    const cpp_rational exact = product / Rational(RawText(divisor));
    const std::string want = RoundHalfUpText(exact, places);
    const cpp_rational want_value = Rational(want);
    const bool fits = want_value <= max && want_value >= -max;
    const Decimal d = Decimal::FromRaw(divisor);
    std::optional<Decimal> got;
    switch (n) {
      case 0:
        got = TryExactProductQuotient({}, d, places);
        break;
      case 1:
        got = TryExactProductQuotient({Decimal::FromRaw(f[0])}, d, places);
        break;
      case 2:
        got = TryExactProductQuotient({Decimal::FromRaw(f[0]), Decimal::FromRaw(f[1])}, d, places);
        break;
      case 3:
        got = TryExactProductQuotient(
            {Decimal::FromRaw(f[0]), Decimal::FromRaw(f[1]), Decimal::FromRaw(f[2])}, d, places);
        break;
      default:
        got = TryExactProductQuotient({Decimal::FromRaw(f[0]), Decimal::FromRaw(f[1]),
                                       Decimal::FromRaw(f[2]), Decimal::FromRaw(f[3])},
                                      d, places);
    }
    std::ostringstream what;
    what << "case " << i << ": " << n << " factors";
    for (int k = 0; k < n; ++k) what << " " << RawText(f[k]);
    what << " / " << RawText(divisor) << " at " << places;
    ASSERT_EQ(got.has_value(), fits) << what.str();
    if (!fits) continue;
    ++in_range;
    ASSERT_EQ(got->ToString(places), want) << what.str();
  }
  EXPECT_GT(in_range, kArithmeticCases / 4);
}

TEST(DecimalProperty, ParseAndToStringRoundTrip) {
  Gen gen(kSeed + 4);
  for (int i = 0; i < kArithmeticCases; ++i) {
    const __int128 raw = gen.Raw();
    const std::string text = RawText(raw);
    const std::optional<Decimal> back = Decimal::Parse(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(back->raw(), raw) << text;
    ASSERT_EQ(Rational(text), Rational(Decimal::FromRaw(raw).ToString(18)));
    const std::optional<Decimal> json = Decimal::ParseJsonNumber(text + "e0");
    ASSERT_TRUE(json.has_value()) << text;
    ASSERT_EQ(json->raw(), raw) << text;
  }
}

}  // namespace
}  // namespace pricing::engine
