// In-process implementations of the engine's ports for the embedded mode (no
// database URL, no Redis URL), and the API-key hashing that every store and
// the authentication layer share.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/ports.h"

namespace pricing::engine {

// Returns the lowercase hex SHA-256 of `data` (64 characters): how API keys
// are stored and looked up (ApiKey::key_hash).
std::string Sha256Hex(std::string_view data);

// Reference data held in memory, loaded once from a ReferenceData (the
// embedded mode's --data file). API keys are hashed on load; the plain keys
// are not kept. A ticker, client id or key given twice keeps the last one, as
// the database seed's upsert would. Immutable after construction, so
// thread-safe; lookups never fail.
class MemoryReferenceStore : public ReferenceStore {
 public:
  explicit MemoryReferenceStore(const ReferenceData& data);

  Result<std::optional<Stock>> GetStock(const std::string& ticker) override;
  Result<std::optional<Broker>> GetBroker(const std::string& client_id) override;
  Result<std::optional<VolatilityRow>> GetVolatility(const std::string& ticker) override;
  Result<std::optional<ApiKey>> GetApiKeyByHash(const std::string& key_hash) override;
  Result<std::vector<Stock>> ListStocks(BorrowStatus status, int limit, int offset) override;
  Result<void> Ping() override;

 private:
  std::map<std::string, Stock> stocks_;  // ordered by ticker, for ListStocks
  std::unordered_map<std::string, Broker> brokers_;
  std::unordered_map<std::string, VolatilityRow> volatility_;
  std::unordered_map<std::string, ApiKey> api_keys_;  // by key_hash
};

// The fixed one-minute rate-limit window that contains `now`.
struct RateWindow {
  int64_t index = 0;          // minutes since the Unix epoch
  int64_t reset_seconds = 0;  // whole seconds until the window ends, 1..60
};
RateWindow RateWindowAt(std::chrono::system_clock::time_point now);

// A per-process fixed-window limiter: at most `limit_per_minute` grants per key
// in each calendar minute of `clock`. Used without Redis (each process then
// limits on its own, docs/design.md §2.3). Thread-safe; keys are spread over
// mutex-guarded shards, and entries of past windows are dropped as windows pass.
class LocalRateLimiter : public RateLimiter {
 public:
  // `clock` (not owned; the system clock when null) must outlive the limiter.
  explicit LocalRateLimiter(const Clock* clock = nullptr);

  RateDecision Take(const std::string& key_id, int64_t limit_per_minute) override;

 private:
  struct Counter {
    int64_t window = 0;
    int64_t used = 0;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Counter> counters;  // guarded by mu
    int64_t swept_window = 0;                           // guarded by mu
  };
  static constexpr size_t kShards = 16;

  const Clock* clock_;
  std::array<Shard, kShards> shards_;
};

}  // namespace pricing::engine
