#include "engine/pricing.h"

#include <gtest/gtest.h>

#include <chrono>

#include "test_util.h"

namespace pricing::engine {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;

Stock Gme() { return Stock{"GME", BorrowStatus::kHard, Dec("0.05"), "SL-GME"}; }

Broker BigFund() { return Broker{"big_fund_007", Dec("5.0"), FeeType::kFlat, Dec("40.00"), 365}; }

LocateRequest Request(const char* position, int days) {
  return LocateRequest{"GME", Dec(position), days, "big_fund_007"};
}

MarketInputs Inputs(const char* base, const char* vix, int event_risk) {
  return MarketInputs{
      {Dec(base), Source::kLenderApi}, {Dec(vix), Source::kDb}, {event_risk, Source::kDb}};
}

// Inputs under which r = r_base exactly: V = V0 and E = 0.
MarketInputs Flat(const char* base) { return Inputs(base, "20", 0); }

TEST(Formula, PricesTheDesignExample) {
  const Quote q = Price(Request("50000", 60), Gme(), BigFund(), Inputs("0.15", "32.5", 6), {});
  EXPECT_EQ(q.rate, Dec("0.17325"));
  EXPECT_EQ(q.borrow_rate_used, Dec("0.17325"));
  EXPECT_EQ(q.borrow_cost, Dec("1423.97"));
  EXPECT_EQ(q.markup, Dec("71.20"));
  EXPECT_EQ(q.transaction_fees, Dec("40.00"));
  EXPECT_EQ(q.total_fee, Dec("1535.17"));
  EXPECT_EQ(q.day_count, 365);
  EXPECT_EQ(q.total_fee.ToString(2), "1535.17");
  EXPECT_EQ(q.markup.ToString(2), "71.20");
}

TEST(Formula, Uses360DayCountWhenTheBrokerDoes) {
  Broker broker = BigFund();
  broker.day_count = 360;
  const Quote q = Price(Request("50000", 60), Gme(), broker, Inputs("0.15", "32.5", 6), {});
  // 50000 × 0.17325 × 60 / 360 = 1443.75; markup 72.1875 -> 72.19.
  EXPECT_EQ(q.borrow_cost, Dec("1443.75"));
  EXPECT_EQ(q.markup, Dec("72.19"));
  EXPECT_EQ(q.total_fee, Dec("1555.94"));
  EXPECT_EQ(q.day_count, 360);
}

TEST(Formula, HalfCentRoundsUp) {
  Broker broker = BigFund();
  broker.day_count = 360;
  broker.markup_percentage = Dec("0");
  broker.transaction_amount = Dec("0");
  // 123456.50 × 0.1 × 36 / 360 = 1234.565 exactly.
  const Quote q = Price(Request("123456.50", 36), Gme(), broker, Flat("0.1"), {});
  EXPECT_EQ(q.borrow_cost, Dec("1234.57"));
  EXPECT_EQ(q.total_fee, Dec("1234.57"));
}

TEST(Formula, JustBelowHalfCentRoundsDown) {
  Broker broker = BigFund();
  broker.day_count = 360;
  // 123456.50 × 0.099999999999999999 × 36 / 360 = 1234.56499999999999876...
  const Quote q = Price(Request("123456.50", 36), Gme(), broker, Flat("0.099999999999999999"), {});
  EXPECT_EQ(q.rate, Dec("0.099999999999999999"));
  EXPECT_EQ(q.borrow_cost, Dec("1234.56"));
}

TEST(Formula, NegativeOrZeroFractionsNeverAppear) {
  Broker broker = BigFund();
  broker.markup_percentage = Dec("0");
  broker.transaction_amount = Dec("0");
  Stock stock = Gme();
  stock.min_borrow_rate = Dec("0");
  const Quote q = Price(Request("0.01", 1), stock, broker, Flat("0"), {});
  EXPECT_EQ(q.total_fee, Decimal());
  EXPECT_EQ(q.total_fee.ToString(2), "0.00");
}

TEST(Formula, MarkupComesFromTheUnroundedBorrowCost) {
  Broker broker = BigFund();
  broker.day_count = 360;
  broker.markup_percentage = Dec("200");
  // Borrow cost 1000.40 × 0.1 × 36 / 360 = 10.004 -> 10.00; markup is
  // 200 % of 10.004 = 20.008 -> 20.01 (200 % of the rounded 10.00 would be 20.00).
  const Quote q = Price(Request("1000.40", 36), Gme(), broker, Flat("0.1"), {});
  EXPECT_EQ(q.borrow_cost, Dec("10.00"));
  EXPECT_EQ(q.markup, Dec("20.01"));
  EXPECT_EQ(q.total_fee, Dec("70.01"));
}

TEST(Formula, TotalIsTheSumOfTheRoundedComponents) {
  Broker broker = BigFund();
  broker.markup_percentage = Dec("50");
  broker.transaction_amount = Dec("0");
  broker.day_count = 360;
  // Borrow 1000.10 × 0.1 × 36 / 360 = 10.001 -> 10.00; markup 5.0005 -> 5.00;
  // the unrounded total 15.0015 would round to 15.00 too, but by construction
  // the breakdown always adds up.
  const Quote q = Price(Request("1000.10", 36), Gme(), broker, Flat("0.1"), {});
  EXPECT_EQ(q.total_fee, q.borrow_cost + q.markup + q.transaction_fees);
  // Rounding the parts differs from rounding the whole: borrow 0.45 × 0.1 ×
  // 36 / 360 = 0.0045 -> 0.00 and a 100 % markup 0.0045 -> 0.00 make 0.00,
  // though the exact total 0.009 would round to 0.01.
  broker.markup_percentage = Dec("100");
  const Quote r = Price(Request("0.45", 36), Gme(), broker, Flat("0.1"), {});
  EXPECT_EQ(r.borrow_cost, Dec("0.00"));
  EXPECT_EQ(r.markup, Dec("0.00"));
  EXPECT_EQ(r.total_fee, Dec("0.00"));
}

TEST(Formula, FlatFeeIsRoundedToCents) {
  Broker broker = BigFund();
  broker.transaction_amount = Dec("40.005");
  const Quote q = Price(Request("50000", 60), Gme(), broker, Inputs("0.15", "32.5", 6), {});
  EXPECT_EQ(q.transaction_fees, Dec("40.01"));
  EXPECT_EQ(q.total_fee, Dec("1535.18"));
}

TEST(Formula, PercentageFeeIsAPercentOfThePosition) {
  Broker broker = BigFund();
  broker.transaction_fee_type = FeeType::kPercentage;
  broker.transaction_amount = Dec("0.5");
  // 1001.00 × 0.5 / 100 = 5.005 -> 5.01; 1000.99 × 0.5 / 100 = 5.00495 -> 5.00.
  EXPECT_EQ(Price(Request("1001.00", 30), Gme(), broker, Flat("0.1"), {}).transaction_fees,
            Dec("5.01"));
  EXPECT_EQ(Price(Request("1000.99", 30), Gme(), broker, Flat("0.1"), {}).transaction_fees,
            Dec("5.00"));
  broker.transaction_amount = Dec("0.25");
  EXPECT_EQ(Price(Request("50000", 60), Gme(), broker, Inputs("0.15", "32.5", 6), {}).total_fee,
            Dec("1423.97") + Dec("71.20") + Dec("125.00"));
}

TEST(Formula, MinimumRateIsAFloor) {
  const Quote q = Price(Request("50000", 60), Gme(), BigFund(), Flat("0.01"), {});
  EXPECT_EQ(q.rate, Dec("0.05"));
  EXPECT_EQ(q.borrow_rate_used, Dec("0.05"));
  // 50000 × 0.05 × 60 / 365 = 410.958904... -> 410.96
  EXPECT_EQ(q.borrow_cost, Dec("410.96"));
}

TEST(Formula, MinimumRateAppliesAfterTheAdjustments) {
  // 0.04 × (1 + 0.01 × 12.5 + 0.05 × 0.6) = 0.0462 < 0.05; 0.045 × 1.155 = 0.051975 > 0.05.
  EXPECT_EQ(Price(Request("50000", 60), Gme(), BigFund(), Inputs("0.04", "32.5", 6), {}).rate,
            Dec("0.05"));
  EXPECT_EQ(Price(Request("50000", 60), Gme(), BigFund(), Inputs("0.045", "32.5", 6), {}).rate,
            Dec("0.051975"));
}

TEST(Formula, VolatilityBelowBaselineDoesNotLowerTheRate) {
  EXPECT_EQ(EffectiveRate(Dec("0.15"), Dec("12"), 0, Dec("0"), {}), Dec("0.15"));
  EXPECT_EQ(EffectiveRate(Dec("0.15"), Dec("20"), 0, Dec("0"), {}), Dec("0.15"));
  EXPECT_EQ(EffectiveRate(Dec("0.15"), Dec("30"), 0, Dec("0"), {}), Dec("0.165"));
  EXPECT_EQ(EffectiveRate(Dec("0.15"), Dec("20"), 10, Dec("0"), {}), Dec("0.1575"));
}

TEST(Formula, UsesConfiguredParameters) {
  PricingParams params;
  params.v0 = Dec("25");
  params.f_v = Dec("0.02");
  params.f_e = Dec("0.1");
  // 0.2 × (1 + 0.02 × 7.5 + 0.1 × 0.5) = 0.2 × 1.2 = 0.24
  EXPECT_EQ(EffectiveRate(Dec("0.2"), Dec("32.5"), 5, Dec("0"), params), Dec("0.24"));
}

TEST(Formula, BorrowRateUsedIsRoundedHalfUpToSixPlaces) {
  const Quote q = Price(Request("50000", 60), Gme(), BigFund(), Flat("0.1234565"), {});
  EXPECT_EQ(q.rate, Dec("0.1234565"));
  EXPECT_EQ(q.borrow_rate_used, Dec("0.123457"));
  const Quote below = Price(Request("50000", 60), Gme(), BigFund(), Flat("0.1234564999"), {});
  EXPECT_EQ(below.borrow_rate_used, Dec("0.123456"));
}

TEST(Formula, LargestPositionsDoNotOverflow) {
  Broker broker{"whale_fund", Dec("1000"), FeeType::kPercentage, Dec("100"), 360};
  Stock stock{"XYZ", BorrowStatus::kHard, Dec("10"), ""};
  PricingParams params{Dec("20"), Dec("1"), Dec("1")};
  const LocateRequest request{"XYZ", Dec("1000000000000"), 365, "whale_fund"};
  const Quote q = Price(request, stock, broker, Inputs("10", "1000", 10), params);
  // r = 10 × (1 + 980 + 1) = 9820; borrow = 1e12 × 9820 × 365 / 360.
  EXPECT_EQ(q.rate, Dec("9820"));
  EXPECT_EQ(q.borrow_cost, Dec("9956388888888888.89"));
  EXPECT_EQ(q.markup, Dec("99563888888888888.89"));
  EXPECT_EQ(q.transaction_fees, Dec("1000000000000.00"));
  EXPECT_EQ(q.total_fee, Dec("109521277777777777.78"));
}

TEST(Formula, LargestPositionWithTheDesignBroker) {
  const LocateRequest request{"GME", Dec("1000000000000"), 365, "big_fund_007"};
  const Quote q = Price(request, Gme(), BigFund(), Inputs("0.15", "32.5", 6), {});
  EXPECT_EQ(q.borrow_cost, Dec("173250000000.00"));
  EXPECT_EQ(q.markup, Dec("8662500000.00"));
  EXPECT_EQ(q.total_fee, Dec("181912500040.00"));
}

TEST(Formula, RejectsInputsOutsideTheDomain) {
  Broker broker = BigFund();
  broker.day_count = 0;
  Result<Quote> q = TryPrice(Request("50000", 60), Gme(), broker, Flat("0.1"), {});
  ASSERT_FALSE(q.has_value());
  EXPECT_EQ(q.error().code, ErrorCode::kCalculationError);
  EXPECT_NE(q.error().message.find("day_count of big_fund_007"), std::string::npos)
      << q.error().message;

  EXPECT_FALSE(TryPrice(Request("50000", 0), Gme(), BigFund(), Flat("0.1"), {}).has_value());
  EXPECT_FALSE(TryPrice(Request("0", 60), Gme(), BigFund(), Flat("0.1"), {}).has_value());
  EXPECT_FALSE(
      TryPrice(Request("1000000000000.01", 60), Gme(), BigFund(), Flat("0.1"), {}).has_value());
  EXPECT_FALSE(TryPrice(Request("50000", 60), Gme(), BigFund(), Flat("10.01"), {}).has_value());
  EXPECT_FALSE(
      TryPrice(Request("50000", 60), Gme(), BigFund(), Inputs("0.1", "1000.5", 0), {}).has_value());
  EXPECT_FALSE(
      TryPrice(Request("50000", 60), Gme(), BigFund(), Inputs("0.1", "20", 11), {}).has_value());
  Stock stock = Gme();
  stock.min_borrow_rate = Dec("-0.01");
  EXPECT_FALSE(TryPrice(Request("50000", 60), stock, BigFund(), Flat("0.1"), {}).has_value());
  broker = BigFund();
  broker.markup_percentage = Dec("1000.01");
  EXPECT_FALSE(TryPrice(Request("50000", 60), Gme(), broker, Flat("0.1"), {}).has_value());
  broker = BigFund();
  broker.transaction_fee_type = FeeType::kPercentage;
  broker.transaction_amount = Dec("100.01");
  EXPECT_FALSE(TryPrice(Request("50000", 60), Gme(), broker, Flat("0.1"), {}).has_value());
  PricingParams params;
  params.f_v = Dec("1.5");
  EXPECT_FALSE(TryPrice(Request("50000", 60), Gme(), BigFund(), Flat("0.1"), params).has_value());
}

TEST(FormulaDeathTest, PriceAbortsOutsideTheDomain) {
  Broker broker = BigFund();
  broker.day_count = 0;
  EXPECT_DEATH(Price(Request("50000", 60), Gme(), broker, Flat("0.1"), {}), "day_count");
}

TEST(FormulaDeathTest, ExactProductQuotientAbortsOnMoreThanFourFactors) {
  const Decimal one = Dec("1");
  EXPECT_DEATH(ExactProductQuotient({one, one, one, one, one}, one, 2), "more than 4 factors");
}

// --- market data precedence -------------------------------------------------

const system_clock::time_point kNow = system_clock::time_point(seconds(1767225600));

Result<Decimal> Unavailable() {
  return Fail(ErrorCode::kServiceUnavailable, "lender API: timed out");
}

TEST(BaseRate, LenderApiComesFirst) {
  const Sourced<Decimal> r =
      ResolveBaseRate(Dec("0.15"), CachedRate{Dec("0.2"), kNow}, Gme(), kNow);
  EXPECT_EQ(r.value, Dec("0.15"));
  EXPECT_EQ(r.source, Source::kLenderApi);
  EXPECT_TRUE(IsUsableLenderRate(Dec("0.15")));
}

TEST(BaseRate, FallsBackToAFreshCachedRate) {
  const Sourced<Decimal> r =
      ResolveBaseRate(Unavailable(), CachedRate{Dec("0.2"), kNow - hours(23)}, Gme(), kNow);
  EXPECT_EQ(r.value, Dec("0.2"));
  EXPECT_EQ(r.source, Source::kCache);
}

TEST(BaseRate, AcceptsACachedRateExactlyADayOld) {
  EXPECT_EQ(
      ResolveBaseRate(Unavailable(), CachedRate{Dec("0.2"), kNow - hours(24)}, Gme(), kNow).source,
      Source::kCache);
}

TEST(BaseRate, IgnoresACachedRateOlderThanADay) {
  const Sourced<Decimal> r = ResolveBaseRate(
      Unavailable(), CachedRate{Dec("0.2"), kNow - hours(24) - seconds(1)}, Gme(), kNow);
  EXPECT_EQ(r.value, Dec("0.05"));
  EXPECT_EQ(r.source, Source::kFallback);
}

TEST(BaseRate, ToleratesSmallClockSkewOnly) {
  EXPECT_EQ(
      ResolveBaseRate(Unavailable(), CachedRate{Dec("0.2"), kNow + minutes(4)}, Gme(), kNow).source,
      Source::kCache);
  EXPECT_EQ(
      ResolveBaseRate(Unavailable(), CachedRate{Dec("0.2"), kNow + minutes(6)}, Gme(), kNow).source,
      Source::kFallback);
}

TEST(BaseRate, FallsBackToMinimumRateWithoutLenderOrCache) {
  const Sourced<Decimal> r = ResolveBaseRate(Unavailable(), std::nullopt, Gme(), kNow);
  EXPECT_EQ(r.value, Dec("0.05"));
  EXPECT_EQ(r.source, Source::kFallback);
}

TEST(BaseRate, TreatsOutOfRangeLenderRatesAsUnavailable) {
  EXPECT_FALSE(IsUsableLenderRate(Dec("10.000001")));
  EXPECT_FALSE(IsUsableLenderRate(Dec("-0.01")));
  EXPECT_TRUE(IsUsableLenderRate(Dec("10")));
  EXPECT_TRUE(IsUsableLenderRate(Dec("0")));
  EXPECT_EQ(ResolveBaseRate(Dec("12"), CachedRate{Dec("0.2"), kNow}, Gme(), kNow).source,
            Source::kCache);
  EXPECT_EQ(ResolveBaseRate(Dec("-1"), std::nullopt, Gme(), kNow).source, Source::kFallback);
  // A corrupt cached value is no better.
  EXPECT_EQ(ResolveBaseRate(Unavailable(), CachedRate{Dec("11"), kNow}, Gme(), kNow).source,
            Source::kFallback);
}

TEST(CachedRateText, RoundTrips) {
  const CachedRate cached{Dec("0.15"),
                          system_clock::time_point(std::chrono::milliseconds(1767225600123))};
  EXPECT_EQ(EncodeCachedRate(cached), "0.15 1767225600123");
  const std::optional<CachedRate> back = DecodeCachedRate(EncodeCachedRate(cached));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->rate, cached.rate);
  EXPECT_EQ(back->fetched_at, cached.fetched_at);
}

