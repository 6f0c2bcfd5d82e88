// The locate-fee formula and the market-data precedence of docs/design.md §2.1, as
// pure functions of their inputs (time included). The service layer gathers
// reference data and market answers, resolves each market input here, prices
// here, and only then talks to the outside world again.
//
//   r           = max(r_base × (1 + f_v × max(0, V − V0) + f_e × E / 10), r_min)
//   borrow_cost = P × r × D / B
//   markup      = borrow_cost × m / 100
//   tx_fee      = a (FLAT)  |  P × a / 100 (PERCENTAGE)
//
// Every money amount is one exact rational rounded half-up to cents once
// (ExactProductQuotient), and total_fee is the sum of the rounded parts.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "engine/decimal.h"
#include "engine/error.h"
#include "engine/model.h"

namespace pricing::engine {

// The formula's domain. Requests, reference data, external answers and
// configuration are validated against these limits where they enter the
// engine; within them no arithmetic can leave Decimal's range (the largest
// total is about 1e17).
inline constexpr Decimal kMaxPositionValue = Decimal::FromRaw(1000000000000 * Decimal::kOne);
inline constexpr int kMaxPositionValuePlaces = 2;
inline constexpr int kMinLoanDays = 1;
inline constexpr int kMaxLoanDays = 365;
inline constexpr Decimal kMaxBorrowRate = Decimal::FromRaw(10 * Decimal::kOne);  // r_base, r_min
inline constexpr Decimal kMaxVolatilityIndex = Decimal::FromRaw(1000 * Decimal::kOne);   // V, V0
inline constexpr int kMaxEventRisk = 10;                                                 // E
inline constexpr Decimal kMaxMarkupPercentage = Decimal::FromRaw(1000 * Decimal::kOne);  // m
inline constexpr Decimal kMaxFlatFee = Decimal::FromRaw(1000000000 * Decimal::kOne);     // a, FLAT
inline constexpr Decimal kMaxPercentageFee =
    Decimal::FromRaw(100 * Decimal::kOne);                                   // a, PERCENTAGE
inline constexpr Decimal kMaxSensitivity = Decimal::FromRaw(Decimal::kOne);  // f_v, f_e
// A cached lender rate older than this is not used (docs/design.md §2.1).
inline constexpr std::chrono::hours kMaxCachedRateAge{24};
// A cached rate stamped up to this far in the future (clock skew between
// processes) counts as fresh; further in the future it is ignored.
inline constexpr std::chrono::minutes kMaxClockSkew{5};

// Returns true when `rate` is a usable annual borrow rate: 0 <= rate <= 10.
bool IsValidBorrowRate(Decimal rate);
// Returns true when `vix` is a usable volatility index: 0 <= vix <= 1000.
bool IsValidVolatility(Decimal vix);
// Returns true when `risk` is a usable event risk factor: 0 <= risk <= 10.
bool IsValidEventRisk(int risk);

// Returns r of the formula at full precision. The multiplier and the product
// are exact whenever the true r has at most 18 fractional digits (always the
// case for inputs of up to 6 places each); beyond that each intermediate is
// rounded half-up at the 18th place.
// REQUIRES: inputs and params within the limits above.
Decimal EffectiveRate(Decimal base_rate, Decimal volatility, int event_risk, Decimal min_rate,
                      const PricingParams& params);

// Returns ok when every input is inside the formula's domain, else
// kCalculationError naming the offending value (e.g. a broker row whose
// day_count is 0 in a hand-edited database).
Result<void> CheckPricingInputs(const LocateRequest& request, const Stock& stock,
                                const Broker& broker, const MarketInputs& inputs,
                                const PricingParams& params);

// Prices a locate (docs/design.md §2.1): the rate r, borrow_rate_used = r rounded
// half-up to 6 places, the three money components each rounded half-up to
// cents from their exact values (markup from the unrounded borrow cost), their
// sum, and the broker's day count. Returns kCalculationError when
// CheckPricingInputs fails.
Result<Quote> TryPrice(const LocateRequest& request, const Stock& stock, const Broker& broker,
                       const MarketInputs& inputs, const PricingParams& params);

// As TryPrice. REQUIRES: CheckPricingInputs(...) is ok (aborts otherwise).
Quote Price(const LocateRequest& request, const Stock& stock, const Broker& broker,
            const MarketInputs& inputs, const PricingParams& params);

// A lender rate remembered from an earlier successful lender API call.
struct CachedRate {
  Decimal rate;
  std::chrono::system_clock::time_point fetched_at;
};

// Returns the cache text of `cached`: "<rate> <unix milliseconds>", e.g.
// "0.15 1767225600000". Round-trips through DecodeCachedRate.
std::string EncodeCachedRate(const CachedRate& cached);
// Parses EncodeCachedRate's text; nullopt on anything else.
std::optional<CachedRate> DecodeCachedRate(std::string_view text);

// Resolves r_base: the lender API's rate when it answered with a valid rate
// (Source::kLenderApi); else `last_good` when it holds a valid rate fetched
// at most kMaxCachedRateAge before `now` (and at most kMaxClockSkew after it)
// (Source::kCache); else stock.min_borrow_rate (Source::kFallback).
// `last_good` is consulted only when `lender` is unusable, so callers need
// not read the cache when IsUsableLenderRate(lender).
Sourced<Decimal> ResolveBaseRate(const Result<Decimal>& lender,
                                 const std::optional<CachedRate>& last_good, const Stock& stock,
                                 std::chrono::system_clock::time_point now);
// Returns true when `lender` holds a valid rate (ResolveBaseRate will use it).
bool IsUsableLenderRate(const Result<Decimal>& lender);

// Resolves V: the volatility row's vol_index when present and valid
// (Source::kDb); else the market API's VIX when it answered with a valid value
// (Source::kMarketApi); else params.v0, i.e. no adjustment (Source::kFallback).
// `market_vix` is consulted only when !RowHasVolatility(row), so callers need
// not call the market API otherwise (pass any value, e.g. an error).
Sourced<Decimal> ResolveVolatility(const std::optional<VolatilityRow>& row,
                                   const Result<Decimal>& market_vix, const PricingParams& params);
// Returns true when `row` holds a valid vol_index.
bool RowHasVolatility(const std::optional<VolatilityRow>& row);

// Resolves E: the volatility row's event_risk_factor when present and valid
// (Source::kDb); else the events API's answer when valid (Source::kEventsApi);
// else 0 (Source::kFallback). `events_api` is consulted only when
// !RowHasEventRisk(row).
Sourced<int> ResolveEventRisk(const std::optional<VolatilityRow>& row,
                              const Result<int>& events_api);
// Returns true when `row` holds a valid event_risk_factor.
bool RowHasEventRisk(const std::optional<VolatilityRow>& row);

}  // namespace pricing::engine
