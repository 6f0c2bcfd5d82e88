// pricing-engine: the REST pricing service (DESIGN.md §2).
//
//   pricing-engine [serve] [flags]   serve prices (the default subcommand)
//   pricing-engine migrate [flags]   apply the database migrations and exit
//   pricing-engine seed FILE [flags] upsert a reference-data YAML file and exit
//
// `serve` runs one role (--role): `all` does everything in one process; the
// split roles are gateway (auth, rate limits, forwarding to calculation),
// calculation (pricing over the data role, Redis and the audit role), data
// (PostgreSQL and the external APIs behind an internal API), cache (keeps
// Redis warm for active tickers) and audit (audit batches into PostgreSQL).
//
// Configuration: flags > --config FILE.yaml > PRICING_* environment > defaults
// (`pricing-engine --help`). A bad value stops the process with one line.
// clang-format off
#include <utility>  // first: Boost.Asio headers pulled in by cpprestsdk need std::exchange
// clang-format on

#include <pplx/threadpool.h>
#include <signal.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "adapters/audit_spool.h"
#include "adapters/embedded_files.h"
#include "adapters/http_client.h"
#include "adapters/http_server.h"
#include "adapters/log.h"
#include "adapters/market_http.h"
#include "adapters/memory_store.h"
#include "adapters/metrics.h"
#include "adapters/pg_pool.h"
#include "adapters/pg_store.h"
#include "adapters/redis_activity.h"
#include "adapters/redis_pool.h"
#include "adapters/redis_store.h"
#include "adapters/role_clients.h"
#include "adapters/sql_migrations.h"
#include "adapters/thread_name.h"
#include "engine/activity.h"
#include "engine/cache_warmer.h"
#include "engine/config.h"
#include "engine/internal_api.h"
#include "engine/json_text.h"
#include "engine/reference_data.h"
#include "engine/service.h"
#include "engine/validation.h"

namespace pricing::engine {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

class SystemClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
};

class MetricsObserver : public ServiceObserver {
 public:
  explicit MetricsObserver(Metrics& m) : m_(m) {}
  void CacheHit(std::string_view cache) override { m_.RecordCacheHit(cache); }
  void CacheMiss(std::string_view cache) override { m_.RecordCacheMiss(cache); }
  void Fallback(std::string_view input) override { m_.RecordFallback(input); }
  void RateLimited() override { m_.RecordRateLimitExceeded(); }
  void Calculated(std::chrono::nanoseconds took) override {
    m_.RecordCalculation(std::chrono::duration<double>(took).count());
  }

 private:
  Metrics& m_;
};

// The gateway prices nothing: its service forwards every admitted request, so
// its audit sink is never reached.
class NoAuditSink : public AuditSink {
 public:
  void Append(AuditRecord, std::function<void(Result<void>)> done) override {
    done(Fail(ErrorCode::kServiceUnavailable, "this role keeps no audit trail"));
  }
  int64_t Pending() const override { return 0; }
};

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kInvalidParameter, path + ": cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

[[noreturn]] void Die(const std::string& line) {
  std::fprintf(stderr, "pricing-engine: %s\n", line.c_str());
  std::exit(2);
}

// The route template of a path, for metric labels (bounded cardinality).
std::string_view RouteOf(std::string_view path) {
  static constexpr std::string_view kFixed[] = {"/api/v1/calculate-locate",
                                                "/api/v1/market/volatility",
                                                "/api/v1/openapi.yaml",
                                                "/health/live",
                                                "/health/ready",
                                                "/metrics"};
  for (std::string_view r : kFixed) {
    if (path == r) return r;
  }
  if (path.starts_with("/api/v1/rates/status/")) return "/api/v1/rates/status/{status}";
  if (path.starts_with("/api/v1/rates/")) return "/api/v1/rates/{ticker}";
  if (std::string_view internal = InternalRouteOf(path); !internal.empty()) return internal;
  return "unmatched";
}

int Migrate(const EngineConfig& cfg) {
  if (cfg.database_url.empty())
    Die("migrate needs a database URL (PRICING_DATABASE_URL or --database-url)");
  auto pool = PgPool::Create(PgPoolOptions{cfg.database_url});
  if (!pool) Die("database: " + pool.error().message);
  auto applied = RunMigrations(**pool);
  if (!applied) Die("migrate: " + applied.error().message);
  Log(LogLevel::kInfo, "migrations applied", {{"applied", std::to_string(*applied)}});
  return 0;
}

int Seed(const EngineConfig& cfg) {
  if (cfg.positional.size() < 2) Die("usage: pricing-engine seed FILE");
  if (cfg.database_url.empty())
    Die("seed needs a database URL (PRICING_DATABASE_URL or --database-url)");
  const std::string& file = cfg.positional[1];
  auto text = ReadFile(file);
  if (!text) Die(text.error().message);
  auto data = ParseReferenceData(*text, file);
  if (!data) Die(data.error().message);
  auto pool = PgPool::Create(PgPoolOptions{cfg.database_url});
  if (!pool) Die("database: " + pool.error().message);
  if (auto m = RunMigrations(**pool); !m) Die("migrate: " + m.error().message);
  auto stats = SeedReferenceData(**pool, *data);
  if (!stats) Die("seed: " + stats.error().message);
  Log(LogLevel::kInfo, "reference data seeded",
      {{"file", file},
       {"stocks", std::to_string(data->stocks.size())},
       {"brokers", std::to_string(data->brokers.size())},
       {"volatility", std::to_string(data->volatility.size())},
       {"api_keys", std::to_string(data->api_keys.size())}});
  return 0;
}

std::mutex g_stop_mu;
std::condition_variable g_stop_cv;
bool g_stop = false;

