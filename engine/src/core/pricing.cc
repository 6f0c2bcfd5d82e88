#include "engine/pricing.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace pricing::engine {
namespace {

const Decimal kZero;
const Decimal kOneValue = Decimal::FromInt(1);
const Decimal kTen = Decimal::FromInt(10);
const Decimal kHundred = Decimal::FromInt(100);

bool InRange(Decimal v, Decimal lo, Decimal hi) { return lo <= v && v <= hi; }

std::unexpected<Error> OutOfDomain(std::string what, Decimal value) {
  return Fail(ErrorCode::kCalculationError,
              what + " " + value.ToString() + " is outside the formula's domain");
}

}  // namespace

bool IsValidBorrowRate(Decimal rate) { return InRange(rate, kZero, kMaxBorrowRate); }
bool IsValidVolatility(Decimal vix) { return InRange(vix, kZero, kMaxVolatilityIndex); }
bool IsValidEventRisk(int risk) { return risk >= 0 && risk <= kMaxEventRisk; }

Decimal EffectiveRate(Decimal base_rate, Decimal volatility, int event_risk, Decimal min_rate,
                      const PricingParams& params) {
  const Decimal excess = Max(kZero, volatility - params.v0);
  const Decimal multiplier =
      kOneValue + params.f_v * excess +
      ExactProductQuotient({params.f_e, Decimal::FromInt(event_risk)}, kTen, Decimal::kScale);
  return Max(base_rate * multiplier, min_rate);
}

Result<void> CheckPricingInputs(const LocateRequest& request, const Stock& stock,
                                const Broker& broker, const MarketInputs& inputs,
                                const PricingParams& params) {
  if (!(kZero < request.position_value && request.position_value <= kMaxPositionValue)) {
    return OutOfDomain("position_value", request.position_value);
  }
  if (request.loan_days < kMinLoanDays || request.loan_days > kMaxLoanDays) {
    return OutOfDomain("loan_days", Decimal::FromInt(request.loan_days));
  }
  if (!IsValidBorrowRate(stock.min_borrow_rate)) {
    return OutOfDomain("min_borrow_rate of " + stock.ticker, stock.min_borrow_rate);
  }
  if (!InRange(broker.markup_percentage, kZero, kMaxMarkupPercentage)) {
    return OutOfDomain("markup_percentage of " + broker.client_id, broker.markup_percentage);
  }
  const Decimal max_fee =
      broker.transaction_fee_type == FeeType::kFlat ? kMaxFlatFee : kMaxPercentageFee;
  if (!InRange(broker.transaction_amount, kZero, max_fee)) {
    return OutOfDomain("transaction_amount of " + broker.client_id, broker.transaction_amount);
  }
  if (broker.day_count != 360 && broker.day_count != 365) {
    return OutOfDomain("day_count of " + broker.client_id, Decimal::FromInt(broker.day_count));
  }
  if (!IsValidBorrowRate(inputs.base_rate.value)) {
    return OutOfDomain("base rate", inputs.base_rate.value);
  }
  if (!IsValidVolatility(inputs.volatility.value)) {
    return OutOfDomain("volatility", inputs.volatility.value);
  }
  if (!IsValidEventRisk(inputs.event_risk.value)) {
    return OutOfDomain("event risk", Decimal::FromInt(inputs.event_risk.value));
  }
  if (!IsValidVolatility(params.v0)) return OutOfDomain("parameter V0", params.v0);
  if (!InRange(params.f_v, kZero, kMaxSensitivity)) return OutOfDomain("parameter f_v", params.f_v);
  if (!InRange(params.f_e, kZero, kMaxSensitivity)) return OutOfDomain("parameter f_e", params.f_e);
  return {};
}

