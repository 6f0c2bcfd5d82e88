// What the engine's roles (roles.h) share: the parts a role opens from its
// configuration (the reference store, Redis, the market APIs, the audit spool,
// clients of the other roles), the HTTP handlers of a PricingService and of a
// role without one, serving until the process is told to stop, and the stop
// of a process with an audit spool. A start-up failure ends the process with
// one line (Die).
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/audit_spool.h"
#include "adapters/http_client.h"
#include "adapters/http_server.h"
#include "common/log.h"
#include "adapters/market_http.h"
#include "adapters/metrics.h"
#include "adapters/pg_pool.h"
#include "adapters/redis_pool.h"
#include "engine/config.h"
#include "engine/error.h"
#include "engine/ports.h"
#include "engine/readiness.h"
#include "engine/service.h"

namespace pricing::engine {

// A ServiceObserver that records to `m`, which must outlive it.
class MetricsObserver : public ServiceObserver {
 public:
  explicit MetricsObserver(Metrics& m) : m_(m) {
    for (std::string_view stage : PricingService::WaitingStages()) m_.DeclareParkedStage(stage);
  }
  void CacheHit(std::string_view cache) override { m_.RecordCacheHit(cache); }
  void CacheMiss(std::string_view cache) override { m_.RecordCacheMiss(cache); }
  void Fallback(std::string_view input) override { m_.RecordFallback(input); }
  void RateLimited() override { m_.RecordRateLimitExceeded(); }
  void Stage(std::string_view stage, bool parked) override {
    if (parked) m_.RecordParked(stage);
  }
  void Calculated(std::chrono::nanoseconds took) override {
    m_.RecordCalculation(std::chrono::duration<double>(took).count());
  }

 private:
  Metrics& m_;
};

// Logs a failure at most once per `every`, so an outage of a dependency does
// not flood the log.
class ThrottledLog {
 public:
  explicit ThrottledLog(std::chrono::seconds every) : every_(every) {}
  void Warn(std::string_view msg, std::initializer_list<LogField> fields) {
    const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    int64_t last = last_.load(std::memory_order_relaxed);
    const int64_t every = std::chrono::steady_clock::duration(every_).count();
    if (last != 0 && now - last < every) return;
    if (!last_.compare_exchange_strong(last, now)) return;
    Log(LogLevel::kWarn, msg, fields);
  }