void WaitForStop() {
  std::unique_lock lock(g_stop_mu);
  g_stop_cv.wait(lock, [] { return g_stop; });
}

// Sleeps `d` or until the process is told to stop. Returns false on stop.
bool SleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock lock(g_stop_mu);
  return !g_stop_cv.wait_for(lock, d, [] { return g_stop; });
}

int EventLoops(const EngineConfig& cfg) {
  return cfg.threads > 0 ? cfg.threads
                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// PostgreSQL (with migrations) when a database URL is set, else the embedded
// in-memory store from --data.
struct StoreParts {
  std::unique_ptr<PgPool> pg;
  std::unique_ptr<ReferenceStore> store;
};

std::unique_ptr<PgPool> OpenPostgres(const EngineConfig& cfg, Metrics& metrics) {
  auto pool = PgPool::Create(PgPoolOptions{cfg.database_url});
  if (!pool) Die("database: " + pool.error().message);
  std::unique_ptr<PgPool> pg = std::move(*pool);
  if (auto m = RunMigrations(*pg); !m) {
    // The database may be down at start; the engine still serves from cache
    // once it has data, and migrations run again on the next start.
    Log(LogLevel::kWarn, "migrations not applied at start", {{"error", m.error().message}});
  }
  PgPool* raw = pg.get();
  metrics.SetDbPoolSources([raw] { return static_cast<int64_t>(raw->InUse()); },
                           [raw] { return static_cast<int64_t>(raw->MaxSize()); });
  return pg;
}

StoreParts OpenStore(const EngineConfig& cfg, Metrics& metrics) {
  StoreParts out;
  if (!cfg.database_url.empty()) {
    out.pg = OpenPostgres(cfg, metrics);
    out.store = std::make_unique<PgReferenceStore>(*out.pg);
    return out;
  }
  if (cfg.data_file.empty()) {
    Die("no database URL and no --data FILE: the embedded store needs reference data");
  }
  auto text = ReadFile(cfg.data_file);
  if (!text) Die(text.error().message);
  auto data = ParseReferenceData(*text, cfg.data_file);
  if (!data) Die(data.error().message);
  out.store = std::make_unique<MemoryReferenceStore>(*data);
  Log(LogLevel::kInfo, "embedded mode: no database URL; serving reference data from memory",
      {{"data", cfg.data_file}});
  return out;
}

// Redis: shared cache and rate limits; without it, in-process only.
struct RedisParts {
  std::unique_ptr<RedisPool> pool;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<RateLimiter> limiter;
};

RedisParts OpenRedis(const EngineConfig& cfg) {
  RedisParts out;
  if (cfg.redis_url.empty()) {
    out.limiter = std::make_unique<LocalRateLimiter>();
    Log(LogLevel::kInfo, "no Redis URL: cache and rate limits are per process");
    return out;
  }
  auto pool = RedisPool::Create(RedisPoolOptions{cfg.redis_url});
  if (!pool) Die("redis: " + pool.error().message);
  out.pool = std::move(*pool);
  out.cache = std::make_unique<RedisCache>(*out.pool);
  out.limiter = std::make_unique<RedisRateLimiter>(*out.pool);
  return out;
}

// The external market APIs (all absent when their URLs are empty).
std::unique_ptr<HttpMarketData> OpenMarket(const EngineConfig& cfg, Metrics& metrics) {
  HttpMarketDataOptions mopts;
  mopts.lender_url = cfg.lender_api_url;
  mopts.market_url = cfg.market_api_url;
  mopts.events_url = cfg.events_api_url;
  mopts.timeout = cfg.api_timeout;
  MarketDataObservers observers;
  observers.on_request = [&metrics](MarketApi api, ApiOutcome outcome) {
    metrics.RecordExternalApi(MarketApiName(api), ApiOutcomeName(outcome));
  };
  observers.on_breaker = [](MarketApi api, BreakerState from, BreakerState to) {
    Log(LogLevel::kWarn, "circuit breaker changed state",
        {{"api", MarketApiName(api)},
         {"from", BreakerStateName(from)},
         {"to", BreakerStateName(to)}});
  };
  auto market = HttpMarketData::Create(mopts, observers);
  if (!market) Die("market data: " + market.error().message);
  return std::move(*market);
}

std::string AuditDir(const EngineConfig& cfg) {
  std::string dir = cfg.audit_dir.empty() ? std::string("audit-spool") : cfg.audit_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) Die("audit directory " + dir + ": " + ec.message());
  return dir;
}

std::unique_ptr<AuditSpool> OpenSpool(const EngineConfig& cfg, const std::string& audit_dir,
                                      AuditBatchSink sink, Metrics& metrics) {
  AuditSpoolOptions aopts;
  aopts.directory = audit_dir + "/spool";
  aopts.fsync = cfg.audit_fsync;
  aopts.log = [](std::string_view m) { Log(LogLevel::kWarn, m, {{"component", "audit"}}); };
  aopts.on_sync = [&metrics](std::chrono::nanoseconds took) {
    metrics.RecordAuditSync(std::chrono::duration<double>(took).count());
  };
  aopts.on_dead_letter = [&metrics] { metrics.RecordAuditDeadLetter(); };
  aopts.on_damage = [&metrics](int64_t bytes) { metrics.RecordAuditDamage(bytes); };
  auto spool = AuditSpool::Open(aopts, std::move(sink));
  if (!spool) Die("audit spool: " + spool.error().message);
  AuditSpool* raw = spool->get();
  metrics.SetAuditPendingSource([raw] { return raw->Pending(); });
  return std::move(*spool);
}

