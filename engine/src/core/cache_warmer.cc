#include "engine/cache_warmer.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "engine/activity.h"
#include "engine/pricing.h"
#include "engine/shared_cache.h"

namespace pricing::engine {

struct CacheWarmer::Entry {
  Kind kind;
  std::string name;  // ticker or client id
  std::string key;
  std::chrono::seconds ttl;
};

CacheWarmer::CacheWarmer(Deps deps, CacheWarmerOptions options)
    : deps_(std::move(deps)), options_(std::move(options)) {}

std::chrono::milliseconds CacheWarmer::RefreshAhead(std::chrono::seconds ttl) const {
  const std::chrono::milliseconds life = ttl;
  std::chrono::milliseconds ahead =
      std::max<std::chrono::milliseconds>(life / 10, 2 * options_.interval);
  return std::min(ahead, life / 2);
}

void CacheWarmer::Count(std::string_view op, int64_t n) const {
  if (deps_.count && n > 0) deps_.count(op, n);
}

Result<WarmReport> CacheWarmer::RunOnce(std::chrono::system_clock::time_point now) {
  WarmReport report;
  const auto since = now - options_.window;
  auto tickers = deps_.activity->Since(std::string(kActiveTickers), since);
  Count("get", 1);
  if (!tickers) return std::unexpected(tickers.error());
  auto clients = deps_.activity->Since(std::string(kActiveClients), since);
  Count("get", 1);
  if (!clients) return std::unexpected(clients.error());
  report.tickers = static_cast<int64_t>(tickers->size());
  report.clients = static_cast<int64_t>(clients->size());

  const CacheTtls& t = options_.ttls;
  std::vector<Entry> entries;
  entries.reserve(tickers->size() * 3 + clients->size());
  for (const std::string& ticker : *tickers) {
    entries.push_back({Kind::kRate, ticker, RateKey(ticker), t.borrow_rate});
    entries.push_back({Kind::kStock, ticker, StockKey(ticker), t.stock});
    entries.push_back({Kind::kVolatility, ticker, VolatilityKey(ticker), t.volatility});
  }
  for (const std::string& client : *clients) {
    entries.push_back({Kind::kBroker, client, BrokerKey(client), t.broker});
  }

  const size_t batch = std::max<size_t>(options_.probe_batch, 1);
  for (size_t first = 0; first < entries.size(); first += batch) {
    const size_t last = std::min(entries.size(), first + batch);
    std::vector<std::string> keys;
    keys.reserve(last - first);
    for (size_t i = first; i < last; ++i) keys.push_back(entries[i].key);
    auto left = deps_.expiry->TimeLeft(keys);
    Count("get", static_cast<int64_t>(keys.size()));
    if (!left || left->size() != keys.size()) {
      report.failed += static_cast<int64_t>(keys.size());
      continue;
    }
    for (size_t i = first; i < last; ++i) {
      const Entry& e = entries[i];
      const auto& remaining = (*left)[i - first];
      if (remaining && *remaining > RefreshAhead(e.ttl)) continue;
      ++report.due;
      auto claimed = deps_.expiry->Claim("warm:" + e.key, 2 * options_.interval);
      if (!claimed) {
        ++report.failed;
        continue;
      }
      if (!*claimed) {
        ++report.claimed_elsewhere;
        continue;
      }
      if (Refresh(e, now)) {
        ++report.refreshed;
        Count("refresh", 1);
      } else {
        ++report.failed;
      }
    }
  }
  return report;
}

Result<void> CacheWarmer::Refresh(const Entry& e, std::chrono::system_clock::time_point now) {
  const CacheTtls& t = options_.ttls;
  auto set = [&](const std::string& key, const std::string& value,
                 std::chrono::seconds ttl) -> Result<void> {
    Count("set", 1);
    return deps_.cache->Set(key, value, ttl);
  };
  switch (e.kind) {
    case Kind::kRate: {
      Result<Decimal> lender = deps_.market->LenderRate(e.name);
      // An unusable answer leaves the entries alone: the pricing service then
      // resolves the rate itself, with its fallbacks.
      if (!IsUsableLenderRate(lender)) {
        return Fail(ErrorCode::kServiceUnavailable,
                    lender ? "lender rate out of range" : lender.error().message);
      }
      const std::string text = EncodeCachedRate(CachedRate{*lender, now});
      if (auto ok = set(RateKey(e.name), text, t.borrow_rate); !ok) return ok;
      return set(LastRateKey(e.name), text, t.last_good_rate);
    }
    case Kind::kStock: {
      auto row = deps_.store->GetStock(e.name);
      if (!row) return std::unexpected(row.error());
      return set(e.key, EncodeStock(*row), *row ? t.stock : t.stock / 6);
    }
    case Kind::kVolatility: {
      auto row = deps_.store->GetVolatility(e.name);
      if (!row) return std::unexpected(row.error());
      return set(e.key, EncodeVolatility(*row), t.volatility);
    }
    case Kind::kBroker: {
      auto row = deps_.store->GetBroker(e.name);
      if (!row) return std::unexpected(row.error());
      return set(e.key, EncodeBroker(*row), *row ? t.broker : t.broker / 6);
    }
  }
  return {};
}

}  // namespace pricing::engine