 private:
  const std::chrono::seconds every_;
  std::atomic<int64_t> last_{0};
};

// Returns the contents of the file at `path`, or kInvalidParameter naming it
// when it cannot be read.
Result<std::string> ReadFile(const std::string& path);

// Prints "pricing-engine: <line>" to stderr and exits with status 2: the
// one-line end of a process whose start-up configuration is bad.
[[noreturn]] void Die(const std::string& line);

// Tells the process to stop: every WaitForStop returns and every
// SleepUnlessStopped wakes. Thread-safe; called by the thread that handles
// SIGINT and SIGTERM.
void RequestStop();

// Returns once the process is told to stop (RequestStop).
void WaitForStop();

// Sleeps `d` or until the process is told to stop. Returns false on stop.
bool SleepUnlessStopped(std::chrono::milliseconds d);

// PostgreSQL (with migrations) when a database URL is set, else the embedded
// in-memory store from --data.
struct StoreParts {
  std::unique_ptr<PgPool> pg;
  std::unique_ptr<ReferenceStore> store;
};

// Returns a pool on cfg.database_url with the migrations applied (a failure
// to apply them is logged, not fatal), its gauges wired to `metrics`. Dies
// when the pool cannot be created.
std::unique_ptr<PgPool> OpenPostgres(const EngineConfig& cfg, Metrics& metrics);

// Returns the reference store of `cfg` (see StoreParts). Dies when neither a
// database URL nor a readable, valid --data file is given.
StoreParts OpenStore(const EngineConfig& cfg, Metrics& metrics);

// Redis: shared cache and rate limits; without it, in-process only.
struct RedisParts {
  std::unique_ptr<RedisPool> pool;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<RateLimiter> limiter;
};

// Returns Redis's cache and rate limiter when cfg.redis_url is set, else only
// an in-process rate limiter (no pool, no cache). Dies on a bad Redis URL.
RedisParts OpenRedis(const EngineConfig& cfg);

// Returns the reply ledger shared through Redis (nullptr without Redis). It
// must be destroyed after the audit sink, whose answers settle it, and
// before `redis`.
std::unique_ptr<ReplyLedger> OpenReplyLedger(const RedisParts& redis, Metrics& metrics);

// The external market APIs (all absent when their URLs are empty).
// Dies when they cannot be set up.
std::unique_ptr<HttpMarketData> OpenMarket(const EngineConfig& cfg, Metrics& metrics);

// Returns the audit directory (cfg.audit_dir, default "audit-spool"), created
// if missing. Dies when it cannot be created.
std::string AuditDir(const EngineConfig& cfg);

// Returns the audit spool in `audit_dir`/spool, draining to `sink`, its
// events and pending count wired to `metrics`, which must outlive it. Dies
// when the spool cannot be opened.
std::unique_ptr<AuditSpool> OpenSpool(const EngineConfig& cfg, const std::string& audit_dir,
                                      AuditBatchSink sink, Metrics& metrics);

// A client of another role. `loops` event loops, `timeout` per call.
// Dies when the client cannot be created.
std::unique_ptr<HttpClient> OpenRoleClient(const std::string& url, std::string name, int loops,
                                           std::chrono::milliseconds timeout);

// The HTTP handler of a PricingService: answered on the event loop when the
// service can, else on `blocking`.
HttpHandler ServiceHandler(PricingService& service, Metrics& metrics,
                           boost::asio::thread_pool& blocking);

// The readiness answer of a role without a PricingService, in the service's
// format (ReadinessOf).
using Check = ReadinessCheck;

ApiResponse ReadyResponse(const std::vector<Check>& checks, Staleness& stale,
                          std::string_view role);

// The HTTP handler of the data, cache and audit roles: probes and metrics,
// and the role's internal routes (`owns`/`handle`, run on `blocking`).
struct RoleRoutes {
  std::function<std::vector<Check>()> checks;  // readiness; may block
  std::function<bool(std::string_view path)> owns;
  std::function<ApiResponse(const ApiRequest&)> handle;  // may block
};

HttpHandler RoleHandler(RoleRoutes routes, std::string role, std::chrono::seconds stale_limit,
                        Metrics& metrics, boost::asio::thread_pool& blocking);

// Runs `handler` on an HTTP server until the process is told to stop;
// `serving` logs the start with the bound host:port. The stop is graceful:
// every request already read is answered first (HttpServer::Stop), while the
// audit spool and the blocking pool still run. Returns the stopped server: a
// response that missed the drain timeout (an audit commit, an upstream call)
// may still be delivered to it until the caller has closed what produces
// them, so it must outlive those.
std::unique_ptr<HttpServer> RunServer(
    const EngineConfig& cfg, HttpHandler handler, size_t body_limit,
    const std::function<void(const std::string& listen)>& serving);

// Serves kAuditBatchPath next to `inner` when the process has an internal
// token: a stopping peer hands over the audit records its store of record did
// not take, and each batch is answered once it is durable in `spool`, which
// delivers it as its own. Without a token the path is not served.
HttpHandler WithAuditIntake(const EngineConfig& cfg, HttpHandler inner, AuditSpool& spool,
                            Metrics& metrics, boost::asio::thread_pool& blocking);

// The end of a process with an audit spool: drains the spool to its store
// for up to 5 s, hands what is left to the peer, and logs what stays pending.
// With a peer to hand off to, the drain ends at the store's first failure: an
// outage would only delay the handoff.
void StopAuditSpool(const EngineConfig& cfg, AuditSpool& spool);

// Says at start when audit_handoff_url cannot be used.
void CheckAuditHandoff(const EngineConfig& cfg);

// Returns the readiness of Redis as a service's dependency_status reports it:
// "redis", reported and not required, when `redis` is set, else nothing.
std::vector<ReadinessCheck> RedisStatus(RedisPool* redis);

// The spool's disk as a required readiness check: a process that cannot
// make a price's audit record durable must not take prices.
ReadinessCheck SpoolCheck(const AuditSpool& spool);

// Returns the ServiceDeps every PricingService of the engine starts from:
// the given ports (none owned; each must outlive the service), SHA-256 key
// hashing, time-ordered request UUIDs, name-based UUIDs and `metrics` as the
// /metrics text.
ServiceDeps BaseDeps(ReferenceStore* store, Cache* cache, RateLimiter* limiter, MarketData* market,
                     AuditSink* audit, const Clock* clock, ServiceObserver* observer,
                     Metrics& metrics);

// Returns the ServiceOptions of `cfg`'s role: pricing parameters, the
// embedded OpenAPI document, the role's name and the stale limit.
ServiceOptions BaseOptions(const EngineConfig& cfg);

}  // namespace pricing::engine