// A client of another role. `loops` event loops, `timeout` per call.
std::unique_ptr<HttpClient> OpenRoleClient(const std::string& url, std::string name, int loops,
                                           std::chrono::milliseconds timeout) {
  HttpClientOptions o;
  o.base_url = url;
  o.name = std::move(name);
  o.threads = loops;
  o.timeout = timeout;
  auto client = HttpClient::Create(std::move(o));
  if (!client) Die(client.error().message);
  return std::move(*client);
}

std::string ServerErrorBody(int status, std::string_view code, std::string_view message) {
  (void)status;
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("status").String("error").Key("error").BeginObject();
  w.Key("code").String(code).Key("message").String(message);
  if (code == "PAYLOAD_TOO_LARGE") w.Key("field").String("body");
  w.EndObject().EndObject();
  return out;
}

std::shared_ptr<ApiRequest> ToApiRequest(HttpRequest&& http) {
  auto req = std::make_shared<ApiRequest>();
  req->method = std::move(http.method);
  req->path = std::move(http.path);
  req->query = std::move(http.query);
  req->headers = std::move(http.headers);
  req->body = std::move(http.body);
  // Present but empty is refused too: the contract allows 1-128 characters.
  bool rid_present = false;
  std::string_view rid;
  for (const auto& [name, value] : req->headers) {
    if (name == "x-request-id") {
      rid_present = true;
      rid = value;
      break;
    }
  }
  req->request_id_refused = rid_present && !IsValidRequestId(rid);
  req->request_id = rid.empty() || req->request_id_refused ? NewUuid() : std::string(rid);
  req->request_id_given = !rid.empty() && !req->request_id_refused;
  return req;
}

// The method label of http_requests_total: the routes' methods or "other",
// so a client cannot mint series by inventing methods.
std::string_view MethodLabel(std::string_view method) {
  for (std::string_view m : {"GET", "HEAD", "POST"}) {
    if (method == m) return m;
  }
  return "other";
}

// Returns the function that answers `req`: it records the request's metrics,
// logs server errors and hands the response to the HTTP server.
std::function<void(ApiResponse)> Responding(Metrics& metrics, std::shared_ptr<ApiRequest> req,
                                            Responder respond) {
  auto started = std::chrono::steady_clock::now();
  return [&metrics, req = std::move(req), started, respond = std::move(respond)](ApiResponse r) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics.RecordHttpRequest(MethodLabel(req->method), RouteOf(req->path), r.status, secs);
    if (r.status >= 500) {
      Log(LogLevel::kError, "request failed",
          {{"method", req->method},
           {"path", req->path},
           {"status", std::to_string(r.status)},
           {"request_id", req->request_id},
           {"body", r.body}});
    }
    HttpResponse out;
    out.status = r.status;
    out.body = std::move(r.body);
    out.content_type = std::move(r.content_type);
    out.headers = std::move(r.headers);
    out.headers.emplace_back("X-Request-Id", req->request_id);
    respond(std::move(out));
  };
}

// A request as every handler takes it: its ApiRequest and the function that
// answers it (metrics recorded). An X-Request-Id that could not be stored as
// it is (DESIGN.md §2.3: it reaches the audit record, and a price answered 200
// must never be refused by the store afterwards) is answered 400 naming the
// header here, and `req` is null.
struct Received {
  std::shared_ptr<ApiRequest> req;
  std::function<void(ApiResponse)> done;
};
Received Receive(HttpRequest&& http, Responder respond, Metrics& metrics) {
  auto req = ToApiRequest(std::move(http));
  auto done = Responding(metrics, req, std::move(respond));
  if (!req->request_id_refused) return {std::move(req), std::move(done)};
  done(PricingService::ErrorResponse(
      Error{ErrorCode::kInvalidParameter,
            "X-Request-Id must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
            "X-Request-Id"}));
  return {};
}

// The HTTP handler of a PricingService: answered on the event loop when the
// service can, else on `blocking`.
HttpHandler ServiceHandler(PricingService& service, Metrics& metrics,
                           boost::asio::thread_pool& blocking) {
  return [&service, &metrics, &blocking](HttpRequest&& http, Responder respond) {
    auto [req, done] = Receive(std::move(http), std::move(respond), metrics);
    if (!req) return;
    if (service.Handle(*req, done, /*may_block=*/false)) return;
    boost::asio::post(blocking, [&service, req, done = std::move(done)]() mutable {
      service.Handle(*req, std::move(done), /*may_block=*/true);
    });
  };
}

// The readiness answer of a role without a PricingService, in the service's
// format (ReadinessOf).
using Check = ReadinessCheck;

ApiResponse ReadyResponse(const std::vector<Check>& checks, Staleness& stale,
                          std::string_view role) {
  ReadinessAnswer a = ReadinessOf(checks, stale, std::chrono::system_clock::now(), role);
  ApiResponse r;
  r.status = a.status;
  r.body = std::move(a.body);
  return r;
}

// The HTTP handler of the data, cache and audit roles: probes and metrics,
// and the role's internal routes (`owns`/`handle`, run on `blocking`).
struct RoleRoutes {
  std::function<std::vector<Check>()> checks;  // readiness; may block
  std::function<bool(std::string_view path)> owns;
  std::function<ApiResponse(const ApiRequest&)> handle;  // may block
};

