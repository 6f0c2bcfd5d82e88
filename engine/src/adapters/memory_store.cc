#include "adapters/memory_store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <functional>
#include <memory>

#include "engine/json_text.h"

namespace pricing::engine {

std::string Sha256Hex(std::string_view data) {
  // One digest fetched once and one context per thread: EVP_Digest would
  // fetch the algorithm and allocate a context on every call (it runs on
  // every authenticated request; 284 -> 75 ns for a short key).
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // These fail only on allocation failure; an empty hash would then match no
  // stored key.
  if (sha256 == nullptr || ctx == nullptr ||
      EVP_DigestInit_ex(ctx.get(), sha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) {
    return {};
  }
  return HexText(digest, length);
}

// MemoryReferenceStore ------------------------------------------------------

MemoryReferenceStore::MemoryReferenceStore(const ReferenceData& data) {
  for (const Stock& s : data.stocks) stocks_[s.ticker] = s;
  for (const Broker& b : data.brokers) brokers_[b.client_id] = b;
  for (const VolatilityRow& v : data.volatility) volatility_[v.ticker] = v;
  for (const ApiKeySeed& k : data.api_keys) {
    ApiKey key{Sha256Hex(k.key), k.client_id, k.rate_limit_per_minute, k.scope};
    api_keys_[key.key_hash] = std::move(key);
  }
}

namespace {

template <typename Map>
std::optional<typename Map::mapped_type> Find(const Map& map, const std::string& key) {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

}  // namespace

Result<std::optional<Stock>> MemoryReferenceStore::GetStock(const std::string& ticker) {
  return Find(stocks_, ticker);
}

Result<std::optional<Broker>> MemoryReferenceStore::GetBroker(const std::string& client_id) {
  return Find(brokers_, client_id);
}

Result<std::optional<VolatilityRow>> MemoryReferenceStore::GetVolatility(
    const std::string& ticker) {
  return Find(volatility_, ticker);
}

Result<std::optional<ApiKey>> MemoryReferenceStore::GetApiKeyByHash(const std::string& key_hash) {
  return Find(api_keys_, key_hash);
}

Result<std::vector<Stock>> MemoryReferenceStore::ListStocks(BorrowStatus status, int limit,
                                                            int offset) {
  std::vector<Stock> out;
  int skipped = 0;
  for (const auto& [ticker, stock] : stocks_) {
    if (static_cast<int>(out.size()) >= limit) break;
    if (stock.borrow_status != status) continue;
    if (skipped < offset) {
      ++skipped;
      continue;
    }
    out.push_back(stock);
  }
  return out;
}

Result<void> MemoryReferenceStore::Ping() { return {}; }

// LocalRateLimiter -----------------------------------------------------------

RateWindow RateWindowAt(std::chrono::system_clock::time_point now) {
  using std::chrono::milliseconds;
  const int64_t ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  const int64_t minute_ms = 60'000;
  // Floor division, so instants before 1970 land in the right window too.
  int64_t index = ms / minute_ms;
  if (ms % minute_ms < 0) --index;
  const int64_t left_ms = (index + 1) * minute_ms - ms;  // 1..60000
  return RateWindow{index, (left_ms + 999) / 1000};
}

LocalRateLimiter::LocalRateLimiter(const Clock* clock) : clock_(clock) {}

RateDecision LocalRateLimiter::Take(const std::string& key_id, int64_t limit_per_minute) {
  const auto now = clock_ != nullptr ? clock_->Now() : std::chrono::system_clock::now();
  const RateWindow window = RateWindowAt(now);
  RateDecision d;
  d.limit = std::max<int64_t>(limit_per_minute, 0);
  d.reset_seconds = window.reset_seconds;

  Shard& shard = shards_[std::hash<std::string>{}(key_id) % kShards];
  std::lock_guard lock(shard.mu);
  if (shard.swept_window != window.index) {
    std::erase_if(shard.counters, [&](const auto& e) { return e.second.window != window.index; });
    shard.swept_window = window.index;
  }
  Counter& c = shard.counters[key_id];
  if (c.window != window.index) c = Counter{window.index, 0};
  if (c.used < d.limit) {
    ++c.used;
    d.allowed = true;
  }
  d.remaining = std::max<int64_t>(d.limit - c.used, 0);
  return d;
}

}  // namespace pricing::engine
