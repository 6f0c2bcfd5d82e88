// An in-memory ReferenceStore whose rows the test sets directly and whose
// every call can fail on demand (FaultInjector). Thread-safe.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/ports.h"
#include "fakes/fault_injector.h"

namespace pricing::engine::fakes {

class FakeReferenceStore : public ReferenceStore, public FaultInjector {
 public:
  void Put(Stock s) {
    std::lock_guard lock(mu_);
    stocks_[s.ticker] = std::move(s);
  }
  void Put(Broker b) {
    std::lock_guard lock(mu_);
    brokers_[b.client_id] = std::move(b);
  }
  void Put(VolatilityRow v) {
    std::lock_guard lock(mu_);
    volatility_[v.ticker] = std::move(v);
  }
  // Stores `k` under k.key_hash (the test hashes the key, e.g. with Sha256Hex).
  void Put(ApiKey k) {
    std::lock_guard lock(mu_);
    api_keys_[k.key_hash] = std::move(k);
  }
  void RemoveStock(const std::string& ticker) {
    std::lock_guard lock(mu_);
    stocks_.erase(ticker);
  }

  // Each method fails when FaultInjector says so (method names as declared:
  // "GetStock", "GetBroker", "GetVolatility", "GetApiKeyByHash", "ListStocks",
  // "Ping").
  Result<std::optional<Stock>> GetStock(const std::string& ticker) override {
    return Lookup("GetStock", stocks_, ticker);
  }
  Result<std::optional<Broker>> GetBroker(const std::string& client_id) override {
    return Lookup("GetBroker", brokers_, client_id);
  }
  Result<std::optional<VolatilityRow>> GetVolatility(const std::string& ticker) override {
    return Lookup("GetVolatility", volatility_, ticker);
  }
  Result<std::optional<ApiKey>> GetApiKeyByHash(const std::string& key_hash) override {
    return Lookup("GetApiKeyByHash", api_keys_, key_hash);
  }
  Result<std::vector<Stock>> ListStocks(BorrowStatus status, int limit, int offset) override {
    if (auto e = Check("ListStocks")) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    std::vector<Stock> out;
    int skipped = 0;
    for (const auto& [ticker, s] : stocks_) {
      if (static_cast<int>(out.size()) >= limit) break;
      if (s.borrow_status != status) continue;
      if (skipped++ < offset) continue;
      out.push_back(s);
    }
    return out;
  }
  Result<void> Ping() override {
    if (auto e = Check("Ping")) return std::unexpected(*e);
    return {};
  }

 private:
  template <typename Map>
  Result<std::optional<typename Map::mapped_type>> Lookup(std::string_view method, const Map& map,
                                                          const std::string& key) {
    if (auto e = Check(method)) return std::unexpected(*e);
    std::lock_guard lock(mu_);
    auto it = map.find(key);
    if (it == map.end()) return std::optional<typename Map::mapped_type>();
    return std::optional<typename Map::mapped_type>(it->second);
  }

  std::mutex mu_;
  std::map<std::string, Stock> stocks_;  // ordered by ticker, like the real stores
  std::map<std::string, Broker> brokers_;
  std::map<std::string, VolatilityRow> volatility_;
  std::map<std::string, ApiKey> api_keys_;
};

}  // namespace pricing::engine::fakes