HttpHandler RoleHandler(RoleRoutes routes, std::string role, std::chrono::seconds stale_limit,
                        Metrics& metrics, boost::asio::thread_pool& blocking) {
  auto shared = std::make_shared<RoleRoutes>(std::move(routes));
  auto stale = std::make_shared<Staleness>(stale_limit);  // for the checks that may be stale
  return [shared, stale, role = std::move(role), &metrics, &blocking](HttpRequest&& http,
                                                                      Responder respond) {
    auto [req, done] = Receive(std::move(http), std::move(respond), metrics);
    if (!req) return;
    const std::string& path = req->path;
    const bool probe = path == "/health/live" || path == "/health/ready" || path == "/metrics";
    if (probe && req->method != "GET" && req->method != "HEAD") {
      auto r = PricingService::ErrorResponse(
          Error{ErrorCode::kMethodNotAllowed, req->method + " is not allowed on " + path, ""});
      r.headers.emplace_back("Allow", "GET");
      return done(std::move(r));
    }
    if (path == "/health/live") {
      ApiResponse r;
      r.body = R"({"status":"ok"})";
      return done(std::move(r));
    }
    if (path == "/metrics") {
      ApiResponse r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = metrics.Serialize();
      return done(std::move(r));
    }
    if (path == "/health/ready") {
      boost::asio::post(blocking, [shared, stale, role, done = std::move(done)] {
        done(ReadyResponse(shared->checks(), *stale, role));
      });
      return;
    }
    if (shared->owns && shared->owns(path)) {
      boost::asio::post(blocking,
                        [shared, req, done = std::move(done)] { done(shared->handle(*req)); });
      return;
    }
    done(PricingService::ErrorResponse(Error{ErrorCode::kNotFound, "no route for " + path, ""}));
  };
}

// Runs `handler` on an HTTP server until the process is told to stop;
// `serving` logs the start with the bound host:port. The stop is graceful:
// every request already read is answered first (HttpServer::Stop), while the
// audit spool and the blocking pool still run. Returns the stopped server: a
// response that missed the drain timeout (an audit commit, an upstream call)
// may still be delivered to it until the caller has closed what produces
// them, so it must outlive those.
std::unique_ptr<HttpServer> RunServer(
    const EngineConfig& cfg, HttpHandler handler, size_t body_limit,
    const std::function<void(const std::string& listen)>& serving) {
  HttpServerOptions hopts;
  hopts.host = cfg.listen_host;
  hopts.port = cfg.listen_port;
  hopts.threads = cfg.threads;
  hopts.body_limit = body_limit;
  hopts.max_connections = cfg.max_connections;
  auto server = std::make_unique<HttpServer>(hopts, std::move(handler), ServerErrorBody);
  if (std::string err = server->Start(); !err.empty()) Die(err);
  serving(cfg.listen_host + ":" + std::to_string(server->port()));
  WaitForStop();
  Log(LogLevel::kInfo, "shutting down");
  server->Stop();
  return server;
}

// How long a stopping engine tries to hand its undelivered audit records to a
// peer. With the pod's preStop sleep (5 s), the server's drain (up to 10 s)
// and the spool's own drain (5 s), it ends inside the operator's 40 s grace
// period.
constexpr std::chrono::seconds kAuditHandoffTimeout{10};
// The largest body of a handoff request: under the default body_limit
// (64 KiB) of the peer that takes it.
constexpr size_t kAuditHandoffBodyBytes = 32u << 10;

// Appends `batch` to `spool` and waits until every record is durable there.
Result<void> SpoolBatch(AuditSink& spool, const std::vector<AuditRecord>& batch,
                        std::chrono::milliseconds timeout) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
    std::optional<Error> error;
  };
  auto wait = std::make_shared<Wait>();
  wait->left = batch.size();
  for (const AuditRecord& record : batch) {
    spool.Append(record, [wait](Result<void> durable) {
      std::lock_guard lock(wait->mu);
      if (!durable && !wait->error) wait->error = durable.error();
      if (--wait->left == 0) wait->cv.notify_all();
    });
  }
  std::unique_lock lock(wait->mu);
  if (!wait->cv.wait_for(lock, timeout, [&] { return wait->left == 0; })) {
    return Fail(ErrorCode::kServiceUnavailable, "audit spool: records not durable in time");
  }
  if (wait->error) return Fail(ErrorCode::kServiceUnavailable, wait->error->message);
  return {};
}

// Serves kAuditBatchPath next to `inner` when the process has an internal
// token: a stopping peer hands over the audit records its store of record did
// not take, and each batch is answered once it is durable in `spool`, which
// delivers it as its own. Without a token the path is not served.
HttpHandler WithAuditIntake(const EngineConfig& cfg, HttpHandler inner, AuditSpool& spool,
                            Metrics& metrics, boost::asio::thread_pool& blocking) {
  if (cfg.internal_token.empty()) return inner;
  auto intake = std::make_shared<AuditApi>(
      [](std::string_view line) { return ParseAuditRecord(line); },
      [&spool, timeout = cfg.internal_timeout](const std::vector<AuditRecord>& batch) {
        return SpoolBatch(spool, batch, timeout);
      },
      cfg.internal_token);
  return [inner = std::move(inner), intake, &metrics, &blocking](HttpRequest&& http,
                                                                 Responder respond) {
    if (http.path != kAuditBatchPath) return inner(std::move(http), std::move(respond));
    auto [req, done] = Receive(std::move(http), std::move(respond), metrics);
    if (!req) return;
    boost::asio::post(blocking,
                      [intake, req, done = std::move(done)] { done(intake->Handle(*req)); });
  };
}

// Whether a stopping process has a peer to hand its audit records to.
bool CanHandOffAudit(const EngineConfig& cfg) {
  return !cfg.audit_handoff_url.empty() && !cfg.internal_token.empty();
}

