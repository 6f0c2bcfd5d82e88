// The shared cache's entries (Redis) as the pricing service writes and reads
// them: their keys, and the text of reference rows. The cache role writes the
// same entries ahead of their expiry, so both must agree exactly.
//
//   key            value                                      TTL (CacheTtls)
//   stock:T        EncodeStock(row)                           stock (absent: stock / 6)
//   broker:C       EncodeBroker(row)                          broker (absent: broker / 6)
//   vol:T          EncodeVolatility(row)                      volatility
//   rate:T         EncodeCachedRate (pricing.h), fresh answer borrow_rate
//   rate_last:T    EncodeCachedRate, last good answer         last_good_rate
//
// Decimals travel as their exact text; "-" marks a row that does not exist
// (negative caching). The codecs are defined in service.cc.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/model.h"

namespace pricing::engine {

inline std::string StockKey(std::string_view ticker) { return "stock:" + std::string(ticker); }
inline std::string BrokerKey(std::string_view client_id) {
  return "broker:" + std::string(client_id);
}
inline std::string VolatilityKey(std::string_view ticker) { return "vol:" + std::string(ticker); }
inline std::string RateKey(std::string_view ticker) { return "rate:" + std::string(ticker); }
inline std::string LastRateKey(std::string_view ticker) {
  return "rate_last:" + std::string(ticker);
}

// Each Decode returns nullopt for text its Encode cannot have written, and an
// empty row for "-".
std::string EncodeStock(const std::optional<Stock>& s);
std::optional<std::optional<Stock>> DecodeStock(std::string_view text);
std::string EncodeBroker(const std::optional<Broker>& b);
std::optional<std::optional<Broker>> DecodeBroker(std::string_view text);
std::string EncodeVolatility(const std::optional<VolatilityRow>& v);
std::optional<std::optional<VolatilityRow>> DecodeVolatility(std::string_view text);

}  // namespace pricing::engine
