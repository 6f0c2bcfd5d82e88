// Reference data, market inputs and priced results: the engine's vocabulary
// (docs/design.md §2.1, §2.4). Plain values, no behaviour.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/decimal.h"

namespace pricing::engine {

enum class BorrowStatus { kEasy, kMedium, kHard };
enum class FeeType { kFlat, kPercentage };
enum class KeyScope { kClient, kInternal };

struct Stock {
  std::string ticker;
  BorrowStatus borrow_status = BorrowStatus::kEasy;
  Decimal min_borrow_rate;  // annual fraction
  std::string lender_api_id;
};

struct Broker {
  std::string client_id;
  Decimal markup_percentage;  // a percent: 5.0 = 5 %
  FeeType transaction_fee_type = FeeType::kFlat;
  Decimal transaction_amount;  // USD (FLAT) or percent of position (PERCENTAGE)
  int day_count = 365;         // 360 or 365
};

struct VolatilityRow {
  std::string ticker;
  std::optional<Decimal> vol_index;
  std::optional<int> event_risk_factor;  // 0..10
};

// An API key as stored: only the SHA-256 of the key, never the key.
struct ApiKey {
  std::string key_hash;  // lowercase hex SHA-256 of the key
  std::string client_id;
  int64_t rate_limit_per_minute = 0;
  KeyScope scope = KeyScope::kClient;
};

// An API key as written in the reference-data file: the plain key, hashed on load.
struct ApiKeySeed {
  std::string key;
  std::string client_id;
  int64_t rate_limit_per_minute = 0;
  KeyScope scope = KeyScope::kClient;
};

struct ReferenceData {
  std::vector<Stock> stocks;
  std::vector<Broker> brokers;
  std::vector<VolatilityRow> volatility;
  std::vector<ApiKeySeed> api_keys;
};

// A request to price a locate, validated (see validation.h).
struct LocateRequest {
  std::string ticker;  // upper-cased
  Decimal position_value;
  int loan_days = 0;
  std::string client_id;
};

// Where a market input came from. Wire names in SourceName().
enum class Source {
  kLenderApi,  // "lender_api"
  kCache,      // "cache": last good value from the lender API, <= 24 h old
  kFallback,   // "fallback": min_borrow_rate / default V0 / 0
  kDb,         // "db": the volatility row
  kMarketApi,  // "market_api"
  kEventsApi,  // "events_api"
};

template <typename T>
struct Sourced {
  T value{};
  Source source = Source::kFallback;
};

struct MarketInputs {
  Sourced<Decimal> base_rate;   // r_base
  Sourced<Decimal> volatility;  // V
  Sourced<int> event_risk;      // E
};

// Engine parameters of the formula (docs/design.md §2.1).
struct PricingParams {
  Decimal v0 = Decimal::FromRaw(20 * Decimal::kOne);    // V0 = 20
  Decimal f_v = Decimal::FromRaw(Decimal::kOne / 100);  // f_v = 0.01
  Decimal f_e = Decimal::FromRaw(Decimal::kOne / 20);   // f_e = 0.05
};

struct Quote {
  Decimal rate;              // r, full precision
  Decimal borrow_rate_used;  // r rounded half-up to 6 places
  Decimal borrow_cost;       // cents, half-up
  Decimal markup;            // cents, half-up
  Decimal transaction_fees;  // cents, half-up
  Decimal total_fee;         // sum of the three rounded components
  int day_count = 365;
};

// Wire names of the enums above, and their inverses. The parsers accept
// exactly the wire name (case-sensitive) and return nullopt otherwise.
std::string_view BorrowStatusName(BorrowStatus s);  // "EASY" | "MEDIUM" | "HARD"
std::optional<BorrowStatus> ParseBorrowStatus(std::string_view s);
std::string_view FeeTypeName(FeeType t);  // "FLAT" | "PERCENTAGE"
std::optional<FeeType> ParseFeeType(std::string_view s);
std::string_view KeyScopeName(KeyScope s);  // "client" | "internal"
std::optional<KeyScope> ParseKeyScope(std::string_view s);
std::string_view SourceName(Source s);  // see the comments of Source
std::optional<Source> ParseSource(std::string_view s);

}  // namespace pricing::engine