// After the spool's own drain: hands the records still pending to the peer at
// audit_handoff_url, so that a pod deleted while its store of record is away
// takes none with it. What the peer does not take stays in the spool.
void HandOffAudit(const EngineConfig& cfg, AuditSpool& spool) {
  const int64_t pending = spool.Pending();
  if (pending == 0 || !CanHandOffAudit(cfg)) return;
  auto client = OpenRoleClient(cfg.audit_handoff_url, "audit-handoff", 1, cfg.internal_timeout);
  const int64_t taken = spool.HandOff(
      RemoteAuditSink(*client, cfg.internal_token, kAuditHandoffBodyBytes), kAuditHandoffTimeout);
  client->Close();
  Log(taken == pending ? LogLevel::kInfo : LogLevel::kWarn, "audit records handed off",
      {{"to", cfg.audit_handoff_url},
       {"records", std::to_string(taken)},
       {"audit_pending", std::to_string(spool.Pending())}});
}

// The end of a process with an audit spool: drains the spool to its store
// for up to 5 s, hands what is left to the peer, and logs what stays pending.
// With a peer to hand off to, the drain ends at the store's first failure: an
// outage would only delay the handoff.
void StopAuditSpool(const EngineConfig& cfg, AuditSpool& spool) {
  spool.Close(std::chrono::seconds(5), /*until_sink_fails=*/CanHandOffAudit(cfg));
  HandOffAudit(cfg, spool);
  Log(LogLevel::kInfo, "stopped", {{"audit_pending", std::to_string(spool.Pending())}});
}

// Says at start when audit_handoff_url cannot be used.
void CheckAuditHandoff(const EngineConfig& cfg) {
  if (!cfg.audit_handoff_url.empty() && cfg.internal_token.empty()) {
    Log(LogLevel::kWarn, "audit handoff off: audit_handoff_url needs internal_token",
        {{"audit_handoff_url", cfg.audit_handoff_url}});
  }
}

std::vector<std::pair<std::string, bool>> RedisStatus(RedisPool* redis) {
  std::vector<std::pair<std::string, bool>> out;
  if (redis) out.emplace_back("redis", redis->Ping().has_value());
  return out;
}

ServiceDeps BaseDeps(ReferenceStore* store, Cache* cache, RateLimiter* limiter, MarketData* market,
                     AuditSink* audit, const Clock* clock, ServiceObserver* observer,
                     Metrics& metrics) {
  ServiceDeps deps;
  deps.store = store;
  deps.cache = cache;
  deps.limiter = limiter;
  deps.market = market;
  deps.audit = audit;
  deps.clock = clock;
  deps.observer = observer;
  deps.hash_key = [](std::string_view key) { return Sha256Hex(key); };
  deps.new_uuid = [] { return NewTimeOrderedUuid(); };
  deps.name_uuid = [](std::string_view name) {
    // RFC 9562 version 8 (custom): the first 128 bits of SHA-256(name).
    std::string h = Sha256Hex(name).substr(0, 32);
    h[12] = '8';
    h[16] = "89ab"[std::stoi(std::string(1, h[16]), nullptr, 16) & 3];
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20);
  };
  deps.metrics_text = [&metrics] { return metrics.Serialize(); };
  return deps;
}

ServiceOptions BaseOptions(const EngineConfig& cfg) {
  ServiceOptions sopts;
  sopts.params = cfg.params;
  sopts.openapi_yaml = std::string(EmbeddedOpenApi());
  sopts.role = std::string(RoleName(cfg.role));
  sopts.stale_limit = cfg.stale_limit;
  return sopts;
}

// --role all: everything in one process.
int ServeAll(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;
  StoreParts store = OpenStore(cfg, metrics);
  RedisParts redis = OpenRedis(cfg);
  auto market = OpenMarket(cfg, metrics);

  // Audit: local spool, drained to PostgreSQL (or to a local JSONL file).
  const std::string audit_dir = AuditDir(cfg);
  std::unique_ptr<FileAuditStore> file_audit;
  AuditBatchSink sink;
  if (store.pg) {
    PgPool* raw = store.pg.get();
    sink = [raw](const std::vector<AuditRecord>& batch) { return InsertAuditBatch(*raw, batch); };
  } else {
    auto f = FileAuditStore::Open(audit_dir + "/audit-log.jsonl");
    if (!f) Die("audit: " + f.error().message);
    file_audit = std::move(*f);
    FileAuditStore* raw = file_audit.get();
    sink = [raw](const std::vector<AuditRecord>& batch) { return raw->InsertBatch(batch); };
    Log(LogLevel::kInfo, "embedded mode: audit records go to a local file",
        {{"file", audit_dir + "/audit-log.jsonl"}});
  }
  auto spool = OpenSpool(cfg, audit_dir, std::move(sink), metrics);

  MetricsObserver observer(metrics);
  ServiceDeps deps = BaseDeps(store.store.get(), redis.cache.get(), redis.limiter.get(),
                              market.get(), spool.get(), &clock, &observer, metrics);
  RedisPool* redis_raw = redis.pool.get();
  deps.dependency_status = [redis_raw] { return RedisStatus(redis_raw); };
  PricingService service(deps, BaseOptions(cfg));

  // Requests that would block run here, never on an event loop.
  NamedThreadPool blocking(16, "blocking");
  CheckAuditHandoff(cfg);
  auto server = RunServer(cfg,
                          WithAuditIntake(cfg, ServiceHandler(service, metrics, blocking), *spool,
                                          metrics, blocking),
                          cfg.body_limit, [&](const std::string& listen) {
                            Log(LogLevel::kInfo, "serving",
                                {{"listen", listen},
                                 {"role", RoleName(cfg.role)},
                                 {"store", store.pg ? "postgresql" : "memory"},
                                 {"cache", redis.pool ? "redis" : "process"}});
                          });
  blocking.join();
  StopAuditSpool(cfg, *spool);
  return 0;
}

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

