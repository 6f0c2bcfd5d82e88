// pricing-engine: the REST pricing service (DESIGN.md §2).
//
//   pricing-engine [serve] [flags]   serve prices (the default subcommand)
//   pricing-engine migrate [flags]   apply the database migrations and exit
//   pricing-engine seed FILE [flags] upsert a reference-data YAML file and exit
//
// Configuration: flags > --config FILE.yaml > PRICING_* environment > defaults
// (`pricing-engine --help`). A bad value stops the process with one line.
#include <utility>  // first: Boost.Asio headers pulled in by cpprestsdk need std::exchange

#include <pplx/threadpool.h>
#include <signal.h>

#include <utility>

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
#include <sstream>
#include <string>
#include <thread>

#include "adapters/audit_spool.h"
#include "adapters/http_server.h"
#include "adapters/log.h"
#include "adapters/market_http.h"
#include "adapters/memory_store.h"
#include "adapters/metrics.h"
#include "adapters/pg_store.h"
#include "adapters/pg_pool.h"
#include "adapters/redis_pool.h"
#include "adapters/redis_store.h"
#include "adapters/sql_migrations.h"
#include "adapters/embedded_files.h"
#include "engine/config.h"
#include "engine/json_text.h"
#include "engine/reference_data.h"
#include "engine/service.h"

namespace pricing::engine {
namespace {

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
  static constexpr std::string_view kFixed[] = {
      "/api/v1/calculate-locate", "/api/v1/market/volatility", "/api/v1/openapi.yaml",
      "/health/live",             "/health/ready",             "/metrics"};
  for (std::string_view r : kFixed) {
    if (path == r) return r;
  }
  if (path.starts_with("/api/v1/rates/status/")) return "/api/v1/rates/status/{status}";
  if (path.starts_with("/api/v1/rates/")) return "/api/v1/rates/{ticker}";
  return "other";
}

int Migrate(const EngineConfig& cfg) {
  if (cfg.database_url.empty()) Die("migrate needs a database URL (PRICING_DATABASE_URL or --database-url)");
  auto pool = PgPool::Create(PgPoolOptions{cfg.database_url});
  if (!pool) Die("database: " + pool.error().message);
  auto applied = RunMigrations(**pool);
  if (!applied) Die("migrate: " + applied.error().message);
  Log(LogLevel::kInfo, "migrations applied", {{"applied", std::to_string(*applied)}});
  return 0;
}

int Seed(const EngineConfig& cfg) {
  if (cfg.positional.size() < 2) Die("usage: pricing-engine seed FILE");
  if (cfg.database_url.empty()) Die("seed needs a database URL (PRICING_DATABASE_URL or --database-url)");
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

int Serve(const EngineConfig& cfg) {
  Metrics metrics;
  SystemClock clock;

  // Reference store: PostgreSQL, or the embedded in-memory store.
  std::unique_ptr<PgPool> pg;
  std::unique_ptr<ReferenceStore> store;
  if (!cfg.database_url.empty()) {
    auto pool = PgPool::Create(PgPoolOptions{cfg.database_url});
    if (!pool) Die("database: " + pool.error().message);
    pg = std::move(*pool);
    if (auto m = RunMigrations(*pg); !m) {
      // The database may be down at start; the engine still serves from cache
      // once it has data, and migrations run again on the next start.
      Log(LogLevel::kWarn, "migrations not applied at start", {{"error", m.error().message}});
    }
    store = std::make_unique<PgReferenceStore>(*pg);
    PgPool* raw = pg.get();
    metrics.SetDbPoolSources([raw] { return static_cast<int64_t>(raw->InUse()); },
                             [raw] { return static_cast<int64_t>(raw->MaxSize()); });
  } else {
    if (cfg.data_file.empty()) {
      Die("no database URL and no --data FILE: the embedded store needs reference data");
    }
    auto text = ReadFile(cfg.data_file);
    if (!text) Die(text.error().message);
    auto data = ParseReferenceData(*text, cfg.data_file);
    if (!data) Die(data.error().message);
    store = std::make_unique<MemoryReferenceStore>(*data);
    Log(LogLevel::kInfo, "embedded mode: no database URL; serving reference data from memory",
        {{"data", cfg.data_file}});
  }

  // Redis: shared cache and rate limits; without it, in-process only.
  std::unique_ptr<RedisPool> redis;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<RateLimiter> limiter;
  if (!cfg.redis_url.empty()) {
    auto pool = RedisPool::Create(RedisPoolOptions{cfg.redis_url});
    if (!pool) Die("redis: " + pool.error().message);
    redis = std::move(*pool);
    cache = std::make_unique<RedisCache>(*redis);
    limiter = std::make_unique<RedisRateLimiter>(*redis);
  } else {
    limiter = std::make_unique<LocalRateLimiter>();
    Log(LogLevel::kInfo, "no Redis URL: cache and rate limits are per process");
  }

  // External market APIs.
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
        {{"api", MarketApiName(api)}, {"from", BreakerStateName(from)}, {"to", BreakerStateName(to)}});
  };
  auto market = HttpMarketData::Create(mopts, observers);
  if (!market) Die("market data: " + market.error().message);

