// The cache role's work: keep the shared cache's entries (shared_cache.h) of
// recently priced tickers and clients warm, so that new pods and the
// calculation role rarely miss. Each round reads the active names from the
// ActivityLog, asks how long each of their entries has left, and refreshes
// those that are absent or expire within RefreshAhead() from the data role's
// ReferenceStore and MarketData, writing exactly what the pricing service
// would have written. Several cache-role processes share the work: an entry
// is refreshed only by the one that claims it (CacheExpiry::Claim).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "engine/error.h"
#include "engine/ports.h"
#include "engine/service.h"

namespace pricing::engine {

struct CacheWarmerOptions {
  CacheTtls ttls;                    // the lifetimes the pricing service uses
  std::chrono::seconds interval{5};  // time between rounds; REQUIRES > 0
  std::chrono::seconds window{600};  // names priced this recently are active
  size_t probe_batch = 256;          // keys per CacheExpiry::TimeLeft call
};

struct WarmReport {
  int64_t tickers = 0;            // active tickers
  int64_t clients = 0;            // active clients
  int64_t due = 0;                // entries absent or about to expire
  int64_t refreshed = 0;          // entries written this round
  int64_t claimed_elsewhere = 0;  // due entries another process is refreshing
  int64_t failed = 0;             // due entries that could not be refreshed
};

class CacheWarmer {
 public:
  struct Deps {
    ActivityLog* activity = nullptr;  // required
    CacheExpiry* expiry = nullptr;    // required
    Cache* cache = nullptr;           // required
    ReferenceStore* store = nullptr;  // required
    MarketData* market = nullptr;     // required
    // Counts operations on the shared cache: ("get", n) reads, ("set", n)
    // writes, ("refresh", n) entries refreshed. Optional.
    std::function<void(std::string_view op, int64_t n)> count;
  };

  CacheWarmer(Deps deps, CacheWarmerOptions options);

  // Returns how long before its expiry an entry whose lifetime is `ttl` is
  // refreshed: a tenth of it, at least two rounds, at most half of it.
  std::chrono::milliseconds RefreshAhead(std::chrono::seconds ttl) const;

  // Runs one round at `now`. Fails only when the active names cannot be read;
  // failures of single entries are counted in the report.
  Result<WarmReport> RunOnce(std::chrono::system_clock::time_point now);

 private:
  enum class Kind { kRate, kStock, kVolatility, kBroker };
  struct Entry;

  Result<void> Refresh(const Entry& entry, std::chrono::system_clock::time_point now);
  void Count(std::string_view op, int64_t n) const;

  Deps deps_;
  CacheWarmerOptions options_;
};

}  // namespace pricing::engine