// --role gateway: authenticates and rate-limits, then forwards to calculation.
int ServeGateway(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;
  const int loops = EventLoops(cfg);
  auto data = OpenRoleClient(cfg.data_url, "data", 1, cfg.internal_timeout);
  // One client loop per server loop: measured faster than a single loop.
  auto calculation =
      OpenRoleClient(cfg.calculation_url, "calculation", loops, cfg.upstream_timeout);
  RemoteReferenceStore store(*data, cfg.internal_token);
  RedisParts redis = OpenRedis(cfg);
  HttpMarketDataOptions no_apis;
  auto market = HttpMarketData::Create(no_apis);
  if (!market) Die("market data: " + market.error().message);
  NoAuditSink no_audit;
  MetricsObserver observer(metrics);
  // Keys are cached in-process only, so the gateway needs no shared cache.
  ServiceDeps deps = BaseDeps(&store, nullptr, redis.limiter.get(), market->get(), &no_audit,
                              &clock, &observer, metrics);
  RedisPool* redis_raw = redis.pool.get();
  HttpClient* calc = calculation.get();
  const std::string token = cfg.internal_token;
  deps.dependency_status = [redis_raw, calc, token] {
    auto out = RedisStatus(redis_raw);
    // Reported, not required: while calculation is away the gateway stays in
    // service and answers 503 itself, rather than vanishing from the Service.
    out.emplace_back("calculation", ProbeRole(*calc, "/health/live", token).has_value());
    return out;
  };
  auto upstream_log = std::make_shared<ThrottledLog>(std::chrono::seconds(5));
  deps.forward = [calc, token, upstream_log](const ApiRequest& req, const ApiKey& key,
                                             Headers rate_headers,
                                             std::function<void(ApiResponse)> done) {
    HttpClientRequest up;
    up.method = req.method;
    up.target = TargetWithQuery(req.path, req.query);
    up.headers = ForwardHeaders(req, key, token);
    up.body = req.body;
    calc->Send(std::move(up), [rate_headers = std::move(rate_headers), done = std::move(done),
                               upstream_log](Result<HttpClientResponse> r) mutable {
      ApiResponse out;
      if (!r || r->status == 401) {
        // 401 from calculation means it refused the gateway's token (a
        // misconfiguration), not the client's key.
        const std::string detail = r ? "calculation refused the internal token" : r.error().message;
        upstream_log->Warn("calculation unavailable", {{"error", detail}});
        out = PricingService::ErrorResponse(
            Error{ErrorCode::kServiceUnavailable,
                  "the calculation service is unavailable; retry later", ""});
      } else {
        out.status = r->status;
        out.body = std::move(r->body);
        if (std::string_view ct = r->Header("content-type"); !ct.empty()) out.content_type = ct;
        for (auto& [name, value] : r->headers) {
          if (IsForwardedResponseHeader(name)) out.headers.emplace_back(name, std::move(value));
        }
      }
      out.headers.insert(out.headers.end(), std::make_move_iterator(rate_headers.begin()),
                         std::make_move_iterator(rate_headers.end()));
      done(std::move(out));
    });
  };
  PricingService service(deps, BaseOptions(cfg));

  NamedThreadPool blocking(16, "blocking");
  auto server = RunServer(cfg, ServiceHandler(service, metrics, blocking), cfg.body_limit,
                          [&](const std::string& listen) {
                            Log(LogLevel::kInfo, "serving",
                                {{"listen", listen},
                                 {"role", RoleName(cfg.role)},
                                 {"calculation", cfg.calculation_url},
                                 {"data", cfg.data_url},
                                 {"rate_limits", redis.pool ? "redis" : "process"}});
                          });
  blocking.join();
  calculation->Close();
  data->Close();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

// --role calculation: prices over the data role, Redis and the audit role.
int ServeCalculation(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;
  auto data = OpenRoleClient(cfg.data_url, "data", 1, cfg.internal_timeout);
  auto audit_client = OpenRoleClient(cfg.audit_url, "audit", 1, cfg.internal_timeout);
  RemoteReferenceStore store(*data, cfg.internal_token);
  RemoteMarketData market(*data, cfg.internal_token);
  RedisParts redis = OpenRedis(cfg);

  // Audit: local spool (durable before a price is answered), drained to the
  // audit role.
  const std::string audit_dir = AuditDir(cfg);
  auto spool =
      OpenSpool(cfg, audit_dir, RemoteAuditSink(*audit_client, cfg.internal_token), metrics);

  // Active tickers and clients, for the cache role.
  ActivityTracker tracker(cfg.active_record_interval);
  ActivityRecordingSink recording(spool.get(), &tracker);
  std::unique_ptr<RedisActivityLog> activity;
  std::thread flusher;
  if (redis.pool) {
    activity = std::make_unique<RedisActivityLog>(*redis.pool);
    flusher = std::thread([&tracker, &clock, log = activity.get()] {
      NameThisThread("activity-flush");
      ThrottledLog failures(std::chrono::seconds(60));
      while (SleepUnlessStopped(std::chrono::seconds(1))) {
        if (auto ok = tracker.Flush(*log, clock.Now()); !ok) {
          failures.Warn("active tickers not recorded", {{"error", ok.error().message}});
        }
      }
    });
  }

  MetricsObserver observer(metrics);
  AuditSink* sink = activity ? static_cast<AuditSink*>(&recording) : spool.get();
  ServiceDeps deps = BaseDeps(&store, redis.cache.get(), redis.limiter.get(), &market, sink, &clock,
                              &observer, metrics);
  if (activity) {
    deps.rate_read = [&tracker, &clock](const std::string& ticker) {
      tracker.Note(kActiveTickers, ticker, clock.Now());
    };
  }
  RedisPool* redis_raw = redis.pool.get();
  HttpClient* audit_raw = audit_client.get();
  const std::string token = cfg.internal_token;
  deps.dependency_status = [redis_raw, audit_raw, token] {
    auto out = RedisStatus(redis_raw);
    // Reported, not required: the spool holds records while audit is away.
    out.emplace_back("audit", ProbeRole(*audit_raw, "/health/ready", token).has_value());
    return out;
  };
  ServiceOptions sopts = BaseOptions(cfg);
  sopts.internal_token = cfg.internal_token;
  PricingService service(deps, sopts);

  NamedThreadPool blocking(16, "blocking");
  CheckAuditHandoff(cfg);
  auto server = RunServer(cfg,
                          WithAuditIntake(cfg, ServiceHandler(service, metrics, blocking), *spool,
                                          metrics, blocking),
                          cfg.body_limit, [&](const std::string& listen) {
                            Log(LogLevel::kInfo, "serving",
                                {{"listen", listen},
                                 {"role", RoleName(cfg.role)},
                                 {"data", cfg.data_url},
                                 {"audit", cfg.audit_url},
                                 {"cache", redis.pool ? "redis" : "process"}});
                          });
  blocking.join();
  if (flusher.joinable()) flusher.join();
  if (activity) (void)tracker.Flush(*activity, clock.Now());
  StopAuditSpool(cfg, *spool);
  audit_client->Close();
  data->Close();
  return 0;
}

// --role data: PostgreSQL and the external APIs behind the internal API.
int ServeData(const EngineConfig& cfg) {
  Metrics metrics;
  StoreParts store = OpenStore(cfg, metrics);
  auto market = OpenMarket(cfg, metrics);
  auto api = std::make_shared<DataApi>(store.store.get(), market.get(), cfg.internal_token);
  ReferenceStore* raw = store.store.get();
  RoleRoutes routes;
  routes.checks = [raw] {
    // Its callers cache what it served them, so an outage is degraded first.
    return std::vector<Check>{{"reference_store", raw->Ping().has_value(), true, true}};
  };
  routes.owns = [](std::string_view path) { return DataApi::Owns(path); };
  routes.handle = [api](const ApiRequest& req) { return api->Handle(req); };
  NamedThreadPool blocking(16, "blocking");
  auto server =
      RunServer(cfg, RoleHandler(std::move(routes), "data", cfg.stale_limit, metrics, blocking),
                cfg.body_limit, [&](const std::string& listen) {
                  Log(LogLevel::kInfo, "serving",
                      {{"listen", listen},
                       {"role", RoleName(cfg.role)},
                       {"store", store.pg ? "postgresql" : "memory"}});
                });
  blocking.join();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

// --role cache: keeps the shared cache's entries of active tickers warm.
int ServeCache(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;
  auto data = OpenRoleClient(cfg.data_url, "data", 1, cfg.internal_timeout);
  RemoteReferenceStore store(*data, cfg.internal_token);
  RemoteMarketData market(*data, cfg.internal_token);
  RedisParts redis = OpenRedis(cfg);
  RedisActivityLog activity(*redis.pool);
  RedisCacheExpiry expiry(*redis.pool);

  CacheWarmer::Deps wdeps;
  wdeps.activity = &activity;
  wdeps.expiry = &expiry;
  wdeps.cache = redis.cache.get();
  wdeps.store = &store;
  wdeps.market = &market;
  wdeps.count = [&metrics](std::string_view op, int64_t n) { metrics.RecordCacheOperation(op, n); };
  CacheWarmerOptions wopts;
  wopts.interval = cfg.cache_refresh_interval;
  wopts.window = cfg.active_window;
  CacheWarmer warmer(wdeps, wopts);
  std::thread worker([&warmer, &clock, interval = cfg.cache_refresh_interval] {
    NameThisThread("cache-refresh");
    ThrottledLog failures(std::chrono::seconds(60));
    do {
      auto report = warmer.RunOnce(clock.Now());
      if (!report) {
        failures.Warn("cache not refreshed", {{"error", report.error().message}});
      } else if (report->failed > 0) {
        failures.Warn("cache entries not refreshed",
                      {{"failed", std::to_string(report->failed)},
                       {"refreshed", std::to_string(report->refreshed)}});
      }
    } while (SleepUnlessStopped(interval));
  });

  RedisPool* redis_raw = redis.pool.get();
  RoleRoutes routes;
  routes.checks = [redis_raw, &store] {
    return std::vector<Check>{{"redis", redis_raw->Ping().has_value()},
                              {"reference_store", store.Ping().has_value(), true, true}};
  };
  NamedThreadPool blocking(4, "blocking");
  auto server =
      RunServer(cfg, RoleHandler(std::move(routes), "cache", cfg.stale_limit, metrics, blocking),
                cfg.body_limit, [&](const std::string& listen) {
                  Log(LogLevel::kInfo, "serving",
                      {{"listen", listen},
                       {"role", RoleName(cfg.role)},
                       {"data", cfg.data_url},
                       {"interval_s", std::to_string(cfg.cache_refresh_interval.count())},
                       {"window_s", std::to_string(cfg.active_window.count())}});
                });
  blocking.join();
  worker.join();
  data->Close();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

// --role audit: audit batches into PostgreSQL.
int ServeAudit(const EngineConfig& cfg) {
  Metrics metrics;
  auto pg = OpenPostgres(cfg, metrics);
  auto store = std::make_shared<PgReferenceStore>(*pg);
  PgPool* raw = pg.get();
  auto api = std::make_shared<AuditApi>(
      [](std::string_view line) { return ParseAuditRecord(line); },
      [raw](const std::vector<AuditRecord>& batch) { return InsertAuditBatch(*raw, batch); },
      cfg.internal_token);
  RoleRoutes routes;
  // Batches it cannot store stay in the caller's spool: not ready at once.
  routes.checks = [store] { return std::vector<Check>{{"postgresql", store->Ping().has_value()}}; };
  routes.owns = [](std::string_view path) { return path == kAuditBatchPath; };
  routes.handle = [api](const ApiRequest& req) { return api->Handle(req); };
  // Batches of the spool (hundreds of records) exceed the client API's limit.
  constexpr size_t kBatchLimit = 32u << 20;
  NamedThreadPool blocking(8, "blocking");
  auto server =
      RunServer(cfg, RoleHandler(std::move(routes), "audit", cfg.stale_limit, metrics, blocking),
                std::max(cfg.body_limit, kBatchLimit), [&](const std::string& listen) {
                  Log(LogLevel::kInfo, "serving",
                      {{"listen", listen}, {"role", RoleName(cfg.role)}, {"store", "postgresql"}});
                });
  blocking.join();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

// `pricing-engine audit redrive`: sends the spool's dead letters to the audit
// store of record again: PostgreSQL with a database URL, else the audit role
// (audit_url), else the embedded mode's local file. Exits 0 when none is left.
int Audit(const EngineConfig& cfg) {
  if (cfg.positional.size() != 2 || cfg.positional[1] != "redrive")
    Die("usage: pricing-engine audit redrive [--audit-dir DIR]");
  const std::string audit_dir = AuditDir(cfg);
  std::unique_ptr<PgPool> pool;
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<FileAuditStore> file;
  AuditBatchSink sink;
  std::string to;
  if (!cfg.database_url.empty()) {
    auto p = PgPool::Create(PgPoolOptions{cfg.database_url});
    if (!p) Die("database: " + p.error().message);
    pool = std::move(*p);
    sink = [raw = pool.get()](const std::vector<AuditRecord>& b) { return InsertAuditBatch(*raw, b); };
    to = "postgresql";
  } else if (!cfg.audit_url.empty()) {
    if (cfg.internal_token.empty()) Die("audit redrive: audit_url needs internal_token");
    client = OpenRoleClient(cfg.audit_url, "audit", 1, cfg.internal_timeout);
    sink = RemoteAuditSink(*client, cfg.internal_token);
    to = cfg.audit_url;
  } else {
    auto f = FileAuditStore::Open(audit_dir + "/audit-log.jsonl");
    if (!f) Die("audit: " + f.error().message);
    file = std::move(*f);
    sink = [raw = file.get()](const std::vector<AuditRecord>& b) { return raw->InsertBatch(b); };
    to = audit_dir + "/audit-log.jsonl";
  }
  auto stats = RedriveDeadLetters(audit_dir + "/spool", sink, cfg.audit_fsync);
  if (!stats) Die(stats.error().message);
  Log(stats->refused + stats->unreadable == 0 ? LogLevel::kInfo : LogLevel::kWarn,
      "audit dead letters redriven",
      {{"to", to},
       {"redriven", std::to_string(stats->redriven)},
       {"refused_again", std::to_string(stats->refused)},
       {"unreadable", std::to_string(stats->unreadable)}});
  return stats->refused + stats->unreadable == 0 ? 0 : 1;
}

int Serve(const EngineConfig& cfg) {
  if (auto ok = ValidateRoleConfig(cfg); !ok) Die(ok.error().message);
  switch (cfg.role) {
    case Role::kAll:
      return ServeAll(cfg);
    case Role::kGateway:
      return ServeGateway(cfg);
    case Role::kCalculation:
      return ServeCalculation(cfg);
    case Role::kData:
      return ServeData(cfg);
    case Role::kCache:
      return ServeCache(cfg);
    case Role::kAudit:
      return ServeAudit(cfg);
  }
  return ServeAll(cfg);
}

}  // namespace
}  // namespace pricing::engine

int main(int argc, char** argv) {
  using namespace pricing::engine;
  // Signals are handled by one thread waiting on them; others never see them.
  // The mask is set before any thread starts, since threads inherit it: a
  // SIGTERM the kernel gave to a thread without it would end the process on
  // the spot, skipping the graceful stop.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // cpprestsdk's shared pool defaults to 40 threads; on small machines a pool
  // the size of the core count is faster and has far lower tail latency.
  const int cpprest_threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  crossplat::threadpool::initialize_with_threads(static_cast<size_t>(cpprest_threads));
  NameThreadsOf(crossplat::threadpool::shared_instance().service().get_executor(), cpprest_threads,
                "cpprest");

  std::vector<std::string> args(argv + 1, argv + argc);
  auto cfg = LoadConfig(
      args,
      [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
      },
      ReadFile);
  if (!cfg) Die(cfg.error().message);
  if (cfg->show_help) {
    std::cout << "usage: pricing-engine [serve|migrate|seed FILE|audit redrive] [flags]\n\n"
              << ConfigHelp();
    return 0;
  }
  std::string sub = cfg->positional.empty() ? "serve" : cfg->positional[0];
  if (sub == "migrate") return Migrate(*cfg);
  if (sub == "seed") return Seed(*cfg);
  if (sub == "audit") return Audit(*cfg);
  if (sub != "serve")
    Die("unknown subcommand '" + sub + "' (serve, migrate, seed FILE, audit redrive)");

  std::thread([set] {
    NameThisThread("signals");
    int sig = 0;
    sigwait(&set, &sig);
    std::lock_guard lock(g_stop_mu);
    g_stop = true;
    g_stop_cv.notify_all();
  }).detach();
  return Serve(*cfg);
}