  // Audit: local spool, drained to PostgreSQL (or to a local JSONL file).
  std::string audit_dir = cfg.audit_dir.empty() ? std::string("audit-spool") : cfg.audit_dir;
  {
    std::error_code ec;
    std::filesystem::create_directories(audit_dir, ec);
    if (ec) Die("audit directory " + audit_dir + ": " + ec.message());
  }
  std::unique_ptr<FileAuditStore> file_audit;
  AuditBatchSink sink;
  if (pg) {
    PgPool* raw = pg.get();
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
  AuditSpoolOptions aopts;
  aopts.directory = audit_dir + "/spool";
  aopts.fsync = cfg.audit_fsync;
  aopts.log = [](std::string_view m) { Log(LogLevel::kWarn, m, {{"component", "audit"}}); };
  auto spool = AuditSpool::Open(aopts, sink);
  if (!spool) Die("audit spool: " + spool.error().message);
  AuditSpool* audit = spool->get();
  metrics.SetAuditPendingSource([audit] { return audit->Pending(); });

  MetricsObserver observer(metrics);
  ServiceDeps deps;
  deps.store = store.get();
  deps.cache = cache.get();
  deps.limiter = limiter.get();
  deps.market = market->get();
  deps.audit = audit;
  deps.clock = &clock;
  deps.observer = &observer;
  deps.hash_key = [](std::string_view key) { return Sha256Hex(key); };
  deps.new_uuid = [] { return NewUuid(); };
  deps.metrics_text = [&metrics] { return metrics.Serialize(); };
  RedisPool* redis_raw = redis.get();
  deps.dependency_status = [redis_raw] {
    std::vector<std::pair<std::string, bool>> out;
    if (redis_raw) out.emplace_back("redis", redis_raw->Ping().has_value());
    return out;
  };
  ServiceOptions sopts;
  sopts.params = cfg.params;
  sopts.openapi_yaml = std::string(EmbeddedOpenApi());
  sopts.role = std::string(RoleName(cfg.role));
  PricingService service(deps, sopts);

  // Requests that would block run here, never on an event loop.
  boost::asio::thread_pool blocking(16);

  HttpServerOptions hopts;
  hopts.host = cfg.listen_host;
  hopts.port = cfg.listen_port;
  hopts.threads = cfg.threads;
  hopts.body_limit = cfg.body_limit;
  auto error_body = [](int status, std::string_view code, std::string_view message) {
    (void)status;
    std::string out;
    JsonWriter w(&out);
    w.BeginObject().Key("status").String("error").Key("error").BeginObject();
    w.Key("code").String(code).Key("message").String(message);
    if (code == "PAYLOAD_TOO_LARGE") w.Key("field").String("body");
    w.EndObject().EndObject();
    return out;
  };
  auto handler = [&](HttpRequest&& http, Responder respond) {
    auto started = std::chrono::steady_clock::now();
    auto req = std::make_shared<ApiRequest>();
    req->method = std::move(http.method);
    req->path = std::move(http.path);
    req->query = std::move(http.query);
    req->headers = std::move(http.headers);
    req->body = std::move(http.body);
    std::string_view rid = req->Header("x-request-id");
    req->request_id = rid.empty() || rid.size() > 128 ? NewUuid() : std::string(rid);
    auto done = [&metrics, req, started, respond = std::move(respond)](ApiResponse r) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      metrics.RecordHttpRequest(req->method, RouteOf(req->path), r.status, secs);
      if (r.status >= 500) {
        Log(LogLevel::kError, "request failed",
            {{"method", req->method}, {"path", req->path}, {"status", std::to_string(r.status)},
             {"request_id", req->request_id}, {"body", r.body}});
      }
      HttpResponse out;
      out.status = r.status;
      out.body = std::move(r.body);
      out.content_type = std::move(r.content_type);
      out.headers = std::move(r.headers);
      out.headers.emplace_back("X-Request-Id", req->request_id);
      respond(std::move(out));
    };
    if (service.Handle(*req, done, /*may_block=*/false)) return;
    boost::asio::post(blocking, [&service, req, done = std::move(done)]() mutable {
      service.Handle(*req, std::move(done), /*may_block=*/true);
    });
  };
  HttpServer server(hopts, handler, error_body);
  if (std::string err = server.Start(); !err.empty()) Die(err);
  Log(LogLevel::kInfo, "serving",
      {{"listen", cfg.listen_host + ":" + std::to_string(server.port())},
       {"role", RoleName(cfg.role)},
       {"store", pg ? "postgresql" : "memory"},
       {"cache", redis ? "redis" : "process"}});

  {
    std::unique_lock lock(g_stop_mu);
    g_stop_cv.wait(lock, [] { return g_stop; });
  }
  Log(LogLevel::kInfo, "shutting down");
  server.Stop();
  blocking.join();
  audit->Close(std::chrono::seconds(5));
  Log(LogLevel::kInfo, "stopped", {{"audit_pending", std::to_string(audit->Pending())}});
  return 0;
}

}  // namespace
}  // namespace pricing::engine

int main(int argc, char** argv) {
  using namespace pricing::engine;
  // cpprestsdk's shared pool defaults to 40 threads; on small machines a pool
  // the size of the core count is faster and has far lower tail latency.
  crossplat::threadpool::initialize_with_threads(
      std::max(2u, std::thread::hardware_concurrency()));

  // Signals are handled by one thread waiting on them; others never see them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

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
    std::cout << "usage: pricing-engine [serve|migrate|seed FILE] [flags]\n\n" << ConfigHelp();
    return 0;
  }
  std::string sub = cfg->positional.empty() ? "serve" : cfg->positional[0];
  if (sub == "migrate") return Migrate(*cfg);
  if (sub == "seed") return Seed(*cfg);
  if (sub != "serve") Die("unknown subcommand '" + sub + "' (serve, migrate, seed FILE)");

  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    std::lock_guard lock(g_stop_mu);
    g_stop = true;
    g_stop_cv.notify_all();
  }).detach();
  return Serve(*cfg);
}