TEST(CachedRateText, RejectsGarbage) {
  for (const char* bad : {"", "0.15", "0.15 ", " 1767225600123", "x 1", "0.15 12a", "0.15  1",
                          "1e3 5", "0.15 99999999999999999999"}) {
    EXPECT_FALSE(DecodeCachedRate(bad).has_value()) << bad;
  }
}

TEST(Volatility, VolatilityRowComesFirst) {
  const VolatilityRow row{"GME", Dec("32.5"), 6};
  const Sourced<Decimal> v = ResolveVolatility(row, Dec("22.4"), {});
  EXPECT_EQ(v.value, Dec("32.5"));
  EXPECT_EQ(v.source, Source::kDb);
  EXPECT_TRUE(RowHasVolatility(row));
}

TEST(Volatility, FallsBackToMarketVix) {
  const VolatilityRow row{"GME", std::nullopt, 6};
  EXPECT_FALSE(RowHasVolatility(row));
  const Sourced<Decimal> v = ResolveVolatility(row, Dec("22.4"), {});
  EXPECT_EQ(v.value, Dec("22.4"));
  EXPECT_EQ(v.source, Source::kMarketApi);
  EXPECT_EQ(ResolveVolatility(std::nullopt, Dec("22.4"), {}).source, Source::kMarketApi);
}

