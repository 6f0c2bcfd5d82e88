#include "roles/common.h"

#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "adapters/embedded_files.h"
#include "adapters/memory_store.h"
#include "adapters/pg_store.h"
#include "adapters/redis_store.h"
#include "adapters/role_clients.h"
#include "adapters/sql_migrations.h"
#include "adapters/thread_name.h"
#include "adapters/uuid.h"
#include "engine/internal_api.h"
#include "engine/json_text.h"
#include "engine/reference_data.h"
#include "engine/validation.h"

namespace pricing::engine {
namespace {

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

std::mutex g_stop_mu;
std::condition_variable g_stop_cv;
bool g_stop = false;

}  // namespace

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

void RequestStop() {
  std::lock_guard lock(g_stop_mu);
  g_stop = true;
  g_stop_cv.notify_all();
}

void WaitForStop() {
  std::unique_lock lock(g_stop_mu);
  g_stop_cv.wait(lock, [] { return g_stop; });
}

bool SleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock lock(g_stop_mu);
  return !g_stop_cv.wait_for(lock, d, [] { return g_stop; });
}

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

std::unique_ptr<ReplyLedger> OpenReplyLedger(const RedisParts& redis, Metrics& metrics) {
  if (!redis.pool) return nullptr;
  return std::make_unique<RedisReplyLedger>(
      *redis.pool, [](std::string_view name) { return Sha256Hex(name); },
      [&metrics] { metrics.RecordReplyLost(); });
}

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
  aopts.min_free_bytes = cfg.audit_min_free;
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
  metrics.SetAuditFreeBytesSource([raw] { return raw->FreeBytes(); });
  return std::move(*spool);
}

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

namespace {

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
// it is (docs/design.md §2.3: it reaches the audit record, and a price answered 200
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

}  // namespace

HttpHandler ServiceHandler(PricingService& service, Metrics& metrics,
                           boost::asio::thread_pool& blocking) {
  return [&service, &metrics, &blocking](HttpRequest&& http, Responder respond) {
    auto [req, done] = Receive(std::move(http), std::move(respond), metrics);
    if (!req) return;
    // On the event loop up to the first stage that has to wait; from there,
    // on the blocking pool.
    PricingService::Parked parked = service.Handle(*req, std::move(done), /*may_block=*/false);
    if (!parked) return;
    boost::asio::post(blocking, [&service, req = std::move(req),
                                 parked = std::move(parked)]() mutable {
      service.Resume(std::move(parked));
    });
  };
}

ApiResponse ReadyResponse(const std::vector<Check>& checks, Staleness& stale,
                          std::string_view role) {
  ReadinessAnswer a = ReadinessOf(checks, stale, std::chrono::system_clock::now(), role);
  ApiResponse r;
  r.status = a.status;
  r.body = std::move(a.body);
  return r;
}

HttpHandler RoleHandler(RoleRoutes routes, std::string role, std::chrono::seconds stale_limit,
                        Metrics& metrics, boost::asio::thread_pool& blocking) {
  auto shared = std::make_shared<RoleRoutes>(std::move(routes));
  auto stale = std::make_shared<Staleness>(stale_limit);  // for the checks that may be stale
  // Readiness probes run on a thread of their own: never behind request work
  // queued on `blocking`.
  auto ready_pool = std::make_shared<NamedThreadPool>(1, "ready");
  return [shared, stale, ready_pool, role = std::move(role), &metrics, &blocking](
             HttpRequest&& http, Responder respond) {
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
      boost::asio::post(*ready_pool, [shared, stale, role, done = std::move(done)] {
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

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

void StopAuditSpool(const EngineConfig& cfg, AuditSpool& spool) {
  spool.Close(std::chrono::seconds(5), /*until_sink_fails=*/CanHandOffAudit(cfg));
  HandOffAudit(cfg, spool);
  Log(LogLevel::kInfo, "stopped", {{"audit_pending", std::to_string(spool.Pending())}});
}

void CheckAuditHandoff(const EngineConfig& cfg) {
  if (!cfg.audit_handoff_url.empty() && cfg.internal_token.empty()) {
    Log(LogLevel::kWarn, "audit handoff off: audit_handoff_url needs internal_token",
        {{"audit_handoff_url", cfg.audit_handoff_url}});
  }
}

std::vector<ReadinessCheck> RedisStatus(RedisPool* redis) {
  std::vector<ReadinessCheck> out;
  if (redis) out.push_back({"redis", redis->Ping().has_value(), false, false});
  return out;
}

ReadinessCheck SpoolCheck(const AuditSpool& spool) {
  return {"audit_spool", spool.Writable(), true, false};
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
  // GET /health/ready answers the latest of these probes at once, on the
  // event loop: a probe never waits behind request work for the blocking
  // pool, and kubelet's probes cost the store nothing extra.
  sopts.readiness_interval = std::chrono::seconds(1);
  return sopts;
}

}  // namespace pricing::engine
