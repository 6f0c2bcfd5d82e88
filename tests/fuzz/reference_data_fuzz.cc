// The reference-data YAML file (`pricing-engine seed FILE`, the in-memory
// store): whatever ParseReferenceData returns is safe to price with.
#include <set>
#include <string>

#include "engine/reference_data.h"
#include "engine/validation.h"
#include "fuzz_check.h"

namespace engine = pricing::engine;
using pricing::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parsed = engine::ParseReferenceData(pricing::fuzz::Text(data, size), "fuzz.yaml");
  if (!parsed) {
    Check(parsed.error().message.starts_with("fuzz.yaml"), "an error that does not name the file",
          parsed.error().message);
    return 0;
  }
  std::set<std::string> tickers;
  for (const auto& s : parsed->stocks) {
    Check(engine::IsValidTicker(s.ticker), "invalid ticker accepted", s.ticker);
    Check(tickers.insert(s.ticker).second, "repeated ticker accepted", s.ticker);
    Check(s.min_borrow_rate >= engine::Decimal() && s.min_borrow_rate <= engine::Decimal::FromInt(10),
          "min_borrow_rate out of range", s.min_borrow_rate.ToString());
  }
  std::set<std::string> clients;
  for (const auto& b : parsed->brokers) {
    Check(engine::IsValidClientId(b.client_id), "invalid client id accepted", b.client_id);
    Check(clients.insert(b.client_id).second, "repeated client id accepted", b.client_id);
    Check(b.day_count == 360 || b.day_count == 365, "day_count");
    Check(b.transaction_amount >= engine::Decimal(), "negative transaction_amount");
  }
  for (const auto& v : parsed->volatility) {
    Check(tickers.contains(v.ticker), "volatility row of an unknown ticker", v.ticker);
    if (v.event_risk_factor) {
      Check(*v.event_risk_factor >= 0 && *v.event_risk_factor <= 10, "event_risk_factor");
    }
  }
  for (const auto& k : parsed->api_keys) {
    Check(k.rate_limit_per_minute >= 1 && k.rate_limit_per_minute <= 1'000'000'000,
          "rate_limit_per_minute out of range");
    if (k.scope == engine::KeyScope::kClient) {
      Check(clients.contains(k.client_id), "client key of an unknown client", k.client_id);
    }
  }
  return 0;
}