TEST(Volatility, FallsBackToBaselineSoNothingIsAdjusted) {
  PricingParams params;
  params.v0 = Dec("18");
  const Sourced<Decimal> v =
      ResolveVolatility(std::nullopt, Fail(ErrorCode::kServiceUnavailable, "down"), params);
  EXPECT_EQ(v.value, Dec("18"));
  EXPECT_EQ(v.source, Source::kFallback);
}

TEST(Volatility, TreatsOutOfRangeValuesAsUnavailable) {
  EXPECT_EQ(ResolveVolatility(std::nullopt, Dec("1000.01"), {}).source, Source::kFallback);
  EXPECT_EQ(ResolveVolatility(std::nullopt, Dec("-1"), {}).source, Source::kFallback);
  EXPECT_EQ(ResolveVolatility(std::nullopt, Dec("1000"), {}).source, Source::kMarketApi);
  const VolatilityRow corrupt{"GME", Dec("5000"), 6};
  EXPECT_FALSE(RowHasVolatility(corrupt));
  EXPECT_EQ(ResolveVolatility(corrupt, Dec("22.4"), {}).source, Source::kMarketApi);
}

TEST(EventRisk, VolatilityRowComesFirst) {
  const VolatilityRow row{"GME", Dec("32.5"), 6};
  const Sourced<int> e = ResolveEventRisk(row, 3);
  EXPECT_EQ(e.value, 6);
  EXPECT_EQ(e.source, Source::kDb);
  EXPECT_TRUE(RowHasEventRisk(row));
}