Result<Quote> TryPrice(const LocateRequest& request, const Stock& stock, const Broker& broker,
                       const MarketInputs& inputs, const PricingParams& params) {
  if (Result<void> ok = CheckPricingInputs(request, stock, broker, inputs, params); !ok) {
    return std::unexpected(ok.error());
  }
  const Decimal p = request.position_value;
  const Decimal d = Decimal::FromInt(request.loan_days);
  const Decimal b = Decimal::FromInt(broker.day_count);
  Quote q;
  q.rate = EffectiveRate(inputs.base_rate.value, inputs.volatility.value, inputs.event_risk.value,
                         stock.min_borrow_rate, params);
  q.borrow_rate_used = q.rate.RoundHalfUp(6);
  q.borrow_cost = ExactProductQuotient({p, q.rate, d}, b, 2);
  q.markup = ExactProductQuotient({p, q.rate, d, broker.markup_percentage},
                                  Decimal::FromInt(int64_t{broker.day_count} * 100), 2);
  q.transaction_fees = broker.transaction_fee_type == FeeType::kFlat
                           ? broker.transaction_amount.RoundHalfUp(2)
                           : ExactProductQuotient({p, broker.transaction_amount}, kHundred, 2);
  q.total_fee = q.borrow_cost + q.markup + q.transaction_fees;
  q.day_count = broker.day_count;
  return q;
}

Quote Price(const LocateRequest& request, const Stock& stock, const Broker& broker,
            const MarketInputs& inputs, const PricingParams& params) {
  Result<Quote> q = TryPrice(request, stock, broker, inputs, params);
  if (!q) {
    std::fprintf(stderr, "pricing::engine::Price: %s\n", q.error().message.c_str());
    std::abort();
  }
  return *q;
}

std::string EncodeCachedRate(const CachedRate& cached) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(cached.fetched_at.time_since_epoch())
          .count();
  return cached.rate.ToString() + " " + std::to_string(ms);
}

std::optional<CachedRate> DecodeCachedRate(std::string_view text) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::optional<Decimal> rate = Decimal::Parse(text.substr(0, space));
  if (!rate) return std::nullopt;
  const std::string_view ms_text = text.substr(space + 1);
  int64_t ms = 0;
  const char* end = ms_text.data() + ms_text.size();
  const auto [ptr, ec] = std::from_chars(ms_text.data(), end, ms);
  if (ms_text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return CachedRate{*rate, std::chrono::system_clock::time_point(std::chrono::milliseconds(ms))};
}

bool IsUsableLenderRate(const Result<Decimal>& lender) {
  return lender.has_value() && IsValidBorrowRate(*lender);
}

Sourced<Decimal> ResolveBaseRate(const Result<Decimal>& lender,
                                 const std::optional<CachedRate>& last_good, const Stock& stock,
                                 std::chrono::system_clock::time_point now) {
  if (IsUsableLenderRate(lender)) return {*lender, Source::kLenderApi};
  if (last_good && IsValidBorrowRate(last_good->rate)) {
    const std::chrono::system_clock::duration age = now - last_good->fetched_at;
    if (age <= kMaxCachedRateAge && age >= -kMaxClockSkew) {
      return {last_good->rate, Source::kCache};
    }
  }
  return {stock.min_borrow_rate, Source::kFallback};
}

bool RowHasVolatility(const std::optional<VolatilityRow>& row) {
  return row && row->vol_index && IsValidVolatility(*row->vol_index);
}

Sourced<Decimal> ResolveVolatility(const std::optional<VolatilityRow>& row,
                                   const Result<Decimal>& market_vix, const PricingParams& params) {
  if (RowHasVolatility(row)) return {*row->vol_index, Source::kDb};
  if (market_vix && IsValidVolatility(*market_vix)) return {*market_vix, Source::kMarketApi};
  return {params.v0, Source::kFallback};
}

bool RowHasEventRisk(const std::optional<VolatilityRow>& row) {
  return row && row->event_risk_factor && IsValidEventRisk(*row->event_risk_factor);
}

Sourced<int> ResolveEventRisk(const std::optional<VolatilityRow>& row,
                              const Result<int>& events_api) {
  if (RowHasEventRisk(row)) return {*row->event_risk_factor, Source::kDb};
  if (events_api && IsValidEventRisk(*events_api)) return {*events_api, Source::kEventsApi};
  return {0, Source::kFallback};
}

}  // namespace pricing::engine