TEST(EventRisk, FallsBackToEventsApiThenZero) {
  const VolatilityRow row{"GME", Dec("32.5"), std::nullopt};
  EXPECT_FALSE(RowHasEventRisk(row));
  const Sourced<int> e = ResolveEventRisk(row, 3);
  EXPECT_EQ(e.value, 3);
  EXPECT_EQ(e.source, Source::kEventsApi);
  const Sourced<int> none = ResolveEventRisk(row, Fail(ErrorCode::kServiceUnavailable, "down"));
  EXPECT_EQ(none.value, 0);
  EXPECT_EQ(none.source, Source::kFallback);
}

TEST(EventRisk, TreatsOutOfRangeValuesAsUnavailable) {
  EXPECT_EQ(ResolveEventRisk(std::nullopt, 11).source, Source::kFallback);
  EXPECT_EQ(ResolveEventRisk(std::nullopt, -1).source, Source::kFallback);
  EXPECT_EQ(ResolveEventRisk(std::nullopt, 10).source, Source::kEventsApi);
  EXPECT_EQ(ResolveEventRisk(VolatilityRow{"GME", std::nullopt, 12}, 4).source, Source::kEventsApi);
}

TEST(Formula, ResolvedInputsPriceTheDesignExample) {
  const VolatilityRow row{"GME", Dec("32.5"), 6};
  MarketInputs inputs;
  inputs.base_rate = ResolveBaseRate(Dec("0.15"), std::nullopt, Gme(), kNow);
  inputs.volatility = ResolveVolatility(row, Unavailable(), {});
  inputs.event_risk = ResolveEventRisk(row, Fail(ErrorCode::kServiceUnavailable, "down"));
  EXPECT_EQ(Price(Request("50000", 60), Gme(), BigFund(), inputs, {}).total_fee, Dec("1535.17"));
  EXPECT_EQ(SourceName(inputs.base_rate.source), "lender_api");
  EXPECT_EQ(SourceName(inputs.volatility.source), "db");
  EXPECT_EQ(SourceName(inputs.event_risk.source), "db");
}

}  // namespace
}  // namespace pricing::engine
